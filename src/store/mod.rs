//! Exactly-once processing over at-least-once delivery: the [`IdempotencyStore`] trait, its
//! answers ([`Claim`]), and the [`Deduplicator`] that runs a handler at most once per event
//! and never loses one.
//!
//! A store answers [`claim`](IdempotencyStore::claim) with [`Claim::Acquired`] (run the
//! handler), [`Claim::InFlight`] (another worker holds a live lease: retry later) or
//! [`Claim::Completed`] (done before: acknowledge without running). The worker then calls
//! [`complete`](IdempotencyStore::complete) after the handler succeeded, or
//! [`release`](IdempotencyStore::release) after it failed so that the retry runs it. A lease
//! that runs out (the worker crashed) can be claimed again; the [`ClaimToken`] fences the old
//! worker, whose late `complete` or `release` gets [`StoreError::StaleToken`] and leaves the
//! newer claim alone.
//!
//! Stores: `MemoryStore` (feature `memory`, one process), `RedisStore` (feature `redis`,
//! several instances), `PostgresStore` (feature `postgres`, several instances, and a
//! transactional inbox: the claim joins the receiver's own transaction).
//!
//! # Implement your own store
//!
//! The trait is object-safe (held as `Arc<dyn IdempotencyStore>`) and async without a macro:
//! each method returns a [`BoxFuture`]. Each transition must be atomic in the store. A store
//! that never waits may also answer at once through
//! [`claim_ready`](IdempotencyStore::claim_ready) and its siblings, which the [`Deduplicator`]
//! asks first, to save the future's allocation; by default they send it to the futures. This
//! one keeps its records in a `HashMap` behind a mutex and reads the injected
//! [`Clock`](crate::Clock):
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//! use std::time::{Duration, SystemTime};
//!
//! use amps_webhooks::store::{BoxFuture, Claim, ClaimToken, Deduplicator, IdempotencyStore};
//! use amps_webhooks::store::StoreError;
//! use amps_webhooks::{Clock, MockClock};
//!
//! #[derive(Debug)]
//! enum Record {
//!     InFlight { token: ClaimToken, until: SystemTime },
//!     Completed { until: SystemTime },
//! }
//!
//! #[derive(Debug)]
//! struct MapStore {
//!     records: Mutex<HashMap<String, Record>>,
//!     clock: Arc<dyn Clock>,
//! }
//!
//! impl MapStore {
//!     /// The live record for `key`; an expired one is dropped and counts as absent.
//!     fn live<'m>(map: &'m mut HashMap<String, Record>, key: &str, now: SystemTime)
//!         -> Option<&'m mut Record> {
//!         let expired = match map.get(key)? {
//!             Record::InFlight { until, .. } | Record::Completed { until } => *until <= now,
//!         };
//!         if expired {
//!             map.remove(key);
//!             return None;
//!         }
//!         map.get_mut(key)
//!     }
//! }
//!
//! impl IdempotencyStore for MapStore {
//!     fn claim<'a>(&'a self, key: &'a str, lease: Duration)
//!         -> BoxFuture<'a, Result<Claim, StoreError>> {
//!         Box::pin(async move {
//!             let now = self.clock.now();
//!             let mut map = self.records.lock().unwrap();
//!             Ok(match Self::live(&mut map, key, now) {
//!                 Some(Record::InFlight { until, .. }) => Claim::InFlight {
//!                     retry_after: until.duration_since(now).unwrap_or_default(),
//!                 },
//!                 Some(Record::Completed { .. }) => Claim::Completed,
//!                 None => {
//!                     let token = ClaimToken::random();
//!                     map.insert(key.to_owned(), Record::InFlight { token, until: now + lease });
//!                     Claim::Acquired(token)
//!                 }
//!             })
//!         })
//!     }
//!
//!     fn complete<'a>(&'a self, key: &'a str, token: ClaimToken, retention: Duration)
//!         -> BoxFuture<'a, Result<(), StoreError>> {
//!         Box::pin(async move {
//!             let now = self.clock.now();
//!             let mut map = self.records.lock().unwrap();
//!             match Self::live(&mut map, key, now) {
//!                 Some(Record::InFlight { token: held, .. }) if *held == token => {}
//!                 None => {}
//!                 Some(_) => return Err(StoreError::StaleToken),
//!             }
//!             map.insert(key.to_owned(), Record::Completed { until: now + retention });
//!             Ok(())
//!         })
//!     }
//!
//!     fn release<'a>(&'a self, key: &'a str, token: ClaimToken)
//!         -> BoxFuture<'a, Result<(), StoreError>> {
//!         Box::pin(async move {
//!             let now = self.clock.now();
//!             let mut map = self.records.lock().unwrap();
//!             match Self::live(&mut map, key, now) {
//!                 Some(Record::InFlight { token: held, .. }) if *held == token => {
//!                     map.remove(key);
//!                     Ok(())
//!                 }
//!                 None => Ok(()),
//!                 Some(_) => Err(StoreError::StaleToken),
//!             }
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), StoreError> {
//! let clock = MockClock::at_unix(1_700_000_000);
//! let store = Arc::new(MapStore { records: Mutex::default(), clock: Arc::new(clock.clone()) });
//! let dedup = Deduplicator::new(store, "orders")?;
//! let first = dedup.run_key("evt_1", || async { Ok::<_, std::io::Error>(1) }).await;
//! assert!(first.is_processed());
//! let again = dedup.run_key("evt_1", || async { Ok::<_, std::io::Error>(2) }).await;
//! assert!(again.is_duplicate());
//! # Ok(())
//! # }
//! ```
//!
//! A store whose `release` does I/O should also override
//! [`release_detached`](IdempotencyStore::release_detached) so that a claim dropped by a
//! cancelled or panicking handler is released on the store's runtime.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::Event;
pub use crate::error::{BoxError, StoreError};

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
mod memory;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
mod postgres;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use memory::{DEFAULT_MEMORY_CAPACITY, MemoryStore, MemoryStoreBuilder};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{
    DEFAULT_POSTGRES_COMMAND_TIMEOUT, DEFAULT_POSTGRES_MAX_CONNECTIONS, DEFAULT_POSTGRES_TABLE,
    InboxClaim, PostgresInbox, PostgresStore, PostgresStoreBuilder,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{
    DEFAULT_REDIS_COMMAND_TIMEOUT, DEFAULT_REDIS_KEY_PREFIX, RedisStore, RedisStoreBuilder,
};
/// The sqlx this crate's [`PostgresStore`] is built on (0.8), so that the application's pools
/// and transactions are of the same version.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sqlx;

/// Emits a `tracing` event when the `tracing` feature is on; compiles to nothing otherwise.
macro_rules! store_event {
    ($level:ident, $($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        {
            tracing::$level!($($arg)+);
        }
    }};
}
#[cfg(any(feature = "memory", feature = "redis", feature = "postgres"))]
pub(crate) use store_event;

/// A boxed, `Send` future: what the [`IdempotencyStore`] methods return, so that the trait
/// stays object-safe without a macro or a dependency.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long a claim is held before another worker may take it over, unless configured.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How long a completed event is remembered (duplicates acknowledged without running), unless
/// configured: 72 hours, past the platform's retry schedule.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(72 * 60 * 60);

/// The longest namespace a [`Deduplicator`] accepts, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// Keys longer than this (in bytes), or holding characters outside printable ASCII, are
/// replaced by their SHA-256 in the store, so that a body's `eventId` cannot make a huge key.
pub const MAX_PLAIN_KEY_LEN: usize = 200;

/// The proof that a worker holds a claim: an opaque value that fences workers whose lease ran
/// out. It is unique, not secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimToken(u128);

impl ClaimToken {
    /// A token from its 128-bit value (for stores that keep tokens in their own form).
    #[must_use]
    pub const fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// The token's 128-bit value.
    #[must_use]
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// A token that no other call in any process is expected to produce: a process-wide counter
    /// and the time, mixed by SipHash under keys the standard library seeds from the operating
    /// system's randomness.
    #[must_use]
    pub fn random() -> Self {
        use std::hash::{BuildHasher, Hasher};
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let state = std::hash::RandomState::new();
        let mut high = state.build_hasher();
        high.write_u64(count);
        high.write_u128(nanos);
        let mut low = state.build_hasher();
        low.write_u64(!count);
        low.write_u128(nanos);
        low.write_u64(high.finish());
        Self((u128::from(high.finish()) << 64) | u128::from(low.finish()))
    }
}

impl fmt::Display for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimToken({self})")
    }
}

