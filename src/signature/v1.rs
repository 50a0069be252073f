//! The `v1` codec: HMAC-SHA256 entries of the signature header, decoded, compared in constant
//! time against the HMAC of the signed content under each secret, and written by the signer.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

use super::entries;
use crate::secret::{HmacSha256, Secret};

/// `v1,` entries hold exactly this many base64 characters: 32 bytes, padded.
const V1_BASE64_LEN: usize = 44;
/// The length of an HMAC-SHA256 tag.
const V1_TAG_LEN: usize = 32;

/// A copy of `mac` fed the signed content, piecewise: the body is never copied.
fn mac_signed_content(mut mac: HmacSha256, id: &[u8], timestamp: &[u8], body: &[u8]) -> HmacSha256 {
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
fn tags(header: &[u8]) -> impl Iterator<Item = Tag> + '_ {
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

/// Compares every `v1` tag in `header` against the HMAC of the signed content under every
/// secret.
///
/// Returns whether any matched, and how many well-formed candidates there were. The HMAC is
/// computed once per key; every comparison runs in constant time (`subtle`) and the loops never
/// stop early on a match, so timing depends only on the number of keys and entries.
pub(crate) fn matches<'k>(
    secrets: impl Iterator<Item = &'k Secret>,
    id: &[u8],
    timestamp: &[u8],
    body: &[u8],
    header: &[u8],
) -> (bool, usize) {
    let mut inline = [[0u64; 4]; INLINE_CANDIDATES];
    let mut candidates = 0usize;
    for tag in tags(header) {
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
    for secret in secrets {
        let output = mac_signed_content(secret.mac(), id, timestamp, body).finalize();
        let mut expected = to_words(output.as_bytes().as_slice());
        if candidates <= INLINE_CANDIDATES {
            for tag in inline.iter().take(candidates) {
                matched |= expected.as_slice().ct_eq(tag.as_slice());
            }
        } else {
            for tag in tags(header) {
                matched |= expected.as_slice().ct_eq(tag.as_slice());
            }
        }
        // The expected tag is a valid signature for this content: do not leave a copy on the
        // stack (`output` zeroizes itself on drop).
        expected.zeroize();
    }
    (bool::from(matched), candidates)
}

/// The `v1,<base64>` entry for `mac` over the signed content.
pub(crate) fn entry(mac: HmacSha256, id: &[u8], timestamp: &[u8], body: &[u8]) -> String {
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
    fn only_strict_v1_entries_are_candidates() {
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(tags(good.as_bytes()).count(), 1);
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
            assert_eq!(tags(bad.as_bytes()).count(), 0, "{bad}");
        }
    }
}
