//! The handles of the metrics every delivery records (the deliveries counter; the handler's,
//! the verifier's and the stores' durations; the arrival lag): their keys, built once, and a
//! table of the global recorder's handles for them, resolved once and kept.
//!
//! Recording through a `metrics` macro asks the current recorder for the metric's handle every
//! time: for metrics-exporter-prometheus that is a read lock, a hash lookup and a reference
//! count taken and dropped, on memory every worker thread shares. Through the table only the
//! value is updated.
//!
//! The table is the global recorder's alone, and known by its address: the facade leaks the
//! global recorder when it is installed, so no other recorder can ever have that address, and
//! the global recorder is never replaced. [`resolve`] asks which recorder is the global one on a
//! thread of its own (where no local recorder can be set). Any other recorder (a thread's local
//! one, as tests use; the no-op recorder that stands in before one is installed) is asked for
//! the handle on every call, as the macros do; so is a zero-sized recorder, which has no
//! address of its own.

use std::sync::OnceLock;

#[cfg(any(feature = "axum", feature = "actix"))]
use metrics::Counter;
use metrics::{Histogram, Key, Recorder};

#[cfg(any(feature = "axum", feature = "actix"))]
use super::DELIVERIES;
use super::{
    ARRIVAL_LAG, HANDLER_DURATION, METADATA, STORE_OPERATION_DURATION, VERIFICATION_DURATION,
};

/// The `outcome` label values of the deliveries counter.
#[cfg(any(feature = "axum", feature = "actix"))]
pub(super) const OUTCOMES: [&str; 7] = [
    "processed",
    "duplicate",
    "in_flight",
    "rejected",
    "unavailable",
    "failed",
    "queued",
];

/// The `event_type` label values: the known types ([`super::KNOWN_EVENT_TYPES`], in its
/// order), then `other` and `none`.
#[cfg(any(feature = "axum", feature = "actix"))]
pub(super) const EVENT_TYPES: [&str; 7] = [
    "push.completed",
    "push.failed",
    "device.connected",
    "device.reconnected",
    "device.disconnected",
    "other",
    "none",
];

/// The index of `other` in [`EVENT_TYPES`].
#[cfg(any(feature = "axum", feature = "actix"))]
pub(super) const OTHER: usize = 5;
/// The index of `none` in [`EVENT_TYPES`].
#[cfg(any(feature = "axum", feature = "actix"))]
pub(super) const NONE: usize = 6;

/// A key whose name and labels are all fixed: built once, its hash computed at compile time,
/// so that recording through it allocates nothing.
macro_rules! static_key {
    ($name:expr $(, $k:literal => $v:literal)*) => {{
        static LABELS: [metrics::Label; 0 $(+ { let _ = $k; 1 })*] =
            [$(metrics::Label::from_static_parts($k, $v)),*];
        static KEY: metrics::Key = metrics::Key::from_static_parts($name, &LABELS);
        &KEY
    }};
}

/// The deliveries counter's keys of one outcome, one per event type.
#[cfg(any(feature = "axum", feature = "actix"))]
macro_rules! delivery_row {
    ($outcome:literal, [$($event_type:literal),*]) => {
        [$(static_key!(DELIVERIES, "outcome" => $outcome, "event_type" => $event_type)),*]
    };
}

/// The deliveries counter's keys, by outcome then event type (the orders of [`OUTCOMES`] and
/// [`EVENT_TYPES`]; a test checks them).
#[cfg(any(feature = "axum", feature = "actix"))]
macro_rules! delivery_keys {
    ([$($outcome:literal),*], $event_types:tt) => {
        [$(delivery_row!($outcome, $event_types)),*]
    };
}

#[cfg(any(feature = "axum", feature = "actix"))]
static DELIVERY_KEYS: [[&Key; EVENT_TYPES.len()]; OUTCOMES.len()] = delivery_keys!(
    [
        "processed",
        "duplicate",
        "in_flight",
        "rejected",
        "unavailable",
        "failed",
        "queued"
    ],
    [
        "push.completed",
        "push.failed",
        "device.connected",
        "device.reconnected",
        "device.disconnected",
        "other",
        "none"
    ]
);

