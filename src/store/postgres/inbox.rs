//! The transactional inbox: [`PostgresInbox`] claims an event inside the caller's own
//! transaction ([`InboxClaim`]), so that the event's effect and its record commit together.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgConnection;

use super::sql::Write;
use super::{PostgresStore, STORE};
use crate::Event;
use crate::store::sql::{Found, micros, micros_after};
use crate::store::{Deduplicator, StoreError, store_event};

/// The answer of a transactional claim ([`PostgresInbox::claim_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "only a transaction answered `Acquired` may apply the event"]
pub enum InboxClaim {
    /// This transaction owns the event: apply it on the same transaction and commit (the
    /// record commits with it), or roll back (the event stays unprocessed for the retry).
    Acquired,
    /// The event was committed before, by a transaction or a leased worker: acknowledge
    /// (HTTP 200) without applying it.
    Completed,
    /// A leased worker (the non-transactional path) is processing it: answer 409 with this
    /// `Retry-After`.
    InFlight {
        /// When that worker's lease runs out.
        retry_after: Duration,
    },
}

/// The transactional inbox of one namespace: [`claim_in`](Self::claim_in) inside the caller's
/// transaction tells whether that transaction owns the event.
///
/// ```no_run
/// # async fn demo(event: amps_webhooks::Event<serde_json::Value>) -> Result<(), Box<dyn std::error::Error>> {
/// use amps_webhooks::store::{InboxClaim, PostgresStore};
/// use amps_webhooks::store::sqlx::PgPool;
///
/// let pool = PgPool::connect("postgres://postgres@127.0.0.1/app").await?;
/// let store = PostgresStore::with_pool(pool.clone()).build()?;
/// store.migrate().await?;
/// let inbox = store.inbox("orders")?;
///
/// let mut tx = pool.begin().await?;
/// match inbox.claim_event_in(&mut tx, &event).await? {
///     InboxClaim::Acquired => {
///         amps_webhooks::store::sqlx::query("INSERT INTO orders (event_id) VALUES ($1)")
///             .bind(event.idempotency_key())
///             .execute(&mut *tx)
///             .await?;
///         tx.commit().await?; // the order and the record, together: 200
///     }
///     InboxClaim::Completed => { /* a duplicate: 200; dropping `tx` rolls it back */ }
///     InboxClaim::InFlight { retry_after } => { /* 409 + Retry-After */ }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresInbox {
    store: PostgresStore,
    dedup: Deduplicator,
}

impl PostgresInbox {
    /// Sets how long a committed event is remembered (default 72 h); make it longer than the
    /// sender's whole retry schedule.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.dedup = self.dedup.with_retention(retention);
        self
    }

    /// Sets the lease of [`deduplicator`](Self::deduplicator)'s leased claims (default 60 s).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.dedup = self.dedup.with_lease(lease);
        self
    }

    /// The leased path over the same namespace, lease and retention: events it completes are
    /// duplicates here, and the other way round.
    #[must_use]
    pub fn deduplicator(&self) -> &Deduplicator {
        &self.dedup
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &PostgresStore {
        &self.store
    }

    /// Claims `key` (namespaced as [`Deduplicator::storage_key`]) inside the caller's
    /// transaction `conn` (pass `&mut tx`): [`InboxClaim::Acquired`] when this transaction owns
    /// the event. Its completed record is written on `conn`, so it commits or rolls back with
    /// the caller's own writes. A concurrent transaction claiming the same key waits for this
    /// one to end, then is answered [`InboxClaim::Completed`] (committed) or acquires it
    /// (rolled back). See [`PostgresStore`] for how this meets leased claims.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the statement fails (the connection broke, the
    /// transaction is already aborted, a serialization failure, a lock or statement timeout, the
    /// table was never migrated): roll the transaction back and answer 503.
    pub async fn claim_in(
        &self,
        conn: &mut PgConnection,
        key: &str,
    ) -> Result<InboxClaim, StoreError> {
        let stored = self.dedup.storage_key(key);
        let timer = crate::metrics::Timer::store(STORE);
        let claim = self
            .store
            .claim_in(conn, &stored, self.dedup.retention())
            .await;
        crate::metrics::store_operation(STORE, "claim_in", timer, claim.as_ref().err());
        match &claim {
            Ok(InboxClaim::Acquired) => {}
            Ok(InboxClaim::Completed) => {
                store_event!(info, namespace = %self.dedup.namespace(), key = %key, "duplicate of a committed event; not applied");
            }
            Ok(InboxClaim::InFlight { .. }) => {
                store_event!(warn, namespace = %self.dedup.namespace(), key = %key, "event is in flight under a lease; retry later");
            }
            Err(_error) => {
                store_event!(error, namespace = %self.dedup.namespace(), key = %key, error = %_error, "transactional claim failed");
            }
        }
        claim
    }

    /// [`claim_in`](Self::claim_in) on the event's
    /// [`idempotency_key`](Event::idempotency_key).
    ///
    /// # Errors
    ///
    /// As [`claim_in`](Self::claim_in).
    pub async fn claim_event_in<T>(
        &self,
        conn: &mut PgConnection,
        event: &Event<T>,
    ) -> Result<InboxClaim, StoreError> {
        self.claim_in(conn, event.idempotency_key()).await
    }
}

impl PostgresStore {
    /// A transactional inbox for `namespace`, with the default lease and retention: the same
    /// keys as a [`Deduplicator`] over this store in that namespace, so both paths can serve
    /// one endpoint.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] as [`Deduplicator::new`].
    pub fn inbox(&self, namespace: &str) -> Result<PostgresInbox, StoreError> {
        Ok(PostgresInbox {
            dedup: Deduplicator::new(Arc::new(self.clone()), namespace)?,
            store: self.clone(),
        })
    }

    /// Claims the stored key `key` inside the caller's transaction (or connection): see
    /// [`PostgresInbox::claim_in`], which namespaces the key first. On
    /// [`InboxClaim::Acquired`] a completed record kept for `retention` is written on `conn`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the statement fails (the connection broke, the
    /// transaction is aborted, a serialization failure, a lock or statement timeout, no
    /// migrated table); the caller's transaction is then unusable: roll it back.
    pub async fn claim_in(
        &self,
        conn: &mut PgConnection,
        key: &str,
        retention: Duration,
    ) -> Result<InboxClaim, StoreError> {
        let now = micros(self.clock.now());
        let write = Write::Completed {
            until: micros_after(now, retention),
        };
        Ok(match self.sql.claim_on(conn, key, now, write).await? {
            Found::Written => InboxClaim::Acquired,
            Found::Completed => InboxClaim::Completed,
            Found::InFlight { retry_after } => InboxClaim::InFlight { retry_after },
        })
    }
}
