//! The ed25519 keys of Standard Webhooks `v1a` (feature `ed25519`): public keys (`whpk_`) that
//! verify and signing keys (`whsk_`) that sign, each checked once, when parsed.
//!
//! A public key must be the canonical encoding of a curve point not of small order, so that
//! verification (in [`signature`](crate::signature)) is `verify_strict` without re-checking the
//! key per request.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::Signer as _;
use zeroize::Zeroizing;

use crate::error::KeyError;

/// The prefix of an ed25519 public key.
pub(crate) const PUBLIC_PREFIX: &str = "whpk_";
/// The prefix of an ed25519 signing key.
pub(crate) const SIGNING_PREFIX: &str = "whsk_";
const HMAC_PREFIX: &str = "whsec_";
/// Bytes in a public key.
const PUBLIC_KEY_BYTES: usize = 32;
/// Bytes in a signing key: the 32-byte seed, then the 32-byte public key.
const SIGNING_KEY_BYTES: usize = 64;
/// Bytes in an ed25519 signature: `R`, then `S`.
pub(crate) const SIGNATURE_BYTES: usize = 64;

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
///
/// # The `v1a` guide
///
#[doc = include_str!("../docs/ed25519.md")]
#[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    verifying: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// Parses `whpk_<base64>` or the bare base64 of 32 bytes. A `whsk_` signing key is taken
    /// too, and gives its public half: whoever holds it may verify with it (but should hand the
    /// receiver only the `whpk_` key). The whitespace around the text is trimmed.
    ///
    /// # Errors
    /// [`KeyError::Empty`]; [`KeyError::Quoted`] and [`KeyError::InnerWhitespace`] for a key in
    /// quotes or with whitespace inside; [`KeyError::WrongKind`] for a `whsec_` secret;
    /// [`KeyError::InvalidBase64`] unless canonical padded standard base64;
    /// [`KeyError::InvalidKeyLength`] unless 32 bytes; [`KeyError::InvalidPublicKey`] and
    /// [`KeyError::WeakPublicKey`] as for [`PublicKey::from_bytes`]; for a `whsk_` key, the
    /// errors of [`SigningKey::parse`].
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = super::clean(text)?;
        if text.starts_with(SIGNING_PREFIX) {
            return SigningKey::parse(text).map(|key| key.public_key());
        }
        let bytes = decode(text, PUBLIC_PREFIX)?;
        let bytes: [u8; PUBLIC_KEY_BYTES] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::InvalidKeyLength {
                    found: PUBLIC_PREFIX,
                    expected: PUBLIC_KEY_BYTES,
                    len: bytes.len(),
                })?;
        Self::from_bytes(&bytes)
    }

    /// Uses `bytes` as the compressed Edwards point of the key.
    ///
    /// # Errors
    /// [`KeyError::InvalidPublicKey`] unless `bytes` is the canonical encoding of a point on
    /// the curve; [`KeyError::WeakPublicKey`] for a point of small order.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_BYTES]) -> Result<Self, KeyError> {
        let point = CompressedEdwardsY(*bytes)
            .decompress()
            .ok_or(KeyError::InvalidPublicKey)?;
        // Decompression takes y >= p and a sign bit on x = 0; RFC 8032 refuses both, and so
        // does this, so that one key has one spelling.
        if point.compress().as_bytes() != bytes {
            return Err(KeyError::InvalidPublicKey);
        }
        if point.is_small_order() {
            return Err(KeyError::WeakPublicKey);
        }
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(|verifying| Self { verifying })
            .map_err(|_| KeyError::InvalidPublicKey)
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

