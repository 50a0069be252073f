//! The HTTP suite of queue mode, for both frameworks, over real sockets on 127.0.0.1: a
//! framework's test file provides `start(Verifier, Queue) -> Running` (a server on port 0 whose
//! `/webhooks` route enqueues) and calls each case with it.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::integrations::Delivery;
use amps_webhooks::queue::{
    Enqueue, Job, JobRecord, MemoryQueue, Queue, QueueBackend, QueueStats, Redrive,
};
use amps_webhooks::store::{StoreError, StoreFuture};
use amps_webhooks::{AmpsEvent, Event, Verifier};

use crate::http_common::{
    self, Client, DEDUP_PATH, LIMIT, NOW, Running, Spelling, event_body, signed,
};

/// The suite's tests, for a framework's `start` (a server whose route enqueues) and
/// `start_observed` (one whose route calls the hook that [`log_call`]s).
macro_rules! suite {
    ($start:ident, $start_observed:ident) => {
        suite!(@cases $start,
            a_delivery_is_queued_with_its_bytes_and_headers_then_a_duplicate,
            rejected_deliveries_store_no_job,
            other_methods_get_405_and_store_nothing,
            an_unreachable_backend_gets_503_with_retry_after,
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_hook_sees_each_parsed_event_with_its_answer() {
            http_queue_common::the_hook_sees_each_parsed_event_with_its_answer(
                |verifier, queue, observed| Box::pin($start_observed(verifier, queue, observed)),
            )
            .await;
        }
    };
    (@cases $start:ident, $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                http_queue_common::$name(|verifier, queue| Box::pin($start(verifier, queue))).await;
            }
        )+
    };
}

pub type QueueStart = fn(Verifier, Queue) -> Pin<Box<dyn Future<Output = Running> + Send>>;

const NAMESPACE: &str = "http-queue-tests";

/// A server enqueueing into a fresh memory queue on the mock clock; the backend.
async fn start_memory(start: QueueStart) -> (Running, Arc<MemoryQueue>) {
    let clock = http_common::clock();
    let backend = Arc::new(MemoryQueue::builder().clock(clock.clone()).build());
    let queue = Queue::new(Arc::clone(&backend) as _, NAMESPACE)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    (start(http_common::verifier(&clock), queue).await, backend)
}

async fn counts(backend: &MemoryQueue) -> [u64; 4] {
    let stats = backend.stats(NAMESPACE).await.unwrap();
    [stats.pending, stats.running, stats.dead, stats.done]
}

async fn take_all(backend: &MemoryQueue) -> Vec<Job> {
    backend
        .take(NAMESPACE, 100, Duration::from_secs(60), Duration::ZERO)
        .await
        .unwrap()
}

pub async fn a_delivery_is_queued_with_its_bytes_and_headers_then_a_duplicate(start: QueueStart) {
    let (running, backend) = start_memory(start).await;
    let client = Client::new(&running);
    let body = event_body("evt_q");
    let headers = signed("msg_q", NOW, body.as_bytes(), Spelling::Svix);
    let first = client.post(DEDUP_PATH, &headers, body.clone()).await;
    assert_eq!(
        (first.status, &first.body[..]),
        (200, &br#"{"queued":true}"#[..])
    );
    let again = client.post(DEDUP_PATH, &headers, body.clone()).await;
    assert_eq!(
        (again.status, &again.body[..]),
        (200, &br#"{"status":"duplicate"}"#[..])
    );
    let jobs = take_all(&backend).await;
    assert_eq!(jobs.len(), 1, "one job for two deliveries");
    let job = &jobs[0];
    assert_eq!(
        (job.key(), job.webhook_id(), job.event_type(), job.body()),
        ("evt_q", "msg_q", Some("push.completed"), body.as_bytes())
    );
    // The svix- headers are kept under the webhook- names, their values as signed.
    let kept: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.replace("svix-", "webhook-"), value.clone()))
        .collect();
    assert_eq!(job.headers(), &kept[..]);
    assert_eq!(
        job.received_at(),
        std::time::UNIX_EPOCH + Duration::from_secs(NOW)
    );
}

