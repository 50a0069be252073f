//! The store conformance suite: every [`IdempotencyStore`] must pass it. A store's test file
//! builds a [`Harness`] and expands [`conformance_tests!`] with it.
#![allow(dead_code, unreachable_pub, missing_docs)]
// Helpers of tests, not tests themselves: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amps_webhooks::store::{
    Admission, Claim, ClaimToken, Deduplicated, Deduplicator, IdempotencyStore, StoreError,
};

pub type Advance = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A store under test, with a way to move its time forward and the durations to use.
#[derive(Clone)]
pub struct Harness {
    pub store: Arc<dyn IdempotencyStore>,
    /// Moves the store's time forward (a `MockClock` for memory, a real sleep for Redis).
    pub advance: Advance,
    /// A lease long enough for a step of a test, short enough to wait out.
    pub lease: Duration,
    /// A retention likewise.
    pub retention: Duration,
    /// A namespace of this test alone: its keys do not meet those of another test on the same
    /// store.
    pub namespace: String,
}

impl Harness {
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.namespace)
    }

    pub async fn advance(&self, by: Duration) {
        (self.advance)(by).await;
    }

    /// Past the lease by a margin that absorbs a real clock's granularity.
    pub async fn outlive_lease(&self) {
        self.advance(self.lease + self.lease / 2).await;
    }

    pub async fn outlive_retention(&self) {
        self.advance(self.retention + self.retention / 2).await;
    }

    /// A deduplicator whose lease no test outlives: only a release can free its claims, so a
    /// test that sees a claim freed knows the release did it.
    pub fn dedup(&self, namespace: &str) -> Deduplicator {
        Deduplicator::new(Arc::clone(&self.store), namespace)
            .unwrap()
            .with_lease(Duration::from_secs(120))
            .with_retention(Duration::from_secs(600))
    }

    pub async fn acquire(&self, key: &str) -> ClaimToken {
        match self.store.claim(key, self.lease).await {
            Ok(Claim::Acquired(token)) => token,
            other => panic!("expected Acquired for {key}, got {other:?}"),
        }
    }

    pub async fn claim(&self, key: &str) -> Claim {
        self.store.claim(key, self.lease).await.unwrap()
    }
}

/// Expands to one `#[tokio::test]` per conformance check. `$harness` is an async expression
/// giving the [`Harness`] (it panics, saying why, when its store cannot be reached); the
/// attributes after it go on every test (`#[ignore = "needs Redis at 127.0.0.1:6379"]`).
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::conformance_tests!(@each [$(#[$attr])*] $harness;
            claim_complete_then_duplicate,
            in_flight_duplicate,
            release_then_reclaim,
            lease_expiry_then_takeover,
            stale_token_refused_on_complete,
            stale_token_refused_on_release,
            lapsed_claim_can_still_complete,
            release_of_unknown_key_is_a_no_op,
            retention_expiry,
            namespaces_isolate,
            plain_keys_never_meet_hashed_ones,
            run_processes_once,
            run_releases_on_failure,
            run_releases_on_panic,
            run_releases_when_dropped,
            guard_complete_and_drop,
            racing_claims_one_winner,
            exactly_once_under_redelivery,
        );
    };
    (@each $attrs:tt $harness:expr; $($name:ident),+ $(,)?) => {
        $( $crate::conformance_tests!(@one $attrs $harness; $name); )+
    };
    (@one [$($attr:tt)*] $harness:expr; $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        $($attr)*
        async fn $name() {
            common::$name($harness.await).await;
        }
    };
}

pub async fn claim_complete_then_duplicate(h: Harness) {
    let key = h.key("a");
    let token = h.acquire(&key).await;
    h.store.complete(&key, token, h.retention).await.unwrap();
    assert_eq!(h.claim(&key).await, Claim::Completed);
    assert_eq!(h.claim(&key).await, Claim::Completed);
}

pub async fn in_flight_duplicate(h: Harness) {
    let key = h.key("a");
    h.acquire(&key).await;
    match h.claim(&key).await {
        Claim::InFlight { retry_after } => {
            assert!(
                retry_after > Duration::ZERO && retry_after <= h.lease,
                "{retry_after:?}"
            );
        }
        other => panic!("expected InFlight, got {other:?}"),
    }
}

