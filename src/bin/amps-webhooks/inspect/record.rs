//! The recording store: a bounded ring of [`Entry`], the requests `listen` received, newest
//! last, each numbered by an increasing `seq`; who first delivered each idempotency key (for
//! "duplicate of #N"); and the broadcast channel that tells the live page of each new entry.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use amps_webhooks::integrations::{Delivery, Outcome};

use axum::http::{HeaderMap, Method};
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
    /// Why the delivery failed at the app, when it did.
    pub(crate) failure: Option<String>,
}

/// What the capture saw of one request, before it is numbered: its own copy of the path, the
/// headers (one string) and the body, so that the connection's read buffer, which the
/// request's parts point into, is not held; the [`Delivery`] (shared strings). The text of each
/// field is made when the entry is read.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    pub(crate) received_at: jiff::Timestamp,
    pub(crate) method: Method,
    pub(crate) path: String,
    /// One `name:value` line per header, in the order received (a name holds no `:`, a value
    /// no line break).
    pub(crate) headers: String,
    pub(crate) body: Bytes,
    /// What the receiver made of it.
    pub(crate) outcome: Made,
    /// The type the handler parsed, when the delivery has none (a bare body).
    pub(crate) parsed_type: Option<String>,
    /// The response's status.
    pub(crate) status: u16,
    pub(crate) forward: Option<Forward>,
    /// The entry this request replays, when it is a replay.
    pub(crate) replay_of: Option<u64>,
}

impl Capture {
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The headers as `(name, value)`.
    fn header_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.lines().filter_map(|line| line.split_once(':'))
    }

    pub(crate) fn id(&self) -> Option<&str> {
        match &self.outcome {
            Made::Delivery(delivery) => delivery.id(),
            Made::Nothing => None,
        }
    }

    pub(crate) fn event_type(&self) -> Option<&str> {
        let own = match &self.outcome {
            Made::Delivery(delivery) => delivery.event_type(),
            Made::Nothing => None,
        };
        own.or(self.parsed_type.as_deref())
    }

    pub(crate) fn key(&self) -> Option<&str> {
        match &self.outcome {
            Made::Delivery(delivery) => delivery.key(),
            Made::Nothing => None,
        }
    }

    pub(crate) fn outcome(&self) -> &'static str {
        match &self.outcome {
            Made::Delivery(delivery) => delivery.outcome().as_str(),
            Made::Nothing => Outcome::Rejected.as_str(),
        }
    }

    pub(crate) fn status(&self) -> u16 {
        match &self.outcome {
            Made::Delivery(delivery) => delivery.status(),
            Made::Nothing => self.status,
        }
    }

    /// Why it was not processed; the app's failure when forwarding says more than "502".
    pub(crate) fn reason(&self) -> Option<String> {
        if let Some(failure) = self.forward.as_ref().and_then(|f| f.failure.clone()) {
            return Some(failure);
        }
        match &self.outcome {
            Made::Delivery(delivery) => delivery.reason().map(str::to_owned),
            Made::Nothing => Some(format!(
                "no webhook route for {} {}",
                self.method,
                self.path()
            )),
        }
    }

    /// The one `webhook-timestamp` (else `svix-timestamp`) header, when it is a number.
    pub(crate) fn timestamp(&self) -> Option<u64> {
        ["webhook-timestamp", "svix-timestamp"]
            .iter()
            .find_map(|wanted| {
                let mut values = self.header_pairs().filter(|(name, _)| name == wanted);
                let (_, value) = values.next()?;
                if values.next().is_some() {
                    return None;
                }
                value.trim().parse().ok()
            })
    }

    /// The headers in the order received, values as text (a byte outside UTF-8 as U+FFFD).
    pub(crate) fn header_list(&self) -> Vec<(String, String)> {
        self.header_pairs()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }
}

/// The headers of `map` as [`Capture::headers`] holds them.
pub(crate) fn header_lines(map: &HeaderMap) -> String {
    let mut lines = String::with_capacity(
        map.iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 2)
            .sum(),
    );
    for (name, value) in map {
        lines.push_str(name.as_str());
        lines.push(':');
        lines.push_str(&String::from_utf8_lossy(value.as_bytes()));
        lines.push('\n');
    }
    lines
}