/// The slot of `amps_webhooks_handler_duration_seconds{outcome=processed}`.
#[cfg(any(feature = "axum", feature = "actix"))]
pub(super) const HANDLER_PROCESSED: usize = 0;
/// The slot of `amps_webhooks_handler_duration_seconds{outcome=failed}`.
#[cfg(any(feature = "axum", feature = "actix"))]
pub(super) const HANDLER_FAILED: usize = 1;
/// The slot of `amps_webhooks_verification_duration_seconds`.
#[cfg(any(feature = "axum", feature = "actix"))]
pub(super) const VERIFICATION: usize = 2;
/// The slot of `amps_webhooks_arrival_lag_seconds{direction=behind}`.
#[cfg(any(feature = "axum", feature = "actix"))]
pub(super) const LAG_BEHIND: usize = 3;
/// The slot of `amps_webhooks_arrival_lag_seconds{direction=ahead}`.
#[cfg(any(feature = "axum", feature = "actix"))]
pub(super) const LAG_AHEAD: usize = 4;
/// The first slot of the store operations' durations: three per store, in the order of
/// [`TIMED_STORES`], by operation in the order of [`OPERATIONS`]; then `claim_in`.
const STORE_SLOTS: usize = 5;
/// The stores whose operations are timed, with a slot each.
const TIMED_STORES: [&str; 3] = ["redis", "postgres", "sqlite"];
/// The store operations with a slot for each timed store.
const OPERATIONS: [&str; 3] = ["claim", "complete", "release"];
/// The slot of `PostgresInbox`'s `claim_in`.
const POSTGRES_CLAIM_IN: usize = STORE_SLOTS + TIMED_STORES.len() * OPERATIONS.len();

/// The histograms' keys, by slot.
static HISTOGRAM_KEYS: [&Key; POSTGRES_CLAIM_IN + 1] = [
    static_key!(HANDLER_DURATION, "outcome" => "processed"),
    static_key!(HANDLER_DURATION, "outcome" => "failed"),
    static_key!(VERIFICATION_DURATION),
    static_key!(ARRIVAL_LAG, "direction" => "behind"),
    static_key!(ARRIVAL_LAG, "direction" => "ahead"),
    static_key!(STORE_OPERATION_DURATION, "store" => "redis", "operation" => "claim"),
    static_key!(STORE_OPERATION_DURATION, "store" => "redis", "operation" => "complete"),
    static_key!(STORE_OPERATION_DURATION, "store" => "redis", "operation" => "release"),
    static_key!(STORE_OPERATION_DURATION, "store" => "postgres", "operation" => "claim"),
    static_key!(STORE_OPERATION_DURATION, "store" => "postgres", "operation" => "complete"),
    static_key!(STORE_OPERATION_DURATION, "store" => "postgres", "operation" => "release"),
    static_key!(STORE_OPERATION_DURATION, "store" => "sqlite", "operation" => "claim"),
    static_key!(STORE_OPERATION_DURATION, "store" => "sqlite", "operation" => "complete"),
    static_key!(STORE_OPERATION_DURATION, "store" => "sqlite", "operation" => "release"),
    static_key!(STORE_OPERATION_DURATION, "store" => "postgres", "operation" => "claim_in"),
];

/// The slot of a store operation's duration; `None` for a store or an operation without one.
pub(super) fn store_slot(store: &str, operation: &str) -> Option<usize> {
    if (store, operation) == ("postgres", "claim_in") {
        return Some(POSTGRES_CLAIM_IN);
    }
    let store = TIMED_STORES.iter().position(|known| *known == store)?;
    let operation = OPERATIONS.iter().position(|known| *known == operation)?;
    Some(STORE_SLOTS + store * OPERATIONS.len() + operation)
}

/// The global recorder's handles, each registered the first time it is recorded through.
struct Table {
    /// The global recorder's address.
    recorder: usize,
    #[cfg(any(feature = "axum", feature = "actix"))]
    deliveries: [[OnceLock<Counter>; EVENT_TYPES.len()]; OUTCOMES.len()],
    histograms: [OnceLock<Histogram>; HISTOGRAM_KEYS.len()],
}

static TABLE: OnceLock<Table> = OnceLock::new();

/// A recorder's address; `None` for a zero-sized one (any number of those share an address).
fn address(recorder: &dyn Recorder) -> Option<usize> {
    (size_of_val(recorder) > 0).then(|| std::ptr::from_ref(recorder).cast::<()>().addr())
}

/// The table, when `recorder` is the one it was resolved against.
fn table_of(recorder: &dyn Recorder) -> Option<&'static Table> {
    TABLE
        .get()
        .filter(|table| address(recorder) == Some(table.recorder))
}

/// Makes the table, once the global recorder is installed (until then, and after, it does
/// nothing). Only a new thread is sure to have no local recorder: the recorder it sees is the
/// global one, or the no-op one (zero-sized) when none is installed.
pub(super) fn resolve() {
    if TABLE.get().is_some() {
        return;
    }
    let global = std::thread::scope(|scope| {
        let probe = std::thread::Builder::new()
            .name("amps-webhooks-metrics".to_owned())
            .spawn_scoped(scope, || metrics::with_recorder(address));
        // A thread that cannot be started leaves the table unmade: every metric is then looked
        // up as it is recorded.
        probe.ok()?.join().ok().flatten()
    });
    if let Some(recorder) = global {
        // Another thread may have made it first, for the same (the one) global recorder.
        let _ = TABLE.set(Table {
            recorder,
            #[cfg(any(feature = "axum", feature = "actix"))]
            deliveries: [const { [const { OnceLock::new() }; EVENT_TYPES.len()] }; OUTCOMES.len()],
            histograms: [const { OnceLock::new() }; HISTOGRAM_KEYS.len()],
        });
    }
}

