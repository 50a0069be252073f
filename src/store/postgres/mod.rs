//! The PostgreSQL store: an inbox table whose records are claimed either on their own (the
//! [`IdempotencyStore`](crate::store::IdempotencyStore) protocol, leased: [`store`]) or inside
//! the caller's transaction ([`inbox`]), so that an event's effect and its record commit
//! together; the statements both paths run ([`sql`]) and the configuration ([`builder`]).
//!
//! Built on sqlx 0.8 (tokio, rustls): a pool for the leased path, the caller's connection or
//! transaction for the transactional one. Times come from the injected
//! [`Clock`](crate::Clock), sent as parameters; the database's own `now()` is never read.

use std::time::Duration;

use crate::store::StoreError;

mod builder;
mod inbox;
mod sql;
mod store;

pub use builder::PostgresStoreBuilder;
pub use inbox::{InboxClaim, PostgresInbox};
pub use store::PostgresStore;

/// What the PostgreSQL queue shares with the store: times bound alike (see also
/// [`crate::store::sql`]).
#[cfg(feature = "queue")]
pub(crate) use sql::ts;

const STORE: &str = "postgres";

/// The default table name.
pub const DEFAULT_POSTGRES_TABLE: &str = "amps_webhooks_inbox";

/// The default command timeout of the leased path: every claim, complete, release and purge
/// batch answers within it (waiting for a pool connection included), or fails with
/// [`StoreError::Timeout`].
pub const DEFAULT_POSTGRES_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// The default size of the pool a [`PostgresStore`] opens from a URL.
pub const DEFAULT_POSTGRES_MAX_CONNECTIONS: u32 = 16;

/// A failed statement, outside the command timeout (in the caller's transaction, or the
/// migration's).
fn unavailable(error: sqlx::Error) -> StoreError {
    crate::store::backend::unavailable(STORE, error)
}