pub async fn release_then_reclaim(h: Harness) {
    let key = h.key("a");
    let first = h.acquire(&key).await;
    h.store.release(&key, first).await.unwrap();
    let second = h.acquire(&key).await;
    assert_ne!(first, second);
    // Releasing twice is a no-op the second time, not an error.
    h.store.release(&key, second).await.unwrap();
    h.store.release(&key, second).await.unwrap();
}

pub async fn lease_expiry_then_takeover(h: Harness) {
    let key = h.key("a");
    let first = h.acquire(&key).await;
    h.outlive_lease().await;
    let second = h.acquire(&key).await;
    assert_ne!(first, second);
    assert!(matches!(h.claim(&key).await, Claim::InFlight { .. }));
}

pub async fn stale_token_refused_on_complete(h: Harness) {
    let key = h.key("a");
    let first = h.acquire(&key).await;
    h.outlive_lease().await;
    let second = h.acquire(&key).await;
    assert!(matches!(
        h.store.complete(&key, first, h.retention).await,
        Err(StoreError::StaleToken)
    ));
    // The newer claim is untouched: still in flight, and its owner completes it.
    assert!(matches!(h.claim(&key).await, Claim::InFlight { .. }));
    h.store.complete(&key, second, h.retention).await.unwrap();
    assert_eq!(h.claim(&key).await, Claim::Completed);
    // A token whose event is completed cannot release the record either.
    assert!(matches!(
        h.store.release(&key, second).await,
        Err(StoreError::StaleToken)
    ));
    assert_eq!(h.claim(&key).await, Claim::Completed);
}

pub async fn stale_token_refused_on_release(h: Harness) {
    let key = h.key("a");
    let first = h.acquire(&key).await;
    h.outlive_lease().await;
    let _second = h.acquire(&key).await;
    assert!(matches!(
        h.store.release(&key, first).await,
        Err(StoreError::StaleToken)
    ));
    assert!(matches!(h.claim(&key).await, Claim::InFlight { .. }));
}

pub async fn lapsed_claim_can_still_complete(h: Harness) {
    // Nobody claimed since the lease ran out: the record is kept rather than lost.
    let key = h.key("a");
    let token = h.acquire(&key).await;
    h.outlive_lease().await;
    h.store.complete(&key, token, h.retention).await.unwrap();
    assert_eq!(h.claim(&key).await, Claim::Completed);
}

pub async fn release_of_unknown_key_is_a_no_op(h: Harness) {
    let key = h.key("never-claimed");
    h.store
        .release(&key, ClaimToken::from_u128(7))
        .await
        .unwrap();
    h.acquire(&key).await;
}

pub async fn retention_expiry(h: Harness) {
    let key = h.key("a");
    let token = h.acquire(&key).await;
    h.store.complete(&key, token, h.retention).await.unwrap();
    assert_eq!(h.claim(&key).await, Claim::Completed);
    h.outlive_retention().await;
    h.acquire(&key).await;
}

pub async fn namespaces_isolate(h: Harness) {
    let ns_a = format!("{}-a", h.namespace);
    let ns_b = format!("{}-b", h.namespace);
    let (a, b) = (h.dedup(&ns_a), h.dedup(&ns_b));
    let runs = AtomicUsize::new(0);
    let handler = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(())
    };
    assert!(matches!(
        a.run_key("evt_1", handler).await,
        Deduplicated::Processed(())
    ));
    assert!(matches!(
        b.run_key("evt_1", handler).await,
        Deduplicated::Processed(())
    ));
    assert!(matches!(
        a.run_key("evt_1", handler).await,
        Deduplicated::Duplicate
    ));
    assert!(matches!(
        b.run_key("evt_1", handler).await,
        Deduplicated::Duplicate
    ));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(a.storage_key("evt_1"), format!("{ns_a}:k:evt_1"));
}

/// A plain key that spells another key's hashed form is stored apart from it: both run.
pub async fn plain_keys_never_meet_hashed_ones(h: Harness) {
    let dedup = h.dedup(&h.namespace);
    let long = "x".repeat(201);
    let hashed = dedup.storage_key(&long);
    // What follows `namespace:` in the hashed form, given as a key of its own.
    let spelled = &hashed[h.namespace.len() + 1..];
    assert_ne!(dedup.storage_key(spelled), hashed);
    assert!(matches!(
        dedup.run_key(&long, || async { Ok::<_, ()>(1) }).await,
        Deduplicated::Processed(1)
    ));
    assert!(matches!(
        dedup.run_key(spelled, || async { Ok::<_, ()>(2) }).await,
        Deduplicated::Processed(2)
    ));
    assert!(matches!(
        dedup.run_key(&long, || async { Ok::<_, ()>(3) }).await,
        Deduplicated::Duplicate
    ));
}

