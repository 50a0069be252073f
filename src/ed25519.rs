//! Asymmetric signatures, Standard Webhooks `v1a`: ed25519 public keys (`whpk_`) that verify,
//! signing keys (`whsk_`) that sign, and the `v1a,` entries of the signature header.
//!
//! Verification is strict, exactly as ed25519-dalek's `verify_strict`: `S` must be reduced
//! (no `S + L` twin), `R` and the public key must not be of small order. The public key is
//! checked once, when it is parsed; `R` and `S` once per entry; the group equation once per
//! (key, entry) pair, through ed25519-dalek's streaming verifier so that the signed content is
//! hashed piecewise, with no copy of the body and no heap allocation.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::Signer as _;
use zeroize::Zeroizing;

use crate::error::SecretError;
use crate::secret::KeySet;

/// The prefix of an ed25519 public key.
pub(crate) const PUBLIC_PREFIX: &str = "whpk_";
/// The prefix of an ed25519 signing key.
pub(crate) const SIGNING_PREFIX: &str = "whsk_";
const HMAC_PREFIX: &str = "whsec_";
/// Bytes in a public key.
const PUBLIC_KEY_BYTES: usize = 32;
/// Bytes in a signing key: the 32-byte seed, then the 32-byte public key.
const SIGNING_KEY_BYTES: usize = 64;
/// Bytes in a signature: `R`, then `S`.
const SIGNATURE_BYTES: usize = 64;
/// `v1a,` entries hold exactly this many base64 characters: 64 bytes, padded.
const V1A_BASE64_LEN: usize = 88;

/// An ed25519 public key (`whpk_` + base64 of 32 bytes): verifies `v1a` signatures and cannot
/// make them, so a receiver that holds only this key cannot forge webhooks even if its
/// configuration leaks.
///
/// Refused when parsed: anything but the canonical encoding of a curve point, and points of
/// small order, under which signatures can be forged without a secret. `Debug` and `Display`
/// print the key as `whpk_...`: it is public.
///
/// ```
/// use amps_webhooks::{MockClock, PublicKey, Verifier};
///
/// let key: PublicKey = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=".parse()?;
/// let verifier = Verifier::builder()
///     .key(key)
///     .clock(MockClock::at_unix(1_614_265_330))
///     .build()?;
/// let headers = [
///     ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
///     ("webhook-timestamp", "1614265330"),
///     ("webhook-signature", "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="),
/// ];
/// let body = br#"{"test": 2432232314}"#;
/// let verified = verifier.verify(&headers, body)?;
/// assert_eq!(verified.id(), "msg_p5jXN8AQM9LWM0D4loKWxJek");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    verifying: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// Parses `whpk_<base64>` or the bare base64 of 32 bytes. A `whsk_` signing key is taken
    /// too, and gives its public half: whoever holds it may verify with it (but should hand the
    /// receiver only the `whpk_` key).
    ///
    /// # Errors
    /// [`SecretError::Empty`]; [`SecretError::WrongKind`] for a `whsec_` secret;
    /// [`SecretError::InvalidBase64`] unless canonical padded standard base64;
    /// [`SecretError::InvalidKeyLength`] unless 32 bytes; [`SecretError::InvalidPublicKey`] and
    /// [`SecretError::WeakPublicKey`] as for [`PublicKey::from_bytes`]; for a `whsk_` key, the
    /// errors of [`SigningKey::parse`].
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        if text.starts_with(SIGNING_PREFIX) {
            return SigningKey::parse(text).map(|key| key.public_key());
        }
        let bytes = decode(text, PUBLIC_PREFIX)?;
        let bytes: [u8; PUBLIC_KEY_BYTES] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| SecretError::InvalidKeyLength {
                    found: PUBLIC_PREFIX,
                    expected: PUBLIC_KEY_BYTES,
                    len: bytes.len(),
                })?;
        Self::from_bytes(&bytes)
    }

    /// Uses `bytes` as the compressed Edwards point of the key.
    ///
    /// # Errors
    /// [`SecretError::InvalidPublicKey`] unless `bytes` is the canonical encoding of a point on
    /// the curve; [`SecretError::WeakPublicKey`] for a point of small order.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_BYTES]) -> Result<Self, SecretError> {
        let point = CompressedEdwardsY(*bytes)
            .decompress()
            .ok_or(SecretError::InvalidPublicKey)?;
        // Decompression takes y >= p and a sign bit on x = 0; RFC 8032 refuses both, and so
        // does this, so that one key has one spelling.
        if point.compress().as_bytes() != bytes {
            return Err(SecretError::InvalidPublicKey);
        }
        if point.is_small_order() {
            return Err(SecretError::WeakPublicKey);
        }
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(|verifying| Self { verifying })
            .map_err(|_| SecretError::InvalidPublicKey)
    }

    /// The 32 bytes of the key.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_BYTES] {
        self.verifying.as_bytes()
    }

    pub(crate) fn verifying_key(&self) -> &ed25519_dalek::VerifyingKey {
        &self.verifying
    }
}

