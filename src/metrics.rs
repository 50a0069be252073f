//! Metrics: the name, unit and labels of every metric this crate records, and the functions the
//! rest of the crate records them through (feature `metrics`, on the [`metrics`](https://docs.rs/metrics)
//! facade: the application installs the exporter it wants, Prometheus or another). Without the
//! feature every recording function is empty and compiles to nothing.
//!
//! The handles of the metrics every delivery records are kept in `handles`: resolved once
//! against the global recorder by [`describe`], and used while that recorder is the current one.
//!
#![doc = include_str!("docs/metrics.md")]

#[cfg(feature = "metrics")]
use quanta::Instant;
use std::time::Duration;

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

/// Gives the installed recorder the help text and unit of every metric in the module's table.
/// Call it once the recorder is installed (again after installing another one).
///
/// Once the global recorder is installed, it also lets the crate keep the handles of the
/// metrics every delivery records, so that a delivery records through them rather than looking
/// each metric up in the recorder. It asks which recorder is the global one on a thread of its
/// own, started and joined here (a thread where no local recorder is set).
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
    // The first reading calibrates the clock the timers read.
    let _ = Instant::now();
    handles::resolve();
}

/// The start of something timed, or nothing for what is not timed; with the feature off it
/// holds nothing and reads no clock.
///
/// Read from [`quanta`]'s clock (the time-stamp counter, scaled), which costs a delivery about
/// half what `std::time::Instant` would for its four readings; [`describe`] calibrates it, so
/// that no request waits for that (under a millisecond, once).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timer {
    #[cfg(feature = "metrics")]
    started: Option<Instant>,
}

impl Timer {
    /// Starts timing.
    #[cfg(any(feature = "axum", feature = "actix", feature = "queue", test))]
    #[inline]
    pub(crate) fn start() -> Self {
        Self {
            #[cfg(feature = "metrics")]
            started: Some(Instant::now()),
        }
    }

    /// Starts timing an operation of the store named `store`, unless it is the memory store:
    /// its operations take about 100 ns, about what reading the clock twice and recording
    /// would add to them (their errors are counted all the same).
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    #[inline]
    pub(crate) fn store(store: &str) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            started: (store != "memory").then(Instant::now),
        }
    }

    /// The seconds since the start; `None` when not timed.
    #[cfg(feature = "metrics")]
    fn seconds(self) -> Option<f64> {
        self.started.map(|started| started.elapsed().as_secs_f64())
    }
}

/// The `event_type` label of a type the body named (or did not), as its index in
/// [`handles::EVENT_TYPES`].
#[cfg(feature = "metrics")]
#[cfg(any(feature = "axum", feature = "actix"))]
fn event_type_index(event_type: Option<&str>) -> usize {
    match event_type {
        None => handles::NONE,
        Some(named) => KNOWN_EVENT_TYPES
            .iter()
            .position(|known| *known == named)
            .unwrap_or(handles::OTHER),
    }
}

/// The `event_type` label of a type the body named (or did not).
#[cfg(all(test, feature = "metrics", any(feature = "axum", feature = "actix")))]
fn event_type_label(event_type: Option<&str>) -> &'static str {
    handles::EVENT_TYPES[event_type_index(event_type)]
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

/// What the recorder is told of where a metric comes from.
#[cfg(feature = "metrics")]
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Counts a delivery: `outcome` is an [`Outcome`](crate::integrations::Outcome)'s name (or
/// `queued`), `event_type` the type its body named.
#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[inline]
pub(crate) fn delivery(outcome: &'static str, event_type: Option<&str>) {
    #[cfg(feature = "metrics")]
    {
        let event_type = event_type_index(event_type);
        match handles::OUTCOMES.iter().position(|known| *known == outcome) {
            Some(outcome) => handles::count_delivery(outcome, event_type),
            None => delivery_keyed(outcome, event_type),
        }
    }
}

/// Counts a delivery whose outcome has no handle of its own (one added since), keyed on the
/// fly; out of line, so that the common path stays small.
#[cfg(all(feature = "metrics", any(feature = "axum", feature = "actix")))]
#[cold]
#[inline(never)]
fn delivery_keyed(outcome: &'static str, event_type: usize) {
    metrics::counter!(
        DELIVERIES,
        "outcome" => outcome,
        "event_type" => handles::EVENT_TYPES[event_type]
    )
    .increment(1);
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
    if let Some(seconds) = timer.seconds() {
        let slot = if succeeded {
            handles::HANDLER_PROCESSED
        } else {
            handles::HANDLER_FAILED
        };
        handles::record(slot, seconds);
    }
}

/// Records the verifier's duration since `timer`.
#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[inline]
pub(crate) fn verified(timer: Timer) {
    #[cfg(feature = "metrics")]
    if let Some(seconds) = timer.seconds() {
        handles::record(handles::VERIFICATION, seconds);
    }
}

/// Records the arrival lag of a verified request: `received` (the verifier's clock) minus
/// `timestamp` (its `webhook-timestamp`, seconds since the epoch).
#[cfg(all(feature = "metrics", any(feature = "axum", feature = "actix")))]
#[inline]
pub(crate) fn arrival(received: std::time::SystemTime, timestamp: u64) {
    let signed = std::time::UNIX_EPOCH + Duration::from_secs(timestamp);
    let (slot, lag) = match received.duration_since(signed) {
        Ok(behind) => (handles::LAG_BEHIND, behind),
        Err(ahead) => (handles::LAG_AHEAD, ahead.duration()),
    };
    handles::record(slot, lag.as_secs_f64());
}

/// Records a store operation that started at `timer` (see [`Timer::store`]): its duration when
/// it was timed, and its error if it failed.
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
        // The memory store's operations that succeed (most of them) record nothing.
        if let Some(seconds) = timer.seconds() {
            match handles::store_slot(store, operation) {
                Some(slot) => handles::record(slot, seconds),
                None => store_duration_keyed(store, operation, seconds),
            }
        }
        if let Some(error) = error {
            store_error(store, operation, error);
        }
    }
}

/// Records the duration of an operation of a store without a slot of its own (another store's
/// name), keyed on the fly; out of line, so that the common path stays small.
#[cfg(feature = "metrics")]
#[cold]
#[inline(never)]
fn store_duration_keyed(store: &'static str, operation: &'static str, seconds: f64) {
    metrics::histogram!(
        STORE_OPERATION_DURATION,
        "store" => store,
        "operation" => operation
    )
    .record(seconds);
}

/// Counts a store operation that failed (rare: keyed on the fly, out of line).
#[cfg(feature = "metrics")]
#[cold]
#[inline(never)]
fn store_error(store: &'static str, operation: &'static str, error: &StoreError) {
    metrics::counter!(
        STORE_ERRORS,
        "store" => store,
        "operation" => operation,
        "error" => store_error_label(error)
    )
    .increment(1);
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
        if let Some(seconds) = timer.seconds() {
            metrics::histogram!(QUEUE_ATTEMPT_DURATION, "backend" => backend, "result" => result)
                .record(seconds);
        }
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

#[cfg(feature = "metrics")]
mod handles;

#[cfg(all(test, feature = "metrics"))]
mod tests;