async fn must_not_run() -> Result<(), String> {
    panic!("a duplicate must not run")
}

pub async fn run_processes_once(h: Harness) {
    let dedup = h.dedup(&h.namespace);
    let outcome = dedup
        .run_key("evt_1", || async { Ok::<_, String>(41 + 1) })
        .await;
    assert!(matches!(outcome, Deduplicated::Processed(42)));
    let outcome = dedup.run_key("evt_1", must_not_run).await;
    assert!(matches!(outcome, Deduplicated::Duplicate));
    // A long or binary key is stored by its hash, and still deduplicated.
    let long = "é".repeat(500);
    assert!(dedup.storage_key(&long).contains(":h:"));
    assert!(
        dedup
            .run_key(&long, || async { Ok::<_, ()>(()) })
            .await
            .is_processed()
    );
    assert!(
        dedup
            .run_key(&long, || async { Ok::<_, ()>(()) })
            .await
            .is_duplicate()
    );
}

pub async fn run_releases_on_failure(h: Harness) {
    let dedup = h.dedup(&h.namespace);
    let outcome = dedup
        .run_key("evt_1", || async { Err::<(), _>("handler failed") })
        .await;
    assert!(matches!(outcome, Deduplicated::Failed("handler failed")));
    // Released at once: the retry runs it, no waiting for the lease.
    let outcome = dedup.run_key("evt_1", || async { Ok::<_, ()>(7) }).await;
    assert!(matches!(outcome, Deduplicated::Processed(7)));
}

/// Claims `key` until it is acquired: a detached release (a spawned task for a networked store)
/// lands a moment after the drop. Gives up after 10 s, long before the lease would free it.
async fn claim_after_detached_release(dedup: &Deduplicator, key: &str) {
    for _ in 0..2_000 {
        match dedup.claim(key).await {
            Admission::Acquired(guard) => {
                guard.release().await.unwrap();
                return;
            }
            Admission::InFlight { .. } => tokio::time::sleep(Duration::from_millis(5)).await,
            other => panic!("expected the claim to be released, got {other:?}"),
        }
    }
    panic!("the dropped claim on {key} was not released");
}

pub async fn run_releases_on_panic(h: Harness) {
    let dedup = h.dedup(&h.namespace);
    let task = {
        let dedup = dedup.clone();
        tokio::spawn(async move {
            dedup
                .run_key("evt_1", || async {
                    let panics = true;
                    if panics {
                        panic!("handler panicked");
                    }
                    Ok::<(), ()>(())
                })
                .await
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    claim_after_detached_release(&dedup, "evt_1").await;
}

pub async fn run_releases_when_dropped(h: Harness) {
    let dedup = h.dedup(&h.namespace);
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let task = {
        let dedup = dedup.clone();
        tokio::spawn(async move {
            dedup
                .run_key("evt_1", || async move {
                    started_tx.send(()).unwrap();
                    std::future::pending::<Result<(), ()>>().await
                })
                .await
        })
    };
    started_rx.await.unwrap();
    assert!(matches!(
        dedup.run_key("evt_1", || async { Ok::<_, ()>(()) }).await,
        Deduplicated::InFlight { .. }
    ));
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    claim_after_detached_release(&dedup, "evt_1").await;
}

pub async fn guard_complete_and_drop(h: Harness) {
    let dedup = h.dedup(&h.namespace);
    let Admission::Acquired(guard) = dedup.claim("evt_1").await else {
        panic!("expected Acquired")
    };
    assert_eq!(guard.key(), dedup.storage_key("evt_1"));
    assert!(matches!(
        dedup.claim("evt_1").await,
        Admission::InFlight { .. }
    ));
    guard.complete().await.unwrap();
    assert!(matches!(dedup.claim("evt_1").await, Admission::Duplicate));

    let Admission::Acquired(guard) = dedup.claim("evt_2").await else {
        panic!("expected Acquired")
    };
    drop(guard);
    claim_after_detached_release(&dedup, "evt_2").await;
}

pub async fn racing_claims_one_winner(h: Harness) {
    let key = Arc::new(h.key("contended"));
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (store, key, barrier, lease) = (
                Arc::clone(&h.store),
                Arc::clone(&key),
                Arc::clone(&barrier),
                h.lease,
            );
            tokio::spawn(async move {
                barrier.wait().await;
                store.claim(&key, lease).await.unwrap()
            })
        })
        .collect();
    let (mut acquired, mut in_flight) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Claim::Acquired(_) => acquired += 1,
            Claim::InFlight { .. } => in_flight += 1,
            Claim::Completed => panic!("nothing completed this key"),
        }
    }
    assert_eq!((acquired, in_flight), (1, 63));
}

