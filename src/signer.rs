//! The signing side of the scheme: [`Signer`] and the [`SignedHeaders`] it makes. The
//! reference sender, fixtures and tests sign with it.

use crate::error::SignError;
use crate::secret::{Key, KeySet, Secret};
use crate::signature::{self, MAX_ID_LEN};

/// Signs requests the way a Standard Webhooks sender does: one entry per key, `v1,` for an
/// HMAC secret and `v1a,` for an ed25519 signing key (feature `ed25519`).
///
/// ```
/// use amps_webhooks::{Secret, Signer};
///
/// let secret: Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// let signed = Signer::new(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#)?;
/// assert_eq!(signed.signature(), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Signer {
    keys: KeySet,
}

impl Signer {
    /// A signer with one secret.
    #[must_use]
    pub fn new(secret: Secret) -> Self {
        Self {
            keys: KeySet::from(secret),
        }
    }

    /// A signer with every key of `keys` (one signature entry each, as during a rotation).
    /// An empty set signs with an empty signature header. A `whpk_` public key in the set
    /// cannot sign: [`sign`](Self::sign) then fails; [`try_with_keys`](Self::try_with_keys)
    /// says so at once.
    #[must_use]
    pub fn with_keys(keys: KeySet) -> Self {
        Self { keys }
    }

    /// A signer with every key of `keys`, refusing a set that holds a key unable to sign.
    ///
    /// # Errors
    /// [`SignError::PublicKeyCannotSign`] when `keys` holds a `whpk_` public key.
    pub fn try_with_keys(keys: KeySet) -> Result<Self, SignError> {
        if keys.iter().any(|key| !can_sign(key)) {
            return Err(SignError::PublicKeyCannotSign);
        }
        Ok(Self { keys })
    }

    /// Signs `body` as message `id` sent at `timestamp` (seconds since the Unix epoch).
    ///
    /// Each key gives one entry, in the order of the set: `v1,` for an HMAC secret, `v1a,`
    /// for an ed25519 signing key (feature `ed25519`).
    ///
    /// # Errors
    /// [`SignError::InvalidId`] for an id a verifier would refuse (empty, over 256 bytes, not
    /// printable ASCII, or holding a `.`); [`SignError::PublicKeyCannotSign`] when the set
    /// holds a `whpk_` public key.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> Result<SignedHeaders, SignError> {
        signature::valid_id(id.as_bytes()).ok_or(SignError::InvalidId {
            max_len: MAX_ID_LEN,
        })?;
        if !self.keys.iter().all(can_sign) {
            return Err(SignError::PublicKeyCannotSign);
        }
        let timestamp_text = timestamp.to_string();
        // ed25519 hashes the message twice, so it needs the signed content in one piece:
        // built once, at the first signing key.
        #[cfg(feature = "ed25519")]
        let mut content: Option<Vec<u8>> = None;
        let mut entries = Vec::with_capacity(self.keys.len());
        for key in self.keys.iter() {
            match key {
                Key::Hmac(secret) => entries.push(signature::v1::entry(
                    secret.mac(),
                    id.as_bytes(),
                    timestamp_text.as_bytes(),
                    body,
                )),
                #[cfg(feature = "ed25519")]
                Key::Signing(signing) => {
                    let content = content.get_or_insert_with(|| {
                        [id.as_bytes(), b".", timestamp_text.as_bytes(), b".", body].concat()
                    });
                    entries.push(signature::v1a::entry(signing, content));
                }
                #[cfg(feature = "ed25519")]
                Key::Public(_) => return Err(SignError::PublicKeyCannotSign),
            }
        }
        let signature = entries.join(" ");
        Ok(SignedHeaders {
            id: id.to_owned(),
            timestamp: timestamp_text,
            signature,
        })
    }
}

/// Whether `key` can make signatures: every key but an ed25519 public key.
fn can_sign(key: &Key) -> bool {
    match key {
        Key::Hmac(_) => true,
        #[cfg(feature = "ed25519")]
        Key::Signing(_) => true,
        #[cfg(feature = "ed25519")]
        Key::Public(_) => false,
    }
}

/// The three signed headers of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    id: String,
    timestamp: String,
    signature: String,
}

impl SignedHeaders {
    /// The `webhook-id` value.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `webhook-timestamp` value.
    #[must_use]
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// The `webhook-signature` value: space-separated `v1,<base64>` / `v1a,<base64>` entries.
    #[must_use]
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The headers under their Standard Webhooks names (`webhook-*`).
    #[must_use]
    pub fn webhook_headers(&self) -> [(&'static str, &str); 3] {
        [
            ("webhook-id", &self.id),
            ("webhook-timestamp", &self.timestamp),
            ("webhook-signature", &self.signature),
        ]
    }

    /// The headers under their Svix names (`svix-*`).
    #[must_use]
    pub fn svix_headers(&self) -> [(&'static str, &str); 3] {
        [
            ("svix-id", &self.id),
            ("svix-timestamp", &self.timestamp),
            ("svix-signature", &self.signature),
        ]
    }
}