impl FromStr for PublicKey {
    type Err = KeyError;

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
/// # Ok::<(), amps_webhooks::KeyError>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
#[derive(Clone)]
pub struct SigningKey {
    signing: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// Parses `whsk_<base64>` or the bare base64 of 64 bytes; the whitespace around the text
    /// is trimmed.
    ///
    /// # Errors
    /// [`KeyError::Empty`]; [`KeyError::Quoted`] and [`KeyError::InnerWhitespace`] for a key in
    /// quotes or with whitespace inside; [`KeyError::WrongKind`] for a `whpk_` public key (it cannot
    /// sign) or a `whsec_` secret; [`KeyError::InvalidBase64`]
    /// unless canonical padded standard base64; [`KeyError::InvalidKeyLength`] unless 64
    /// bytes; [`KeyError::MismatchedKeyPair`] as for [`SigningKey::from_keypair_bytes`].
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = super::clean(text)?;
        if text.starts_with(PUBLIC_PREFIX) {
            return Err(KeyError::WrongKind {
                found: PUBLIC_PREFIX,
            });
        }
        let bytes = decode(text, SIGNING_PREFIX)?;
        let mut keypair = Zeroizing::new([0u8; SIGNING_KEY_BYTES]);
        if bytes.len() != SIGNING_KEY_BYTES {
            return Err(KeyError::InvalidKeyLength {
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
    /// [`KeyError::MismatchedKeyPair`] when the second half is not the public key of the
    /// first.
    pub fn from_keypair_bytes(bytes: &[u8; SIGNING_KEY_BYTES]) -> Result<Self, KeyError> {
        let (seed, public) = bytes.split_at(PUBLIC_KEY_BYTES);
        let mut seed_array = Zeroizing::new([0u8; PUBLIC_KEY_BYTES]);
        seed_array.copy_from_slice(seed);
        let key = Self::from_seed(&seed_array);
        // Public data on both sides: a plain comparison is fine.
        if key.signing.verifying_key().as_bytes().as_slice() != public {
            return Err(KeyError::MismatchedKeyPair);
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

    /// The signature of `content`: `R`, then `S`.
    pub(crate) fn sign(&self, content: &[u8]) -> [u8; SIGNATURE_BYTES] {
        self.signing.sign(content).to_bytes()
    }
}

impl FromStr for SigningKey {
    type Err = KeyError;

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
fn decode(text: &str, prefix: &'static str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    if text.starts_with(HMAC_PREFIX) {
        return Err(KeyError::WrongKind { found: HMAC_PREFIX });
    }
    let encoded = text.strip_prefix(prefix).unwrap_or(text);
    if encoded.is_empty() {
        return Err(KeyError::Empty);
    }
    STANDARD
        .decode(encoded)
        .map(Zeroizing::new)
        .map_err(|_| KeyError::InvalidBase64)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "tests build their cases from fixed inputs"
)]
mod tests {
    use super::*;

    const SECRET_KEY: &str = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";

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
            KeyError::MismatchedKeyPair
        );
        let short = format!("whsk_{}", STANDARD.encode(&bytes[..32]));
        assert_eq!(
            SigningKey::parse(&short).unwrap_err(),
            KeyError::InvalidKeyLength {
                found: "whsk_",
                expected: 64,
                len: 32
            }
        );
        assert_eq!(SigningKey::parse("whsk_").unwrap_err(), KeyError::Empty);
        assert_eq!(
            SigningKey::parse("whsk_6Xb/dCcHpPea21PS1N9VY").unwrap_err(),
            KeyError::InvalidBase64
        );
        assert_eq!(
            SigningKey::parse("whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=").unwrap_err(),
            KeyError::WrongKind { found: "whpk_" }
        );
        // One variant for "a public key cannot go here", whichever key was expected.
        assert!(
            KeyError::WrongKind { found: "whpk_" }
                .to_string()
                .contains("it can only verify"),
        );
        assert_eq!(
            SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            KeyError::WrongKind { found: "whsec_" }
        );
    }

    #[test]
    fn keys_as_pasted_are_trimmed_and_their_faults_named() {
        const PUBLIC_KEY: &str = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";
        let key = SigningKey::parse(SECRET_KEY).unwrap();
        let pasted = format!(" {SECRET_KEY}\n");
        assert_eq!(
            SigningKey::parse(&pasted).unwrap().public_key(),
            key.public_key()
        );
        assert_eq!(
            PublicKey::parse(&format!("{PUBLIC_KEY}\r\n")).unwrap(),
            key.public_key()
        );
        assert!(matches!(
            crate::Key::parse(&pasted),
            Ok(crate::Key::Signing(_))
        ));
        assert_eq!(
            SigningKey::parse(&format!("'{SECRET_KEY}'")).unwrap_err(),
            KeyError::Quoted { quote: '\'' }
        );
        assert_eq!(
            PublicKey::parse(&format!("\"{PUBLIC_KEY}\"")).unwrap_err(),
            KeyError::Quoted { quote: '"' }
        );
        assert_eq!(
            PublicKey::parse("whpk_1SiA4o9hyqTCpIqC5V9H UakiiaeACeqfZTInDBbOir4=").unwrap_err(),
            KeyError::InnerWhitespace { position: 25 }
        );
        assert_eq!(
            SigningKey::parse(&format!("{PUBLIC_KEY}\n")).unwrap_err(),
            KeyError::WrongKind { found: "whpk_" }
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
}
