//! The claim gate: what the axum layer and the actix middleware share. It verifies and parses a
//! body read in full, claims the event's idempotency key, and gives either the guard to run the
//! handler under or the answer to give instead (409 in flight, 503 store unavailable, 200
//! duplicate, or the rejection); after the handler it completes or releases the claim.
//!
//! The key claimed is the parsed event's own (its `eventId`, else its `webhook-id`): a
//! [`Claimable`] is only made from an event, so no request is claimed under a missing or empty
//! key.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::delivery::{Delivery, Outcome};
use super::rejection::{WebhookRejection, error_body, log_rejection};
use super::verified::{Prechecked, check};
use crate::event::Event;
use crate::headers::Headers;
use crate::store::{Admission, ClaimGuard, Deduplicator};
use crate::verify::Verifier;

/// The `Retry-After` sent with a 503 when the idempotency store cannot answer, unless
/// configured.
pub const DEFAULT_UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The settings of a deduplicating middleware, shared by its clones.
#[derive(Debug)]
pub(crate) struct Gate {
    pub(crate) verifier: Verifier,
    pub(crate) dedup: Deduplicator,
    pub(crate) unavailable_retry_after: Duration,
}

/// An answer given without running the handler.
#[derive(Debug)]
pub(crate) struct Early {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    pub(crate) body: Vec<u8>,
    pub(crate) delivery: Delivery,
}

impl Early {
    /// The answer to a refused request, logged.
    pub(crate) fn rejected<H: Headers + ?Sized>(headers: &H, rejection: &WebhookRejection) -> Self {
        log_rejection(headers, rejection);
        Self {
            status: rejection.status(),
            retry_after: None,
            body: rejection.json_body(),
            delivery: Delivery::rejected(headers, rejection),
        }
    }
}

/// A verified, parsed event on its way through the gate: the key to claim, and the record of
/// its delivery so far.
///
/// Made only from an event, so its key (and its id) is always there. It is the size of a
/// [`Delivery`], which it becomes in the end: the request's future carries one of them.
#[derive(Debug)]
pub(crate) struct Claimable {
    key: Arc<str>,
    id: Arc<str>,
    event_type: Option<Arc<str>>,
    outcome: Outcome,
    status: u16,
    reason: Option<String>,
}

impl Claimable {
    fn of_event<T>(event: &Event<T>) -> Self {
        Self {
            key: Arc::clone(event.shared_idempotency_key()),
            id: Arc::clone(event.id().shared()),
            event_type: event.shared_event_type().cloned(),
            outcome: Outcome::Processed,
            status: 200,
            reason: None,
        }
    }

    /// The key claimed: the event's `eventId`, else its `webhook-id`.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The record of an answer given with `outcome`, `status` and `reason`, the handler not run.
    fn answered(&self, outcome: Outcome, status: u16, reason: String) -> Delivery {
        Delivery {
            id: Some(Arc::clone(&self.id)),
            event_type: self.event_type.clone(),
            key: Some(Arc::clone(&self.key)),
            outcome,
            status,
            reason: Some(reason),
        }
    }

    /// Completes the claim when the handler answered 2xx, releases it otherwise; the record
    /// says what happened.
    ///
    /// Only the claim is awaited (the record is updated after), so that the request's future
    /// holds one copy of the record.
    pub(crate) async fn settle(&mut self, guard: ClaimGuard, status: u16) {
        if (200..300).contains(&status) {
            // A failed completion is logged by the guard; the handler's success is still the
            // answer, so that the sender stops.
            let _ = guard.complete().await;
            self.outcome = Outcome::Processed;
        } else {
            let _ = guard.release().await;
            tracing::warn!(
                status,
                id = &*self.id,
                key = &*self.key,
                "webhook handler failed; claim released so that the retry runs it"
            );
            self.outcome = Outcome::Failed;
            self.reason = Some(format!("the handler answered {status}"));
        }
        self.status = status;
    }

