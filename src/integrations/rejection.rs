//! The rejection: [`WebhookRejection`], why a request was refused before any handler ran; its
//! one status mapping for both frameworks, its JSON body, and its log line.
//!
//! A rejection never carries request content: its text says what was wrong and where (a header
//! by its name, a parse error by its line and column), never the bytes of the body or a header's
//! value. The JSON body, the [`Delivery::reason`](super::Delivery::reason) and the tracing event
//! all use that one text.

use std::fmt;

use crate::error::{BoxError, ParseError, VerifyError};
use crate::headers::{self, HeaderLookup, Headers};

/// Why the extractor or the middleware refused a request, before any handler ran.
///
/// [`status`](Self::status) is the one mapping of both frameworks: 413 for a body over the
/// limit, 401 for a signature or timestamp that does not check out, 400 for anything malformed,
/// 500 when the application forgot to configure a [`Verifier`](crate::Verifier). As a response
/// it carries a short JSON body, `{"error": "<code>", "reason": "<what to check>"}`, whose
/// reason is this rejection's `Display`: it names what was wrong and where, and quotes neither
/// the body nor a header's value.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The verifier refused the request (headers, timestamp, signature, or a body over the
    /// limit).
    Verify(VerifyError),
    /// The body is verified but is not a valid event of the type asked for.
    Parse(ParseError),
    /// The body could not be read (the client went away, or sent a broken chunked body).
    BodyRead(BoxError),
    /// No [`Verifier`](crate::Verifier) is configured for the route (actix: neither `Verifier`
    /// nor `Data<Verifier>` in `app_data`).
    MissingVerifier,
}

impl WebhookRejection {
    /// The HTTP status to answer with: 413, 401, 400, or 500 for [`MissingVerifier`](Self::MissingVerifier).
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::Verify(error) => error.http_status(),
            Self::Parse(_) | Self::BodyRead(_) => 400,
            Self::MissingVerifier => 500,
        }
    }

    /// A short, stable code for the `error` field of the response body, such as
    /// `invalid_signature` or `body_too_large`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Verify(error) => error.code(),
            Self::Parse(_) => "invalid_event",
            Self::BodyRead(_) => "body_unreadable",
            Self::MissingVerifier => "not_configured",
        }
    }

    /// The verifier's error, when the verifier refused the request.
    #[must_use]
    pub fn verify_error(&self) -> Option<&VerifyError> {
        match self {
            Self::Verify(error) => Some(error),
            _ => None,
        }
    }

    /// The parser's error, when the body is verified but not a valid event.
    #[must_use]
    pub fn parse_error(&self) -> Option<&ParseError> {
        match self {
            Self::Parse(error) => Some(error),
            _ => None,
        }
    }

    /// The JSON body of the response.
    pub(crate) fn json_body(&self) -> Vec<u8> {
        error_body(self.code(), &self.to_string())
    }
}

impl fmt::Display for WebhookRejection {
    // Only body-free texts: `ParseError`'s `Display` names the line and column, never the
    // bytes (its `source()` keeps serde_json's message, which can quote the body); the
    // verifier's errors name headers, never their values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verify(error) => error.fmt(f),
            Self::Parse(error) => error.fmt(f),
            Self::BodyRead(error) => write!(f, "the request body could not be read: {error}"),
            Self::MissingVerifier => f.write_str(
                "no Verifier is configured for this route: add it to the app's state (axum) or app_data (actix)",
            ),
        }
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Verify(error) => Some(error),
            Self::Parse(error) => Some(error),
            Self::BodyRead(error) => Some(&**error),
            Self::MissingVerifier => None,
        }
    }
}

impl From<VerifyError> for WebhookRejection {
    fn from(error: VerifyError) -> Self {
        Self::Verify(error)
    }
}

impl From<ParseError> for WebhookRejection {
    fn from(error: ParseError) -> Self {
        Self::Parse(error)
    }
}

/// `{"error": code, "reason": reason}`.
pub(crate) fn error_body(code: &str, reason: &str) -> Vec<u8> {
    serde_json::json!({ "error": code, "reason": reason })
        .to_string()
        .into_bytes()
}

/// The request's id header, when it would pass the verifier's id check.
pub(crate) fn header_id<H: Headers + ?Sized>(headers: &H) -> Option<String> {
    match headers::lookup_either(headers, headers::ID) {
        HeaderLookup::One(value) => crate::signature::valid_id(value).map(str::to_owned),
        _ => None,
    }
}