/// A small deterministic generator (splitmix64), so that a failure can be replayed.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub const EVENTS: usize = 10_000;
pub const WORKERS: usize = 16;

/// 10,000 events, 30 % of them delivered twice, handlers failing 20 % of the time, 16 workers;
/// every unacknowledged delivery is redelivered until all are acknowledged. Each event's effect
/// must be applied exactly once.
pub async fn exactly_once_under_redelivery(h: Harness) {
    // A lease no run will outlive, so that only failures and duplicates are exercised here.
    let dedup = Deduplicator::new(Arc::clone(&h.store), &h.namespace)
        .unwrap()
        .with_lease(Duration::from_secs(120))
        .with_retention(Duration::from_secs(600));
    let mut deliveries: Vec<usize> = (0..EVENTS).collect();
    deliveries.extend((0..EVENTS).filter(|&i| mix(i as u64) % 100 < 30));
    // Shuffle (Fisher-Yates) so that duplicates arrive both soon and late.
    for i in (1..deliveries.len()).rev() {
        let j = (mix(1_000_000 + i as u64) % (i as u64 + 1)) as usize;
        deliveries.swap(i, j);
    }
    let total = deliveries.len();
    let queue = Arc::new(Mutex::new(deliveries.into_iter().collect::<VecDeque<_>>()));
    let outstanding = Arc::new(AtomicUsize::new(total));
    let effects: Arc<Vec<AtomicU64>> = Arc::new((0..EVENTS).map(|_| AtomicU64::new(0)).collect());
    let attempts = Arc::new(AtomicU64::new(0));
    let stats = Arc::new([const { AtomicUsize::new(0) }; 5]);

    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (dedup, queue, outstanding, effects, attempts, stats) = (
                dedup.clone(),
                Arc::clone(&queue),
                Arc::clone(&outstanding),
                Arc::clone(&effects),
                Arc::clone(&attempts),
                Arc::clone(&stats),
            );
            tokio::spawn(async move {
                while outstanding.load(Ordering::SeqCst) > 0 {
                    let next = queue.lock().unwrap().pop_front();
                    let Some(event) = next else {
                        tokio::task::yield_now().await;
                        continue;
                    };
                    let attempt = attempts.fetch_add(1, Ordering::SeqCst);
                    let effects = Arc::clone(&effects);
                    let outcome = dedup
                        .run_key(&format!("evt-{event}"), || async move {
                            tokio::task::yield_now().await;
                            if mix(attempt ^ 0xABCD) % 100 < 20 {
                                return Err("transient failure");
                            }
                            effects[event].fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .await;
                    let slot = match outcome {
                        Deduplicated::Processed(()) => 0,
                        Deduplicated::Duplicate => 1,
                        Deduplicated::Failed(_) => 2,
                        Deduplicated::InFlight { .. } => 3,
                        other => panic!("unexpected outcome {other:?}"),
                    };
                    stats[slot].fetch_add(1, Ordering::SeqCst);
                    if slot <= 1 {
                        outstanding.fetch_sub(1, Ordering::SeqCst);
                    } else {
                        // Not acknowledged: the sender delivers it again, later.
                        queue.lock().unwrap().push_back(event);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let wrong: Vec<_> = effects
        .iter()
        .enumerate()
        .filter(|(_, count)| count.load(Ordering::SeqCst) != 1)
        .map(|(event, count)| (event, count.load(Ordering::SeqCst)))
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "events not applied exactly once: {wrong:?}"
    );
    let [processed, duplicates, failed, _in_flight, _] =
        std::array::from_fn(|i| stats[i].load(Ordering::SeqCst));
    assert_eq!(processed, EVENTS);
    assert_eq!(processed + duplicates, total);
    assert!(failed > EVENTS / 10, "failures exercised: {failed}");
    assert!(
        duplicates > EVENTS / 5,
        "duplicates exercised: {duplicates}"
    );
    assert!(queue.lock().unwrap().is_empty());
}