    /// The record of the delivery.
    pub(crate) fn into_delivery(self) -> Delivery {
        Delivery {
            id: Some(self.id),
            event_type: self.event_type,
            key: Some(self.key),
            outcome: self.outcome,
            status: self.status,
            reason: self.reason,
        }
    }
}

/// Whole seconds for a `Retry-After`, rounded up, at least 1.
pub(crate) fn retry_after_secs(after: Duration) -> u64 {
    let secs = after
        .as_secs()
        .saturating_add(u64::from(after.subsec_nanos() > 0));
    secs.max(1)
}

impl Gate {
    /// The settings of a new layer or middleware, with the default `Retry-After` for a 503.
    pub(crate) fn shared(verifier: Verifier, dedup: Deduplicator) -> Arc<Self> {
        Arc::new(Self {
            verifier,
            dedup,
            unavailable_retry_after: DEFAULT_UNAVAILABLE_RETRY_AFTER,
        })
    }

    /// These settings with `after` as the `Retry-After` for a 503.
    pub(crate) fn with_unavailable_retry_after(&self, after: Duration) -> Arc<Self> {
        Arc::new(Self {
            verifier: self.verifier.clone(),
            dedup: self.dedup.clone(),
            unavailable_retry_after: after,
        })
    }

    /// Verifies and parses a body read in full: the event, to be put in the request's extensions
    /// before the claim is awaited (so that the future awaiting it does not carry the event),
    /// and what to claim; or the answer to give instead.
    // The answer is built where the request is refused; returned at once, never stored.
    #[allow(clippy::result_large_err)]
    pub(crate) fn prepare<T: DeserializeOwned + 'static, H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &bytes::Bytes,
    ) -> Result<(Prechecked<T>, Claimable), Early> {
        match check::<T, _>(&self.verifier, headers, body) {
            Ok(event) => {
                let claimable = Claimable::of_event(&event);
                Ok((Prechecked::new(event), claimable))
            }
            Err(rejection) => Err(Early::rejected(headers, &rejection)),
        }
    }

    /// Claims the event's key: the guard to run the handler under, or the answer to give
    /// instead.
    pub(crate) async fn claim(&self, claimable: &Claimable) -> Result<ClaimGuard, Early> {
        match self.dedup.claim(claimable.key()).await {
            Admission::Acquired(guard) => Ok(guard),
            Admission::Duplicate => Err(Early {
                status: 200,
                retry_after: None,
                body: br#"{"status":"duplicate"}"#.to_vec(),
                delivery: claimable.answered(
                    Outcome::Duplicate,
                    200,
                    "already processed; handler not run".to_owned(),
                ),
            }),
            Admission::InFlight { retry_after } => {
                let reason = "the event is being processed by another request; retry later";
                Err(Early {
                    status: 409,
                    retry_after: Some(retry_after_secs(retry_after)),
                    body: error_body("in_flight", reason),
                    delivery: claimable.answered(Outcome::InFlight, 409, reason.to_owned()),
                })
            }
            Admission::StoreUnavailable(error) => {
                // The store's error (an address, a timeout) goes to the log, not to the sender.
                let reason = "the idempotency store is unavailable; retry later";
                Err(Early {
                    status: 503,
                    retry_after: Some(retry_after_secs(self.unavailable_retry_after)),
                    body: error_body("store_unavailable", reason),
                    delivery: claimable.answered(
                        Outcome::Unavailable,
                        503,
                        format!("{reason}: {error}"),
                    ),
                })
            }
        }
    }
}

