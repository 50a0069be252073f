//! The delivery record: [`Outcome`], what became of a delivery, and [`Delivery`], the record the
//! middleware (or a rejection turned into a response) puts in the response's extensions.

use std::fmt;
use std::sync::Arc;

use super::WebhookRejection;
use super::rejection::header_id;
use crate::headers::Headers;

/// What became of one delivery at the deduplicating middleware (or the enqueueing route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The handler ran and answered 2xx; the event is recorded as completed.
    Processed,
    /// The handler ran and answered something else; the claim was released for the retry.
    Failed,
    /// A duplicate of a completed event: 200 without running the handler.
    Duplicate,
    /// Another request holds the event: 409 with `Retry-After`.
    InFlight,
    /// The idempotency store could not answer: 503 with `Retry-After`.
    Unavailable,
    /// Refused before any handler ran (401, 400, 413).
    Rejected,
    /// Stored as a job (queue mode): 200 at once, a worker runs the handler later.
    Queued,
}

impl Outcome {
    /// The outcome's name: `processed`, `failed`, `duplicate`, `in_flight`, `unavailable`,
    /// `rejected` or `queued`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Failed => "failed",
            Self::Duplicate => "duplicate",
            Self::InFlight => "in_flight",
            Self::Unavailable => "unavailable",
            Self::Rejected => "rejected",
            Self::Queued => "queued",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The record of one delivery, put in the response's extensions by the deduplicating middleware
/// (and by a rejection turned into a response), for access logs and tools: read it in an outer
/// middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    // Shared with the event they come from: recording a delivery copies no string.
    pub(super) id: Option<Arc<str>>,
    pub(super) event_type: Option<Arc<str>>,
    pub(super) key: Option<Arc<str>>,
    pub(super) outcome: Outcome,
    pub(super) status: u16,
    pub(super) reason: Option<String>,
}

impl Delivery {
    /// The `webhook-id` (or `svix-id`) header, when it is present and well formed.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The body's `type` or `event` field, when the body was parsed and has one.
    #[must_use]
    pub fn event_type(&self) -> Option<&str> {
        self.event_type.as_deref()
    }

    /// The idempotency key (the body's `eventId`, else the `webhook-id`), once the body was
    /// parsed.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What became of the delivery.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The status answered.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Why it was rejected or not processed, when it was not. A rejection's reason is its
    /// body-free text: what was wrong and where, never the request's bytes.
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The record of a rejection, with the request's id when its headers have a well-formed one.
    pub(crate) fn rejected<H: Headers + ?Sized>(headers: &H, rejection: &WebhookRejection) -> Self {
        Self {
            id: header_id(headers).map(Arc::from),
            ..Self::of_rejection(rejection)
        }
    }

    /// The record of a rejection whose request headers are gone (a rejection turned into a
    /// response by the framework); the middleware, which still has them, fills in the id.
    pub(crate) fn of_rejection(rejection: &WebhookRejection) -> Self {
        Self {
            id: None,
            event_type: None,
            key: None,
            outcome: Outcome::Rejected,
            status: rejection.status(),
            reason: Some(rejection.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::VerifyError;

    #[test]
    fn outcome_names() {
        let all = [
            (Outcome::Processed, "processed"),
            (Outcome::Failed, "failed"),
            (Outcome::Duplicate, "duplicate"),
            (Outcome::InFlight, "in_flight"),
            (Outcome::Unavailable, "unavailable"),
            (Outcome::Rejected, "rejected"),
            (Outcome::Queued, "queued"),
        ];
        for (outcome, name) in all {
            assert_eq!(
                (outcome.as_str(), outcome.to_string()),
                (name, name.to_owned())
            );
        }
    }

    #[test]
    fn a_rejection_record_has_the_well_formed_id_and_the_reason() {
        let rejection: WebhookRejection = VerifyError::NoMatchingSignature { candidates: 2 }.into();
        let delivery = Delivery::rejected(&[("Webhook-Id", "msg_1")], &rejection);
        assert_eq!(
            (
                delivery.id(),
                delivery.key(),
                delivery.outcome(),
                delivery.status()
            ),
            (Some("msg_1"), None, Outcome::Rejected, 401)
        );
        assert_eq!(delivery.reason(), Some(rejection.to_string().as_str()));
        // An id the verifier would refuse is not recorded.
        let delivery = Delivery::rejected(&[("webhook-id", "a b")], &rejection);
        assert_eq!(delivery.id(), None);
        assert_eq!(
            Delivery::of_rejection(&rejection),
            Delivery {
                id: None,
                ..delivery
            }
        );
    }
}