/// A store's answer to [`claim`](IdempotencyStore::claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The caller now holds the key for the lease: run the handler, then `complete` or
    /// `release` with this token.
    Acquired(ClaimToken),
    /// Another worker holds a live lease on the key.
    InFlight {
        /// When that lease runs out (retry no sooner).
        retry_after: Duration,
    },
    /// The key was completed within its retention: a duplicate.
    Completed,
}

/// A store of claims and completion records, shared by every worker that must not process the
/// same event twice. See the [module docs](self) for the protocol and an implementation.
///
/// Every method must be atomic in the store. An expired record (lease or retention over) is as
/// good as absent.
pub trait IdempotencyStore: Send + Sync + fmt::Debug {
    /// Claims `key` for `lease`: [`Claim::Acquired`] when the key has no live record (absent,
    /// released, or its lease or retention ran out), [`Claim::InFlight`] when another claim's
    /// lease is live, [`Claim::Completed`] when it was completed within its retention.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer (unreachable, timeout, full of live claims).
    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;

    /// Records `key` as completed for `retention`, if `token` still owns it: the key holds this
    /// token's claim (live or lapsed), or no live record at all (the lease ran out and nobody
    /// claimed since, so the record is kept rather than lost).
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when another claim was made since (it is left untouched);
    /// another [`StoreError`] when the store cannot answer.
    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
        retention: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Removes this token's claim on `key` so that the next delivery can claim it at once.
    /// Releasing a key with no live record succeeds and changes nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the key holds another claim or a completion record
    /// (left untouched); another [`StoreError`] when the store cannot answer.
    fn release<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// [`claim`](Self::claim) answered at once, without a future, by a store that never waits
    /// (the memory store), which saves the future's allocation. `None`, the default, sends the
    /// caller to [`claim`](Self::claim); [`Deduplicator`] asks here first.
    ///
    /// # Errors
    ///
    /// As [`claim`](Self::claim), inside the `Some`.
    fn claim_ready(&self, key: &str, lease: Duration) -> Option<Result<Claim, StoreError>> {
        let _ = (key, lease);
        None
    }

