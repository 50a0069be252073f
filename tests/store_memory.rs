//! The conformance suite and the memory store's own checks: time is a `MockClock`.

// The helpers are not tests: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "store_common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::store::{
    Claim, Deduplicated, Deduplicator, IdempotencyStore, MemoryStore, StoreError,
};
use amps_webhooks::{MockClock, Secret, Signer, Verifier};
use common::Harness;

fn store_with_clock(capacity: usize) -> (Arc<MemoryStore>, MockClock) {
    let clock = MockClock::at_unix(1_700_000_000);
    let store = MemoryStore::builder()
        .capacity(capacity)
        .clock(clock.clone())
        .build();
    (Arc::new(store), clock)
}

async fn harness() -> Harness {
    let (store, clock) = store_with_clock(100_000);
    Harness {
        store,
        advance: Arc::new(move |by| {
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: Duration::from_secs(60),
        retention: Duration::from_secs(72 * 3600),
        namespace: "memory-test".to_owned(),
    }
}

conformance_tests!(harness());

#[tokio::test]
async fn run_takes_the_key_from_a_verified_event() {
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = br#"{"event":"push.completed","eventId":"evt_42","data":{}}"#;
    let clock = MockClock::at_unix(1_700_000_000);
    let signed = Signer::new(secret.clone())
        .sign("msg_1", 1_700_000_000, body)
        .unwrap();
    let verifier = Verifier::builder()
        .secret(secret)
        .clock(clock)
        .build()
        .unwrap();
    let headers = signed.webhook_headers();
    let event = verifier
        .verify(&headers[..], body)
        .unwrap()
        .parse::<serde_json::Value>()
        .unwrap();
    let (store, _clock) = store_with_clock(16);
    let dedup = Deduplicator::new(store.clone(), "orders").unwrap();
    let outcome = dedup.run(&event, || async { Ok::<_, ()>("done") }).await;
    assert!(matches!(outcome, Deduplicated::Processed("done")));
    // The body's eventId is the key, namespaced.
    assert_eq!(
        store.claim_now("orders:k:evt_42", dedup.lease()).unwrap(),
        Claim::Completed
    );
    assert!(
        dedup
            .run(&event, || async { Ok::<_, ()>("again") })
            .await
            .is_duplicate()
    );
}

#[tokio::test]
async fn full_of_live_claims_fails_closed_and_never_runs_the_handler() {
    let clock = MockClock::at_unix(1_000);
    let store = Arc::new(
        MemoryStore::builder()
            .capacity(4)
            .shards(1)
            .clock(clock.clone())
            .build(),
    );
    let dedup = Deduplicator::new(store.clone(), "ns").unwrap();
    for key in ["a", "b", "c", "d"] {
        let _held = store
            .claim_now(&dedup.storage_key(key), dedup.lease())
            .unwrap();
    }
    let outcome = dedup
        .run_key("e", || async {
            panic!("must not run without a claim") as Result<(), ()>
        })
        .await;
    match outcome {
        Deduplicated::StoreUnavailable(
            error @ StoreError::CapacityExhausted { shard_capacity: 4 },
        ) => {
            assert!(error.is_unavailable());
        }
        other => panic!("expected CapacityExhausted, got {other:?}"),
    }
    // Once the leases run out, the room is there again.
    clock.advance(dedup.lease());
    assert!(
        dedup
            .run_key("e", || async { Ok::<_, ()>(()) })
            .await
            .is_processed()
    );
}

#[tokio::test]
async fn evictions_are_counted_and_forget_completions() {
    let clock = MockClock::at_unix(1_000);
    let store = Arc::new(
        MemoryStore::builder()
            .capacity(8)
            .shards(1)
            .clock(clock)
            .build(),
    );
    let dedup = Deduplicator::new(store.clone(), "ns").unwrap();
    for i in 0..20 {
        assert!(
            dedup
                .run_key(&format!("evt-{i}"), || async { Ok::<_, ()>(()) })
                .await
                .is_processed()
        );
    }
    assert_eq!(store.evictions(), 12);
    assert_eq!(store.len(), 8);
    // The most recent 8 are remembered; the oldest was forgotten.
    assert!(
        dedup
            .run_key("evt-19", || async { Ok::<_, ()>(()) })
            .await
            .is_duplicate()
    );
    assert!(
        dedup
            .run_key("evt-0", || async { Ok::<_, ()>(()) })
            .await
            .is_processed()
    );
}

#[test]
fn invalid_namespaces_are_refused() {
    let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryStore::new(10));
    for namespace in ["", "a:b", "with space", "{tag}", &"n".repeat(65)] {
        assert!(matches!(
            Deduplicator::new(Arc::clone(&store), namespace),
            Err(StoreError::InvalidNamespace { len }) if len == namespace.len()
        ));
    }
    let dedup = Deduplicator::new(store, "tenant-1/orders.v2").unwrap();
    assert_eq!(dedup.lease(), Duration::from_secs(60));
    assert_eq!(dedup.retention(), Duration::from_secs(72 * 3600));
    assert_eq!(dedup.namespace(), "tenant-1/orders.v2");
}

#[test]
fn sharded_store_serves_threads_without_a_runtime() {
    let store = Arc::new(MemoryStore::builder().capacity(100_000).shards(16).build());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..5_000 {
                    let key = format!("t{t}-{i}");
                    let Ok(Claim::Acquired(token)) = store.claim_now(&key, Duration::from_secs(60))
                    else {
                        panic!("fresh key {key} not acquired")
                    };
                    store
                        .complete_now(&key, token, Duration::from_secs(60))
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(store.len(), 20_000);
    assert_eq!(store.evictions(), 0);
}

/// Web frameworks spawn handlers on multi-threaded runtimes: every future the deduplicator
/// returns must be `Send` when the handler's is.
#[test]
fn deduplicator_futures_are_send() {
    fn assert_send<T: Send>(value: T) -> T {
        value
    }
    let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryStore::new(10));
    let dedup = Deduplicator::new(store, "ns").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let outcome = runtime.block_on(assert_send(
        dedup.run_key("evt", || async { Ok::<_, ()>(1) }),
    ));
    assert!(matches!(outcome, Deduplicated::Processed(1)));
    let claimed = runtime.block_on(assert_send(dedup.claim("evt-2")));
    let amps_webhooks::store::Admission::Acquired(guard) = claimed else {
        panic!("expected Acquired")
    };
    runtime.block_on(assert_send(guard.complete())).unwrap();
    assert!(matches!(
        runtime.block_on(dedup.claim("evt-2")),
        amps_webhooks::store::Admission::Duplicate
    ));
}

/// Polls a future once: the memory store's are ready at once.
fn at_once<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    match std::pin::pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the memory store never waits"),
    }
}

