//! Signed fixtures: a request (headers, body, the time it was signed or received) kept as a
//! JSON file, and replayed later through a [`Verifier`] at the recorded time (a [`MockClock`],
//! so a fixture never goes stale) or over HTTP to a live receiver.
//!
//! The file format, one request per file:
//!
//! ```json
//! {
//!   "description": "push.completed, envelope",
//!   "timestamp": 1778277632,
//!   "headers": [["webhook-id", "msg_1"], ["webhook-timestamp", "1778277632"], ["webhook-signature", "v1,..."]],
//!   "body": "{\"event\":\"push.completed\", ...}"
//! }
//! ```
//!
//! `body` holds a UTF-8 body byte for byte; a body that is not UTF-8 is kept as
//! `body_base64` instead.
//!
#![doc = include_str!("docs/testing.md")]

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::clock::MockClock;
use crate::error::BuildError;
use crate::error::{SignError, VerifyError};
use crate::headers::{self, HeaderLookup};
use crate::secret::KeySet;
use crate::sender::{AttemptResult, HeaderStyle, SendError, Sender, styled_headers};
use crate::signer::Signer;
use crate::verify::{Verified, Verifier};

/// Why a fixture could not be read, written or replayed.
#[derive(Debug)]
#[non_exhaustive]
pub enum FixtureError {
    /// The file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The text is not a fixture: not JSON, or a field missing or of the wrong type.
    Json(serde_json::Error),
    /// `body_base64` is not valid base64, or both `body` and `body_base64` (or neither) are
    /// given.
    InvalidBody,
    /// The fixture holds no `webhook-id` or `svix-id` header, so it cannot be re-signed.
    MissingId,
    /// Re-signing failed.
    Sign(SignError),
    /// The verifier for the recorded time could not be built (for example, no key given).
    Build(BuildError),
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Json(error) => write!(
                f,
                "not a fixture ({error}); expected {{\"timestamp\", \"headers\", \"body\" or \"body_base64\"}}"
            ),
            Self::InvalidBody => write!(
                f,
                "a fixture needs exactly one of `body` (UTF-8 text) and `body_base64` (valid standard base64)"
            ),
            Self::MissingId => write!(
                f,
                "the fixture has no webhook-id or svix-id header to re-sign under"
            ),
            Self::Sign(error) => write!(f, "cannot re-sign the fixture: {error}"),
            Self::Build(error) => write!(f, "cannot build the verifier: {error}"),
        }
    }
}

impl std::error::Error for FixtureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Json(error) => Some(error),
            Self::Sign(error) => Some(error),
            Self::Build(error) => Some(error),
            Self::InvalidBody | Self::MissingId => None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct FixtureFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    timestamp: u64,
    headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
}

