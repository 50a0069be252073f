//! Signing secrets: parsed once, held as a keyed HMAC state, never printed, zeroized on drop.

// Untrusted input flows through this module: no indexing, unchecked arithmetic, unwrap or
// expect that could panic on it (tests may).
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::SecretError;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The fewest key bytes a secret may have (the Standard Webhooks minimum).
pub const MIN_SECRET_BYTES: usize = 24;
/// The most key bytes a secret may have (the Standard Webhooks maximum).
pub const MAX_SECRET_BYTES: usize = 64;

const HMAC_PREFIX: &str = "whsec_";

/// An HMAC-SHA256 signing secret (`whsec_` + base64 of 24 to 64 bytes).
///
/// The key is kept only as the HMAC state keyed with it, so each request starts from a copy of
/// that state instead of hashing the key again. `Debug` prints `Secret([redacted])`; the state
/// is zeroized when the secret is dropped.
///
/// ```
/// use amps_webhooks::Secret;
///
/// let secret: Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// assert_eq!(format!("{secret:?}"), "Secret([redacted])");
/// # Ok::<(), amps_webhooks::SecretError>(())
/// ```
#[derive(Clone)]
pub struct Secret {
    keyed: HmacSha256,
}

impl Secret {
    /// Parses `whsec_<base64>` or the bare base64.
    ///
    /// # Errors
    /// [`SecretError::Empty`], [`SecretError::WrongKind`] for `whsk_`/`whpk_` keys,
    /// [`SecretError::InvalidBase64`] unless the text is canonical padded standard base64, and
    /// [`SecretError::TooShort`] / [`SecretError::TooLong`] outside 24 to 64 bytes.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        for found in ["whsk_", "whpk_"] {
            if text.starts_with(found) {
                return Err(SecretError::WrongKind { found });
            }
        }
        let encoded = text.strip_prefix(HMAC_PREFIX).unwrap_or(text);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| SecretError::InvalidBase64)?,
        );
        Self::from_bytes(&bytes)
    }

    /// Uses `bytes` as the key.
    ///
    /// # Errors
    /// [`SecretError::Empty`], [`SecretError::TooShort`] or [`SecretError::TooLong`] outside 24
    /// to 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        match bytes.len() {
            0 => Err(SecretError::Empty),
            len if len < MIN_SECRET_BYTES => Err(SecretError::TooShort { len }),
            len if len > MAX_SECRET_BYTES => Err(SecretError::TooLong { len }),
            _ => HmacSha256::new_from_slice(bytes)
                .map(|keyed| Self { keyed })
                // HMAC takes keys of any length; this arm only keeps the API total.
                .map_err(|_| SecretError::InvalidBase64),
        }
    }

    /// A fresh copy of the keyed HMAC state.
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }
}

impl FromStr for Secret {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The keys a verifier accepts or a signer signs with: several at once while a secret is being
/// rotated, so that neither side needs downtime.
///
/// ```
/// use amps_webhooks::KeySet;
///
/// let keys = KeySet::parse(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"])?;
/// assert_eq!(keys.len(), 2);
/// # Ok::<(), amps_webhooks::SecretError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    secrets: Vec<Secret>,
}

impl KeySet {
    /// An empty set; a verifier needs at least one key.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses every text in `texts` with [`Secret::parse`].
    ///
    /// # Errors
    /// The first [`SecretError`] met.
    pub fn parse<I, S>(texts: I) -> Result<Self, SecretError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let secrets = texts
            .into_iter()
            .map(|text| Secret::parse(text.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { secrets })
    }

    /// Adds a secret.
    pub fn push(&mut self, secret: Secret) {
        self.secrets.push(secret);
    }

    /// How many keys the set holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// True when the set holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub(crate) fn secrets(&self) -> &[Secret] {
        &self.secrets
    }
}

impl From<Secret> for KeySet {
    fn from(secret: Secret) -> Self {
        Self {
            secrets: vec![secret],
        }
    }
}

impl FromIterator<Secret> for KeySet {
    fn from_iter<I: IntoIterator<Item = Secret>>(iter: I) -> Self {
        Self {
            secrets: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_and_without_prefix() {
        assert!(Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    }

    #[test]
    fn refuses_bad_secrets_with_the_reason() {
        assert_eq!(Secret::parse("").unwrap_err(), SecretError::Empty);
        assert_eq!(Secret::parse("whsec_").unwrap_err(), SecretError::Empty);
        assert_eq!(
            Secret::parse("whsec_not base64!").unwrap_err(),
            SecretError::InvalidBase64
        );
        // Unpadded and URL-safe alphabets are not canonical standard base64.
        assert_eq!(
            Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").unwrap_err(),
            SecretError::InvalidBase64
        );
        assert_eq!(
            Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_").unwrap_err(),
            SecretError::InvalidBase64
        );
        assert_eq!(
            Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap_err(),
            SecretError::TooShort { len: 21 }
        );
        assert_eq!(
            Secret::from_bytes(&[7; 65]).unwrap_err(),
            SecretError::TooLong { len: 65 }
        );
        assert_eq!(
            Secret::parse("whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=").unwrap_err(),
            SecretError::WrongKind { found: "whpk_" }
        );
    }

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::from_bytes(&[0x41; 32]).unwrap();
        let shown = format!("{secret:?} {:?}", KeySet::from(secret.clone()));
        assert!(!shown.contains("41") && !shown.contains("QUFB"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
