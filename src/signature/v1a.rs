//! The `v1a` codec (feature `ed25519`): the ed25519 entries of the signature header, decoded,
//! checked strictly and matched against verifying keys, and written by the signer.
//!
//! Verification is strict, exactly as ed25519-dalek's `verify_strict`: `S` must be reduced
//! (no `S + L` twin), `R` and the public key must not be of small order. The public key is
//! checked once, when it is parsed (see [`PublicKey`](crate::PublicKey)); `R` and `S` once per
//! entry; the group equation once per (key, entry) pair, through ed25519-dalek's streaming
//! verifier so that the signed content is hashed piecewise, with no copy of the body and no
//! heap allocation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::VerifyingKey;

use super::{MAX_V1A_SIGNATURES, entries};
use crate::error::VerifyError;
use crate::secret::SigningKey;
use crate::secret::ed25519::SIGNATURE_BYTES;

/// `v1a,` entries hold exactly this many base64 characters: 64 bytes, padded.
const V1A_BASE64_LEN: usize = 88;

/// The well-formed `v1a` signatures of a signature header, decoded.
///
/// An entry is used only when it is exactly `v1a,` followed by canonical padded standard
/// base64 of 64 bytes; anything else is skipped, as for `v1`.
pub(crate) fn signatures(header: &[u8]) -> impl Iterator<Item = [u8; SIGNATURE_BYTES]> + '_ {
    entries(header)
        .filter_map(|entry| entry.strip_prefix(b"v1a,"))
        .filter_map(decode_signature)
}

fn decode_signature(encoded: &[u8]) -> Option<[u8; SIGNATURE_BYTES]> {
    if encoded.len() != V1A_BASE64_LEN {
        return None;
    }
    let mut decoded = [0u8; SIGNATURE_BYTES + 1];
    match STANDARD.decode_slice(encoded, &mut decoded) {
        Ok(SIGNATURE_BYTES) => decoded.first_chunk().copied(),
        _ => None,
    }
}

/// The signature, if its `S` is reduced and its `R` is a curve point not of small order: the
/// checks `verify_strict` makes before the group equation.
///
/// `S` is checked here although ed25519-dalek checks it too, because a crate elsewhere in the
/// build can turn on ed25519-dalek's `legacy_compatibility` feature, which lets `S + L` pass.
fn strict_signature(bytes: &[u8; SIGNATURE_BYTES]) -> Option<ed25519_dalek::Signature> {
    let (r, s) = (bytes.first_chunk()?, bytes.last_chunk()?);
    if !bool::from(Scalar::from_canonical_bytes(*s).is_some()) {
        return None;
    }
    let r = CompressedEdwardsY(*r).decompress()?;
    if r.is_small_order() {
        return None;
    }
    Some(ed25519_dalek::Signature::from_bytes(bytes))
}

/// How many well-formed `v1a` entries the header holds.
///
/// # Errors
/// [`VerifyError::TooManySignatures`] over [`MAX_V1A_SIGNATURES`].
pub(crate) fn count(header: &[u8]) -> Result<usize, VerifyError> {
    let count = signatures(header).count();
    if count > MAX_V1A_SIGNATURES {
        return Err(VerifyError::TooManySignatures {
            limit: MAX_V1A_SIGNATURES,
        });
    }
    Ok(count)
}

/// Whether any `v1a` entry of `header` is a valid signature of the signed content under any
/// of `keys`.
///
/// Unlike the `v1` comparison this returns at the first match: every input here is public (the
/// keys, the signatures, the content), so timing reveals nothing an attacker does not know.
pub(crate) fn matches<'k>(
    keys: impl Iterator<Item = &'k VerifyingKey> + Clone,
    id: &[u8],
    timestamp: &[u8],
    body: &[u8],
    header: &[u8],
) -> bool {
    for bytes in signatures(header) {
        let Some(signature) = strict_signature(&bytes) else {
            continue;
        };
        for key in keys.clone() {
            if verifies(key, &signature, [id, b".", timestamp, b".", body]) {
                return true;
            }
        }
    }
    false
}

