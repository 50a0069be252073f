//! The `webhook-signature` header and its neighbours, shared by the verifier and the signer:
//! the header's entries, the `webhook-id` and `webhook-timestamp` checks, the limits that bound
//! an attacker's work ([`MAX_ID_LEN`], [`MAX_SIGNATURE_HEADER_LEN`], [`MAX_V1A_SIGNATURES`]),
//! and the codecs of the signed content `{id}.{timestamp}.{body}`: `v1` (HMAC-SHA256, in
//! `v1.rs`) and `v1a` (ed25519, feature `ed25519`, in `v1a.rs`).
//!
//! The codecs take keys one by one (an iterator), not a `KeySet`: which keys a verifier holds is
//! the key set's business, how an entry is checked is theirs.

// Untrusted input flows through this module: no indexing, unchecked arithmetic, unwrap or
// expect that could panic on it (tests may).
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use crate::error::VerifyError;
use crate::secret::KeySet;

pub(crate) mod v1;
#[cfg(feature = "ed25519")]
pub(crate) mod v1a;

/// The longest `webhook-id` accepted, in bytes. Svix ids are about 30; 256 leaves room for any
/// sender's scheme while keeping ids fit for log lines and store keys.
pub const MAX_ID_LEN: usize = 256;
/// The longest `webhook-signature` header accepted, in bytes: about 180 entries, far more than
/// one per active key. It bounds the work an attacker can ask for per request.
pub const MAX_SIGNATURE_HEADER_LEN: usize = 8 * 1024;
/// The most well-formed `v1a,` entries a header may hold when the verifier has ed25519 keys.
/// Each costs one public-key verification (a SHA-512 pass over the body and a double scalar
/// multiplication) per ed25519 key, so this bounds an attacker's work per request; a sender
/// lists one entry per active key.
pub const MAX_V1A_SIGNATURES: usize = 8;
/// Timestamps have at most this many digits, so they always fit in a `u64`.
const MAX_TIMESTAMP_DIGITS: usize = 19;

/// Checks a webhook id: 1 to [`MAX_ID_LEN`] printable ASCII bytes, no `.`.
///
/// The `.` is refused because it is the separator of the signed content: with it, the same
/// signed bytes could be read as a different id and timestamp.
pub(crate) fn valid_id(id: &[u8]) -> Option<&str> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return None;
    }
    // A fold without early exit, so that the compiler can check many bytes at a time.
    let printable = id.iter().fold(true, |ok, &b| {
        ok & (b.wrapping_sub(b'!') <= b'~' - b'!') & (b != b'.')
    });
    if !printable {
        return None;
    }
    std::str::from_utf8(id).ok()
}

/// Parses a timestamp header: 1 to 19 ASCII digits, nothing else. Never overflows.
pub(crate) fn parse_timestamp(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > MAX_TIMESTAMP_DIGITS {
        return None;
    }
    // At most 19 digits stay below 10^19 < u64::MAX: the wrapping arithmetic never wraps. A
    // fold without early exit lets the compiler keep it branch-free.
    let (value, digits) = text.iter().fold((0u64, true), |(acc, digits), &b| {
        let digit = b.wrapping_sub(b'0');
        (
            acc.wrapping_mul(10).wrapping_add(u64::from(digit)),
            digits & (digit <= 9),
        )
    });
    digits.then_some(value)
}

/// The entries of a signature header: its space-separated parts, empty ones included.
pub(crate) fn entries(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    // memchr finds the separators many bytes at a time; a header is mostly base64 text.
    let mut rest = Some(header);
    std::iter::from_fn(move || {
        let current = rest?;
        match memchr::memchr(b' ', current) {
            Some(at) => {
                rest = current.get(at.saturating_add(1)..);
                current.get(..at)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Checks the signature header against every key: `v1` entries against the HMAC secrets,
/// `v1a` entries against the ed25519 keys (feature `ed25519`).
///
/// The `v1a` entry count is checked before any signature work. The `v1a` check runs only when
/// no `v1` entry matched: its timing then tells only that, which the answer tells anyway.
///
/// # Errors
/// [`VerifyError::TooManySignatures`], or [`VerifyError::NoMatchingSignature`] with the
/// number of well-formed entries compared.
pub(crate) fn match_signatures(
    keys: &KeySet,
    id: &[u8],
    timestamp: &[u8],
    body: &[u8],
    header: &[u8],
) -> Result<(), VerifyError> {
    // With no ed25519 key the `v1a` entries are not looked at.
    #[cfg(feature = "ed25519")]
    let v1a_candidates = if keys.verifying_keys().next().is_some() {
        v1a::count(header)?
    } else {
        0
    };
    let (matched, candidates) = if keys.secrets().next().is_some() {
        v1::matches(keys.secrets(), id, timestamp, body, header)
    } else {
        (false, 0)
    };
    #[cfg(feature = "ed25519")]
    let (matched, candidates) = (
        matched
            || (v1a_candidates > 0
                && v1a::matches(keys.verifying_keys(), id, timestamp, body, header)),
        candidates.saturating_add(v1a_candidates),
    );
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature { candidates })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(parse_timestamp(b"1614265330"), Some(1_614_265_330));
        assert_eq!(parse_timestamp(b"0"), Some(0));
        assert_eq!(parse_timestamp(b"18446744073709551615"), None); // 20 digits
        assert_eq!(
            parse_timestamp(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for bad in [
            &b""[..],
            b"+1614265330",
            b"-1",
            b" 1614265330",
            b"1614265330 ",
            b"1.5",
            b"1.7e9",
            b"0x10",
            b"\xd9\xa1",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ids_are_printable_ascii_without_dots() {
        assert_eq!(
            valid_id(b"msg_p5jXN8AQM9LWM0D4loKWxJek"),
            Some("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
        assert_eq!(
            valid_id(&[b'a'; MAX_ID_LEN]).map(str::len),
            Some(MAX_ID_LEN)
        );
        for bad in [&b""[..], b"a.b", b"a b", b"a\nb", b"\x00", "é".as_bytes()] {
            assert_eq!(valid_id(bad), None, "{bad:?}");
        }
        assert_eq!(valid_id(&[b'a'; MAX_ID_LEN + 1]), None);
    }

    #[test]
    fn entries_split_on_every_space() {
        let split = |header: &str| -> Vec<String> {
            entries(header.as_bytes())
                .map(|entry| String::from_utf8(entry.to_vec()).unwrap())
                .collect()
        };
        assert_eq!(split(""), [""]);
        assert_eq!(split("a"), ["a"]);
        assert_eq!(split("a b"), ["a", "b"]);
        assert_eq!(split(" a  b "), ["", "a", "", "b", ""]);
    }
}