/// Counts one delivery with the outcome and event type at those indexes of [`OUTCOMES`] and
/// [`EVENT_TYPES`].
#[cfg(any(feature = "axum", feature = "actix"))]
pub(super) fn count_delivery(outcome: usize, event_type: usize) {
    let key = DELIVERY_KEYS[outcome][event_type];
    metrics::with_recorder(|recorder| match table_of(recorder) {
        Some(table) => table.deliveries[outcome][event_type]
            .get_or_init(|| recorder.register_counter(key, &METADATA))
            .increment(1),
        None => recorder.register_counter(key, &METADATA).increment(1),
    });
}

/// Records `value` in the histogram of `slot` (one of this module's slot constants, or a
/// [`store_slot`]).
pub(super) fn record(slot: usize, value: f64) {
    let key = HISTOGRAM_KEYS[slot];
    metrics::with_recorder(|recorder| match table_of(recorder) {
        Some(table) => table.histograms[slot]
            .get_or_init(|| recorder.register_histogram(key, &METADATA))
            .record(value),
        None => recorder.register_histogram(key, &METADATA).record(value),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(key: &Key) -> Vec<(String, String)> {
        key.labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect()
    }

    #[cfg(any(feature = "axum", feature = "actix"))]
    #[test]
    fn the_delivery_keys_are_in_the_orders_of_their_labels() {
        for (o, outcome) in OUTCOMES.iter().enumerate() {
            for (t, event_type) in EVENT_TYPES.iter().enumerate() {
                let key = DELIVERY_KEYS[o][t];
                assert_eq!(key.name(), DELIVERIES);
                assert_eq!(
                    labels(key),
                    [
                        ("outcome".to_owned(), (*outcome).to_owned()),
                        ("event_type".to_owned(), (*event_type).to_owned())
                    ]
                );
            }
        }
        assert_eq!(&EVENT_TYPES[..OTHER], super::super::KNOWN_EVENT_TYPES);
        assert_eq!((EVENT_TYPES[OTHER], EVENT_TYPES[NONE]), ("other", "none"));
    }

    #[test]
    fn every_store_slot_has_its_stores_key() {
        for store in TIMED_STORES {
            for operation in OPERATIONS {
                let key = HISTOGRAM_KEYS[store_slot(store, operation).unwrap()];
                assert_eq!(
                    (key.name(), labels(key)),
                    (
                        STORE_OPERATION_DURATION,
                        vec![
                            ("store".to_owned(), store.to_owned()),
                            ("operation".to_owned(), operation.to_owned())
                        ]
                    )
                );
            }
        }
        let claim_in = HISTOGRAM_KEYS[store_slot("postgres", "claim_in").unwrap()];
        assert_eq!(labels(claim_in)[1].1, "claim_in");
        assert_eq!(store_slot("memory", "claim"), None);
        assert_eq!(store_slot("custom", "claim"), None);
        assert_eq!(store_slot("redis", "claim_in"), None);
    }

    #[cfg(any(feature = "axum", feature = "actix"))]
    #[test]
    fn the_named_slots_have_their_keys() {
        let named = |slot: usize| {
            let key = HISTOGRAM_KEYS[slot];
            (key.name(), labels(key))
        };
        let label = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert_eq!(
            [
                named(HANDLER_PROCESSED),
                named(HANDLER_FAILED),
                named(VERIFICATION),
                named(LAG_BEHIND),
                named(LAG_AHEAD)
            ],
            [
                (HANDLER_DURATION, label("outcome", "processed")),
                (HANDLER_DURATION, label("outcome", "failed")),
                (VERIFICATION_DURATION, vec![]),
                (ARRIVAL_LAG, label("direction", "behind")),
                (ARRIVAL_LAG, label("direction", "ahead")),
            ]
        );
    }

    #[test]
    fn a_zero_sized_recorder_has_no_address_and_the_table_is_not_its() {
        assert_eq!(address(&metrics::NoopRecorder), None);
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        assert!(address(&recorder).is_some());
        // No global recorder in these tests: the table is never made for a local one.
        metrics::with_local_recorder(&recorder, resolve);
        assert!(TABLE.get().is_none());
    }
}
