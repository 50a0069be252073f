//! Metrics: the name, unit and labels of every metric this crate records, and the functions the
//! rest of the crate records them through (feature `metrics`, on the [`metrics`](https://docs.rs/metrics)
//! facade: the application installs the exporter it wants, Prometheus or another). Without the
//! feature every recording function is empty and compiles to nothing.
//!
//! # The metrics
//!
//! Every name starts `amps_webhooks_`; counters end `_total`, durations are histograms in
//! seconds (`_seconds`), as the Prometheus conventions ask. Every label value comes from a
//! fixed set: none carries an id, a key, a body or a secret.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `amps_webhooks_deliveries_total` | counter | `outcome`, `event_type` | deliveries answered by the deduplicating middleware (axum's `WebhookLayer`, actix's `WebhookMiddleware`), by what became of them; a rejection by the bare extractor counts too (as `rejected`); in queue mode, the enqueueing routes' answers (`queued`, `duplicate`, `unavailable`, `rejected`) |
//! | `amps_webhooks_rejections_total` | counter | `reason` | requests refused before any handler ran, by the rejection's code |
//! | `amps_webhooks_handler_duration_seconds` | histogram | `outcome` | how long the route's handler took, behind the middleware: `processed` (it answered 2xx) or `failed` |
//! | `amps_webhooks_verification_duration_seconds` | histogram | | how long the verifier took (headers, timestamp, signatures), for every body read in full, refused or not |
//! | `amps_webhooks_arrival_lag_seconds` | histogram | `direction` | receipt time (the verifier's clock) minus the `webhook-timestamp`, for verified requests, as an absolute value: `behind` when the timestamp is in the past (the usual case; it grows as the sender's clock falls behind or its retries come late), `ahead` when it is in the future (the sender's clock runs fast) |
//! | `amps_webhooks_store_operation_duration_seconds` | histogram | `store`, `operation` | how long an idempotency store operation took, as the `Deduplicator` (and `PostgresInbox`) saw it |
//! | `amps_webhooks_store_errors_total` | counter | `store`, `operation`, `error` | idempotency store operations that failed, by the error's kind |
//! | `amps_webhooks_queue_jobs` | gauge | `backend`, `state` | jobs held by the queue, by state (set by each [`Queue::stats`](crate::queue::Queue::stats)) |
//! | `amps_webhooks_queue_oldest_pending_age_seconds` | gauge | `backend` | how long the oldest pending job has waited since it was received; 0 when none is pending (set by each `Queue::stats`) |
//! | `amps_webhooks_queue_attempts_total` | counter | `backend`, `result` | job attempts run by the queue's workers, by whether the handler succeeded (a handler cancelled at the worker's shutdown is not counted) |
//! | `amps_webhooks_queue_attempt_duration_seconds` | histogram | `backend`, `result` | how long a job attempt's handler took |
//! | `amps_webhooks_queue_dead_lettered_total` | counter | `backend` | jobs dead-lettered after their last attempt failed |
//!
//! The label values:
//!
//! | label | values |
//! |---|---|
//! | `outcome` (deliveries) | `processed`, `duplicate`, `in_flight`, `rejected`, `unavailable`, `failed`; `queued` (stored as a job, in queue mode) |
//! | `event_type` | `push.completed`, `push.failed`, `device.connected`, `device.reconnected`, `device.disconnected`; `other` for any other type the body names; `none` when it names none (a bare body, or a request rejected before its body was parsed) |
//! | `reason` | the [`WebhookRejection::code`](crate::integrations::WebhookRejection::code)s: `body_too_large`, `missing_header`, `invalid_header`, `timestamp_out_of_tolerance`, `invalid_signature`, `invalid_event`, `body_unreadable`, `not_configured` |
//! | `direction` | `behind`, `ahead` (a lag of 0 is `behind`) |
//! | `store` | the store's [`IdempotencyStore::name`](crate::store::IdempotencyStore::name): `memory`, `redis`, `postgres`; `custom` for a store that does not name itself |
//! | `operation` | `claim`, `complete`, `release`; `claim_in` (a `PostgresInbox` claim inside the caller's transaction) |
//! | `error` | `unavailable`, `timeout`, `stale_token`, `capacity_exhausted`, `unexpected_reply`, `configuration`, `invalid_namespace` |
//! | `backend` (queue) | the backend's [`QueueBackend::name`](crate::queue::QueueBackend::name): `memory`, `redis`, `postgres`; `custom` for a backend that does not name itself |
//! | `state` (queue) | `pending`, `running`, `dead` |
//! | `result` (queue) | `succeeded`, `failed` |
//!
//! The arrival lag is kept positive (Prometheus histograms of negative values have a `_sum` that
//! can fall), with its sign in `direction`. Its resolution is the second: the timestamp is whole
//! seconds, the receipt time is not.
//!
//! # Exporting
//!
//! Install a recorder before the receiver starts (the facade drops what is recorded before),
//! then call [`describe`] so that the exporter has each metric's help text and unit. With
//! metrics-exporter-prometheus, give the histograms buckets ([`DURATION_BUCKETS`],
//! [`LAG_BUCKETS`]); without buckets it renders them as summaries:
//!
//! ```
//! # #[cfg(not(feature = "metrics"))]
//! # fn main() {}
//! # #[cfg(feature = "metrics")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
//! use amps_webhooks::metrics::{self, ARRIVAL_LAG, DURATION_BUCKETS, LAG_BUCKETS};
//!
//! let handle = PrometheusBuilder::new()
//!     .set_buckets_for_metric(Matcher::Full(ARRIVAL_LAG.to_owned()), LAG_BUCKETS)?
//!     .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), DURATION_BUCKETS)?
//!     .install_recorder()?;
//! metrics::describe();
//! // Serve `handle.render()` on GET /metrics: the Prometheus text format.
//! assert!(handle.render().is_empty() || handle.render().starts_with('#'));
//! # Ok(())
//! # }
//! ```
//!
//! `examples/axum_prometheus.rs` is the whole receiver.