/// The signature headers of `body` as message `id`, its signature replaced by one no key
/// made.
fn forged(id: &str, body: &str) -> Vec<(String, String)> {
    let mut headers = signed(id, NOW, body.as_bytes(), Spelling::Webhook);
    headers[2].1 = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=".to_owned();
    headers
}

pub async fn rejected_deliveries_store_no_job(start: QueueStart) {
    let (running, backend) = start_memory(start).await;
    let client = Client::new(&running);
    let body = event_body("evt_r");
    let reply = client
        .post(DEDUP_PATH, &forged("msg_r", &body), body.clone())
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (401, "invalid_signature")
    );

    let unsigned = client.post(DEDUP_PATH, &[], body.clone()).await;
    assert_eq!(
        (unsigned.status, unsigned.error_code().as_str()),
        (400, "missing_header")
    );

    let not_json = b"not json at all".to_vec();
    let headers = signed("msg_j", NOW, &not_json, Spelling::Webhook);
    let reply = client.post(DEDUP_PATH, &headers, not_json).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "invalid_event")
    );

    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(LIMIT));
    let headers = signed("msg_b", NOW, big.as_bytes(), Spelling::Webhook);
    let reply = client.post(DEDUP_PATH, &headers, big.clone()).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (413, "body_too_large")
    );
    let reply = client.post_chunked(DEDUP_PATH, &headers, big).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (413, "body_too_large")
    );

    assert_eq!(counts(&backend).await, [0, 0, 0, 0]);
}

pub async fn other_methods_get_405_and_store_nothing(start: QueueStart) {
    let (running, backend) = start_memory(start).await;
    let url = format!("{}{DEDUP_PATH}", running.base);
    let body = event_body("evt_m");
    let headers = signed("msg_m", NOW, body.as_bytes(), Spelling::Webhook);
    for method in [hyper::Method::GET, hyper::Method::PUT] {
        let (status, allow, _) = http_common::methods::send(&url, &method, &headers, &body).await;
        assert_eq!((status, allow), (405, vec!["POST".to_owned()]), "{method}");
    }
    assert_eq!(counts(&backend).await, [0, 0, 0, 0]);
}

/// A backend that cannot answer: every call fails as an unreachable store's would.
#[derive(Debug, Default)]
pub struct Unreachable;

fn down() -> StoreError {
    StoreError::Unavailable {
        store: "test",
        source: "connection refused".into(),
    }
}

impl QueueBackend for Unreachable {
    fn enqueue<'a>(
        &'a self,
        _: &'a str,
        _: &'a JobRecord,
    ) -> StoreFuture<'a, Result<Enqueue, StoreError>> {
        StoreFuture::ready(Err(down()))
    }
    fn take<'a>(
        &'a self,
        _: &'a str,
        _: usize,
        _: Duration,
        _: Duration,
    ) -> StoreFuture<'a, Result<Vec<Job>, StoreError>> {
        StoreFuture::ready(Err(down()))
    }
    fn renew<'a>(
        &'a self,
        _: &'a str,
        _: &'a Job,
        _: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::ready(Err(down()))
    }
    fn complete<'a>(
        &'a self,
        _: &'a str,
        _: &'a Job,
        _: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::ready(Err(down()))
    }
    fn fail<'a>(
        &'a self,
        _: &'a str,
        _: &'a Job,
        _: &'a str,
        _: Option<Duration>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::ready(Err(down()))
    }
    fn release<'a>(&'a self, _: &'a str, _: &'a Job) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::ready(Err(down()))
    }
    fn redrive<'a>(
        &'a self,
        _: &'a str,
        _: Redrive<'a>,
    ) -> StoreFuture<'a, Result<u64, StoreError>> {
        StoreFuture::ready(Err(down()))
    }
    fn dead<'a>(
        &'a self,
        _: &'a str,
        _: usize,
    ) -> StoreFuture<'a, Result<Vec<JobRecord>, StoreError>> {
        StoreFuture::ready(Err(down()))
    }
    fn stats<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Result<QueueStats, StoreError>> {
        StoreFuture::ready(Err(down()))
    }
    fn purge<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
        StoreFuture::ready(Err(down()))
    }
}

