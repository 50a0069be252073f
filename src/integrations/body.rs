//! Reading a request body under the verifier's byte limit: refused at once when its
//! `Content-Length` is over the limit, else as soon as more than the limit has arrived.
//!
//! The frameworks feed [`BodyReader`] their frames; most bodies arrive in one frame, which is
//! kept without a copy.

use bytes::{Bytes, BytesMut};

use super::WebhookRejection;
use crate::error::VerifyError;
use crate::headers::{HeaderLookup, Headers};

/// A request body gathered under a byte limit, frame by frame.
pub(crate) struct BodyReader {
    limit: usize,
    first: Option<Bytes>,
    joined: Option<BytesMut>,
    received: usize,
}

impl BodyReader {
    /// A reader for a request with these headers, or the refusal when its declared
    /// `Content-Length` is over `limit` (the body is then not read at all).
    pub(crate) fn start<H: Headers + ?Sized>(
        headers: &H,
        limit: usize,
    ) -> Result<Self, WebhookRejection> {
        declared_too_large(headers, limit)?;
        Ok(Self::new(limit))
    }

    fn new(limit: usize) -> Self {
        Self {
            limit,
            first: None,
            joined: None,
            received: 0,
        }
    }

    /// Adds a frame, refusing the body as soon as it is over the limit.
    pub(crate) fn push(&mut self, data: Bytes) -> Result<(), WebhookRejection> {
        self.received = self.received.saturating_add(data.len());
        if self.received > self.limit {
            return Err(VerifyError::BodyTooLarge {
                limit: self.limit,
                len: self.received,
            }
            .into());
        }
        match (&mut self.first, &mut self.joined) {
            (None, None) => self.first = Some(data),
            (Some(head), None) => {
                let mut buffer = BytesMut::with_capacity(head.len() + data.len());
                buffer.extend_from_slice(head);
                buffer.extend_from_slice(&data);
                self.first = None;
                self.joined = Some(buffer);
            }
            (_, Some(buffer)) => buffer.extend_from_slice(&data),
        }
        Ok(())
    }

    /// The whole body.
    pub(crate) fn finish(self) -> Bytes {
        match (self.first, self.joined) {
            (_, Some(buffer)) => buffer.freeze(),
            (Some(head), None) => head,
            (None, None) => Bytes::new(),
        }
    }
}

/// The declared `Content-Length` when it is over `limit`: the request is refused before its
/// body is read.
fn declared_too_large<H: Headers + ?Sized>(headers: &H, limit: usize) -> Result<(), VerifyError> {
    if let HeaderLookup::One(value) = headers.lookup("content-length")
        && let Some(len) = std::str::from_utf8(value)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
        && len > u64::try_from(limit).unwrap_or(u64::MAX)
    {
        return Err(VerifyError::BodyTooLarge {
            limit,
            len: usize::try_from(len).unwrap_or(usize::MAX),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_length_over_the_limit() {
        assert_eq!(
            declared_too_large(&[("Content-Length", "11")], 10),
            Err(VerifyError::BodyTooLarge { limit: 10, len: 11 })
        );
        assert_eq!(declared_too_large(&[("content-length", "10")], 10), Ok(()));
        assert_eq!(declared_too_large(&[("content-length", "x")], 10), Ok(()));
        assert_eq!(declared_too_large(&[("a", "1")], 10), Ok(()));
        assert!(matches!(
            BodyReader::start(&[("content-length", "11")], 10).map(|_| ()),
            Err(WebhookRejection::Verify(VerifyError::BodyTooLarge {
                limit: 10,
                len: 11
            }))
        ));
    }

    #[test]
    fn frames_are_joined_up_to_the_limit() {
        let mut one = BodyReader::new(10);
        one.push(Bytes::from_static(b"abc")).unwrap();
        assert_eq!(&one.finish()[..], b"abc");

        let mut three = BodyReader::new(10);
        for frame in [&b"abc"[..], b"def", b"ghij"] {
            three.push(Bytes::copy_from_slice(frame)).unwrap();
        }
        assert_eq!(&three.finish()[..], b"abcdefghij");

        let mut over = BodyReader::new(10);
        over.push(Bytes::from_static(b"abcdef")).unwrap();
        assert!(matches!(
            over.push(Bytes::from_static(b"ghijk")),
            Err(WebhookRejection::Verify(VerifyError::BodyTooLarge {
                limit: 10,
                len: 11
            }))
        ));
        assert!(BodyReader::new(10).finish().is_empty());
    }
}