    /// [`complete`](Self::complete) answered at once, as [`claim_ready`](Self::claim_ready).
    ///
    /// # Errors
    ///
    /// As [`complete`](Self::complete), inside the `Some`.
    fn complete_ready(
        &self,
        key: &str,
        token: ClaimToken,
        retention: Duration,
    ) -> Option<Result<(), StoreError>> {
        let _ = (key, token, retention);
        None
    }

    /// [`release`](Self::release) answered at once, as [`claim_ready`](Self::claim_ready).
    ///
    /// # Errors
    ///
    /// As [`release`](Self::release), inside the `Some`.
    fn release_ready(&self, key: &str, token: ClaimToken) -> Option<Result<(), StoreError>> {
        let _ = (key, token);
        None
    }

    /// Releases a claim from a destructor (a handler that panicked or whose future was dropped),
    /// where nothing can be awaited.
    ///
    /// The default takes [`release_ready`](Self::release_ready)'s answer, else polls
    /// [`release`](Self::release) once, which finishes a store that does no I/O (like
    /// `MemoryStore`); a store that does I/O overrides it to spawn the release on its runtime.
    /// If the release cannot finish, the claim stays until its lease runs out.
    fn release_detached(self: Arc<Self>, key: String, token: ClaimToken) {
        let answer = match self.release_ready(&key, token) {
            Some(answer) => Poll::Ready(answer),
            None => self
                .release(&key, token)
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop())),
        };
        match answer {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_error)) => {
                store_event!(warn, key = %key, error = %_error, "could not release a dropped claim; it stays until its lease runs out");
            }
            Poll::Pending => {
                store_event!(warn, key = %key, "the store's release did not finish at once; the dropped claim stays until its lease runs out (override `release_detached`)");
            }
        }
    }
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
        let valid = !namespace.is_empty()
            && namespace.len() <= MAX_NAMESPACE_LEN
            && namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
        if !valid {
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

    /// The key under which `key` is stored: `namespace:key`, with the key replaced by
    /// `sha256:<hex>` when it is longer than [`MAX_PLAIN_KEY_LEN`] or not printable ASCII.
    #[must_use]
    pub fn storage_key(&self, key: &str) -> String {
        let plain = !key.is_empty()
            && key.len() <= MAX_PLAIN_KEY_LEN
            && key.bytes().all(|b| b.is_ascii_graphic());
        if plain {
            let mut stored = String::with_capacity(self.namespace.len() + 1 + key.len());
            stored.push_str(&self.namespace);
            stored.push(':');
            stored.push_str(key);
            stored
        } else {
            use sha2::Digest;
            use std::fmt::Write;
            let digest = sha2::Sha256::digest(key.as_bytes());
            let mut stored = String::with_capacity(self.namespace.len() + 8 + 64);
            stored.push_str(&self.namespace);
            stored.push_str(":sha256:");
            for byte in digest {
                // Writing to a String cannot fail.
                let _ = write!(stored, "{byte:02x}");
            }
            stored
        }
    }

    /// Claims the event's [`idempotency_key`](Event::idempotency_key).
    /// See [`claim`](Self::claim).
    pub async fn claim_event<T>(&self, event: &Event<T>) -> ClaimOutcome {
        self.claim(event.idempotency_key()).await
    }

    /// Claims `key` (namespaced here) for the lease, for integrations that run the handler
    /// themselves: on [`ClaimOutcome::Acquired`] run it, then call
    /// [`ClaimGuard::complete`] when it succeeded (a 2xx) or [`ClaimGuard::release`] when it
    /// failed; a guard dropped without either releases the claim.
    pub async fn claim(&self, key: &str) -> ClaimOutcome {
        let stored = self.storage_key(key);
        let answer = match self.store.claim_ready(&stored, self.lease) {
            Some(answer) => answer,
            None => self.store.claim(&stored, self.lease).await,
        };
        match answer {
            Ok(Claim::Acquired(token)) => ClaimOutcome::Acquired(ClaimGuard {
                store: Arc::clone(&self.store),
                key: stored,
                token,
                retention: self.retention,
                settled: false,
            }),
            Ok(Claim::Completed) => {
                store_event!(info, namespace = %self.namespace, key = %key, "duplicate of a completed event; handler not run");
                ClaimOutcome::Duplicate
            }
            Ok(Claim::InFlight { retry_after }) => {
                store_event!(warn, namespace = %self.namespace, key = %key, retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX), "event is in flight in another worker; retry later");
                ClaimOutcome::InFlight { retry_after }
            }
            Err(error) => {
                store_event!(error, namespace = %self.namespace, key = %key, error = %error, "idempotency store failed on claim; handler not run");
                ClaimOutcome::StoreUnavailable(error)
            }
        }
    }

    /// Runs `handler` exactly once for `event`: claims its
    /// [`idempotency_key`](Event::idempotency_key), runs the handler, completes the claim when
    /// it returns `Ok`, releases it when it returns `Err`, panics or is dropped.
    pub async fn run<T, F, Fut, O, E>(&self, event: &Event<T>, handler: F) -> RunOutcome<O, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<O, E>>,
    {
        self.run_key(event.idempotency_key(), handler).await
    }

    /// [`run`](Self::run) for a key that does not come from an [`Event`].
    pub async fn run_key<F, Fut, O, E>(&self, key: &str, handler: F) -> RunOutcome<O, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<O, E>>,
    {
        let guard = match self.claim(key).await {
            ClaimOutcome::Acquired(guard) => guard,
            ClaimOutcome::Duplicate => return RunOutcome::Duplicate,
            ClaimOutcome::InFlight { retry_after } => return RunOutcome::InFlight { retry_after },
            ClaimOutcome::StoreUnavailable(error) => return RunOutcome::StoreUnavailable(error),
        };
        // A panic or a drop from here on drops `guard`, which releases the claim.
        match handler().await {
            Ok(output) => match guard.complete().await {
                Ok(()) => RunOutcome::Processed(output),
                Err(error) => RunOutcome::ProcessedUnrecorded { output, error },
            },
            Err(error) => {
                // A failed release leaves the claim to its lease; the handler's error is the
                // answer either way, and the guard has logged the store's.
                let _ = guard.release().await;
                RunOutcome::Failed(error)
            }
        }
    }
}

