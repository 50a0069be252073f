//! What a queue holds: a [`JobRecord`] (a verified delivery and its attempts so far), a
//! [`Job`] (a record taken by a worker, under a [`Lease`]), and the answers of the
//! [`QueueBackend`](super::QueueBackend) ([`Enqueue`], [`JobState`], [`QueueStats`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;

use crate::error::ParseError;
use crate::event::Event;
use crate::headers::{HeaderLookup, Headers};
use crate::store::ClaimToken;
use crate::verify::{WebhookId, WebhookTimestamp};

/// A verified delivery as a queue stores it: what a worker needs to run its handler, and what
/// an operator wants to see. Backends build one from their rows; [`Queue`](super::Queue)
/// builds the one it enqueues from the verified event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The `webhook-id` header of the delivery (stable across the sender's retries).
    pub webhook_id: String,
    /// The idempotency key: the event's `eventId`, else its `webhook-id`. One job per key and
    /// namespace.
    pub key: String,
    /// The event type, when the body names one.
    pub event_type: Option<String>,
    /// The `webhook-timestamp` the delivery was signed at.
    pub timestamp: WebhookTimestamp,
    /// When the receiver enqueued it.
    pub received_at: SystemTime,
    /// The raw body, exactly as received and verified (any bytes).
    pub body: Vec<u8>,
    /// The signature headers as received: `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature` (lowercase names), so that the delivery can be forwarded as it came.
    pub headers: Vec<(String, String)>,
    /// The attempts made: 0 while it waits for its first; in a [`Job`], the number of the
    /// attempt being made.
    pub attempts: u32,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it is due (pending), or when its lease runs out (running).
    pub next_run_at: SystemTime,
}

impl JobRecord {
    /// The record of a verified `event` received at `received_at`, with the signature headers
    /// read from `headers` (either spelling, `webhook-` or `svix-`; kept under the `webhook-`
    /// names), no attempt made, due at once.
    pub fn from_event<T, H: Headers + ?Sized>(
        event: &Event<T>,
        headers: &H,
        received_at: SystemTime,
    ) -> Self {
        let found = headers.webhook_headers();
        let mut kept = Vec::with_capacity(3);
        for (name, lookup) in [
            ("webhook-id", found.id),
            ("webhook-timestamp", found.timestamp),
            ("webhook-signature", found.signature),
        ] {
            if let HeaderLookup::One(value) = lookup {
                kept.push((name.to_owned(), String::from_utf8_lossy(value).into_owned()));
            }
        }
        Self {
            webhook_id: event.id().as_str().to_owned(),
            key: event.idempotency_key().to_owned(),
            event_type: event.event_type().map(str::to_owned),
            timestamp: event.timestamp(),
            received_at,
            body: event.raw_body().to_vec(),
            headers: kept,
            attempts: 0,
            last_error: None,
            next_run_at: received_at,
        }
    }

    /// The header `name` (lowercase), when kept.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(kept, _)| kept.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as `T`, with the envelope read beside it: the typed event, without
    /// verifying again (it was verified on receipt).
    ///
    /// # Errors
    ///
    /// [`ParseError::InvalidJson`] when the body is not JSON, [`ParseError::InvalidEvent`]
    /// when it is JSON of another shape than `T`.
    pub fn parse<T: DeserializeOwned + 'static>(&self) -> Result<Event<T>, ParseError> {
        Event::from_verified(
            WebhookId::new_unchecked(&self.webhook_id),
            self.timestamp,
            &self.body,
        )
    }
}

/// The hold a worker has on a job it took: the fencing token, and when the lease runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The token of this take: a takeover makes a new one, and the old one's calls get
    /// [`StoreError::StaleToken`](crate::store::StoreError::StaleToken).
    pub token: ClaimToken,
    /// When the lease runs out unless renewed.
    pub until: SystemTime,
    /// The backend's own reference to the job (a row id, a stream entry id), opaque to the
    /// worker.
    pub handle: Arc<str>,
}

/// A job taken by a worker: its record and its lease. What a handler is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    record: JobRecord,
    lease: Lease,
}

impl Job {
    /// A job from a backend: `record` taken under `lease` (its `attempts` already counting this
    /// one).
    #[must_use]
    pub fn new(record: JobRecord, lease: Lease) -> Self {
        Self { record, lease }
    }

    /// The record.
    #[must_use]
    pub fn record(&self) -> &JobRecord {
        &self.record
    }

    /// The lease.
    #[must_use]
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The `webhook-id` of the delivery.
    #[must_use]
    pub fn webhook_id(&self) -> &str {
        &self.record.webhook_id
    }

    /// The idempotency key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.record.key
    }

    /// The event type, when the body names one.
    #[must_use]
    pub fn event_type(&self) -> Option<&str> {
        self.record.event_type.as_deref()
    }

    /// When the receiver enqueued it.
    #[must_use]
    pub fn received_at(&self) -> SystemTime {
        self.record.received_at
    }

    /// The raw body, as received.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.record.body
    }

    /// The signature headers, as received.
    #[must_use]
    pub fn headers(&self) -> &[(String, String)] {
        &self.record.headers
    }

    /// The number of this attempt (1 for the first).
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.record.attempts
    }

    /// The error of the last failed attempt, if any.
    #[must_use]
    pub fn last_error(&self) -> Option<&str> {
        self.record.last_error.as_deref()
    }

    /// The typed event. See [`JobRecord::parse`].
    ///
    /// # Errors
    ///
    /// [`ParseError::InvalidJson`] when the body is not JSON, [`ParseError::InvalidEvent`]
    /// when it is JSON of another shape than `T`.
    pub fn parse<T: DeserializeOwned + 'static>(&self) -> Result<Event<T>, ParseError> {
        self.record.parse()
    }

    /// The record, taken out.
    #[must_use]
    pub fn into_record(self) -> JobRecord {
        self.record
    }
}

/// A job's state in its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for an attempt (its first, a retry, or after a release or a redrive).
    Pending,
    /// Held by a worker under a live lease.
    Running,
    /// Completed; kept for the retention so that a redelivery is a duplicate.
    Done,
    /// Its last attempt failed; kept until redriven.
    Dead,
}

impl JobState {
    /// The state's name: `pending`, `running`, `done`, `dead`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }
}

/// What [`QueueBackend::enqueue`](super::QueueBackend::enqueue) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueue {
    /// Stored as a new pending job.
    Enqueued,
    /// The key already has a job (in `state`): nothing stored, the delivery is a duplicate.
    Duplicate {
        /// The state of the job the key already has.
        state: JobState,
    },
}

/// Which dead jobs [`QueueBackend::redrive`](super::QueueBackend::redrive) puts back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redrive<'a> {
    /// The dead job of this idempotency key, if there is one.
    Key(&'a str),
    /// Every dead job of the namespace.
    All,
}

/// How many jobs a queue holds in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Waiting for an attempt, due or not.
    pub pending: u64,
    /// Held by a worker.
    pub running: u64,
    /// Dead, until redriven.
    pub dead: u64,
    /// Done, within their retention.
    pub done: u64,
    /// How long the oldest pending job has waited since it was received; `None` when nothing
    /// is pending.
    pub oldest_pending_age: Option<Duration>,
}