/// One recorded request.
///
/// ```
/// use amps_webhooks::testing::Fixture;
/// use amps_webhooks::sender::HeaderStyle;
/// use amps_webhooks::{KeySet, Signer};
///
/// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// let signer = Signer::new(secret.parse()?);
/// let fixture = Fixture::sign(&signer, "msg_1", 1_700_000_000, br#"{"type":"t","data":{}}"#, HeaderStyle::Webhook)?;
/// let again = Fixture::from_json(&fixture.to_json())?;
/// // Verified at the recorded time, whenever the test runs.
/// let verified = again.replay(KeySet::parse([secret])?)?;
/// assert_eq!(verified.id(), "msg_1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    description: Option<String>,
    timestamp: u64,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Fixture {
    /// A fixture of a request as received: its headers (all of them, or the signed ones), its
    /// raw body, and `timestamp`, the time to verify it at (seconds since the Unix epoch;
    /// usually the time it was received).
    #[must_use]
    pub fn record<N: AsRef<str>, V: AsRef<str>>(
        headers: &[(N, V)],
        body: &[u8],
        timestamp: u64,
    ) -> Self {
        Self {
            description: None,
            timestamp,
            headers: headers
                .iter()
                .map(|(name, value)| (name.as_ref().to_owned(), value.as_ref().to_owned()))
                .collect(),
            body: body.to_vec(),
        }
    }

    /// A fixture signed by `signer` as message `id` at `timestamp`, with the signed headers
    /// under `style`.
    ///
    /// # Errors
    /// [`SignError`] for an id a verifier would refuse or a key that cannot sign.
    pub fn sign(
        signer: &Signer,
        id: &str,
        timestamp: u64,
        body: &[u8],
        style: HeaderStyle,
    ) -> Result<Self, SignError> {
        let signed = signer.sign(id, timestamp, body)?;
        let headers = styled_headers(&signed, style);
        Ok(Self::record(&headers, body, timestamp))
    }

    /// The same fixture with a description (kept in the file).
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The description, when there is one.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The recorded time, seconds since the Unix epoch.
    #[must_use]
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The headers, in their recorded order and spelling.
    #[must_use]
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The raw body.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Replaces the body (to tamper with a signed request on purpose).
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The message id: the `webhook-id` header, else `svix-id`.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        match headers::lookup_either(&self.headers, headers::ID) {
            HeaderLookup::One(value) => std::str::from_utf8(value).ok(),
            HeaderLookup::Missing | HeaderLookup::Repeated => None,
        }
    }

    /// A clock standing at the recorded time.
    #[must_use]
    pub fn clock(&self) -> MockClock {
        MockClock::at_unix(self.timestamp)
    }

    /// Verifies the fixture with `keys` as a receiver would have at the recorded time.
    ///
    /// # Errors
    /// [`ReplayError::Fixture`] (holding [`FixtureError::Build`]) for an empty key set;
    /// [`ReplayError::Rejected`] with the [`VerifyError`] when the verifier refuses it.
    pub fn replay(&self, keys: KeySet) -> Result<Verified<'_>, ReplayError> {
        let verifier = Verifier::builder()
            .keys(keys)
            .clock(self.clock())
            .build()
            .map_err(|error| ReplayError::Fixture(FixtureError::Build(error)))?;
        self.replay_with(&verifier).map_err(ReplayError::Rejected)
    }

    /// Verifies the fixture with `verifier` (give it [`clock`](Self::clock) to judge the
    /// timestamp at the recorded time).
    ///
    /// # Errors
    /// The verification's [`VerifyError`].
    pub fn replay_with(&self, verifier: &Verifier) -> Result<Verified<'_>, VerifyError> {
        verifier.verify(&self.headers, &self.body)
    }

    /// The same request re-signed by `signer` at `timestamp`, under the same id and header
    /// spellings: what a live receiver, which refuses the old timestamp, accepts.
    ///
    /// # Errors
    /// [`FixtureError::MissingId`] without an id header; [`FixtureError::Sign`] when signing
    /// fails.
    pub fn resigned(&self, signer: &Signer, timestamp: u64) -> Result<Self, FixtureError> {
        let id = self.id().ok_or(FixtureError::MissingId)?;
        let signed = signer
            .sign(id, timestamp, &self.body)
            .map_err(FixtureError::Sign)?;
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| {
                let lower = name.to_ascii_lowercase();
                let value = match lower.split_once('-') {
                    Some(("webhook" | "svix", "id")) => signed.id().to_owned(),
                    Some(("webhook" | "svix", "timestamp")) => signed.timestamp().to_owned(),
                    Some(("webhook" | "svix", "signature")) => signed.signature().to_owned(),
                    _ => value.clone(),
                };
                (name.clone(), value)
            })
            .collect();
        Ok(Self {
            description: self.description.clone(),
            timestamp,
            headers,
            body: self.body.clone(),
        })
    }

    /// POSTs the recorded request, headers and body as recorded, to `url` through `sender`
    /// (its per-attempt timeout; no signing, no retry).
    ///
    /// # Errors
    /// [`SendError`] for a URL or a header the sender refuses.
    pub async fn replay_http(
        &self,
        sender: &Sender,
        url: &str,
    ) -> Result<AttemptResult, SendError> {
        sender.post_raw(url, &self.headers, self.body.clone()).await
    }

    /// The fixture as pretty-printed JSON (the file format).
    #[must_use]
    pub fn to_json(&self) -> String {
        let (body, body_base64) = match std::str::from_utf8(&self.body) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(&self.body)),
            ),
        };
        let file = FixtureFile {
            description: self.description.clone(),
            timestamp: self.timestamp,
            headers: self.headers.clone(),
            body,
            body_base64,
        };
        // Strings, integers and lists of strings always serialize.
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads a fixture from its JSON text.
    ///
    /// # Errors
    /// [`FixtureError::Json`] for text that is not a fixture, [`FixtureError::InvalidBody`]
    /// for a missing, doubled or undecodable body.
    pub fn from_json(text: &str) -> Result<Self, FixtureError> {
        let file: FixtureFile = serde_json::from_str(text).map_err(FixtureError::Json)?;
        let body = match (file.body, file.body_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| FixtureError::InvalidBody)?,
            _ => return Err(FixtureError::InvalidBody),
        };
        Ok(Self {
            description: file.description,
            timestamp: file.timestamp,
            headers: file.headers,
            body,
        })
    }

    /// Writes the fixture to `path`.
    ///
    /// # Errors
    /// [`FixtureError::Io`] when the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), FixtureError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|source| FixtureError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads the fixture at `path`.
    ///
    /// # Errors
    /// [`FixtureError::Io`] when the file cannot be read; [`from_json`](Self::from_json)'s
    /// errors for its content.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, FixtureError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text)
    }
}