/// Whether `signature` signs the concatenation of `parts` under `key`, hashed piecewise.
///
/// The caller has already checked `R` and `S` with [`strict_signature`], and the key was
/// checked when parsed (a [`PublicKey`], or derived from a seed): with those, this is
/// `verify_strict` without the copy of the message.
fn verifies(
    key: &ed25519_dalek::VerifyingKey,
    signature: &ed25519_dalek::Signature,
    parts: [&[u8]; 5],
) -> bool {
    let Ok(mut verifier) = key.verify_stream(signature) else {
        return false;
    };
    for part in parts {
        verifier.update(part);
    }
    verifier.finalize_and_verify().is_ok()
}

impl FromStr for PublicKey {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", STANDARD.encode(self.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// An ed25519 signing key (`whsk_` + base64 of 64 bytes: the 32-byte seed, then the 32-byte
/// public key): signs `v1a` entries, and verifies them with its public half.
///
/// A key whose public half is not derived from its seed is refused. `Debug` prints only the
/// public half; the seed is zeroized on drop.
///
/// ```
/// use amps_webhooks::SigningKey;
///
/// let key: SigningKey = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==".parse()?;
/// assert_eq!(key.public_key().to_string(), "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=");
/// # Ok::<(), amps_webhooks::SecretError>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
#[derive(Clone)]
pub struct SigningKey {
    signing: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// Parses `whsk_<base64>` or the bare base64 of 64 bytes.
    ///
    /// # Errors
    /// [`SecretError::Empty`]; [`SecretError::PublicKeyCannotSign`] for a `whpk_` key;
    /// [`SecretError::WrongKind`] for a `whsec_` secret; [`SecretError::InvalidBase64`]
    /// unless canonical padded standard base64; [`SecretError::InvalidKeyLength`] unless 64
    /// bytes; [`SecretError::MismatchedKeyPair`] as for [`SigningKey::from_keypair_bytes`].
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        if text.starts_with(PUBLIC_PREFIX) {
            return Err(SecretError::PublicKeyCannotSign);
        }
        let bytes = decode(text, SIGNING_PREFIX)?;
        let mut keypair = Zeroizing::new([0u8; SIGNING_KEY_BYTES]);
        if bytes.len() != SIGNING_KEY_BYTES {
            return Err(SecretError::InvalidKeyLength {
                found: SIGNING_PREFIX,
                expected: SIGNING_KEY_BYTES,
                len: bytes.len(),
            });
        }
        keypair.copy_from_slice(&bytes);
        Self::from_keypair_bytes(&keypair)
    }

    /// Uses `bytes`: the 32-byte seed, then its 32-byte public key.
    ///
    /// # Errors
    /// [`SecretError::MismatchedKeyPair`] when the second half is not the public key of the
    /// first.
    pub fn from_keypair_bytes(bytes: &[u8; SIGNING_KEY_BYTES]) -> Result<Self, SecretError> {
        let (seed, public) = bytes.split_at(PUBLIC_KEY_BYTES);
        let mut seed_array = Zeroizing::new([0u8; PUBLIC_KEY_BYTES]);
        seed_array.copy_from_slice(seed);
        let key = Self::from_seed(&seed_array);
        // Public data on both sides: a plain comparison is fine.
        if key.signing.verifying_key().as_bytes().as_slice() != public {
            return Err(SecretError::MismatchedKeyPair);
        }
        Ok(key)
    }

    /// Derives the key pair from a 32-byte seed (the first half of a `whsk_` key).
    #[must_use]
    pub fn from_seed(seed: &[u8; PUBLIC_KEY_BYTES]) -> Self {
        Self {
            signing: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// The public half: hand its `whpk_` form (`to_string()`) to receivers.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        // A key derived from a seed is a clamped multiple of the base point: never of small
        // order, always canonical, so it needs none of the checks of `from_bytes`.
        PublicKey {
            verifying: self.signing.verifying_key(),
        }
    }

    pub(crate) fn verifying_key(&self) -> &ed25519_dalek::VerifyingKey {
        self.signing.as_ref()
    }

    /// The signature of `content`, as the base64 of a `v1a,` entry.
    fn sign_base64(&self, content: &[u8]) -> String {
        STANDARD.encode(self.signing.sign(content).to_bytes())
    }
}

impl FromStr for SigningKey {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey {{ public: {}, seed: [redacted] }}",
            self.public_key()
        )
    }
}

/// Strips `prefix` (optional), refuses `whsec_`, and decodes canonical padded base64.
fn decode(text: &str, prefix: &'static str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    if text.starts_with(HMAC_PREFIX) {
        return Err(SecretError::WrongKind { found: HMAC_PREFIX });
    }
    let encoded = text.strip_prefix(prefix).unwrap_or(text);
    if encoded.is_empty() {
        return Err(SecretError::Empty);
    }
    STANDARD
        .decode(encoded)
        .map(Zeroizing::new)
        .map_err(|_| SecretError::InvalidBase64)
}

