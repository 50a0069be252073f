//! Web framework integrations: an extractor that reads the raw body under the verifier's limit,
//! verifies and parses it, and a middleware that runs the route's handler at most once per event.
//!
//! This module owns what [`axum`] and [`actix`] share, and is the one path of those types:
//! the extractor's type ([`VerifiedEvent`]), the rejection ([`WebhookRejection`], with the one
//! status mapping of both), and the record of what became of a delivery ([`Delivery`],
//! [`Outcome`]), which the middleware puts in the response's extensions for logging. The
//! framework modules are thin adapters over its parts:
//!
//! - `rejection`: [`WebhookRejection`], its status, its JSON body, its log line;
//! - `delivery`: [`Delivery`] and [`Outcome`];
//! - `body`: reading a body under the verifier's limit;
//! - `verified`: [`VerifiedEvent`], verify-then-parse, the hand-over from the middleware;
//! - `gate`: the claim gate (verify, parse, claim; answer 409, 503 or the duplicate's 200;
//!   complete or release after the handler);
//! - `enqueue` (feature `queue`): the enqueue gate (verify, parse, enqueue; answer 200 with no
//!   handler in the request, the duplicate's 200, 503 or the rejection).
//!
#![doc = include_str!("../docs/integrations.md")]

mod body;
mod delivery;
#[cfg(feature = "queue")]
mod enqueue;
mod gate;
mod rejection;
mod verified;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

pub use delivery::{Delivery, Outcome};
pub use gate::DEFAULT_UNAVAILABLE_RETRY_AFTER;
pub use rejection::WebhookRejection;
pub use verified::VerifiedEvent;
