//! The keys: HMAC signing secrets (`whsec_`, [`Secret`]), parsed once, held as a keyed HMAC
//! state, never printed, zeroized on drop; the ed25519 keys (`whpk_` `PublicKey` and `whsk_`
//! `SigningKey`, feature `ed25519`, in `ed25519.rs`); [`Key`], any of them; and [`KeySet`],
//! the keys a verifier accepts or a signer signs with.
//!
//! Keys know nothing of the signature header: the codecs in `signature` take them one by one.

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

use crate::error::KeyError;

#[cfg(feature = "ed25519")]
pub(crate) mod ed25519;
#[cfg(feature = "ed25519")]
pub use ed25519::{PublicKey, SigningKey};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The fewest key bytes a secret may have (the Standard Webhooks minimum).
pub const MIN_SECRET_BYTES: usize = 24;
/// The most key bytes a secret may have (the Standard Webhooks maximum).
pub const MAX_SECRET_BYTES: usize = 64;

const HMAC_PREFIX: &str = "whsec_";

/// A key as pasted, made ready to parse: the whitespace around it (a trailing newline from a
/// file, a space) is trimmed; quotes and whitespace inside are refused, as trimming cannot mend
/// them.
pub(crate) fn clean(text: &str) -> Result<&str, KeyError> {
    let trimmed = text.trim();
    for quote in ['"', '\''] {
        if trimmed.starts_with(quote) || trimmed.ends_with(quote) {
            return Err(KeyError::Quoted { quote });
        }
    }
    if let Some(at) = trimmed.find(char::is_whitespace) {
        let leading = text.len().saturating_sub(text.trim_start().len());
        return Err(KeyError::InnerWhitespace {
            position: leading.saturating_add(at),
        });
    }
    Ok(trimmed)
}

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
/// # Ok::<(), amps_webhooks::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Secret {
    keyed: HmacSha256,
}

impl Secret {
    /// Parses `whsec_<base64>` or the bare base64. The whitespace around the text is trimmed
    /// (a trailing newline from a file, a pasted space); whitespace inside it is not.
    ///
    /// # Errors
    /// [`KeyError::Empty`]; [`KeyError::Quoted`] for a secret in quotes;
    /// [`KeyError::InnerWhitespace`] for whitespace inside it; [`KeyError::WrongKind`] for
    /// `whsk_`/`whpk_` keys; [`KeyError::InvalidBase64`] unless the text is canonical padded
    /// standard base64; and [`KeyError::TooShort`] / [`KeyError::TooLong`] outside 24 to 64
    /// bytes.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = clean(text)?;
        for found in ["whsk_", "whpk_"] {
            if text.starts_with(found) {
                return Err(KeyError::WrongKind { found });
            }
        }
        let encoded = text.strip_prefix(HMAC_PREFIX).unwrap_or(text);
        if encoded.is_empty() {
            return Err(KeyError::Empty);
        }
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| KeyError::InvalidBase64)?,
        );
        Self::from_bytes(&bytes)
    }

    /// Uses `bytes` as the key.
    ///
    /// # Errors
    /// [`KeyError::Empty`], [`KeyError::TooShort`] or [`KeyError::TooLong`] outside 24
    /// to 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        match bytes.len() {
            0 => Err(KeyError::Empty),
            len if len < MIN_SECRET_BYTES => Err(KeyError::TooShort { len }),
            len if len > MAX_SECRET_BYTES => Err(KeyError::TooLong { len }),
            _ => HmacSha256::new_from_slice(bytes)
                .map(|keyed| Self { keyed })
                // HMAC takes keys of any length; this arm only keeps the API total.
                .map_err(|_| KeyError::InvalidBase64),
        }
    }

    /// A fresh copy of the keyed HMAC state.
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }
}

impl FromStr for Secret {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Any key the crate takes: an HMAC secret (`whsec_`, signature version `v1`) or, with the
/// `ed25519` feature, an ed25519 public key (`whpk_`, verifies `v1a`) or signing key (`whsk_`,
/// signs `v1a`).
///
/// ```
/// use amps_webhooks::Key;
///
/// let key = Key::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// assert!(matches!(key, Key::Hmac(_)));
/// # Ok::<(), amps_webhooks::KeyError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Key {
    /// An HMAC-SHA256 secret: signs and verifies `v1` entries.
    Hmac(Secret),
    /// An ed25519 public key: verifies `v1a` entries, cannot sign.
    #[cfg(feature = "ed25519")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    Public(PublicKey),
    /// An ed25519 signing key: signs `v1a` entries, and verifies them with its public half.
    #[cfg(feature = "ed25519")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    Signing(SigningKey),
}

