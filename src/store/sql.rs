//! What the SQL stores (PostgreSQL, SQLite) share: times bound as microseconds from the
//! injected clock, table names checked before they reach the SQL, what a claim found in a row,
//! the builders' common options and the purger task.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{StoreError, store_event};
use crate::{Clock, SystemClock};

/// Timestamps past the year 9999 are stored as 9999-12-31: PostgreSQL's intervals and
/// timestamps have a range, and a retention of `Duration::MAX` must not overflow it.
const MAX_MICROS: i64 = 253_402_300_799_000_000;

/// How often a claim retries when the record it met vanished (released or purged) between two
/// statements. Each retry needs another worker's release to land in between, so a handful is
/// plenty.
pub(super) const MAX_CLAIM_ATTEMPTS: usize = 8;

/// Microseconds since the Unix epoch, saturating at 0 and at the year 9999.
pub(crate) fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
        })
        .min(MAX_MICROS)
}

/// `now + by` in microseconds, saturating.
pub(crate) fn micros_after(now: i64, by: Duration) -> i64 {
    now.saturating_add(i64::try_from(by.as_micros()).unwrap_or(i64::MAX))
        .min(MAX_MICROS)
}

/// A valid unquoted identifier of at most `max` bytes: a lowercase letter or `_`, then
/// lowercase letters, digits and `_`.
pub(crate) fn valid_identifier(name: &str, max: usize) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && name.len() <= max
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// [`valid_identifier`], or the configuration error of `store` that says what a `what` name
/// (`table`, `schema`) must be.
pub(crate) fn check_identifier(
    store: &'static str,
    what: &str,
    name: &str,
    max: usize,
) -> Result<(), StoreError> {
    if valid_identifier(name, max) {
        Ok(())
    } else {
        Err(super::backend::configuration(
            store,
            format!(
                "the {what} name must be 1 to {max} characters from `a-z 0-9 _`, not starting with a digit"
            ),
        ))
    }
}

/// What a claim found.
pub(super) enum Found {
    Written,
    Completed,
    InFlight { retry_after: Duration },
}

/// What the row of a claimed key tells, read as `(state, expires_at)` at `now`: `None` when it
/// is gone or expired (the claim tries again), else the live record.
pub(super) fn live_record(
    store: &'static str,
    table: &str,
    row: Option<(String, i64)>,
    now: i64,
) -> Option<Result<Found, StoreError>> {
    let (state, expires) = row.filter(|&(_, expires)| expires > now)?;
    Some(match state.as_str() {
        "completed" => Ok(Found::Completed),
        "in_flight" => Ok(Found::InFlight {
            retry_after: Duration::from_micros(expires.saturating_sub(now).unsigned_abs())
                .max(Duration::from_millis(1)),
        }),
        other => Err(StoreError::UnexpectedReply {
            store,
            detail: format!("a row of {table} holds the state {other:?}"),
        }),
    })
}

/// The claim that met a changing record [`MAX_CLAIM_ATTEMPTS`] times in a row.
pub(super) fn claim_kept_changing(store: &'static str, table: &str, key: &str) -> StoreError {
    StoreError::UnexpectedReply {
        store,
        detail: format!(
            "the record of {key:?} in {table} changed under {MAX_CLAIM_ATTEMPTS} claims in a row"
        ),
    }
}

/// The options every SQL store's builder has: the table, the clock, the command timeout and
/// the size of the pool it opens.
pub(crate) struct SqlOptions {
    pub(crate) table: String,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) command_timeout: Duration,
    pub(crate) max_connections: u32,
}

impl SqlOptions {
    pub(crate) fn new(table: &str, command_timeout: Duration, max_connections: u32) -> Self {
        Self {
            table: table.to_owned(),
            clock: Arc::new(SystemClock),
            command_timeout,
            max_connections,
        }
    }
}

