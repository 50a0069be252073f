//! The store layer's `tracing` events: a duplicate, an in-flight conflict and a store error each
//! leave one event with the namespace and key, and nothing of the body.
// The capturing subscriber is not a test: clippy.toml's test allowances do not reach it.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amps_webhooks::MockClock;
use amps_webhooks::store::{Deduplicated, Deduplicator, IdempotencyStore, MemoryStore};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Keeps each event as `LEVEL field=value ...`.
#[derive(Default, Clone)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = event.metadata().level().to_string();
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn duplicates_conflicts_and_store_errors_are_traced() {
    let capture = Capture::default();
    let lines = Arc::clone(&capture.0);
    tracing::subscriber::with_default(capture, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let store = Arc::new(
            MemoryStore::builder()
                .capacity(1)
                .shards(1)
                .clock(MockClock::at_unix(1_000))
                .build(),
        );
        let dedup = Deduplicator::new(Arc::clone(&store) as Arc<dyn IdempotencyStore>, "orders")
            .unwrap()
            .with_lease(Duration::from_secs(60));
        runtime.block_on(async {
            let body = "secret-body-content";
            assert!(
                dedup
                    .run_key("evt_1", || async { Ok::<_, ()>(body.len()) })
                    .await
                    .is_processed()
            );
            assert!(
                dedup
                    .run_key("evt_1", || async { Ok::<_, ()>(0) })
                    .await
                    .is_duplicate()
            );
            // Hold evt_2: the one-record store is then full of a live claim.
            let held = dedup.claim("evt_2").await;
            assert!(matches!(
                dedup.run_key("evt_2", || async { Ok::<_, ()>(0) }).await,
                Deduplicated::InFlight { .. }
            ));
            assert!(matches!(
                dedup.run_key("evt_3", || async { Ok::<_, ()>(0) }).await,
                Deduplicated::StoreUnavailable(_)
            ));
            drop(held);
        });
    });
    let lines = lines.lock().unwrap();
    let find = |needle: &str| {
        lines
            .iter()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no event with {needle:?} in {lines:#?}"))
            .clone()
    };
    let duplicate = find("duplicate of a completed event");
    assert!(duplicate.starts_with("INFO") && duplicate.contains("namespace=orders key=evt_1"));
    let in_flight = find("in flight in another worker");
    assert!(
        in_flight.starts_with("WARN")
            && in_flight.contains("key=evt_2")
            && in_flight.contains("retry_after_ms=60000")
    );
    let failure = find("failed on claim");
    assert!(
        failure.starts_with("ERROR")
            && failure.contains("key=evt_3")
            && failure.contains("full of live claims")
    );
    assert!(
        lines
            .iter()
            .all(|line| !line.contains("secret-body-content"))
    );
}
