//! The queue conformance suite on the in-memory backend, and its own checks: time is a
//! `MockClock`.

#[path = "queue_common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::MockClock;
use amps_webhooks::queue::{Enqueue, MemoryQueue, QueueBackend};
use common::{Harness, fresh_namespace};

fn backend() -> (Arc<MemoryQueue>, MockClock) {
    let clock = MockClock::at_unix(1_700_000_000);
    let backend = MemoryQueue::builder().clock(clock.clone()).build();
    (Arc::new(backend), clock)
}

async fn harness() -> Harness {
    let (backend, clock) = backend();
    Harness {
        backend,
        clock: Arc::new(clock.clone()),
        advance: Arc::new(move |by| {
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: Duration::from_secs(60),
        retention: Duration::from_secs(72 * 3600),
        namespace: fresh_namespace("memory"),
    }
}

queue_conformance_tests!(harness());

#[tokio::test]
async fn a_key_is_free_again_once_its_done_job_is_purged() {
    let h = harness().await;
    h.enqueued("a").await;
    let job = h.take_one("a").await;
    h.complete(&job).await.unwrap();
    h.advance(h.retention * 2).await;
    assert_eq!(h.backend.purge(&h.namespace).await.unwrap(), 1);
    assert_eq!(h.enqueue("a").await, Enqueue::Enqueued);
}

#[tokio::test]
async fn len_counts_every_job_until_purged() {
    let (backend, clock) = backend();
    let h = Harness {
        backend: Arc::clone(&backend) as Arc<dyn QueueBackend>,
        clock: Arc::new(clock.clone()),
        advance: Arc::new(move |by| {
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: Duration::from_secs(60),
        retention: Duration::from_secs(60),
        namespace: fresh_namespace("memory-len"),
    };
    h.enqueued("a").await;
    h.enqueued("b").await;
    assert_eq!(backend.len(&h.namespace), 2);
    let jobs = h.take(2).await;
    h.complete(&jobs[0]).await.unwrap();
    h.fail(&jobs[1], "x", None).await.unwrap();
    assert_eq!(backend.len(&h.namespace), 2);
    h.advance(Duration::from_secs(61)).await;
    assert_eq!(backend.purge(&h.namespace).await.unwrap(), 1);
    assert_eq!(
        (backend.len(&h.namespace), backend.is_empty("other")),
        (1, true)
    );
}