use std::time::Duration;
#[cfg(feature = "metrics")]
use std::time::{Instant, UNIX_EPOCH};

use crate::error::StoreError;

/// `amps_webhooks_deliveries_total`: deliveries by `outcome` and `event_type`.
#[cfg(feature = "metrics")]
pub const DELIVERIES: &str = "amps_webhooks_deliveries_total";
/// `amps_webhooks_rejections_total`: rejections by `reason`.
#[cfg(feature = "metrics")]
pub const REJECTIONS: &str = "amps_webhooks_rejections_total";
/// `amps_webhooks_handler_duration_seconds`: the handler's duration, by `outcome`.
#[cfg(feature = "metrics")]
pub const HANDLER_DURATION: &str = "amps_webhooks_handler_duration_seconds";
/// `amps_webhooks_verification_duration_seconds`: the verifier's duration.
#[cfg(feature = "metrics")]
pub const VERIFICATION_DURATION: &str = "amps_webhooks_verification_duration_seconds";
/// `amps_webhooks_arrival_lag_seconds`: receipt minus `webhook-timestamp`, by `direction`.
#[cfg(feature = "metrics")]
pub const ARRIVAL_LAG: &str = "amps_webhooks_arrival_lag_seconds";
/// `amps_webhooks_store_operation_duration_seconds`: by `store` and `operation`.
#[cfg(feature = "metrics")]
pub const STORE_OPERATION_DURATION: &str = "amps_webhooks_store_operation_duration_seconds";
/// `amps_webhooks_store_errors_total`: by `store`, `operation` and `error`.
#[cfg(feature = "metrics")]
pub const STORE_ERRORS: &str = "amps_webhooks_store_errors_total";
/// `amps_webhooks_queue_jobs`: jobs by `backend` and `state`.
#[cfg(feature = "metrics")]
pub const QUEUE_JOBS: &str = "amps_webhooks_queue_jobs";
/// `amps_webhooks_queue_oldest_pending_age_seconds`: by `backend`.
#[cfg(feature = "metrics")]
pub const QUEUE_OLDEST_PENDING_AGE: &str = "amps_webhooks_queue_oldest_pending_age_seconds";
/// `amps_webhooks_queue_attempts_total`: by `backend` and `result`.
#[cfg(feature = "metrics")]
pub const QUEUE_ATTEMPTS: &str = "amps_webhooks_queue_attempts_total";
/// `amps_webhooks_queue_attempt_duration_seconds`: by `backend` and `result`.
#[cfg(feature = "metrics")]
pub const QUEUE_ATTEMPT_DURATION: &str = "amps_webhooks_queue_attempt_duration_seconds";
/// `amps_webhooks_queue_dead_lettered_total`: by `backend`.
#[cfg(feature = "metrics")]
pub const QUEUE_DEAD_LETTERED: &str = "amps_webhooks_queue_dead_lettered_total";

