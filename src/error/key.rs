//! [`KeyError`]: why a secret or key could not be parsed, each fault with its own variant and a
//! message that says what to do.

use std::error::Error as StdError;
use std::fmt;

/// Why a secret or key could not be parsed: an HMAC secret (`whsec_`) or, with the `ed25519`
/// feature, an ed25519 public key (`whpk_`) or signing key (`whsk_`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The input was empty (or only a `whsec_`, `whsk_` or `whpk_` prefix), once the
    /// whitespace around it was trimmed.
    Empty,
    /// The input is wrapped in quotes (`"whsec_..."` or `'whsec_...'`), or begins or ends with
    /// one: quotes are never part of a key, but a shell, a `.env` file or a YAML value can pass
    /// them on.
    Quoted {
        /// The quote found, `"` or `'`.
        quote: char,
    },
    /// The input holds whitespace inside it (the whitespace around it is trimmed): a space, or
    /// a line break where a terminal or an editor wrapped a long key.
    InnerWhitespace {
        /// The byte offset of the first such character in the input as given.
        position: usize,
    },
    /// The input is a different kind of key: `whsk_` or `whpk_` (ed25519) where an HMAC
    /// secret (`whsec_`) was expected, `whsec_` where an ed25519 key was expected, or a
    /// `whpk_` public key where a key to sign with was expected.
    WrongKind {
        /// The prefix that was found.
        found: &'static str,
    },
    /// The part after `whsec_` is not canonical, padded, standard base64.
    InvalidBase64,
    /// The secret decodes to fewer than [`MIN_SECRET_BYTES`](crate::MIN_SECRET_BYTES) bytes.
    TooShort {
        /// How many bytes it decoded to.
        len: usize,
    },
    /// The secret decodes to more than [`MAX_SECRET_BYTES`](crate::MAX_SECRET_BYTES) bytes.
    TooLong {
        /// How many bytes it decoded to.
        len: usize,
    },
    /// A `whsk_` or `whpk_` (ed25519) key was given, but the crate was built without its
    /// `ed25519` feature.
    Ed25519Disabled {
        /// The prefix that was found.
        found: &'static str,
    },
    /// A `whpk_` key does not decode to 32 bytes, or a `whsk_` key to 64.
    InvalidKeyLength {
        /// The prefix of the key.
        found: &'static str,
        /// How many bytes a key of that kind has.
        expected: usize,
        /// How many bytes it decoded to.
        len: usize,
    },
    /// A `whpk_` key is not the canonical encoding of a point on the ed25519 curve.
    InvalidPublicKey,
    /// A `whpk_` key is a point of small order (such as the identity): signatures under it
    /// can be forged without any secret, so it is refused.
    WeakPublicKey,
    /// The second half of a `whsk_` key is not the public key of its first half (the seed).
    MismatchedKeyPair,
}

const SECRET_SHAPE: &str =
    "a secret is `whsec_` followed by standard padded base64 of 24 to 64 random bytes";

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the secret is empty; {SECRET_SHAPE}"),
            Self::Quoted { quote } => write!(
                f,
                "the secret is wrapped in quotes (`{quote}`), which are not part of it; pass it without them (in a shell, quote the whole argument: --secret \"$SECRET\")"
            ),
            Self::InnerWhitespace { position } => write!(
                f,
                "the secret has whitespace inside it, at byte {position}; copy it again whole, on one line (whitespace around it is trimmed, not within)"
            ),
            Self::WrongKind { found: "whsec_" } => write!(
                f,
                "a `whsec_` HMAC secret is not an ed25519 key; a `whpk_` public key or a `whsk_` signing key goes here"
            ),
            Self::WrongKind { found: "whpk_" } => write!(
                f,
                "a `whpk_` key is an ed25519 public key: it can only verify, so it is neither an HMAC secret nor a key to sign with; to sign, use the `whsk_` signing key of the same pair, or a `whsec_` secret ({SECRET_SHAPE}), and give the `whpk_` key to the receiver that verifies"
            ),
            Self::WrongKind { found } => write!(
                f,
                "a `{found}` key is not an HMAC secret; {SECRET_SHAPE} (ed25519 keys need the `ed25519` feature and go where a public or signing key is expected)"
            ),
            Self::InvalidBase64 => write!(
                f,
                "the secret is not canonical padded base64 (no spaces, `+/` alphabet, `=` padding); {SECRET_SHAPE}"
            ),
            Self::TooShort { len } => {
                write!(f, "the secret is only {len} bytes long; {SECRET_SHAPE}")
            }
            Self::TooLong { len } => write!(f, "the secret is {len} bytes long; {SECRET_SHAPE}"),
            Self::Ed25519Disabled { found } => write!(
                f,
                "`{found}` keys are ed25519 (Standard Webhooks v1a): enable the `ed25519` feature of amps-webhooks to use them"
            ),
            Self::InvalidKeyLength {
                found,
                expected,
                len,
            } => write!(
                f,
                "the `{found}` key decodes to {len} bytes; a `{found}` key is standard padded base64 of {expected} bytes"
            ),
            Self::InvalidPublicKey => write!(
                f,
                "the `whpk_` key is not a valid ed25519 public key (not a canonical curve point); check that it was copied whole"
            ),
            Self::WeakPublicKey => write!(
                f,
                "the `whpk_` key is a small-order ed25519 point, under which anyone can forge signatures; use the public key of a real key pair"
            ),
            Self::MismatchedKeyPair => write!(
                f,
                "the `whsk_` key's public half does not belong to its seed; the key is corrupt or was assembled from two key pairs"
            ),
        }
    }
}

impl StdError for KeyError {}