#[cfg(test)]
#[cfg(feature = "memory")]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    const NOW: u64 = 1_700_000_000;

    fn gate() -> Arc<Gate> {
        let secret: crate::Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let verifier = Verifier::builder()
            .secret(secret)
            .clock(crate::MockClock::at_unix(NOW))
            .build()
            .unwrap();
        let dedup = Deduplicator::new(Arc::new(MemoryStore::new(100)), "gate-tests").unwrap();
        Gate::shared(verifier, dedup)
    }

    /// What the gate would claim for `body`, signed as message `id`.
    fn prepared(gate: &Gate, id: &str, body: &'static [u8]) -> Claimable {
        let secret: crate::Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let signed = crate::Signer::new(secret).sign(id, NOW, body).unwrap();
        let body = bytes::Bytes::from_static(body);
        match gate.prepare::<serde_json::Value, _>(&signed.webhook_headers(), &body) {
            Ok((_, claimable)) => claimable,
            Err(early) => panic!("refused: {early:?}"),
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
        assert_eq!(retry_after_secs(Duration::MAX), u64::MAX);
    }

    /// Item 7e: the key claimed is the event's own, never an empty stand-in for a missing one.
    #[tokio::test]
    async fn the_claim_is_made_under_the_events_key_never_an_empty_one() {
        let gate = gate();
        let with_event_id = prepared(&gate, "msg_1", br#"{"eventId":"evt_1","type":"a.b"}"#);
        let without = prepared(&gate, "msg_2", br#"{"type":"a.b"}"#);
        let empty_event_id = prepared(&gate, "msg_3", br#"{"eventId":"","type":"a.b"}"#);
        assert_eq!(
            (with_event_id.key(), without.key(), empty_event_id.key()),
            ("evt_1", "msg_2", "msg_3")
        );
        let _guards = (
            gate.claim(&with_event_id).await.unwrap(),
            gate.claim(&without).await.unwrap(),
            gate.claim(&empty_event_id).await.unwrap(),
        );
        // Those keys are held now, and the empty key was never claimed.
        for key in ["evt_1", "msg_2", "msg_3"] {
            assert!(
                matches!(gate.dedup.claim(key).await, Admission::InFlight { .. }),
                "{key}"
            );
        }
        assert!(matches!(gate.dedup.claim("").await, Admission::Acquired(_)));
    }

    #[tokio::test]
    async fn every_record_of_a_claimed_event_has_its_key() {
        let gate = gate();
        let body = br#"{"eventId":"evt_k","type":"a.b"}"#;
        let mut first = prepared(&gate, "msg_k", body);
        let guard = gate.claim(&first).await.unwrap();

        let second = prepared(&gate, "msg_k", body);
        let early = gate.claim(&second).await.unwrap_err();
        assert_eq!((early.status, early.retry_after), (409, Some(60)));
        assert_eq!(
            (
                early.delivery.key(),
                early.delivery.id(),
                early.delivery.outcome()
            ),
            (Some("evt_k"), Some("msg_k"), Outcome::InFlight)
        );

        first.settle(guard, 204).await;
        let delivery = first.into_delivery();
        assert_eq!(
            (
                delivery.key(),
                delivery.event_type(),
                delivery.outcome(),
                delivery.status()
            ),
            (Some("evt_k"), Some("a.b"), Outcome::Processed, 204)
        );
        assert_eq!(delivery.reason(), None);

        let early = gate.claim(&second).await.unwrap_err();
        assert_eq!(
            (early.status, &early.body[..]),
            (200, &br#"{"status":"duplicate"}"#[..])
        );
        assert_eq!(
            (early.delivery.key(), early.delivery.outcome()),
            (Some("evt_k"), Outcome::Duplicate)
        );
    }

    #[tokio::test]
    async fn a_failed_handler_releases_and_says_so() {
        let gate = gate();
        let mut claimable = prepared(&gate, "msg_f", br#"{"eventId":"evt_f"}"#);
        let guard = gate.claim(&claimable).await.unwrap();
        claimable.settle(guard, 502).await;
        let delivery = claimable.into_delivery();
        assert_eq!(
            (
                delivery.key(),
                delivery.outcome(),
                delivery.status(),
                delivery.reason()
            ),
            (
                Some("evt_f"),
                Outcome::Failed,
                502,
                Some("the handler answered 502")
            )
        );
        // Released: the retry claims it.
        let retry = prepared(&gate, "msg_f", br#"{"eventId":"evt_f"}"#);
        assert!(gate.claim(&retry).await.is_ok());
    }
}