/// The `v1a,<base64>` entry for `key` over `content`, the whole signed content.
pub(crate) fn entry(key: &SigningKey, content: &[u8]) -> String {
    let mut entry = String::with_capacity(4 + V1A_BASE64_LEN);
    entry.push_str("v1a,");
    STANDARD.encode_string(key.sign(content), &mut entry);
    entry
}

/// Whether `signature` signs the concatenation of `parts` under `key`, hashed piecewise.
///
/// The caller has already checked `R` and `S` with [`strict_signature`], and the key was
/// checked when parsed (a [`PublicKey`](crate::PublicKey), or derived from a seed): with
/// those, this is `verify_strict` without the copy of the message.
fn verifies(key: &VerifyingKey, signature: &ed25519_dalek::Signature, parts: [&[u8]; 5]) -> bool {
    let Ok(mut verifier) = key.verify_stream(signature) else {
        return false;
    };
    for part in parts {
        verifier.update(part);
    }
    verifier.finalize_and_verify().is_ok()
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "tests build their cases from fixed inputs"
)]
mod tests {
    use super::*;
    use crate::secret::PublicKey;

    const SECRET_KEY: &str = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
    const CONTENT: &[u8] = br#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#;

    /// The streaming check (with [`strict_signature`] and the key checks made at parse time)
    /// must accept exactly what `verify_strict` accepts.
    fn agrees_with_verify_strict(key: &PublicKey, bytes: &[u8; SIGNATURE_BYTES]) -> bool {
        let ours = strict_signature(bytes).is_some_and(|signature| {
            let (a, b) = CONTENT.split_at(10);
            verifies(key.verifying_key(), &signature, [a, b, b"", b"", b""])
        });
        let theirs = key
            .verifying_key()
            .verify_strict(CONTENT, &ed25519_dalek::Signature::from_bytes(bytes))
            .is_ok();
        assert_eq!(ours, theirs, "{bytes:?}");
        ours
    }

    fn add_l(s: &[u8; 32]) -> [u8; 32] {
        // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for ((out, a), b) in sum.iter_mut().zip(s).zip(L) {
            let total = u16::from(*a) + u16::from(b) + carry;
            *out = total.to_le_bytes()[0];
            carry = total >> 8;
        }
        sum
    }

    #[test]
    fn streaming_strict_check_matches_verify_strict() {
        let key = SigningKey::parse(SECRET_KEY).unwrap();
        let public = &key.public_key();
        let good = key.sign(CONTENT);
        assert!(agrees_with_verify_strict(public, &good));

        for bit in 0..SIGNATURE_BYTES * 8 {
            let mut flipped = good;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(!agrees_with_verify_strict(public, &flipped), "bit {bit}");
        }

        // S + L: the malleable twin, equal to S mod L.
        let mut twin = good;
        let s: [u8; 32] = good[32..].try_into().unwrap();
        twin[32..].copy_from_slice(&add_l(&s));
        assert_eq!(
            Scalar::from_bytes_mod_order(twin[32..].try_into().unwrap()),
            Scalar::from_bytes_mod_order(s)
        );
        assert!(!agrees_with_verify_strict(public, &twin));

        // R of small order (each 8-torsion point), S anything.
        for torsion in curve25519_dalek::constants::EIGHT_TORSION {
            let mut small_r = good;
            small_r[..32].copy_from_slice(torsion.compress().as_bytes());
            assert!(strict_signature(&small_r).is_none());
            assert!(!agrees_with_verify_strict(public, &small_r));
        }
    }

    #[test]
    fn only_strict_v1a_entries_are_candidates() {
        let good = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";
        assert_eq!(signatures(good.as_bytes()).count(), 1);
        for bad in [
            "v1a,",
            "V1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
            "v1,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
            // unpadded, URL-safe, non-zero trailing bits, 63 bytes, 66 bytes, a space
            "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg",
            "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw_enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM-m7TBAg==",
            "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAh==",
            "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TB",
            "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAgAA",
            "v1a, hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
        ] {
            assert_eq!(signatures(bad.as_bytes()).count(), 0, "{bad}");
        }
    }
}
