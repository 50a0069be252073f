//! The [`Deduplicator`]: one namespace, lease and retention over an [`IdempotencyStore`]; the
//! stored form of a key; what a claim admits ([`Admission`]) and what a run did
//! ([`Deduplicated`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{
    Claim, ClaimGuard, DEFAULT_LEASE, DEFAULT_RETENTION, IdempotencyStore, MAX_NAMESPACE_LEN,
    MAX_PLAIN_KEY_LEN, StoreError, store_event,
};
use crate::Event;
use crate::metrics;

/// Between the namespace and a plain key.
const PLAIN_TAG: &str = ":k:";
/// Between the namespace and a hashed key.
const HASHED_TAG: &str = ":h:";

/// `namespace:k:key`, or `namespace:h:<hex>` (the key's SHA-256 in lowercase hex) when the key
/// is longer than [`MAX_PLAIN_KEY_LEN`] or not printable ASCII.
pub(crate) fn tagged_key(namespace: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= MAX_PLAIN_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_graphic());
    if plain {
        let mut stored = String::with_capacity(namespace.len() + 3 + key.len());
        stored.push_str(namespace);
        stored.push_str(PLAIN_TAG);
        stored.push_str(key);
        stored
    } else {
        use sha2::Digest;
        use std::fmt::Write;
        let digest = sha2::Sha256::digest(key.as_bytes());
        let mut stored = String::with_capacity(namespace.len() + 3 + 64);
        stored.push_str(namespace);
        stored.push_str(HASHED_TAG);
        for byte in digest {
            // Writing to a String cannot fail.
            let _ = write!(stored, "{byte:02x}");
        }
        stored
    }
}

/// True when `namespace` is 1 to [`MAX_NAMESPACE_LEN`] characters from `A-Z a-z 0-9 - _ . /`
/// (so that no two namespaces can produce the same stored key): the rule of the
/// [`Deduplicator`] and of the queue.
pub(crate) fn valid_namespace(namespace: &str) -> bool {
    !namespace.is_empty()
        && namespace.len() <= MAX_NAMESPACE_LEN
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// Runs handlers exactly once per event over one [`IdempotencyStore`], in one namespace
/// (an endpoint or a tenant), with one lease and one retention.
///
/// [`run`](Self::run) does the whole protocol around an async handler;
/// [`claim`](Self::claim) gives the steps to integrations that must answer HTTP in between.
/// Cheap to clone.
#[derive(Clone)]
pub struct Deduplicator {
    store: Arc<dyn IdempotencyStore>,
    namespace: Arc<str>,
    lease: Duration,
    retention: Duration,
}

impl fmt::Debug for Deduplicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deduplicator")
            .field("store", &self.store)
            .field("namespace", &self.namespace)
            .field("lease", &self.lease)
            .field("retention", &self.retention)
            .finish()
    }
}

impl Deduplicator {
    /// A deduplicator over `store` for `namespace`, with the default lease (60 s) and
    /// retention (72 h).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] unless `namespace` is 1 to 64 characters from
    /// `A-Z a-z 0-9 - _ . /` (so that no two namespaces can produce the same stored key).
    pub fn new(store: Arc<dyn IdempotencyStore>, namespace: &str) -> Result<Self, StoreError> {
        if !valid_namespace(namespace) {
            return Err(StoreError::InvalidNamespace {
                len: namespace.len(),
            });
        }
        Ok(Self {
            store,
            namespace: namespace.into(),
            lease: DEFAULT_LEASE,
            retention: DEFAULT_RETENTION,
        })
    }

    /// Sets how long a claim is held before another worker may take it over. Make it longer
    /// than the handler's longest run (the platform waits 30 s for an answer).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets how long a completed event is remembered; make it longer than the sender's whole
    /// retry schedule.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The namespace.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The lease.
    #[must_use]
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The retention.
    #[must_use]
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn IdempotencyStore> {
        &self.store
    }

    /// The key under which `key` is stored: `namespace:k:key`, or `namespace:h:<hex>` (the
    /// key's SHA-256 in lowercase hex) when the key is longer than [`MAX_PLAIN_KEY_LEN`] or not
    /// printable ASCII. The tag after the namespace (`k` or `h`; a namespace holds no `:`) keeps
    /// the two forms apart, so no plain key is ever stored as another key's hash.
    #[must_use]
    pub fn storage_key(&self, key: &str) -> String {
        tagged_key(&self.namespace, key)
    }

    /// Claims the event's [`idempotency_key`](Event::idempotency_key).
    /// See [`claim`](Self::claim).
    pub async fn claim_event<T>(&self, event: &Event<T>) -> Admission {
        self.claim(event.idempotency_key()).await
    }

