// The README's examples use the default `amps` feature; without it the crate docs are shorter.
#![cfg_attr(feature = "amps", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "amps"),
    doc = "Verify Standard Webhooks (Svix) requests. Enable the default `amps` feature for the full guide and typed Amps events."
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
#[cfg(feature = "ed25519")]
mod ed25519;
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

#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix"))))]
pub mod integrations;
#[cfg(feature = "sender")]
#[cfg_attr(docsrs, doc(cfg(feature = "sender")))]
pub mod sender;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[cfg(feature = "memory")]
pub use clock::CoarseClock;
pub use clock::{Clock, MockClock, SystemClock};
#[cfg(feature = "ed25519")]
#[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
pub use ed25519::{PublicKey, SigningKey};
pub use error::{ParseError, SecretError, SignError, StoreError, VerifyError};
pub use event::{Event, Timestamp, WebhookId};
pub use headers::{HeaderLookup, Headers, WebhookHeaders};
pub use secret::{Key, KeySet, MAX_SECRET_BYTES, MIN_SECRET_BYTES, Secret};
pub use signature::{MAX_ID_LEN, MAX_SIGNATURE_HEADER_LEN, MAX_V1A_SIGNATURES};
pub use signer::{SignedHeaders, Signer};
pub use store::{Claim, ClaimToken, Deduplicated, Deduplicator, IdempotencyStore};
pub use verify::{
    BuildError, DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, Verified, Verifier, VerifierBuilder,
};

#[cfg(feature = "amps")]
pub use amps::AmpsEvent;
