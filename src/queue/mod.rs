//! Acknowledge fast, process later: a durable queue of verified deliveries. The receiver
//! verifies, deduplicates and stores each delivery as a job in one atomic step, answers 200 at
//! once, and workers run the handler later, under a lease with a fencing token, retrying along
//! a [`RetrySchedule`](crate::retry::RetrySchedule) and dead-lettering after the last attempt.
//!
//! The storage is a [`QueueBackend`]; the jobs are [`JobRecord`]s, taken by workers as
//! [`Job`]s.

mod backend;
mod job;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
mod postgres;

pub use backend::QueueBackend;
pub use job::{Enqueue, Job, JobRecord, JobState, Lease, QueueStats, Redrive};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{
    DEFAULT_POSTGRES_QUEUE_POLL, DEFAULT_POSTGRES_QUEUE_TABLE, PostgresQueue, PostgresQueueBuilder,
    TransactionalError, TransactionalFuture,
};

/// The form under which a backend that cannot index any key stores `key`: the key itself when
/// it is 1 to [`MAX_PLAIN_KEY_LEN`](crate::store::MAX_PLAIN_KEY_LEN) bytes of printable ASCII,
/// prefixed `k:`, else `h:` and its SHA-256 in lowercase hex (the stores' own rule, so that no
/// plain key is ever stored as another key's hash).
#[must_use]
pub fn storage_key(key: &str) -> String {
    crate::store::tagged_key("", key)
        .trim_start_matches(':')
        .to_owned()
}
