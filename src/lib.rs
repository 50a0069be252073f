// The README's examples use the default `amps` feature; without it the crate docs are shorter.
#![cfg_attr(feature = "amps", doc = include_str!("../README.md"))]
#![cfg_attr(not(feature = "amps"), doc = include_str!("docs/verifier_only.md"))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod error;
mod event;
mod headers;
mod secret;
mod signature;
mod signer;
mod verify;

#[cfg(feature = "amps")]
#[cfg_attr(docsrs, doc(cfg(feature = "amps")))]
pub mod amps;
pub mod store;

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
mod metrics;

#[cfg(feature = "queue")]
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub mod queue;

#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix"))))]
pub mod integrations;
#[cfg(any(feature = "sender", feature = "queue"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sender", feature = "queue"))))]
pub mod retry;
#[cfg(feature = "sender")]
#[cfg_attr(docsrs, doc(cfg(feature = "sender")))]
pub mod sender;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[cfg(feature = "memory")]
pub use clock::CoarseClock;
pub use clock::{Clock, MockClock, SystemClock};
pub use error::{BuildError, KeyError, ParseError, SignError, VerifyError};
pub use event::Event;
pub use headers::{HeaderLookup, Headers, WebhookHeaders};
pub use secret::{Key, KeySet, MAX_SECRET_BYTES, MIN_SECRET_BYTES, Secret};
#[cfg(feature = "ed25519")]
#[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
pub use secret::{PublicKey, SigningKey};
pub use signature::{MAX_ID_LEN, MAX_SIGNATURE_HEADER_LEN, MAX_V1A_SIGNATURES};
pub use signer::{SignedHeaders, Signer};
pub use verify::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, Verified, Verifier, VerifierBuilder, WebhookId,
    WebhookTimestamp,
};

#[cfg(feature = "amps")]
pub use amps::event::AmpsEvent;
