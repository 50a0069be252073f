//! The PostgreSQL backend of the queue: [`PostgresQueue`], one jobs table shared by every
//! receiver and worker, taken with `FOR UPDATE SKIP LOCKED` and woken by `LISTEN/NOTIFY`; and
//! the transactional handler ([`PostgresQueue::complete_in`], [`PostgresQueue::transactional`]),
//! whose business writes commit with the job's completion.
//!
//! The parts: the statements ([`sql`]), the configuration ([`builder`]), the
//! [`QueueBackend`](crate::queue::QueueBackend) ([`backend`]), the notifications ([`listen`])
//! and the transactional path ([`transactional`]).
//!
#![doc = include_str!("../../docs/queue_postgres.md")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::queue::{Job, JobRecord, Lease};
use crate::store::{ClaimToken, StoreError};
use crate::verify::WebhookTimestamp;

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

/// A time from microseconds since the Unix epoch (negative ones as the epoch).
fn time(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// The record of a row; its sequence number as the second value (the lease's handle).
fn record(row: RecordRow, table: &str) -> Result<(JobRecord, i64), StoreError> {
    let (
        seq,
        key,
        webhook_id,
        event_type,
        timestamp,
        received,
        body,
        headers,
        attempts,
        last_error,
        next,
    ) = row;
    let headers: Vec<(String, String)> =
        serde_json::from_str(&headers).map_err(|error| StoreError::UnexpectedReply {
            store: STORE,
            detail: format!(
                "the headers of the job {key:?} in {table} are not pairs of strings ({error})"
            ),
        })?;
    Ok((
        JobRecord {
            webhook_id,
            key,
            event_type,
            timestamp: WebhookTimestamp::from_unix(u64::try_from(timestamp).unwrap_or(0)),
            received_at: time(received),
            body,
            headers,
            attempts: u32::try_from(attempts).unwrap_or(0),
            last_error,
            next_run_at: time(next),
        },
        seq,
    ))
}

/// The job of a row taken under `token` (32 hex digits).
fn job(row: RecordRow, token: &str, table: &str) -> Result<Job, StoreError> {
    let (record, seq) = record(row, table)?;
    let token = u128::from_str_radix(token, 16).map_err(|_| StoreError::UnexpectedReply {
        store: STORE,
        detail: format!(
            "the token of the job {:?} in {table} is {token:?}",
            record.key
        ),
    })?;
    let until = record.next_run_at;
    Ok(Job::new(
        record,
        Lease {
            token: ClaimToken::from_u128(token),
            until,
            handle: seq.to_string().into(),
        },
    ))
}
