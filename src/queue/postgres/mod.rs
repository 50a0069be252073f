//! The PostgreSQL backend of the queue: [`PostgresQueue`], one jobs table shared by every
//! receiver and worker, taken with `FOR UPDATE SKIP LOCKED` and woken by `LISTEN/NOTIFY`; and
//! the transactional handler ([`PostgresQueue::complete_in`], [`PostgresQueue::transactional`]),
//! whose business writes commit with the job's completion.
//!
//! The parts: the statements ([`sql`]), the configuration ([`builder`]), the transitions
//! ([`backend`]), the operator's side and the [`QueueBackend`](crate::queue::QueueBackend)
//! impl ([`admin`]), the notifications ([`listen`])
//! and the transactional path ([`transactional`]).
//!
#![doc = include_str!("../../docs/queue_postgres.md")]

use std::time::Duration;

use crate::queue::{Job, JobRecord};
use crate::store::StoreError;

mod admin;
mod backend;
mod builder;
mod listen;
mod sql;
mod transactional;

pub use backend::PostgresQueue;
pub use builder::PostgresQueueBuilder;

const STORE: &str = "postgres";

/// The default name of the jobs table.
pub const DEFAULT_POSTGRES_QUEUE_TABLE: &str = "amps_webhook_jobs";

/// How often a waiting [`take`](crate::queue::QueueBackend::take) looks again when no
/// notification woke it, unless configured: the fallback for a notification lost with a
/// connection, and for retries that become due.
pub const DEFAULT_POSTGRES_QUEUE_POLL: Duration = Duration::from_secs(1);

/// A job's row as the statements return it (see `sql::RECORD`).
type RecordRow = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Vec<u8>,
    String,
    i32,
    Option<String>,
    i64,
);

/// The shared row of a PostgreSQL row (its attempts an `integer`).
fn shared(row: RecordRow) -> crate::queue::rows::Row {
    let (a, b, c, d, e, f, g, h, attempts, j, k) = row;
    (a, b, c, d, e, f, g, h, i64::from(attempts), j, k)
}

/// The record of a row; its sequence number as the second value (the lease's handle).
fn record(row: RecordRow, table: &str) -> Result<(JobRecord, i64), StoreError> {
    crate::queue::rows::record(STORE, shared(row), table)
}

/// The job of a row taken under `token` (32 hex digits).
fn job(row: RecordRow, token: &str, table: &str) -> Result<Job, StoreError> {
    crate::queue::rows::job(STORE, shared(row), token, table)
}
