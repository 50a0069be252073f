//! The signing side of the scheme: the reference sender, fixtures and tests sign with it.

use crate::error::SignError;
use crate::secret::{KeySet, Secret};
use crate::signature;

/// Signs requests the way a Standard Webhooks sender does: one `v1,` entry per key.
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
    /// An empty set signs with an empty signature header.
    #[must_use]
    pub fn with_keys(keys: KeySet) -> Self {
        Self { keys }
    }

    /// Signs `body` as message `id` sent at `timestamp` (seconds since the Unix epoch).
    ///
    /// # Errors
    /// [`SignError::InvalidId`] for an id a verifier would refuse (empty, over 256 bytes, not
    /// printable ASCII, or holding a `.`).
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> Result<SignedHeaders, SignError> {
        signature::valid_id(id.as_bytes()).ok_or(SignError::InvalidId)?;
        let timestamp_text = timestamp.to_string();
        let signature = self
            .keys
            .secrets()
            .iter()
            .map(|secret| {
                signature::v1_entry(secret.mac(), id.as_bytes(), timestamp_text.as_bytes(), body)
            })
            .collect::<Vec<_>>()
            .join(" ");
        Ok(SignedHeaders {
            id: id.to_owned(),
            timestamp: timestamp_text,
            signature,
        })
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

    /// The `webhook-signature` value: space-separated `v1,<base64>` entries.
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