/// Logs a rejection: its status, code, the request's id when it is well formed, and the
/// rejection's body-free text.
pub(crate) fn log_rejection<H: Headers + ?Sized>(headers: &H, rejection: &WebhookRejection) {
    let id = header_id(headers);
    let id = id.as_deref().unwrap_or("-");
    let (status, code) = (rejection.status(), rejection.code());
    if status >= 500 {
        tracing::error!(status, code, id, reason = %rejection, "webhook request not handled");
    } else {
        tracing::warn!(status, code, id, reason = %rejection, "webhook request rejected");
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;

    use super::*;
    use crate::Verifier;

    /// The rejection of a correctly signed `body` that is not a `T`.
    fn parse_rejection<T: DeserializeOwned + fmt::Debug + 'static>(
        body: &[u8],
    ) -> WebhookRejection {
        let secret: crate::Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let verifier = Verifier::builder()
            .secret(secret.clone())
            .clock(crate::MockClock::at_unix(1_700_000_000))
            .build()
            .unwrap();
        let signed = crate::Signer::new(secret)
            .sign("msg_1", 1_700_000_000, body)
            .unwrap();
        super::super::verified::check::<T, _>(
            &verifier,
            &signed.webhook_headers(),
            &bytes::Bytes::copy_from_slice(body),
        )
        .unwrap_err()
    }

    fn all_rejections() -> Vec<(WebhookRejection, u16, &'static str)> {
        vec![
            (
                VerifyError::BodyTooLarge { limit: 1, len: 2 }.into(),
                413,
                "body_too_large",
            ),
            (
                VerifyError::MissingHeader { name: "webhook-id" }.into(),
                400,
                "missing_header",
            ),
            (
                VerifyError::RepeatedHeader { name: "webhook-id" }.into(),
                400,
                "invalid_header",
            ),
            (
                VerifyError::InvalidId { max_len: 256 }.into(),
                400,
                "invalid_header",
            ),
            (VerifyError::InvalidTimestamp.into(), 400, "invalid_header"),
            (
                VerifyError::SignatureHeaderTooLong { limit: 1 }.into(),
                400,
                "invalid_header",
            ),
            (
                VerifyError::TimestampTooOld {
                    age: 400,
                    tolerance: 300,
                }
                .into(),
                401,
                "timestamp_out_of_tolerance",
            ),
            (
                VerifyError::TimestampTooNew {
                    ahead: 400,
                    tolerance: 300,
                }
                .into(),
                401,
                "timestamp_out_of_tolerance",
            ),
            (
                VerifyError::NoMatchingSignature { candidates: 1 }.into(),
                401,
                "invalid_signature",
            ),
            (
                parse_rejection::<serde_json::Value>(b"{x"),
                400,
                "invalid_event",
            ),
            (
                WebhookRejection::BodyRead("reset".into()),
                400,
                "body_unreadable",
            ),
            (WebhookRejection::MissingVerifier, 500, "not_configured"),
        ]
    }

    #[test]
    fn status_and_code_table() {
        for (rejection, status, code) in all_rejections() {
            assert_eq!(rejection.status(), status, "{rejection:?}");
            assert_eq!(rejection.code(), code, "{rejection:?}");
            let body: serde_json::Value = serde_json::from_slice(&rejection.json_body()).unwrap();
            assert_eq!(body["error"], code);
            assert_eq!(body["reason"], rejection.to_string());
        }
    }

    /// Item 7a: the reason (the JSON body's, the delivery record's and the log's, all this
    /// `Display`) says where the JSON went wrong, not what it held. Fails until `ParseError`'s
    /// `Display` no longer quotes serde_json's message.
    #[test]
    fn the_reason_does_not_quote_the_body() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Typed {
            n: u64,
        }
        let rejection = parse_rejection::<Typed>(br#"{"n":"secret-looking-value"}"#);
        assert!(matches!(
            rejection.parse_error(),
            Some(ParseError::InvalidEvent { .. })
        ));
        assert!(!rejection.to_string().contains("secret-looking-value"));
        let body = String::from_utf8(rejection.json_body()).unwrap();
        assert!(!body.contains("secret-looking-value"), "{body}");
        assert_eq!(
            rejection.to_string(),
            "the body is JSON but not a valid event: a value has the wrong type (line 1, column 27)"
        );
        // Not JSON at all: the syntax error's place, not the bytes around it.
        let rejection = parse_rejection::<serde_json::Value>(b"{\"n\": secret-looking-value}");
        assert!(matches!(
            rejection.parse_error(),
            Some(ParseError::InvalidJson { .. })
        ));
        assert!(!rejection.to_string().contains("secret-looking-value"));
    }
}