    /// Claims `key` (namespaced here) for the lease, for integrations that run the handler
    /// themselves: on [`Admission::Acquired`] run it, then call
    /// [`ClaimGuard::complete`] when it succeeded (a 2xx) or [`ClaimGuard::release`] when it
    /// failed; a guard dropped without either releases the claim.
    pub async fn claim(&self, key: &str) -> Admission {
        let stored = self.storage_key(key);
        let timer = metrics::Timer::store(self.store.name());
        // A ready answer is taken as it is, without a poll.
        let answer = match self.store.claim(&stored, self.lease).into_ready() {
            Ok(answer) => answer,
            Err(waiting) => waiting.await,
        };
        metrics::store_operation(self.store.name(), "claim", timer, answer.as_ref().err());
        match answer {
            Ok(Claim::Acquired(token)) => Admission::Acquired(ClaimGuard::new(
                Arc::clone(&self.store),
                stored,
                token,
                self.retention,
            )),
            Ok(Claim::Completed) => {
                store_event!(info, namespace = %self.namespace, key = %key, "duplicate of a completed event; handler not run");
                Admission::Duplicate
            }
            Ok(Claim::InFlight { retry_after }) => {
                store_event!(warn, namespace = %self.namespace, key = %key, retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX), "event is in flight in another worker; retry later");
                Admission::InFlight { retry_after }
            }
            Err(error) => {
                store_event!(error, namespace = %self.namespace, key = %key, error = %error, "idempotency store failed on claim; handler not run");
                Admission::StoreUnavailable(error)
            }
        }
    }

    /// Runs `handler` exactly once for `event`: claims its
    /// [`idempotency_key`](Event::idempotency_key), runs the handler, completes the claim when
    /// it returns `Ok`, releases it when it returns `Err`, panics or is dropped.
    pub async fn run<T, F, Fut, O, E>(&self, event: &Event<T>, handler: F) -> Deduplicated<O, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<O, E>>,
    {
        self.run_key(event.idempotency_key(), handler).await
    }

    /// [`run`](Self::run) for a key that does not come from an [`Event`].
    pub async fn run_key<F, Fut, O, E>(&self, key: &str, handler: F) -> Deduplicated<O, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<O, E>>,
    {
        let guard = match self.claim(key).await {
            Admission::Acquired(guard) => guard,
            Admission::Duplicate => return Deduplicated::Duplicate,
            Admission::InFlight { retry_after } => return Deduplicated::InFlight { retry_after },
            Admission::StoreUnavailable(error) => return Deduplicated::StoreUnavailable(error),
        };
        // A panic or a drop from here on drops `guard`, which releases the claim.
        match handler().await {
            Ok(output) => match guard.complete().await {
                Ok(()) => Deduplicated::Processed(output),
                Err(error) => Deduplicated::ProcessedUnrecorded { output, error },
            },
            Err(error) => {
                // A failed release leaves the claim to its lease; the handler's error is the
                // answer either way, and the guard has logged the store's.
                let _ = guard.release().await;
                Deduplicated::Failed(error)
            }
        }
    }
}

/// What [`Deduplicator::claim`] found.
#[derive(Debug)]
#[must_use = "an acquired claim must be completed or released"]
pub enum Admission {
    /// The claim is held: run the handler, then complete or release the guard.
    Acquired(ClaimGuard),
    /// The event was completed before: acknowledge (HTTP 200) without running the handler.
    Duplicate,
    /// Another worker is processing it: answer 409 with this `Retry-After`.
    InFlight {
        /// When the other worker's lease runs out.
        retry_after: Duration,
    },
    /// The store could not answer: answer 503 with a `Retry-After`; never run the handler.
    StoreUnavailable(StoreError),
}

/// What [`Deduplicator::run`] did.
#[derive(Debug)]
#[must_use]
pub enum Deduplicated<O, E> {
    /// The handler ran, succeeded and the event is recorded as completed (HTTP 2xx).
    Processed(O),
    /// The handler ran and succeeded, but recording it failed (HTTP 2xx all the same, so that
    /// the sender stops; a [`StoreError::StaleToken`] here means the lease was too short).
    ProcessedUnrecorded {
        /// The handler's output.
        output: O,
        /// Why it could not be recorded.
        error: StoreError,
    },
    /// The handler ran and failed; its claim was released so the retry runs it (HTTP 5xx).
    Failed(E),
    /// The event was completed before; the handler did not run (HTTP 200).
    Duplicate,
    /// Another worker is processing the event; the handler did not run (HTTP 409).
    InFlight {
        /// When the other worker's lease runs out (the `Retry-After`).
        retry_after: Duration,
    },
    /// The store could not answer; the handler did not run (HTTP 503: fail closed).
    StoreUnavailable(StoreError),
}

impl<O, E> Deduplicated<O, E> {
    /// True when the handler ran and succeeded (recorded or not).
    #[must_use]
    pub fn is_processed(&self) -> bool {
        matches!(self, Self::Processed(_) | Self::ProcessedUnrecorded { .. })
    }

    /// True for a duplicate of a completed event.
    #[must_use]
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Duplicate)
    }

    /// True when the sender may stop: processed, or a duplicate of a completed event.
    #[must_use]
    pub fn is_acknowledged(&self) -> bool {
        self.is_processed() || self.is_duplicate()
    }
}