/// The well-formed `v1a` signatures of a signature header, decoded.
///
/// An entry is used only when it is exactly `v1a,` followed by canonical padded standard
/// base64 of 64 bytes; anything else is skipped, as for `v1`.
pub(crate) fn v1a_signatures(header: &[u8]) -> impl Iterator<Item = [u8; SIGNATURE_BYTES]> + '_ {
    crate::signature::entries(header)
        .filter_map(|entry| entry.strip_prefix(b"v1a,"))
        .filter_map(decode_v1a_signature)
}

fn decode_v1a_signature(encoded: &[u8]) -> Option<[u8; SIGNATURE_BYTES]> {
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

/// How many well-formed `v1a` entries the header holds, 0 when `keys` has no ed25519 key
/// (the entries are then not looked at).
///
/// # Errors
/// [`VerifyError::TooManySignatures`](crate::VerifyError::TooManySignatures) over
/// [`MAX_V1A_SIGNATURES`](crate::MAX_V1A_SIGNATURES).
pub(crate) fn count_v1a(keys: &KeySet, header: &[u8]) -> Result<usize, crate::VerifyError> {
    if keys.verifying_keys().next().is_none() {
        return Ok(0);
    }
    let count = v1a_signatures(header).count();
    if count > crate::MAX_V1A_SIGNATURES {
        return Err(crate::VerifyError::TooManySignatures {
            limit: crate::MAX_V1A_SIGNATURES,
        });
    }
    Ok(count)
}

/// Whether any `v1a` entry of `header` is a valid signature of the signed content under any
/// ed25519 key of `keys`.
///
/// Unlike the `v1` comparison this returns at the first match: every input here is public (the
/// keys, the signatures, the content), so timing reveals nothing an attacker does not know.
pub(crate) fn match_v1a(
    keys: &KeySet,
    id: &[u8],
    timestamp: &[u8],
    body: &[u8],
    header: &[u8],
) -> bool {
    for bytes in v1a_signatures(header) {
        let Some(signature) = strict_signature(&bytes) else {
            continue;
        };
        for key in keys.verifying_keys() {
            if verifies(key, &signature, [id, b".", timestamp, b".", body]) {
                return true;
            }
        }
    }
    false
}

/// The `v1a,<base64>` entry for `key` over `content`, the whole signed content.
pub(crate) fn v1a_entry(key: &SigningKey, content: &[u8]) -> String {
    let mut entry = String::with_capacity(4 + V1A_BASE64_LEN);
    entry.push_str("v1a,");
    entry.push_str(&key.sign_base64(content));
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_KEY: &str = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
    const CONTENT: &[u8] = br#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#;

    /// The streaming check (with [`strict_signature`] and the key checks made at parse time)
    /// must accept exactly what `verify_strict` accepts.
    fn agrees_with_verify_strict(key: &PublicKey, bytes: &[u8; SIGNATURE_BYTES]) -> bool {
        let ours = strict_signature(bytes).is_some_and(|signature| {
            let (a, b) = CONTENT.split_at(10);
            verifies(&key.verifying, &signature, [a, b, b"", b"", b""])
        });
        let theirs = key
            .verifying
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
        let good = key.signing.sign(CONTENT).to_bytes();
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
    fn signing_keys_parse_and_refuse_with_the_reason() {
        let key = SigningKey::parse(SECRET_KEY).unwrap();
        let bytes = STANDARD.decode(&SECRET_KEY[5..]).unwrap();
        let bare = STANDARD.encode(&bytes);
        assert_eq!(
            SigningKey::parse(&bare).unwrap().public_key(),
            key.public_key()
        );

        let mut mismatched = bytes.clone();
        mismatched[63] ^= 1;
        let text = format!("whsk_{}", STANDARD.encode(&mismatched));
        assert_eq!(
            SigningKey::parse(&text).unwrap_err(),
            SecretError::MismatchedKeyPair
        );
        let short = format!("whsk_{}", STANDARD.encode(&bytes[..32]));
        assert_eq!(
            SigningKey::parse(&short).unwrap_err(),
            SecretError::InvalidKeyLength {
                found: "whsk_",
                expected: 64,
                len: 32
            }
        );
        assert_eq!(SigningKey::parse("whsk_").unwrap_err(), SecretError::Empty);
        assert_eq!(
            SigningKey::parse("whsk_6Xb/dCcHpPea21PS1N9VY").unwrap_err(),
            SecretError::InvalidBase64
        );
        assert_eq!(
            SigningKey::parse("whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=").unwrap_err(),
            SecretError::PublicKeyCannotSign
        );
        assert_eq!(
            SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::WrongKind { found: "whsec_" }
        );
    }

    #[test]
    fn debug_shows_only_the_public_half() {
        let key = SigningKey::parse(SECRET_KEY).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(
            shown,
            "SigningKey { public: whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=, seed: [redacted] }"
        );
        assert_eq!(
            format!("{:?}", key.public_key()),
            "PublicKey(whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=)"
        );
    }

    #[test]
    fn only_strict_v1a_entries_are_candidates() {
        let good = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";
        assert_eq!(v1a_signatures(good.as_bytes()).count(), 1);
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
            assert_eq!(v1a_signatures(bad.as_bytes()).count(), 0, "{bad}");
        }
    }
}
