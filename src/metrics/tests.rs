//! The recording functions, under a debugging recorder.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};

use super::*;

/// Every metric recorded under `record`, as `(kind, name, labels, value)`, sorted.
fn recorded(record: impl FnOnce()) -> Vec<(MetricKind, String, Vec<String>, DebugValue)> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, record);
    let mut all: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value): (CompositeKey, _, _, _)| {
            let (kind, key) = key.into_parts();
            let labels = key.labels().map(|l| format!("{}={}", l.key(), l.value()));
            (kind, key.name().to_owned(), labels.collect(), value)
        })
        .collect();
    all.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
    all
}

fn labels(pairs: &[&str]) -> Vec<String> {
    pairs.iter().map(|&p| p.to_owned()).collect()
}

#[test]
#[cfg(any(feature = "axum", feature = "actix"))]
fn event_types_are_bounded() {
    assert_eq!(event_type_label(Some("push.failed")), "push.failed");
    assert_eq!(
        event_type_label(Some("device.disconnected")),
        "device.disconnected"
    );
    assert_eq!(event_type_label(Some("evt_123-looks-like-an-id")), "other");
    assert_eq!(event_type_label(Some("")), "other");
    assert_eq!(event_type_label(None), "none");
}

#[test]
#[cfg(any(feature = "axum", feature = "actix"))]
fn the_lag_is_positive_with_its_direction() {
    let at = |secs| std::time::UNIX_EPOCH + Duration::from_millis(secs);
    let all = recorded(|| {
        arrival(at(1_000_500), 998);
        arrival(at(1_000_000), 1_000);
        arrival(at(1_000_000), 1_004);
    });
    assert_eq!(
        all,
        vec![
            (
                MetricKind::Histogram,
                ARRIVAL_LAG.to_owned(),
                labels(&["direction=ahead"]),
                DebugValue::Histogram(vec![4.0.into()])
            ),
            (
                MetricKind::Histogram,
                ARRIVAL_LAG.to_owned(),
                labels(&["direction=behind"]),
                DebugValue::Histogram(vec![2.5.into(), 0.0.into()])
            ),
        ]
    );
}

/// What the queue records, through the functions it calls.
#[test]
fn the_queue_metrics() {
    let all = recorded(|| {
        queue_depth("memory", 3, 1, 2, Some(Duration::from_millis(1_500)));
        queue_attempt("memory", Timer::start(), true);
        queue_attempt("memory", Timer::start(), false);
        queue_attempt("memory", Timer::start(), false);
        queue_dead_lettered("memory");
        queue_depth("redis", 0, 0, 0, None);
    });
    let summary: Vec<_> = all
        .into_iter()
        .map(|(kind, name, labels, value)| {
            let value = match value {
                DebugValue::Counter(n) => format!("counter {n}"),
                DebugValue::Gauge(g) => format!("gauge {g}"),
                DebugValue::Histogram(v) => format!("histogram count {}", v.len()),
            };
            (kind, format!("{name}{{{}}} {value}", labels.join(",")))
        })
        .map(|(_, line)| line)
        .collect();
    assert_eq!(
        summary,
        vec![
            "amps_webhooks_queue_attempt_duration_seconds{backend=memory,result=failed} histogram count 2",
            "amps_webhooks_queue_attempt_duration_seconds{backend=memory,result=succeeded} histogram count 1",
            "amps_webhooks_queue_attempts_total{backend=memory,result=failed} counter 2",
            "amps_webhooks_queue_attempts_total{backend=memory,result=succeeded} counter 1",
            "amps_webhooks_queue_dead_lettered_total{backend=memory} counter 1",
            "amps_webhooks_queue_jobs{backend=memory,state=dead} gauge 2",
            "amps_webhooks_queue_jobs{backend=memory,state=pending} gauge 3",
            "amps_webhooks_queue_jobs{backend=memory,state=running} gauge 1",
            "amps_webhooks_queue_jobs{backend=redis,state=dead} gauge 0",
            "amps_webhooks_queue_jobs{backend=redis,state=pending} gauge 0",
            "amps_webhooks_queue_jobs{backend=redis,state=running} gauge 0",
            "amps_webhooks_queue_oldest_pending_age_seconds{backend=memory} gauge 1.5",
            "amps_webhooks_queue_oldest_pending_age_seconds{backend=redis} gauge 0",
        ]
    );
}

#[test]
fn every_metric_is_described() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        describe();
        queue_dead_lettered("memory");
        store_operation(
            "redis",
            "claim",
            Timer::start(),
            Some(&StoreError::StaleToken),
        );
    });
    for (key, unit, description, _) in snapshotter.snapshot().into_vec() {
        assert!(description.is_some(), "{key:?}");
        let name = key.key().name();
        let expected = if name.ends_with("_seconds") {
            metrics::Unit::Seconds
        } else {
            metrics::Unit::Count
        };
        assert_eq!(unit, Some(expected), "{name}");
    }
}