impl Key {
    /// Parses a key by its prefix: `whpk_` and `whsk_` as ed25519 keys, anything else with
    /// [`Secret::parse`] (so bare base64 is an HMAC secret). The whitespace around the text is
    /// trimmed, as by [`Secret::parse`].
    ///
    /// # Errors
    /// [`KeyError::Quoted`] and [`KeyError::InnerWhitespace`] for a key in quotes or with
    /// whitespace inside; [`KeyError::Ed25519Disabled`] for a `whpk_` or `whsk_` key when the
    /// crate is built without its `ed25519` feature; otherwise the errors of
    /// [`Secret::parse`], or of `PublicKey::parse` / `SigningKey::parse` for ed25519 keys.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = clean(text)?;
        #[cfg(feature = "ed25519")]
        {
            if text.starts_with(ed25519::PUBLIC_PREFIX) {
                return PublicKey::parse(text).map(Self::Public);
            }
            if text.starts_with(ed25519::SIGNING_PREFIX) {
                return SigningKey::parse(text).map(Self::Signing);
            }
        }
        #[cfg(not(feature = "ed25519"))]
        for found in ["whsk_", "whpk_"] {
            if text.starts_with(found) {
                return Err(KeyError::Ed25519Disabled { found });
            }
        }
        Secret::parse(text).map(Self::Hmac)
    }
}

impl FromStr for Key {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl From<Secret> for Key {
    fn from(secret: Secret) -> Self {
        Self::Hmac(secret)
    }
}

#[cfg(feature = "ed25519")]
impl From<PublicKey> for Key {
    fn from(key: PublicKey) -> Self {
        Self::Public(key)
    }
}

#[cfg(feature = "ed25519")]
impl From<SigningKey> for Key {
    fn from(key: SigningKey) -> Self {
        Self::Signing(key)
    }
}

/// The keys a verifier accepts or a signer signs with: several at once while a secret is being
/// rotated, so that neither side needs downtime.
///
/// A verifier checks `v1,` entries against the HMAC secrets only and `v1a,` entries against
/// the ed25519 keys only (a `whsk_` signing key verifies with its public half). A signer
/// writes one entry per key, in the order the keys were added.
///
/// ```
/// use amps_webhooks::KeySet;
///
/// let keys = KeySet::parse(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"])?;
/// assert_eq!(keys.len(), 2);
/// # Ok::<(), amps_webhooks::KeyError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// An empty set; a verifier needs at least one key.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses every text in `texts` with [`Key::parse`]: `whsec_` secrets (or bare base64)
    /// and, with the `ed25519` feature, `whpk_` and `whsk_` keys; the whitespace around each
    /// is trimmed.
    ///
    /// # Errors
    /// The first [`KeyError`] met; [`KeyError::Ed25519Disabled`] for a `whpk_` or
    /// `whsk_` key without the `ed25519` feature.
    pub fn parse<I, S>(texts: I) -> Result<Self, KeyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let keys = texts
            .into_iter()
            .map(|text| Key::parse(text.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Adds a secret.
    pub fn push(&mut self, secret: Secret) {
        self.keys.push(Key::Hmac(secret));
    }

    /// Adds a key of any kind.
    pub fn push_key(&mut self, key: impl Into<Key>) {
        self.keys.push(key.into());
    }

    /// How many keys the set holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the set holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every key, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter()
    }

    /// The HMAC secrets, in the order added.
    #[cfg_attr(
        not(feature = "ed25519"),
        expect(
            clippy::unnecessary_filter_map,
            reason = "other kinds of key need a feature"
        )
    )]
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &Secret> {
        self.keys.iter().filter_map(|key| match key {
            Key::Hmac(secret) => Some(secret),
            #[cfg(feature = "ed25519")]
            Key::Public(_) | Key::Signing(_) => None,
        })
    }

    /// The ed25519 public keys to verify `v1a` entries with: the `whpk_` keys and the public
    /// halves of the `whsk_` keys, in the order added.
    #[cfg(feature = "ed25519")]
    pub(crate) fn verifying_keys(
        &self,
    ) -> impl Iterator<Item = &ed25519_dalek::VerifyingKey> + Clone {
        self.keys.iter().filter_map(|key| match key {
            Key::Hmac(_) => None,
            Key::Public(public) => Some(public.verifying_key()),
            Key::Signing(signing) => Some(signing.verifying_key()),
        })
    }
}

impl From<Secret> for KeySet {
    fn from(secret: Secret) -> Self {
        Self {
            keys: vec![Key::Hmac(secret)],
        }
    }
}

impl From<Key> for KeySet {
    fn from(key: Key) -> Self {
        Self { keys: vec![key] }
    }
}

