//! The signed content (`{id}.{timestamp}.{body}`) and the `webhook-signature` header codec,
//! shared by the verifier and the signer.

// Untrusted input flows through this module: no indexing, unchecked arithmetic, unwrap or
// expect that could panic on it (tests may).
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

use crate::error::VerifyError;
use crate::secret::{HmacSha256, KeySet};

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
/// `v1,` entries hold exactly this many base64 characters: 32 bytes, padded.
const V1_BASE64_LEN: usize = 44;
/// The length of an HMAC-SHA256 tag.
const V1_TAG_LEN: usize = 32;

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

/// A copy of `mac` fed the signed content, piecewise: the body is never copied.
pub(crate) fn mac_signed_content(
    mut mac: HmacSha256,
    id: &[u8],
    timestamp: &[u8],
    body: &[u8],
) -> HmacSha256 {
    mac.update(id);
    mac.update(b".");
    mac.update(timestamp);
    mac.update(b".");
    mac.update(body);
    mac
}

/// A decoded `v1` tag, as four words so that the constant-time comparison costs four steps
/// rather than thirty-two.
type Tag = [u64; 4];

/// Candidates decoded once and kept on the stack; headers with more entries than this (rare:
/// a sender lists one per active key) are decoded again for each key instead.
const INLINE_CANDIDATES: usize = 4;

fn to_words(bytes: &[u8]) -> Tag {
    let mut words = [0u64; 4];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut array = [0u8; 8];
        array.copy_from_slice(chunk);
        *word = u64::from_le_bytes(array);
    }
    words
}

/// The well-formed `v1` tags of a signature header, decoded.
///
/// Entries are separated by single spaces. An entry is used only when it is exactly `v1,`
/// followed by canonical padded standard base64 of 32 bytes; anything else (other versions,
/// `V1`, unpadded or URL-safe base64, other lengths, junk) is skipped.
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

pub(crate) fn v1_tags(header: &[u8]) -> impl Iterator<Item = Tag> + '_ {
    entries(header)
        .filter_map(|entry| entry.strip_prefix(b"v1,"))
        .filter_map(decode_v1_tag)
}

fn decode_v1_tag(encoded: &[u8]) -> Option<Tag> {
    // Length is attacker data, not secret: checking it first is not a timing leak.
    if encoded.len() != V1_BASE64_LEN {
        return None;
    }
    let mut decoded = [0u8; V1_TAG_LEN + 1];
    match STANDARD.decode_slice(encoded, &mut decoded) {
        Ok(V1_TAG_LEN) => {
            let mut tag = [0u8; V1_TAG_LEN];
            tag.copy_from_slice(decoded.get(..V1_TAG_LEN)?);
            Some(to_words(&tag))
        }
        _ => None,
    }
}

/// Compares every `v1` tag in `header` against the HMAC of the signed content under every key.
///
/// Returns whether any matched, and how many well-formed candidates there were. The HMAC is
/// computed once per key; every comparison runs in constant time (`subtle`) and the loops never
/// stop early on a match, so timing depends only on the number of keys and entries.
pub(crate) fn match_v1(
    keys: &KeySet,
    id: &[u8],
    timestamp: &[u8],
    body: &[u8],
    header: &[u8],
) -> (bool, usize) {
    let mut inline = [[0u64; 4]; INLINE_CANDIDATES];
    let mut candidates = 0usize;
    for tag in v1_tags(header) {
        if let Some(slot) = inline.get_mut(candidates) {
            *slot = tag;
        }
        candidates = candidates.saturating_add(1);
    }
    if candidates == 0 {
        // Depends only on the header, which the attacker wrote: no secret is involved.
        return (false, 0);
    }
    let mut matched = Choice::from(0);
    for secret in keys.secrets() {
        let output = mac_signed_content(secret.mac(), id, timestamp, body).finalize();
        let mut expected = to_words(output.as_bytes().as_slice());
        if candidates <= INLINE_CANDIDATES {
            for tag in inline.iter().take(candidates) {
                matched |= expected.as_slice().ct_eq(tag.as_slice());
            }
        } else {
            for tag in v1_tags(header) {
                matched |= expected.as_slice().ct_eq(tag.as_slice());
            }
        }
        // The expected tag is a valid signature for this content: do not leave a copy on the
        // stack (`output` zeroizes itself on drop).
        expected.zeroize();
    }
    (bool::from(matched), candidates)
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
    #[cfg(feature = "ed25519")]
    let v1a_candidates = crate::ed25519::count_v1a(keys, header)?;
    let (matched, candidates) = if keys.secrets().next().is_some() {
        match_v1(keys, id, timestamp, body, header)
    } else {
        (false, 0)
    };
    #[cfg(feature = "ed25519")]
    let (matched, candidates) = (
        matched
            || (v1a_candidates > 0 && crate::ed25519::match_v1a(keys, id, timestamp, body, header)),
        candidates.saturating_add(v1a_candidates),
    );
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature { candidates })
    }
}

/// The `v1,<base64>` entry for `mac` over the signed content.
pub(crate) fn v1_entry(mac: HmacSha256, id: &[u8], timestamp: &[u8], body: &[u8]) -> String {
    let tag = mac_signed_content(mac, id, timestamp, body).finalize();
    let mut entry = String::with_capacity(3 + V1_BASE64_LEN);
    entry.push_str("v1,");
    STANDARD.encode_string(tag.as_bytes(), &mut entry);
    entry
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

    #[test]
    fn only_strict_v1_entries_are_candidates() {
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(v1_tags(good.as_bytes()).count(), 1);
        for bad in [
            "v1,",
            "V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1A==",
            "v1, g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ] {
            assert_eq!(v1_tags(bad.as_bytes()).count(), 0, "{bad}");
        }
    }
}