/// Histogram buckets for the durations, in seconds: 100 µs to 10 s.
#[cfg(feature = "metrics")]
pub const DURATION_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Histogram buckets for the arrival lag, in seconds: 1 s to 10 min (the default tolerance is
/// 5 min).
#[cfg(feature = "metrics")]
pub const LAG_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 600.0,
];

/// The event types with a label of their own; any other is `other`.
#[cfg(feature = "metrics")]
pub const KNOWN_EVENT_TYPES: &[&str] = &[
    "push.completed",
    "push.failed",
    "device.connected",
    "device.reconnected",
    "device.disconnected",
];

/// Gives the installed recorder the help text and unit of every metric in the table above.
/// Call it once the recorder is installed (again after installing another one).
#[cfg(feature = "metrics")]
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        DELIVERIES,
        Unit::Count,
        "Webhook deliveries answered, by outcome and event type"
    );
    describe_counter!(
        REJECTIONS,
        Unit::Count,
        "Webhook requests refused before any handler ran, by reason"
    );
    describe_histogram!(
        HANDLER_DURATION,
        Unit::Seconds,
        "How long the webhook handler took, by outcome"
    );
    describe_histogram!(
        VERIFICATION_DURATION,
        Unit::Seconds,
        "How long verifying a webhook request took"
    );
    describe_histogram!(
        ARRIVAL_LAG,
        Unit::Seconds,
        "Receipt time minus webhook-timestamp, as an absolute value; direction: behind (timestamp in the past) or ahead"
    );
    describe_histogram!(
        STORE_OPERATION_DURATION,
        Unit::Seconds,
        "How long an idempotency store operation took, by store and operation"
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Idempotency store operations that failed, by store, operation and error"
    );
    describe_gauge!(
        QUEUE_JOBS,
        Unit::Count,
        "Jobs held by the queue, by backend and state"
    );
    describe_gauge!(
        QUEUE_OLDEST_PENDING_AGE,
        Unit::Seconds,
        "How long the oldest pending job has waited since it was received"
    );
    describe_counter!(
        QUEUE_ATTEMPTS,
        Unit::Count,
        "Job attempts run by the queue's workers, by backend and result"
    );
    describe_histogram!(
        QUEUE_ATTEMPT_DURATION,
        Unit::Seconds,
        "How long a job attempt's handler took, by backend and result"
    );
    describe_counter!(
        QUEUE_DEAD_LETTERED,
        Unit::Count,
        "Jobs dead-lettered after their last attempt failed"
    );
}

/// The start of something timed; with the feature off it holds nothing and reads no clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timer {
    #[cfg(feature = "metrics")]
    started: Instant,
}

impl Timer {
    /// Starts timing.
    #[inline]
    pub(crate) fn start() -> Self {
        Self {
            #[cfg(feature = "metrics")]
            started: Instant::now(),
        }
    }

    #[cfg(feature = "metrics")]
    fn seconds(self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// The `event_type` label of a type the body named (or did not).
#[cfg(feature = "metrics")]
#[cfg(any(feature = "axum", feature = "actix"))]
fn event_type_label(event_type: Option<&str>) -> &'static str {
    match event_type {
        None => "none",
        Some(named) => KNOWN_EVENT_TYPES
            .iter()
            .find(|known| **known == named)
            .copied()
            .unwrap_or("other"),
    }
}

/// The `error` label of a store error.
#[cfg(feature = "metrics")]
fn store_error_label(error: &StoreError) -> &'static str {
    match error {
        StoreError::Unavailable { .. } => "unavailable",
        StoreError::Timeout { .. } => "timeout",
        StoreError::StaleToken => "stale_token",
        StoreError::CapacityExhausted { .. } => "capacity_exhausted",
        StoreError::UnexpectedReply { .. } => "unexpected_reply",
        StoreError::Configuration { .. } => "configuration",
        StoreError::InvalidNamespace { .. } => "invalid_namespace",
    }
}

/// A key whose name and labels are all fixed: built once, its hash computed once, so that
/// recording through it allocates nothing (the facade's macros allocate the labels of a key
/// whose values are not literals, on every call).
#[cfg(feature = "metrics")]
macro_rules! static_key {
    ($name:expr $(, $k:literal => $v:literal)*) => {{
        static LABELS: [metrics::Label; 0 $(+ { let _ = $k; 1 })*] =
            [$(metrics::Label::from_static_parts($k, $v)),*];
        static KEY: metrics::Key = metrics::Key::from_static_parts($name, &LABELS);
        &KEY
    }};
}

