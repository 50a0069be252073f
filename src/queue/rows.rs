//! What the SQL backends (PostgreSQL, SQLite) share in reading a job's row: its columns as
//! [`Row`], the [`JobRecord`] and the [`Job`] made of them, with the errors that name the
//! backend and its table.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Job, JobRecord, Lease};
use crate::store::{ClaimToken, StoreError};
use crate::verify::WebhookTimestamp;

/// A job's row: its sequence number, idempotency key, webhook id, event type, signed-at
/// seconds, received-at microseconds, body, headers (JSON pairs), attempts, last error and
/// next-run microseconds.
pub(crate) type Row = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Vec<u8>,
    String,
    i64,
    Option<String>,
    i64,
);

/// A time from microseconds since the Unix epoch (negative ones as the epoch).
pub(crate) fn time(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// The record of a row of `store`'s `table`; its sequence number as the second value (the
/// lease's handle).
pub(crate) fn record(
    store: &'static str,
    row: Row,
    table: &str,
) -> Result<(JobRecord, i64), StoreError> {
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
            store,
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

/// The job of a row of `store`'s `table` taken under `token` (32 hex digits).
pub(crate) fn job(
    store: &'static str,
    row: Row,
    token: &str,
    table: &str,
) -> Result<Job, StoreError> {
    let (record, seq) = record(store, row, table)?;
    let token = u128::from_str_radix(token, 16).map_err(|_| StoreError::UnexpectedReply {
        store,
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