/// What [`Deduplicator::claim`] found.
#[derive(Debug)]
#[must_use = "an acquired claim must be completed or released"]
pub enum ClaimOutcome {
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

/// A held claim. [`complete`](Self::complete) it after the handler succeeded,
/// [`release`](Self::release) it after it failed; dropped without either, it releases the claim
/// (through [`IdempotencyStore::release_detached`]).
#[must_use = "a claim guard dropped at once releases the claim"]
pub struct ClaimGuard {
    store: Arc<dyn IdempotencyStore>,
    key: String,
    token: ClaimToken,
    retention: Duration,
    settled: bool,
}

impl fmt::Debug for ClaimGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimGuard")
            .field("key", &self.key)
            .field("token", &self.token)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl ClaimGuard {
    /// The stored (namespaced) key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The claim's token.
    #[must_use]
    pub fn token(&self) -> ClaimToken {
        self.token
    }

    /// Records the event as completed for the retention.
    ///
    /// After an error the claim is not released: the handler's effect happened, so the claim is
    /// left to its lease rather than handed to a retry at once.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the lease ran out and another worker claimed the event
    /// (the handler ran twice: raise the lease); another [`StoreError`] when the store cannot
    /// answer.
    pub async fn complete(mut self) -> Result<(), StoreError> {
        let result = match self
            .store
            .complete_ready(&self.key, self.token, self.retention)
        {
            Some(result) => result,
            None => {
                self.store
                    .complete(&self.key, self.token, self.retention)
                    .await
            }
        };
        self.settled = true;
        if let Err(_error) = &result {
            store_event!(error, key = %self.key, error = %_error, "could not record a processed event as completed");
        }
        result
    }

    /// Removes the claim so that the sender's retry runs the handler.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when another worker claimed the event since; another
    /// [`StoreError`] when the store cannot answer (the claim then stays until its lease runs
    /// out).
    pub async fn release(mut self) -> Result<(), StoreError> {
        let result = match self.store.release_ready(&self.key, self.token) {
            Some(result) => result,
            None => self.store.release(&self.key, self.token).await,
        };
        self.settled = true;
        if let Err(_error) = &result {
            store_event!(warn, key = %self.key, error = %_error, "could not release a failed event's claim; it stays until its lease runs out");
        }
        result
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if !self.settled {
            store_event!(warn, key = %self.key, "claim dropped without complete or release (handler panicked or was cancelled); releasing it");
            Arc::clone(&self.store).release_detached(std::mem::take(&mut self.key), self.token);
        }
    }
}

/// What [`Deduplicator::run`] did.
#[derive(Debug)]
#[must_use]
pub enum RunOutcome<O, E> {
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

impl<O, E> RunOutcome<O, E> {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A store that answers only through its `*_ready` methods: its futures never finish.
    #[derive(Debug, Default)]
    struct ReadyOnly {
        releases: AtomicUsize,
    }