impl FromIterator<Secret> for KeySet {
    fn from_iter<I: IntoIterator<Item = Secret>>(iter: I) -> Self {
        Self {
            keys: iter.into_iter().map(Key::Hmac).collect(),
        }
    }
}

impl Extend<Key> for KeySet {
    fn extend<I: IntoIterator<Item = Key>>(&mut self, iter: I) {
        self.keys.extend(iter);
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
        assert_eq!(Secret::parse("").unwrap_err(), KeyError::Empty);
        assert_eq!(Secret::parse("whsec_").unwrap_err(), KeyError::Empty);
        assert_eq!(
            Secret::parse("whsec_not-base64!").unwrap_err(),
            KeyError::InvalidBase64
        );
        // Unpadded and URL-safe alphabets are not canonical standard base64.
        assert_eq!(
            Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").unwrap_err(),
            KeyError::InvalidBase64
        );
        assert_eq!(
            Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_").unwrap_err(),
            KeyError::InvalidBase64
        );
        assert_eq!(
            Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap_err(),
            KeyError::TooShort { len: 21 }
        );
        assert_eq!(
            Secret::from_bytes(&[7; 65]).unwrap_err(),
            KeyError::TooLong { len: 65 }
        );
        assert_eq!(
            Secret::parse("whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=").unwrap_err(),
            KeyError::WrongKind { found: "whpk_" }
        );
    }

    #[test]
    fn secrets_as_pasted_are_trimmed_and_their_faults_named() {
        const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        for text in [
            format!("{SECRET}\n"),
            format!("{SECRET}\r\n"),
            format!(" {SECRET} "),
            format!("\t{SECRET}"),
        ] {
            assert!(Secret::parse(&text).is_ok(), "{text:?}");
            assert!(matches!(Key::parse(&text), Ok(Key::Hmac(_))), "{text:?}");
            assert_eq!(KeySet::parse([&text, &text]).map(|keys| keys.len()), Ok(2));
        }
        assert_eq!(Secret::parse(" \n").unwrap_err(), KeyError::Empty);
        for (text, expected) in [
            (format!("\"{SECRET}\""), KeyError::Quoted { quote: '"' }),
            (format!("'{SECRET}'\n"), KeyError::Quoted { quote: '\'' }),
            (format!("{SECRET}\""), KeyError::Quoted { quote: '"' }),
            (
                "whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw".to_owned(),
                KeyError::InnerWhitespace { position: 22 },
            ),
            (
                "  whsec_MfKQ9r8GKYqrTwjU\nPD8ILPZIo2LaLaSw\n".to_owned(),
                KeyError::InnerWhitespace { position: 24 },
            ),
        ] {
            assert_eq!(Secret::parse(&text).unwrap_err(), expected, "{text:?}");
            assert_eq!(Key::parse(&text).unwrap_err(), expected, "{text:?}");
            assert_eq!(KeySet::parse([SECRET, &text]).unwrap_err(), expected);
        }
        assert_eq!(
            KeyError::Quoted { quote: '"' }.to_string(),
            "the secret is wrapped in quotes (`\"`), which are not part of it; pass it without them (in a shell, quote the whole argument: --secret \"$SECRET\")"
        );
        assert_eq!(
            KeyError::InnerWhitespace { position: 22 }.to_string(),
            "the secret has whitespace inside it, at byte 22; copy it again whole, on one line (whitespace around it is trimmed, not within)"
        );
        // A public key where a secret is needed: the message says what to use instead.
        let error =
            Secret::parse(" whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=\n").unwrap_err();
        assert_eq!(error, KeyError::WrongKind { found: "whpk_" });
        assert!(
            error.to_string().contains(
                "to sign, use the `whsk_` signing key of the same pair, or a `whsec_` secret"
            ),
            "{error}"
        );
    }

    #[cfg(not(feature = "ed25519"))]
    #[test]
    fn ed25519_keys_ask_for_the_feature() {
        for (text, found) in [
            ("whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=", "whpk_"),
            (
                "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==",
                "whsk_",
            ),
        ] {
            let error = Key::parse(text).unwrap_err();
            assert_eq!(error, KeyError::Ed25519Disabled { found });
            assert!(
                error.to_string().contains("enable the `ed25519` feature"),
                "{error}"
            );
            assert_eq!(
                KeySet::parse([text]).unwrap_err(),
                KeyError::Ed25519Disabled { found }
            );
        }
        assert!(matches!(
            Key::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Ok(Key::Hmac(_))
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::from_bytes(&[0x41; 32]).unwrap();
        let shown = format!("{secret:?} {:?}", KeySet::from(secret.clone()));
        assert!(!shown.contains("41") && !shown.contains("QUFB"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