/// What the receiver made of a request: the [`Delivery`] of the deduplicating layer or of the
/// enqueueing route, or none (no webhook route).
#[derive(Debug, Clone)]
pub(crate) enum Made {
    Delivery(Delivery),
    Nothing,
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
        let timestamp = i64::try_from(self.capture.timestamp()?).ok()?;
        Some(self.capture.received_at.as_second() - timestamp)
    }

    /// The entry as the API gives it in lists and in the stream.
    pub(crate) fn json(&self) -> Value {
        let c = &self.capture;
        let mut entry = json!({
            "seq": self.seq,
            "received_at": c.received_at.to_string(),
            "method": c.method.as_str(),
            "path": c.path(),
            "id": c.id(),
            "type": c.event_type(),
            "key": c.key(),
            "outcome": c.outcome(),
            "status": c.status(),
            "reason": c.reason(),
            "timestamp_skew_s": self.timestamp_skew_s(),
            "duplicate_of": self.duplicate_of,
            "replay_of": c.replay_of,
            "headers": c.header_list().iter().map(|(n, v)| [n, v]).collect::<Vec<_>>(),
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
    /// Each idempotency key's first entry still in the ring, by the key's hash (the entry's
    /// own key is compared on a match: a collision is no duplicate).
    first_of_key: HashMap<u64, u64>,
}

impl Ring {
    /// The entry numbered `seq`, while it is kept (the numbers in the ring are consecutive).
    fn get(&self, seq: u64) -> Option<&Arc<Entry>> {
        let first = self.entries.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get(index)
    }
}

/// The bounded store of entries, shared by the capture, the API and the pages.
pub(crate) struct Recorder {
    keep: usize,
    ring: Mutex<Ring>,
    hasher: RandomState,
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
            hasher: RandomState::new(),
            stream: broadcast::channel(STREAM_BACKLOG).0,
        }
    }

    /// How many entries are kept.
    pub(crate) fn keep(&self) -> usize {
        self.keep
    }

    /// Numbers `capture`, keeps it (dropping the oldest entry when full) and tells the stream.
    pub(crate) fn record(&self, capture: Capture) -> Arc<Entry> {
        let hash = capture.key().map(|key| self.hasher.hash_one(key));
        let entry = {
            let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            let seq = ring.next_seq;
            ring.next_seq += 1;
            if ring.entries.len() == self.keep
                && let Some(oldest) = ring.entries.pop_front()
                && let Some(key) = oldest.capture.key()
            {
                let hash = self.hasher.hash_one(key);
                if ring.first_of_key.get(&hash) == Some(&oldest.seq) {
                    ring.first_of_key.remove(&hash);
                }
            }
            let duplicate_of = hash.and_then(|hash| match ring.first_of_key.get(&hash) {
                Some(&first) => ring
                    .get(first)
                    .filter(|first| first.capture.key() == capture.key())
                    .map(|first| first.seq),
                None => {
                    ring.first_of_key.insert(hash, seq);
                    None
                }
            });
            let entry = Arc::new(Entry {
                seq,
                duplicate_of,
                capture,
            });
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
        ring.get(seq).cloned()
    }

    /// A receiver of every entry recorded from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Entry>> {
        self.stream.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture() -> Capture {
        let mut map = HeaderMap::new();
        map.insert(
            "webhook-id",
            "msg_1".parse().unwrap_or_else(|_| unreachable!()),
        );
        map.insert(
            "webhook-timestamp",
            "1799999990".parse().unwrap_or_else(|_| unreachable!()),
        );
        let headers = header_lines(&map);
        Capture {
            received_at: jiff::Timestamp::from_second(1_800_000_000).unwrap_or_default(),
            method: Method::POST,
            path: "/webhooks".to_owned(),
            headers,
            body: Bytes::from_static(b"\xff\x00"),
            outcome: Made::Nothing,
            parsed_type: None,
            status: 200,
            forward: None,
            replay_of: None,
        }
    }

    #[test]
    fn the_ring_keeps_the_last_entries() {
        let recorder = Recorder::new(2);
        for seq in 1..=4 {
            assert_eq!(recorder.record(capture()).seq, seq);
        }
        let seqs: Vec<u64> = recorder.list().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [4, 3]);
        assert_eq!(recorder.get(2).map(|e| e.seq), None);
        assert_eq!(recorder.get(3).map(|e| e.seq), Some(3));
        assert_eq!(recorder.get(5).map(|e| e.seq), None);
    }

    #[test]
    fn json_has_the_skew_and_a_binary_body_in_base64() {
        let entry = Recorder::new(1).record(capture());
        let json = entry.json();
        assert_eq!(json["timestamp_skew_s"], 10);
        assert_eq!(json["body_base64"], "/wA=");
        assert_eq!(json.get("body"), None);
        assert_eq!(
            json["headers"],
            json!([["webhook-id", "msg_1"], ["webhook-timestamp", "1799999990"]])
        );
        assert_eq!(json["outcome"], "rejected");
        assert_eq!(json["reason"], "no webhook route for POST /webhooks");
        assert_eq!(json["received_at"], "2027-01-15T08:00:00Z");
    }
}