/// Through the trait object, as the `Deduplicator` calls it: a claim and its completion
/// allocate nothing (the answers are `StoreFuture::ready`, never boxed).
#[test]
fn claim_and_complete_through_the_trait_do_not_allocate() {
    let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryStore::builder().capacity(64).build());
    let keys: Vec<String> = (0..4).map(|i| format!("ns:k:evt_{i}")).collect();
    let lease = Duration::from_secs(60);
    // Warm up once, so that the shard's first records are in place.
    let Ok(Claim::Acquired(token)) = at_once(store.claim(&keys[0], lease)) else {
        panic!("a fresh key is acquired")
    };
    at_once(store.complete(&keys[0], token, lease)).unwrap();
    let mut answers = Vec::with_capacity(keys.len());
    let counts = allocation_counter::measure(|| {
        for key in &keys[1..] {
            let claim = at_once(store.claim(key, lease));
            let completed = match claim {
                Ok(Claim::Acquired(token)) => at_once(store.complete(key, token, lease)),
                Ok(other) => panic!("expected Acquired, got {other:?}"),
                Err(error) => Err(error),
            };
            answers.push(completed.is_ok());
        }
    });
    assert_eq!(answers, [true, true, true]);
    assert_eq!(counts.count_total, 0, "{counts:?}");
    assert_eq!(
        at_once(store.claim(&keys[3], lease)).unwrap(),
        Claim::Completed
    );
}