#[cfg(feature = "metrics")]
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The installed recorder's counter for `key`.
#[cfg(feature = "metrics")]
fn counter(key: &'static metrics::Key) -> metrics::Counter {
    metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA))
}

/// The installed recorder's histogram for `key`.
#[cfg(feature = "metrics")]
fn histogram(key: &'static metrics::Key) -> metrics::Histogram {
    metrics::with_recorder(|recorder| recorder.register_histogram(key, &METADATA))
}

/// The key of the deliveries counter for one outcome, by event type label.
#[cfg(feature = "metrics")]
macro_rules! delivery_key {
    ($outcome:literal, $event_type:expr) => {
        match $event_type {
            "push.completed" => static_key!(DELIVERIES, "outcome" => $outcome, "event_type" => "push.completed"),
            "push.failed" => static_key!(DELIVERIES, "outcome" => $outcome, "event_type" => "push.failed"),
            "device.connected" => static_key!(DELIVERIES, "outcome" => $outcome, "event_type" => "device.connected"),
            "device.reconnected" => static_key!(DELIVERIES, "outcome" => $outcome, "event_type" => "device.reconnected"),
            "device.disconnected" => static_key!(DELIVERIES, "outcome" => $outcome, "event_type" => "device.disconnected"),
            "none" => static_key!(DELIVERIES, "outcome" => $outcome, "event_type" => "none"),
            _ => static_key!(DELIVERIES, "outcome" => $outcome, "event_type" => "other"),
        }
    };
}

/// Counts a delivery: `outcome` is an [`Outcome`](crate::integrations::Outcome)'s name (or
/// `queued`), `event_type` the type its body named.
#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[inline]
pub(crate) fn delivery(outcome: &'static str, event_type: Option<&str>) {
    #[cfg(feature = "metrics")]
    {
        let event_type = event_type_label(event_type);
        let key = match outcome {
            "processed" => delivery_key!("processed", event_type),
            "duplicate" => delivery_key!("duplicate", event_type),
            "in_flight" => delivery_key!("in_flight", event_type),
            "rejected" => delivery_key!("rejected", event_type),
            "unavailable" => delivery_key!("unavailable", event_type),
            "failed" => delivery_key!("failed", event_type),
            "queued" => delivery_key!("queued", event_type),
            other => {
                // An outcome added without a key of its own: counted all the same.
                metrics::counter!(DELIVERIES, "outcome" => other, "event_type" => event_type)
                    .increment(1);
                return;
            }
        };
        counter(key).increment(1);
    }
}

/// Counts a request refused before any handler ran, with its rejection's `code`: one
/// rejection, and one `rejected` delivery (its body was not parsed: type `none`).
#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[inline]
pub(crate) fn rejected(code: &'static str) {
    #[cfg(feature = "metrics")]
    {
        // Rejections are the uncommon path: keyed on the fly.
        metrics::counter!(REJECTIONS, "reason" => code).increment(1);
        delivery("rejected", None);
    }
}

/// Records the handler's duration since `timer`; `succeeded` when it answered 2xx.
#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[inline]
pub(crate) fn handler_finished(timer: Timer, succeeded: bool) {
    #[cfg(feature = "metrics")]
    {
        let key = if succeeded {
            static_key!(HANDLER_DURATION, "outcome" => "processed")
        } else {
            static_key!(HANDLER_DURATION, "outcome" => "failed")
        };
        histogram(key).record(timer.seconds());
    }
}

/// Records the verifier's duration since `timer`.
#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[inline]
pub(crate) fn verified(timer: Timer) {
    #[cfg(feature = "metrics")]
    histogram(static_key!(VERIFICATION_DURATION)).record(timer.seconds());
}

/// Records the arrival lag of a verified request: `received` (the verifier's clock) minus
/// `timestamp` (its `webhook-timestamp`, seconds since the epoch).
#[cfg(all(feature = "metrics", any(feature = "axum", feature = "actix")))]
#[inline]
pub(crate) fn arrival(received: std::time::SystemTime, timestamp: u64) {
    {
        let signed = UNIX_EPOCH + Duration::from_secs(timestamp);
        let (key, lag) = match received.duration_since(signed) {
            Ok(behind) => (static_key!(ARRIVAL_LAG, "direction" => "behind"), behind),
            Err(ahead) => (
                static_key!(ARRIVAL_LAG, "direction" => "ahead"),
                ahead.duration(),
            ),
        };
        histogram(key).record(lag.as_secs_f64());
    }
}