/// Why [`Fixture::replay`] did not verify.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError {
    /// The verifier could not be built.
    Fixture(FixtureError),
    /// The verifier refused the request.
    Rejected(VerifyError),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixture(error) => error.fmt(f),
            Self::Rejected(error) => write!(f, "the fixture was rejected: {error}"),
        }
    }
}

impl std::error::Error for ReplayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Fixture(error) => Some(error),
            Self::Rejected(error) => Some(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Clock as _;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn signer() -> Signer {
        Signer::new(SECRET.parse().unwrap())
    }

    #[test]
    fn a_non_utf8_body_round_trips_as_base64() {
        let body = [0xff, 0xfe, 0x00, b'x'];
        let fixture = Fixture::sign(&signer(), "msg_1", 1_700_000_000, &body, HeaderStyle::Svix)
            .unwrap()
            .with_description("binary");
        let text = fixture.to_json();
        assert!(text.contains("\"body_base64\": \"//4AeA==\""), "{text}");
        let back = Fixture::from_json(&text).unwrap();
        assert_eq!(back, fixture);
        assert_eq!(back.id(), Some("msg_1"));
        let verified = back.replay(KeySet::parse([SECRET]).unwrap()).unwrap();
        assert_eq!(verified.body(), body);
    }

    #[test]
    fn a_fixture_is_judged_at_its_recorded_time() {
        let fixture =
            Fixture::sign(&signer(), "msg_1", 1_000, b"{}", HeaderStyle::Webhook).unwrap();
        // At the recorded time: valid. At the real time: far too old.
        assert!(fixture.replay(KeySet::parse([SECRET]).unwrap()).is_ok());
        let live = Verifier::new(SECRET.parse().unwrap());
        assert!(matches!(
            fixture.replay_with(&live),
            Err(VerifyError::TimestampTooOld { .. })
        ));
        // Re-signed now, the live verifier accepts it, under the same id.
        let now = crate::SystemClock.unix_seconds();
        let fresh = fixture.resigned(&signer(), now).unwrap();
        assert_eq!(fresh.id(), Some("msg_1"));
        assert_eq!(fresh.replay_with(&live).unwrap().timestamp().as_unix(), now);
    }

    #[test]
    fn tampering_is_caught_and_bad_files_are_typed_errors() {
        let fixture = Fixture::sign(&signer(), "msg_1", 1_000, b"{}", HeaderStyle::Both).unwrap();
        assert!(matches!(
            fixture
                .clone()
                .with_body(b"{ }".to_vec())
                .replay(KeySet::parse([SECRET]).unwrap()),
            Err(ReplayError::Rejected(
                VerifyError::NoMatchingSignature { .. }
            ))
        ));
        assert!(matches!(
            fixture.replay(KeySet::new()),
            Err(ReplayError::Fixture(FixtureError::Build(_)))
        ));
        assert!(matches!(
            Fixture::from_json("[]"),
            Err(FixtureError::Json(_))
        ));
        assert!(matches!(
            Fixture::from_json(r#"{"timestamp":1,"headers":[],"body":"a","body_base64":"YQ=="}"#),
            Err(FixtureError::InvalidBody)
        ));
        assert!(matches!(
            Fixture::from_json(r#"{"timestamp":1,"headers":[],"body_base64":"%%"}"#),
            Err(FixtureError::InvalidBody)
        ));
        assert!(matches!(
            Fixture::record::<&str, &str>(&[], b"{}", 1).resigned(&signer(), 2),
            Err(FixtureError::MissingId)
        ));
        assert!(matches!(
            Fixture::load("/nonexistent/fixture.json"),
            Err(FixtureError::Io { .. })
        ));
    }
}
