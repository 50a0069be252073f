//! Exactly-once processing over at-least-once delivery: the [`IdempotencyStore`] trait, its
//! answers ([`Claim`]), the [`ClaimToken`] that fences workers, and the [`Deduplicator`] that
//! runs a handler at most once per event and never loses one.
//!
#![doc = include_str!("../docs/store.md")]
#![cfg_attr(feature = "postgres", doc = include_str!("../docs/postgres_inbox.md"))]
#![cfg_attr(feature = "sqlite", doc = include_str!("../docs/sqlite.md"))]
//!
//! # The protocol
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
//! Stores: `MemoryStore` (feature `memory`, one process), `SqliteStore` (feature `sqlite`, the
//! processes of one machine, durable), `RedisStore` (feature `redis`, several instances),
//! `PostgresStore` (feature `postgres`, several instances, and a transactional inbox: the claim
//! joins the receiver's own transaction).
//!
//! # Implement your own store
//!
//! The trait is object-safe (held as `Arc<dyn IdempotencyStore>`) and async without a macro:
//! each of its three methods returns a [`StoreFuture`]. A store that answers without waiting
//! returns [`StoreFuture::ready`] (no allocation); one that does I/O returns
//! [`StoreFuture::new`]`(async move { .. })`. Each transition must be atomic in the store.
//! This one keeps its records in a `HashMap` behind a mutex and reads the injected
//! [`Clock`](crate::Clock):
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//! use std::time::{Duration, SystemTime};
//!
//! use amps_webhooks::store::{
//!     Claim, ClaimToken, Deduplicator, IdempotencyStore, StoreError, StoreFuture,
//! };
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
//!         -> StoreFuture<'a, Result<Claim, StoreError>> {
//!         let now = self.clock.now();
//!         let mut map = self.records.lock().unwrap();
//!         StoreFuture::ready(Ok(match Self::live(&mut map, key, now) {
//!             Some(Record::InFlight { until, .. }) => Claim::InFlight {
//!                 retry_after: until.duration_since(now).unwrap_or_default(),
//!             },
//!             Some(Record::Completed { .. }) => Claim::Completed,
//!             None => {
//!                 let token = ClaimToken::random();
//!                 map.insert(key.to_owned(), Record::InFlight { token, until: now + lease });
//!                 Claim::Acquired(token)
//!             }
//!         }))
//!     }
//!
//!     fn complete<'a>(&'a self, key: &'a str, token: ClaimToken, retention: Duration)
//!         -> StoreFuture<'a, Result<(), StoreError>> {
//!         let now = self.clock.now();
//!         let mut map = self.records.lock().unwrap();
//!         StoreFuture::ready(match Self::live(&mut map, key, now) {
//!             Some(Record::InFlight { token: held, .. }) if *held != token => {
//!                 Err(StoreError::StaleToken)
//!             }
//!             Some(Record::Completed { .. }) => Err(StoreError::StaleToken),
//!             _ => {
//!                 map.insert(key.to_owned(), Record::Completed { until: now + retention });
//!                 Ok(())
//!             }
//!         })
//!     }
//!
//!     fn release<'a>(&'a self, key: &'a str, token: ClaimToken)
//!         -> StoreFuture<'a, Result<(), StoreError>> {
//!         let now = self.clock.now();
//!         let mut map = self.records.lock().unwrap();
//!         StoreFuture::ready(match Self::live(&mut map, key, now) {
//!             Some(Record::InFlight { token: held, .. }) if *held == token => {
//!                 map.remove(key);
//!                 Ok(())
//!             }
//!             None => Ok(()),
//!             Some(_) => Err(StoreError::StaleToken),
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
//! A claim whose handler panicked or was cancelled is released by its [`ClaimGuard`]: at once
//! when `release` answers ready, else on the current tokio runtime.

use std::fmt;
use std::time::Duration;

pub use crate::error::{BoxError, StoreError};

#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
pub(crate) mod backend;
mod dedup;
mod future;
mod guard;
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
mod memory;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub(crate) mod postgres;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub(crate) mod redis;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) mod sql;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub(crate) mod sqlite;

pub use dedup::{Admission, Deduplicated, Deduplicator};
#[cfg(feature = "queue")]
pub(crate) use dedup::{tagged_key, valid_namespace};
pub use future::{BoxFuture, StoreFuture};
pub use guard::ClaimGuard;
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
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{
    DEFAULT_SQLITE_BUSY_TIMEOUT, DEFAULT_SQLITE_COMMAND_TIMEOUT, DEFAULT_SQLITE_MAX_CONNECTIONS,
    DEFAULT_SQLITE_TABLE, SqliteStore, SqliteStoreBuilder,
};
/// The sqlx this crate's SQL stores are built on (0.8), so that the application's pools and
/// transactions are of the same version.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "sqlite"))))]
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
use store_event;

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
/// good as absent. A store that answers without waiting returns [`StoreFuture::ready`]; the
/// [`Deduplicator`] then neither allocates nor waits.
pub trait IdempotencyStore: Send + Sync + fmt::Debug {
    /// The store's name in metrics (the `store` label, feature `metrics`): `memory`, `redis`,
    /// `postgres`, `sqlite` for this crate's stores; `custom` unless a store names itself. A
    /// fixed string, never an address or a key. The memory store's operations are not timed
    /// (their errors are counted).
    fn name(&self) -> &'static str {
        "custom"
    }

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
    ) -> StoreFuture<'a, Result<Claim, StoreError>>;

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
    ) -> StoreFuture<'a, Result<(), StoreError>>;

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
    ) -> StoreFuture<'a, Result<(), StoreError>>;
}