/// Records a store operation that started at `timer`: its duration, and its error if it
/// failed.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[inline]
pub(crate) fn store_operation(
    store: &'static str,
    operation: &'static str,
    timer: Timer,
    error: Option<&StoreError>,
) {
    #[cfg(feature = "metrics")]
    {
        let seconds = timer.seconds();
        let key = match (store, operation) {
            ("memory", "claim") => {
                static_key!(STORE_OPERATION_DURATION, "store" => "memory", "operation" => "claim")
            }
            ("memory", "complete") => {
                static_key!(STORE_OPERATION_DURATION, "store" => "memory", "operation" => "complete")
            }
            ("memory", "release") => {
                static_key!(STORE_OPERATION_DURATION, "store" => "memory", "operation" => "release")
            }
            ("redis", "claim") => {
                static_key!(STORE_OPERATION_DURATION, "store" => "redis", "operation" => "claim")
            }
            ("redis", "complete") => {
                static_key!(STORE_OPERATION_DURATION, "store" => "redis", "operation" => "complete")
            }
            ("redis", "release") => {
                static_key!(STORE_OPERATION_DURATION, "store" => "redis", "operation" => "release")
            }
            ("postgres", "claim") => {
                static_key!(STORE_OPERATION_DURATION, "store" => "postgres", "operation" => "claim")
            }
            ("postgres", "complete") => {
                static_key!(STORE_OPERATION_DURATION, "store" => "postgres", "operation" => "complete")
            }
            ("postgres", "release") => {
                static_key!(STORE_OPERATION_DURATION, "store" => "postgres", "operation" => "release")
            }
            _ => {
                // Another store's name, or a rarer operation: keyed on the fly.
                metrics::histogram!(STORE_OPERATION_DURATION, "store" => store, "operation" => operation)
                    .record(seconds);
                store_error(store, operation, error);
                return;
            }
        };
        histogram(key).record(seconds);
        store_error(store, operation, error);
    }
}

/// Counts a store operation's error, if it failed (rare: keyed on the fly).
#[cfg(feature = "metrics")]
fn store_error(store: &'static str, operation: &'static str, error: Option<&StoreError>) {
    {
        if let Some(error) = error {
            metrics::counter!(STORE_ERRORS, "store" => store, "operation" => operation, "error" => store_error_label(error))
                .increment(1);
        }
    }
}

/// The queue's depth, as its backend counted it: the `pending`, `running` and `dead` gauges,
/// and the age of the oldest pending job (0 when none is pending). For the queue's workers (or
/// whatever polls its stats).
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[allow(dead_code, reason = "recorded by the queue's workers")]
#[inline]
pub(crate) fn queue_depth(
    backend: &'static str,
    pending: u64,
    running: u64,
    dead: u64,
    oldest_pending_age: Option<Duration>,
) {
    #[cfg(feature = "metrics")]
    {
        // Gauges are f64; job counts are far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        for (state, count) in [("pending", pending), ("running", running), ("dead", dead)] {
            metrics::gauge!(QUEUE_JOBS, "backend" => backend, "state" => state).set(count as f64);
        }
        metrics::gauge!(QUEUE_OLDEST_PENDING_AGE, "backend" => backend)
            .set(oldest_pending_age.unwrap_or_default().as_secs_f64());
    }
}

/// One job attempt that started at `timer`: `succeeded` when its handler succeeded (the job
/// is done), else it failed (to be retried, or dead-lettered: then call
/// [`queue_dead_lettered`] too).
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[allow(dead_code, reason = "recorded by the queue's workers")]
#[inline]
pub(crate) fn queue_attempt(backend: &'static str, timer: Timer, succeeded: bool) {
    #[cfg(feature = "metrics")]
    {
        let result = if succeeded { "succeeded" } else { "failed" };
        metrics::histogram!(QUEUE_ATTEMPT_DURATION, "backend" => backend, "result" => result)
            .record(timer.seconds());
        metrics::counter!(QUEUE_ATTEMPTS, "backend" => backend, "result" => result).increment(1);
    }
}

/// One job dead-lettered after its last attempt failed.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[allow(dead_code, reason = "recorded by the queue's workers")]
#[inline]
pub(crate) fn queue_dead_lettered(backend: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(QUEUE_DEAD_LETTERED, "backend" => backend).increment(1);
}

#[cfg(all(test, feature = "metrics"))]
mod tests;
