//! The queue conformance suite on Redis (`REDIS_URL`, else 127.0.0.1:6379), time a
//! `MockClock` passed to the scripts; and what only a real Redis shows: takeover by the
//! server's own clock, a take blocked on the stream woken by an enqueue, the server killed
//! and restarted.
//!
//! The tests are `#[ignore = "needs Redis at 127.0.0.1:6379"]` (the outage one needs
//! redis-server on the PATH); run them with `-- --include-ignored`.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "queue_common/mod.rs"]
mod common;
#[path = "redis_servers/mod.rs"]
mod servers;

use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::MockClock;
use amps_webhooks::queue::{Enqueue, JobState, RedisQueue};
use amps_webhooks::store::{ClaimToken, StoreError};
use common::{Harness, fresh_namespace, keys};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix of this test alone.
fn unique_prefix() -> String {
    format!(
        "amps-webhooks-test-{:012x}",
        ClaimToken::random().as_u128() as u64 >> 16
    )
}

/// The queue on `url`; a test that needs one fails, saying why, when none answers.
pub async fn connect(url: &str, clock: Option<MockClock>) -> RedisQueue {
    let mut builder = RedisQueue::builder(url)
        .prefix(unique_prefix())
        .command_timeout(Duration::from_secs(2));
    if let Some(clock) = clock {
        builder = builder.clock(Arc::new(clock));
    }
    match builder.connect().await {
        Ok(queue) => queue,
        Err(error) => panic!(
            "this test needs a Redis, and none answers at {url} ({error}): start one with `redis-server --port 6379 --save ''` or set REDIS_URL"
        ),
    }
}

/// The harness over a queue on `url` whose time is a `MockClock`.
pub async fn mock_harness(url: &str) -> Harness {
    let clock = MockClock::at_unix(1_700_000_000);
    let backend = connect(url, Some(clock.clone())).await;
    Harness {
        backend: Arc::new(backend),
        clock: Arc::new(clock.clone()),
        advance: Arc::new(move |by| {
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: Duration::from_secs(60),
        retention: Duration::from_secs(72 * 3600),
        namespace: fresh_namespace("redis"),
    }
}

async fn harness() -> Harness {
    mock_harness(&redis_url()).await
}

queue_conformance_tests!(harness(), #[ignore = "needs Redis at 127.0.0.1:6379"]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis at 127.0.0.1:6379"]
async fn takeover_by_the_servers_clock_after_the_lease() {
    // No clock given: the scripts read Redis's TIME, and a real lease runs out for real.
    let queue = connect(&redis_url(), None).await;
    let h = Harness {
        backend: Arc::new(queue),
        clock: Arc::new(amps_webhooks::SystemClock),
        advance: Arc::new(|by| Box::pin(tokio::time::sleep(by))),
        lease: Duration::from_millis(300),
        retention: Duration::from_secs(60),
        namespace: fresh_namespace("redis-time"),
    };
    h.enqueued("a").await;
    let first = h.take_one("a").await;
    assert!(h.take(5).await.is_empty(), "a live lease is not taken");
    h.outlive_lease().await;
    let second = h.take_one("a").await;
    assert_eq!((first.attempt(), second.attempt()), (1, 2));
    // The stream entry is the same, now claimed by the taker.
    assert_eq!(first.lease().handle, second.lease().handle);
    assert!(matches!(
        h.complete(&first).await,
        Err(StoreError::StaleToken)
    ));
    h.complete(&second).await.unwrap();
    assert_eq!(h.counts().await, [0, 0, 0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis at 127.0.0.1:6379"]
async fn a_blocked_take_is_woken_by_an_enqueue_from_another_connection() {
    let h = harness().await;
    // Another queue value (its own connections) on the same keys: the receiver's side.
    let receiver = Harness {
        backend: Arc::clone(&h.backend),
        ..h.clone()
    };
    let waiting = {
        let h = h.clone();
        tokio::spawn(async move {
            h.backend
                .take(&h.namespace, 4, h.lease, Duration::from_secs(30))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "the take waits for a job");
    // Meanwhile the shared connection still answers: the blocked read has its own.
    assert_eq!(receiver.counts().await, [0, 0, 0, 0]);
    receiver.enqueued("woken").await;
    let jobs = waiting.await.unwrap();
    assert_eq!(keys(&jobs), ["woken"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on the PATH"]
async fn the_server_down_fails_enqueue_and_nothing_is_lost_once_it_is_back() {
    let mut server = servers::Server::start();
    let clock = MockClock::at_unix(1_700_000_000);
    let queue = RedisQueue::builder(server.url())
        .command_timeout(Duration::from_millis(500))
        .clock(Arc::new(clock.clone()))
        .connect()
        .await
        .unwrap();
    let h = Harness {
        backend: Arc::new(queue),
        clock: Arc::new(clock.clone()),
        advance: Arc::new(move |by| {
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: Duration::from_secs(60),
        retention: Duration::from_secs(3600),
        namespace: fresh_namespace("redis-down"),
    };
    for n in 0..10 {
        h.enqueued(&format!("before-{n}")).await;
    }
    let running = h.take(1).await;
    assert_eq!(keys(&running), ["before-0"]);
    server.kill();
    for n in 0..3 {
        let answer = h
            .backend
            .enqueue(&h.namespace, &h.record(&format!("down-{n}")))
            .await;
        assert!(
            matches!(
                answer,
                Err(StoreError::Unavailable { store: "redis", .. }
                    | StoreError::Timeout { store: "redis", .. })
            ),
            "{answer:?}"
        );
    }
    assert!(matches!(
        h.backend
            .take(&h.namespace, 1, h.lease, Duration::ZERO)
            .await,
        Err(StoreError::Unavailable { .. } | StoreError::Timeout { .. })
    ));
    server.restart();
    // The connection manager reconnects: the first calls may still fail.
    let mut back = None;
    for _ in 0..100 {
        match h.backend.enqueue(&h.namespace, &h.record("down-0")).await {
            Ok(answer) => {
                back = Some(answer);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(back, Some(Enqueue::Enqueued), "the queue did not come back");
    // Everything acknowledged before the kill is there: 9 pending, 1 running, plus the new one.
    assert_eq!(h.counts().await, [10, 1, 0, 0]);
    assert_eq!(
        h.enqueue("before-3").await,
        Enqueue::Duplicate {
            state: JobState::Pending
        }
    );
    h.complete(&running[0]).await.unwrap();
    let mut taken = Vec::new();
    loop {
        let jobs = h.take(4).await;
        if jobs.is_empty() {
            break;
        }
        for job in &jobs {
            h.complete(job).await.unwrap();
        }
        taken.extend(jobs.iter().map(|job| job.key().to_owned()));
    }
    taken.sort();
    let mut expected: Vec<String> = (1..10).map(|n| format!("before-{n}")).collect();
    expected.push("down-0".to_owned());
    expected.sort();
    assert_eq!(taken, expected);
    assert_eq!(h.counts().await, [0, 0, 0, 11]);
}
