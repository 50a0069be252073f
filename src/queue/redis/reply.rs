//! Reading the Redis queue's script replies back into [`JobRecord`]s, [`Job`]s and counts,
//! and the time and token forms the scripts use (microseconds, hex).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Value;

use super::STORE;
use crate::queue::{Job, JobRecord, Lease};
use crate::store::{ClaimToken, StoreError};
use crate::verify::WebhookTimestamp;

/// The longest duration a script is given: 100 years, so that now + it stays exact in the
/// doubles Lua and sorted-set scores compute with.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `duration` in microseconds, at most 100 years.
pub(super) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.min(LONGEST).as_micros()).unwrap_or(i64::MAX)
}

/// `time` in microseconds since the epoch (0 before it).
pub(super) fn micros_since_epoch(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, micros)
}

fn from_micros(value: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(value).unwrap_or(0))
}

/// `time` in nanoseconds since the epoch, as kept in a job (0 before it).
pub(super) fn nanos_since_epoch(time: SystemTime) -> String {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos())
        .to_string()
}

pub(super) fn unexpected(what: &str, reply: &Value) -> StoreError {
    StoreError::UnexpectedReply {
        store: STORE,
        detail: format!("{what} answered {reply:?}"),
    }
}

fn malformed(field: &str) -> StoreError {
    StoreError::UnexpectedReply {
        store: STORE,
        detail: format!("a job's field `{field}` is missing or malformed"),
    }
}

pub(super) fn items<'v>(what: &str, reply: &'v Value) -> Result<&'v [Value], StoreError> {
    match reply {
        Value::Array(items) => Ok(items),
        other => Err(unexpected(what, other)),
    }
}

pub(super) fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

fn text(value: &Value, field: &str) -> Result<String, StoreError> {
    bytes(value)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .map(str::to_owned)
        .ok_or_else(|| malformed(field))
}

fn optional_text(value: &Value, field: &str) -> Result<Option<String>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        other => text(other, field).map(Some),
    }
}

pub(super) fn int(value: &Value, field: &str) -> Result<i64, StoreError> {
    match value {
        Value::Int(value) => Ok(*value),
        other => text(other, field)?.parse().map_err(|_| malformed(field)),
    }
}

/// A record from its fields in the scripts' `RECORD` order: webhook id, key, type, timestamp,
/// received at (ns), body, headers (JSON pairs), attempts, last error, next run (µs).
pub(super) fn record(fields: &[Value]) -> Result<JobRecord, StoreError> {
    let [
        wid,
        key,
        kind,
        ts,
        recv,
        body,
        headers,
        attempts,
        error,
        next,
    ] = fields
    else {
        return Err(StoreError::UnexpectedReply {
            store: STORE,
            detail: format!("a job has {} fields, not 10", fields.len()),
        });
    };
    let received: u128 = text(recv, "recv")?.parse().map_err(|_| malformed("recv"))?;
    let received_at = UNIX_EPOCH
        + Duration::new(
            u64::try_from(received / 1_000_000_000).map_err(|_| malformed("recv"))?,
            u32::try_from(received % 1_000_000_000).map_err(|_| malformed("recv"))?,
        );
    let headers: Vec<(String, String)> =
        serde_json::from_str(&text(headers, "hdrs")?).map_err(|_| malformed("hdrs"))?;
    Ok(JobRecord {
        webhook_id: text(wid, "wid")?,
        key: text(key, "key")?,
        event_type: optional_text(kind, "type")?,
        timestamp: WebhookTimestamp::from_unix(
            u64::try_from(int(ts, "ts")?).map_err(|_| malformed("ts"))?,
        ),
        received_at,
        body: bytes(body).ok_or_else(|| malformed("body"))?.to_vec(),
        headers,
        attempts: u32::try_from(int(attempts, "att")?).map_err(|_| malformed("att"))?,
        last_error: optional_text(error, "err")?,
        next_run_at: from_micros(int(next, "next")?),
    })
}

/// A job taken: `{token, entry id, record fields..}`.
pub(super) fn job(reply: &Value) -> Result<Job, StoreError> {
    let fields = items("the take script", reply)?;
    let [token, id, record_fields @ ..] = fields else {
        return Err(unexpected("the take script", reply));
    };
    let token = u128::from_str_radix(&text(token, "token")?, 16).map_err(|_| malformed("token"))?;
    let record = record(record_fields)?;
    let lease = Lease {
        token: ClaimToken::from_u128(token),
        until: record.next_run_at,
        handle: Arc::from(text(id, "h")?),
    };
    Ok(Job::new(record, lease))
}

/// The first 28 hex digits of the tokens of one take; the script appends 4 (the job's rank).
pub(super) fn token_prefix() -> String {
    format!("{:028x}", ClaimToken::random().as_u128() >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_bounded_microseconds() {
        assert_eq!(micros(Duration::from_millis(3)), 3_000);
        assert_eq!(micros(Duration::MAX), micros(LONGEST));
        assert_eq!(micros_since_epoch(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(
            from_micros(micros_since_epoch(UNIX_EPOCH + Duration::from_micros(17))),
            UNIX_EPOCH + Duration::from_micros(17)
        );
    }

    #[test]
    fn a_record_reads_back_with_its_nanoseconds_and_bytes() {
        let received_at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let fields = vec![
            Value::BulkString(b"msg_1".to_vec()),
            Value::BulkString(b"evt_1".to_vec()),
            Value::Nil,
            Value::BulkString(b"1700000000".to_vec()),
            Value::BulkString(nanos_since_epoch(received_at).into_bytes()),
            Value::BulkString(vec![0, 255, 10]),
            Value::BulkString(br#"[["webhook-id","msg_1"]]"#.to_vec()),
            Value::Int(2),
            Value::BulkString(b"boom".to_vec()),
            Value::BulkString(b"1700000000000000".to_vec()),
        ];
        let record = record(&fields).unwrap();
        assert_eq!(record.received_at, received_at);
        assert_eq!(record.body, vec![0, 255, 10]);
        assert_eq!(record.event_type, None);
        assert_eq!(record.attempts, 2);
        assert_eq!(record.last_error.as_deref(), Some("boom"));
        assert_eq!(record.header("webhook-id"), Some("msg_1"));
        assert_eq!(
            record.next_run_at,
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert!(matches!(
            super::record(&fields[..9]),
            Err(StoreError::UnexpectedReply { store: "redis", .. })
        ));
    }

    #[test]
    fn tokens_are_the_prefix_and_the_rank() {
        let prefix = token_prefix();
        assert_eq!(prefix.len(), 28);
        let reply = Value::Array(
            [
                Value::BulkString(format!("{prefix}0001").into_bytes()),
                Value::BulkString(b"1-0".to_vec()),
            ]
            .into_iter()
            .chain(std::iter::repeat_n(Value::Nil, 10))
            .collect(),
        );
        // A job without its record's fields is malformed, not a panic.
        assert!(matches!(
            job(&reply),
            Err(StoreError::UnexpectedReply { store: "redis", .. })
        ));
    }
}