    impl IdempotencyStore for ReadyOnly {
        fn claim<'a>(
            &'a self,
            _key: &'a str,
            _lease: Duration,
        ) -> BoxFuture<'a, Result<Claim, StoreError>> {
            Box::pin(std::future::pending())
        }

        fn complete<'a>(
            &'a self,
            _key: &'a str,
            _token: ClaimToken,
            _retention: Duration,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(std::future::pending())
        }

        fn release<'a>(
            &'a self,
            _key: &'a str,
            _token: ClaimToken,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(std::future::pending())
        }

        fn claim_ready(&self, _key: &str, _lease: Duration) -> Option<Result<Claim, StoreError>> {
            Some(Ok(Claim::Acquired(ClaimToken::random())))
        }

        fn release_ready(&self, _key: &str, _token: ClaimToken) -> Option<Result<(), StoreError>> {
            self.releases.fetch_add(1, Ordering::SeqCst);
            Some(Ok(()))
        }
    }

    #[test]
    fn a_dropped_claim_is_released_through_release_ready() {
        let store = Arc::new(ReadyOnly::default());
        let dedup = Deduplicator::new(store.clone(), "test").unwrap();
        let claimed = dedup.claim("evt_1");
        let mut claimed = std::pin::pin!(claimed);
        let outcome = match claimed
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => panic!("a ready store's claim does not wait"),
        };
        let ClaimOutcome::Acquired(guard) = outcome else {
            panic!("the claim is acquired");
        };
        assert_eq!(store.releases.load(Ordering::SeqCst), 0);
        drop(guard);
        assert_eq!(store.releases.load(Ordering::SeqCst), 1);
    }
}