impl std::fmt::Debug for SqlOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlOptions")
            .field("table", &self.table)
            .field("clock", &self.clock)
            .field("command_timeout", &self.command_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// The setters of [`SqlOptions`] on a builder holding them as `self.options`: `table`, `clock`,
/// `shared_clock`, `command_timeout`, `max_connections`. `$what` names the store in the docs,
/// `$table` gives the table name's rule, `$pool` the builder's way to bring its own pool.
macro_rules! sql_builder_options {
    ($builder:ty, $what:literal, $default_table:literal, $max_table:literal, $default_connections:literal, $own_pool:literal) => {
        impl $builder {
            #[doc = concat!("The table's name (default `", $default_table, "`): 1 to ", $max_table, " characters from `a-z 0-9 _`,")]
            /// not starting with a digit (its index is named after it).
            #[must_use]
            pub fn table(mut self, table: impl Into<String>) -> Self {
                self.options.table = table.into();
                self
            }

            /// The clock that leases and retentions are computed and compared with (default:
            /// [`SystemClock`](crate::SystemClock)).
            #[must_use]
            pub fn clock(mut self, clock: impl $crate::Clock + 'static) -> Self {
                self.options.clock = std::sync::Arc::new(clock);
                self
            }

            /// [`clock`](Self::clock), shared with a verifier or other stores.
            #[must_use]
            pub fn shared_clock(mut self, clock: std::sync::Arc<dyn $crate::Clock>) -> Self {
                self.options.clock = clock;
                self
            }

            #[doc = concat!("How long one operation on ", $what, " may take, waiting for a pool connection included,")]
            /// before it fails with [`StoreError::Timeout`](crate::store::StoreError::Timeout)
            /// (default 2 s). A pool the builder opens also uses it as its acquire timeout.
            #[must_use]
            pub fn command_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.command_timeout = timeout;
                self
            }

            #[doc = concat!("The size of the pool the builder opens (default ", $default_connections, "; ignored with ", $own_pool, ").")]
            #[must_use]
            pub fn max_connections(mut self, connections: u32) -> Self {
                self.options.max_connections = connections.max(1);
                self
            }
        }
    };
}
pub(crate) use sql_builder_options;

/// Runs `purge` every `every` on the current tokio runtime, until the returned handle is
/// aborted; failures are logged (feature `tracing`, naming `table`) and retried at the next
/// tick. tokio's interval ticks at once: the first purge runs as soon as the task does.
///
/// # Panics
///
/// Outside a tokio runtime, or with `every` zero (as `tokio::time::interval`).
pub(crate) fn spawn_purger<F, Fut>(
    table: String,
    every: Duration,
    purge: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, StoreError>> + Send,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::spawn(async move {
        let _table = table;
        loop {
            ticks.tick().await;
            match purge().await {
                Ok(_deleted) => {
                    store_event!(debug, table = %_table, deleted = _deleted, "purged expired rows");
                }
                Err(_error) => {
                    store_event!(warn, table = %_table, error = %_error, "could not purge expired rows; retrying at the next tick");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_saturate() {
        assert_eq!(micros(UNIX_EPOCH), 0);
        assert_eq!(
            micros(UNIX_EPOCH - Duration::from_secs(1)),
            0,
            "before the epoch"
        );
        assert_eq!(
            micros(UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456)),
            1_700_000_000_123_456
        );
        assert_eq!(micros_after(5, Duration::from_micros(7)), 12);
        assert_eq!(micros_after(5, Duration::MAX), MAX_MICROS);
        assert_eq!(micros_after(MAX_MICROS, Duration::from_secs(1)), MAX_MICROS);
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(valid_identifier("amps_webhooks_inbox", 48));
        assert!(valid_identifier("_t1", 48));
        for bad in ["", "1t", "T", "a-b", "a b", "a\"b", "é"] {
            assert!(!valid_identifier(bad, 48), "{bad:?}");
        }
        assert!(!valid_identifier(&"a".repeat(49), 48));
        match check_identifier("sqlite", "table", "Bad", 48) {
            Err(StoreError::Configuration { store, detail }) => assert_eq!(
                (store, detail.as_str()),
                (
                    "sqlite",
                    "the table name must be 1 to 48 characters from `a-z 0-9 _`, not starting with a digit"
                )
            ),
            other => panic!("expected Configuration, got {other:?}"),
        }
    }
}
