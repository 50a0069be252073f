//! The recording store: a bounded ring of [`Entry`], the requests `listen` received, newest
//! last, each numbered by an increasing `seq`; who first delivered each idempotency key (for
//! "duplicate of #N"); and the broadcast channel that tells the live page of each new entry.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// How many new entries a slow page may fall behind before it is told to reload the list.
const STREAM_BACKLOG: usize = 256;

/// The app's answer to a forwarded request.
#[derive(Debug, Clone)]
pub(crate) struct Forward {
    /// The app's status; none when it did not answer.
    pub(crate) status: Option<u16>,
    pub(crate) latency: Duration,
    /// The first KiB of the app's answer.
    pub(crate) body: Bytes,
}

/// What the capture saw of one request, before it is numbered.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    pub(crate) received_at: jiff::Timestamp,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) id: Option<String>,
    pub(crate) event_type: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) outcome: &'static str,
    pub(crate) status: u16,
    pub(crate) reason: Option<String>,
    /// The `webhook-timestamp` (or `svix-timestamp`) header, when it is one number.
    pub(crate) timestamp: Option<u64>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
    pub(crate) forward: Option<Forward>,
    /// The entry this request replays, when it is a replay.
    pub(crate) replay_of: Option<u64>,
}

/// One recorded request: its capture, its number, and the first delivery of its key.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) duplicate_of: Option<u64>,
    pub(crate) capture: Capture,
}

impl Entry {
    /// Receipt minus `webhook-timestamp`, in whole seconds.
    pub(crate) fn timestamp_skew_s(&self) -> Option<i64> {
        let timestamp = i64::try_from(self.capture.timestamp?).ok()?;
        Some(self.capture.received_at.as_second() - timestamp)
    }

    /// The entry as the API gives it in lists and in the stream.
    pub(crate) fn json(&self) -> Value {
        let c = &self.capture;
        let mut entry = json!({
            "seq": self.seq,
            "received_at": c.received_at.to_string(),
            "method": c.method,
            "path": c.path,
            "id": c.id,
            "type": c.event_type,
            "key": c.key,
            "outcome": c.outcome,
            "status": c.status,
            "reason": c.reason,
            "timestamp_skew_s": self.timestamp_skew_s(),
            "duplicate_of": self.duplicate_of,
            "replay_of": c.replay_of,
            "headers": c.headers.iter().map(|(n, v)| [n, v]).collect::<Vec<_>>(),
            "forward": c.forward.as_ref().map(|f| json!({
                "status": f.status, "latency_ms": f.latency.as_millis(),
            })),
        });
        let (name, body) = body_field(&c.body);
        entry[name] = body;
        entry
    }
}

/// `("body", text)` for a UTF-8 body, else `("body_base64", base64)`.
pub(crate) fn body_field(body: &[u8]) -> (&'static str, Value) {
    match std::str::from_utf8(body) {
        Ok(text) => ("body", Value::from(text)),
        Err(_) => (
            "body_base64",
            Value::from(base64::engine::general_purpose::STANDARD.encode(body)),
        ),
    }
}

struct Ring {
    next_seq: u64,
    entries: VecDeque<Arc<Entry>>,
    /// Each idempotency key's first entry still in the ring.
    first_of_key: HashMap<String, u64>,
}

/// The bounded store of entries, shared by the capture, the API and the pages.
pub(crate) struct Recorder {
    keep: usize,
    ring: Mutex<Ring>,
    stream: broadcast::Sender<Arc<Entry>>,
}

impl Recorder {
    /// A store keeping the last `keep` entries (at least one).
    pub(crate) fn new(keep: usize) -> Self {
        Self {
            keep: keep.max(1),
            ring: Mutex::new(Ring {
                next_seq: 1,
                entries: VecDeque::with_capacity(keep.clamp(1, 4096)),
                first_of_key: HashMap::new(),
            }),
            stream: broadcast::channel(STREAM_BACKLOG).0,
        }
    }

    /// How many entries are kept.
    pub(crate) fn keep(&self) -> usize {
        self.keep
    }

    /// Numbers `capture`, keeps it (dropping the oldest entry when full) and tells the stream.
    pub(crate) fn record(&self, capture: Capture) -> Arc<Entry> {
        let entry = {
            let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            let seq = ring.next_seq;
            ring.next_seq += 1;
            let duplicate_of =
                capture
                    .key
                    .as_ref()
                    .and_then(|key| match ring.first_of_key.get(key) {
                        Some(first) => Some(*first),
                        None => {
                            ring.first_of_key.insert(key.clone(), seq);
                            None
                        }
                    });
            let entry = Arc::new(Entry {
                seq,
                duplicate_of,
                capture,
            });
            if ring.entries.len() == self.keep
                && let Some(oldest) = ring.entries.pop_front()
                && let Some(key) = &oldest.capture.key
                && ring.first_of_key.get(key) == Some(&oldest.seq)
            {
                ring.first_of_key.remove(key);
            }
            ring.entries.push_back(Arc::clone(&entry));
            entry
        };
        // No page open: nobody to tell.
        let _ = self.stream.send(Arc::clone(&entry));
        entry
    }

    /// The entries, newest first.
    pub(crate) fn list(&self) -> Vec<Arc<Entry>> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.entries.iter().rev().cloned().collect()
    }

    /// The entry numbered `seq`, while it is kept.
    pub(crate) fn get(&self, seq: u64) -> Option<Arc<Entry>> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let first = ring.entries.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        ring.entries.get(index).cloned()
    }

    /// A receiver of every entry recorded from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Entry>> {
        self.stream.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(key: Option<&str>) -> Capture {
        Capture {
            received_at: jiff::Timestamp::from_second(1_800_000_000).unwrap_or_default(),
            method: "POST".to_owned(),
            path: "/webhooks".to_owned(),
            id: Some("msg_1".to_owned()),
            event_type: None,
            key: key.map(str::to_owned),
            outcome: "processed",
            status: 200,
            reason: None,
            timestamp: Some(1_799_999_990),
            headers: vec![("webhook-id".to_owned(), "msg_1".to_owned())],
            body: Bytes::from_static(b"\xff\x00"),
            forward: None,
            replay_of: None,
        }
    }

    #[test]
    fn the_ring_keeps_the_last_entries_and_their_first_keys() {
        let recorder = Recorder::new(2);
        assert_eq!(recorder.record(capture(Some("k"))).duplicate_of, None);
        assert_eq!(recorder.record(capture(Some("k"))).duplicate_of, Some(1));
        // The first of `k` leaves the ring: the next `k` is a first again.
        assert_eq!(recorder.record(capture(None)).seq, 3);
        assert_eq!(recorder.record(capture(Some("k"))).duplicate_of, None);
        let seqs: Vec<u64> = recorder.list().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [4, 3]);
        assert_eq!(recorder.get(2).map(|e| e.seq), None);
        assert_eq!(recorder.get(3).map(|e| e.seq), Some(3));
        assert_eq!(recorder.get(5).map(|e| e.seq), None);
    }

    #[test]
    fn json_has_the_skew_and_a_binary_body_in_base64() {
        let entry = Recorder::new(1).record(capture(None));
        let json = entry.json();
        assert_eq!(json["timestamp_skew_s"], 10);
        assert_eq!(json["body_base64"], "/wA=");
        assert_eq!(json.get("body"), None);
        assert_eq!(json["headers"], json!([["webhook-id", "msg_1"]]));
        assert_eq!(json["received_at"], "2027-01-15T08:00:00Z");
    }
}