pub async fn an_unreachable_backend_gets_503_with_retry_after(start: QueueStart) {
    let clock = http_common::clock();
    let queue = Queue::new(Arc::new(Unreachable), NAMESPACE).unwrap();
    let running = start(http_common::verifier(&clock), queue).await;
    let client = Client::new(&running);
    let reply = client.deliver(DEDUP_PATH, "msg_u", "evt_u").await;
    assert_eq!(
        (
            reply.status,
            reply.retry_after.as_deref(),
            reply.error_code().as_str()
        ),
        (503, Some("5"), "store_unavailable")
    );
}

/// What an observing route's hook saw: the event's `webhook-id`, the answer's status and its
/// `Delivery`'s outcome, one entry a call.
pub type Observed = Arc<std::sync::Mutex<Vec<(String, u16, &'static str)>>>;

/// A server whose `/webhooks` route enqueues and calls a hook that logs into `Observed`.
pub type ObservedStart =
    fn(Verifier, Queue, Observed) -> Pin<Box<dyn Future<Output = Running> + Send>>;

/// Logs one call of an observing route's hook: the event's id, the answer's status, and the
/// outcome of the `Delivery` in the answer's extensions.
pub fn log_call(
    observed: &Observed,
    event: &Event<AmpsEvent>,
    status: u16,
    delivery: Option<&Delivery>,
) {
    let outcome = delivery
        .expect("every answer carries its Delivery")
        .outcome();
    let entry = (event.id().as_str().to_owned(), status, outcome.as_str());
    observed.lock().unwrap().push(entry);
}

fn seen(observed: &Observed) -> Vec<(String, u16, &'static str)> {
    observed.lock().unwrap().clone()
}

pub async fn the_hook_sees_each_parsed_event_with_its_answer(start: ObservedStart) {
    let clock = http_common::clock();
    let backend = Arc::new(MemoryQueue::builder().clock(clock.clone()).build());
    let queue = Queue::new(backend as _, NAMESPACE)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let observed = Observed::default();
    let running = start(http_common::verifier(&clock), queue, Arc::clone(&observed)).await;
    let client = Client::new(&running);
    // Queued, then a duplicate.
    for _ in 0..2 {
        let reply = client.deliver(DEDUP_PATH, "msg_o", "evt_o").await;
        assert_eq!(reply.status, 200);
    }
    // Refused before it was parsed: no event, no call.
    let body = event_body("evt_f");
    let headers = forged("msg_f", &body);
    assert_eq!(client.post(DEDUP_PATH, &headers, body).await.status, 401);
    let not_json = b"not json at all".to_vec();
    let headers = signed("msg_j", NOW, &not_json, Spelling::Webhook);
    assert_eq!(
        client.post(DEDUP_PATH, &headers, not_json).await.status,
        400
    );
    assert_eq!(
        seen(&observed),
        [
            ("msg_o".to_owned(), 200, "queued"),
            ("msg_o".to_owned(), 200, "duplicate")
        ]
    );

    // The queue's backend cannot answer: the hook sees the 503.
    let observed = Observed::default();
    let queue = Queue::new(Arc::new(Unreachable), NAMESPACE).unwrap();
    let running = start(http_common::verifier(&clock), queue, Arc::clone(&observed)).await;
    let reply = Client::new(&running)
        .deliver(DEDUP_PATH, "msg_u", "evt_u")
        .await;
    assert_eq!(reply.status, 503);
    assert_eq!(seen(&observed), [("msg_u".to_owned(), 503, "unavailable")]);
}
