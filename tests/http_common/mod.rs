//! The HTTP suite both framework integrations must pass, over real sockets on 127.0.0.1.
//!
//! A framework's test file provides `start(Setup) -> Running` (a server on port 0 whose webhook
//! route runs [`handle`] behind the deduplicating middleware, and a second route with the bare
//! extractor) and expands [`http_suite!`] with it.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod capture;
pub mod methods;

// Not every suite that includes this module calls it.
#[allow(unused_imports)]
pub use methods::other_methods_get_405_untouched;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amps_webhooks::integrations::{Delivery, Outcome};
use amps_webhooks::store::{Deduplicator, IdempotencyStore, MemoryStore, RedisStore};
use amps_webhooks::{AmpsEvent, Event, MockClock, Secret, Signer, Verifier};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub const NOW: u64 = 1_700_000_000;
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const LIMIT: usize = 4096;
/// The path of the route behind the deduplicating middleware.
pub const DEDUP_PATH: &str = "/webhooks";
/// The path of the route with the extractor alone.
pub const PLAIN_PATH: &str = "/plain";

/// A sequence shared by the handlers and the client, to order a handler's success before the
/// 2xx answers.
pub static SEQUENCE: AtomicU64 = AtomicU64::new(1);

pub fn next_seq() -> u64 {
    SEQUENCE.fetch_add(1, Ordering::SeqCst)
}

/// What the handler does and what it saw.
#[derive(Debug, Default)]
pub struct Probe {
    /// How many times the handler ran.
    pub runs: AtomicUsize,
    /// The next this-many runs answer 502.
    pub fail_next: AtomicUsize,
    /// The sequence number of each success, taken just before the handler returned.
    pub successes: Mutex<Vec<u64>>,
    /// The keys the handler ran for, in order.
    pub keys: Mutex<Vec<String>>,
    /// When set, each run signals `entered` and waits for a permit of `release`.
    pub hold: Option<Hold>,
    /// The [`Delivery`] of every answer, in order, as an outer middleware reads it.
    pub deliveries: Mutex<Vec<Delivery>>,
}

#[derive(Debug)]
pub struct Hold {
    pub entered: tokio::sync::Notify,
    pub release: tokio::sync::Semaphore,
}

impl Probe {
    pub fn holding() -> Self {
        Self {
            hold: Some(Hold {
                entered: tokio::sync::Notify::new(),
                release: tokio::sync::Semaphore::new(0),
            }),
            ..Self::default()
        }
    }

    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    pub fn success_seqs(&self) -> Vec<u64> {
        self.successes.lock().unwrap().clone()
    }

    /// Called by the outer middleware of every test server with the answer's [`Delivery`].
    pub fn record(&self, delivery: Option<&Delivery>) {
        if let Some(delivery) = delivery {
            self.deliveries.lock().unwrap().push(delivery.clone());
        }
    }

    /// The last answer's [`Delivery`].
    pub fn last_delivery(&self) -> Delivery {
        self.deliveries
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the answer carried a Delivery")
    }
}

/// The webhook handler of every test server: the status it answers.
pub async fn handle(probe: &Probe, event: &Event<AmpsEvent>) -> u16 {
    probe.runs.fetch_add(1, Ordering::SeqCst);
    probe
        .keys
        .lock()
        .unwrap()
        .push(event.idempotency_key().to_owned());
    if let Some(hold) = &probe.hold {
        hold.entered.notify_one();
        hold.release.acquire().await.unwrap().forget();
    }
    let failing = probe
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return 502;
    }
    probe.successes.lock().unwrap().push(next_seq());
    200
}

/// What a server is started with.
pub struct Setup {
    pub verifier: Verifier,
    pub dedup: Deduplicator,
    pub probe: Arc<Probe>,
}

/// A started server.
pub struct Running {
    pub base: String,
    /// Keeps the server alive; dropping it stops the server.
    pub guard: Box<dyn Send>,
}

pub type Start = fn(Setup) -> Pin<Box<dyn Future<Output = Running> + Send>>;

pub fn secret() -> Secret {
    SECRET.parse().unwrap()
}

pub fn clock() -> MockClock {
    MockClock::at_unix(NOW)
}

pub fn verifier(clock: &MockClock) -> Verifier {
    Verifier::builder()
        .secret(secret())
        .clock(clock.clone())
        .max_body_bytes(LIMIT)
        .build()
        .unwrap()
}

pub fn memory_dedup(clock: &MockClock) -> Deduplicator {
    let store: Arc<dyn IdempotencyStore> = Arc::new(
        MemoryStore::builder()
            .capacity(10_000)
            .clock(clock.clone())
            .build(),
    );
    Deduplicator::new(store, "http-tests").unwrap()
}

/// A server on the memory store and a mock clock; its probe and clock.
pub async fn start_memory(start: Start, probe: Probe) -> (Running, Arc<Probe>, MockClock) {
    let clock = clock();
    let probe = Arc::new(probe);
    let running = start(Setup {
        verifier: verifier(&clock),
        dedup: memory_dedup(&clock),
        probe: Arc::clone(&probe),
    })
    .await;
    (running, probe, clock)
}

/// An Amps envelope for `push.completed` with this `eventId`.
pub fn event_body(event_id: &str) -> String {
    format!(
        r#"{{"event":"push.completed","eventId":"{event_id}","timestamp":"2026-05-08T22:00:05.120Z","data":{{"actionId":"act_1","deviceId":"dev_1","deviceType":"battery","actionType":"battery:set_operation_mode","result":{{"success":true}},"completedAt":"2026-05-08T22:00:05.000Z"}}}}"#
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spelling {
    Webhook,
    Svix,
}

/// The three signed headers for `body` as message `id` at `timestamp`.
pub fn signed(id: &str, timestamp: u64, body: &[u8], spelling: Spelling) -> Vec<(String, String)> {
    let signed = Signer::new(secret()).sign(id, timestamp, body).unwrap();
    let pairs = match spelling {
        Spelling::Webhook => signed.webhook_headers(),
        Spelling::Svix => signed.svix_headers(),
    };
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Bytes,
    /// Taken from [`SEQUENCE`] when the answer arrived.
    pub seq: u64,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The `error` code of a rejection body.
    pub fn error_code(&self) -> String {
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

#[derive(Clone)]
pub struct Client {
    inner: HyperClient<HttpConnector, BoxBody<Bytes, Infallible>>,
    base: String,
}

impl Client {
    pub fn new(running: &Running) -> Self {
        Self {
            inner: HyperClient::builder(TokioExecutor::new()).build_http(),
            base: running.base.clone(),
        }
    }

    async fn send(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: BoxBody<Bytes, Infallible>,
    ) -> Reply {
        let mut request = hyper::Request::post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = self
            .inner
            .request(request.body(body).unwrap())
            .await
            .unwrap();
        let seq = next_seq();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            retry_after,
            body,
            seq,
        }
    }

    /// POSTs `body` with a `Content-Length`.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: impl Into<Bytes>,
    ) -> Reply {
        self.send(path, headers, Full::new(body.into()).boxed())
            .await
    }

    /// POSTs `body` in chunks of 1 KiB without a `Content-Length`.
    pub async fn post_chunked(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let body: Bytes = body.into();
        let chunks: Vec<Result<Frame<Bytes>, Infallible>> = body
            .chunks(1024)
            .map(|chunk| Ok(Frame::data(Bytes::copy_from_slice(chunk))))
            .collect();
        let stream = StreamBody::new(tokio_stream_iter(chunks));
        self.send(path, headers, BodyExt::boxed(stream)).await
    }

    /// A signed delivery of `event_body(event_id)` as message `id`, signed now.
    pub async fn deliver(&self, path: &str, id: &str, event_id: &str) -> Reply {
        let body = event_body(event_id);
        let headers = signed(id, NOW, body.as_bytes(), Spelling::Webhook);
        self.post(path, &headers, body).await
    }
}

/// A stream over a vector, without a futures dependency.
fn tokio_stream_iter<T: Unpin>(items: Vec<T>) -> IterStream<T> {
    IterStream(items.into_iter())
}

pub struct IterStream<T>(std::vec::IntoIter<T>);

impl<T: Unpin> futures_core::Stream for IterStream<T> {
    type Item = T;

    fn poll_next(
        mut self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        std::task::Poll::Ready(self.0.next())
    }
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

pub async fn processed_then_duplicate(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::default()).await;
    let client = Client::new(&running);
    let first = client.deliver(DEDUP_PATH, "msg_1", "evt_1").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json(), serde_json::json!({ "handled": "evt_1" }));
    assert_eq!(probe.runs(), 1);
    let again = client.deliver(DEDUP_PATH, "msg_1", "evt_1").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), serde_json::json!({ "status": "duplicate" }));
    assert_eq!(probe.runs(), 1, "a duplicate must not run the handler");
}

pub async fn svix_spelling_and_any_case(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::default()).await;
    let client = Client::new(&running);
    let body = event_body("evt_svix");
    let headers = signed("msg_svix", NOW, body.as_bytes(), Spelling::Svix);
    let reply = client.post(DEDUP_PATH, &headers, body.clone()).await;
    assert_eq!(reply.status, 200);
    let body = event_body("evt_case");
    let headers: Vec<_> = signed("msg_case", NOW, body.as_bytes(), Spelling::Webhook)
        .into_iter()
        .map(|(name, value)| (name.to_uppercase(), value))
        .collect();
    let reply = client.post(DEDUP_PATH, &headers, body.clone()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(*probe.keys.lock().unwrap(), ["evt_svix", "evt_case"]);
    // The extractor alone reads both spellings too.
    let body = event_body("evt_plain_svix");
    let headers = signed("msg_plain_svix", NOW, body.as_bytes(), Spelling::Svix);
    assert_eq!(client.post(PLAIN_PATH, &headers, body).await.status, 200);
}

pub async fn in_flight_duplicate_gets_409(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::holding()).await;
    let client = Client::new(&running);
    let hold = probe.hold.as_ref().unwrap();
    let entered = hold.entered.notified();
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.deliver(DEDUP_PATH, "msg_1", "evt_1").await }
    });
    entered.await;
    let second = client.deliver(DEDUP_PATH, "msg_1", "evt_1").await;
    assert_eq!(second.status, 409);
    assert_eq!(second.error_code(), "in_flight");
    // The memory store's lease (60 s) on a mock clock that stands still.
    assert_eq!(second.retry_after.as_deref(), Some("60"));
    hold.release.add_permits(1);
    let first = first.await.unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(probe.runs(), 1);
}

pub async fn failure_releases_and_retry_runs(start: Start) {
    let probe = Probe::default();
    probe.fail_next.store(1, Ordering::SeqCst);
    let (running, probe, _clock) = start_memory(start, probe).await;
    let client = Client::new(&running);
    let first = client.deliver(DEDUP_PATH, "msg_1", "evt_1").await;
    assert_eq!(first.status, 502, "the handler's own status");
    assert_eq!(probe.runs(), 1);
    let retry = client.deliver(DEDUP_PATH, "msg_1", "evt_1").await;
    assert_eq!(retry.status, 200);
    assert_eq!(probe.runs(), 2, "the retry runs the handler");
    let again = client.deliver(DEDUP_PATH, "msg_1", "evt_1").await;
    assert_eq!(again.status, 200);
    assert_eq!(probe.runs(), 2);
}

pub async fn store_unreachable_gets_503(start: Start) {
    let clock = clock();
    let probe = Arc::new(Probe::default());
    // Nothing listens on port 1: every claim fails to connect.
    let store = RedisStore::builder("redis://127.0.0.1:1")
        .command_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let running = start(Setup {
        verifier: verifier(&clock),
        dedup: Deduplicator::new(Arc::new(store), "http-tests").unwrap(),
        probe: Arc::clone(&probe),
    })
    .await;
    let client = Client::new(&running);
    let reply = client.deliver(DEDUP_PATH, "msg_1", "evt_1").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.retry_after.as_deref(), Some("5"));
    assert_eq!(reply.error_code(), "store_unavailable");
    assert_eq!(probe.runs(), 0, "fail closed: the handler never runs");
}

pub async fn unauthorized_is_401(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::default()).await;
    let client = Client::new(&running);
    for path in [DEDUP_PATH, PLAIN_PATH] {
        let body = event_body("evt_1");
        // Signed over another body.
        let headers = signed("msg_1", NOW, b"{}", Spelling::Webhook);
        let reply = client.post(path, &headers, body.clone()).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (401, "invalid_signature")
        );
        assert!(
            reply.json()["reason"]
                .as_str()
                .unwrap()
                .contains("none of the 1 signatures")
        );
        let headers = signed("msg_1", NOW - 301, body.as_bytes(), Spelling::Webhook);
        let reply = client.post(path, &headers, body.clone()).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (401, "timestamp_out_of_tolerance")
        );
        let headers = signed("msg_1", NOW + 301, body.as_bytes(), Spelling::Webhook);
        let reply = client.post(path, &headers, body.clone()).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (401, "timestamp_out_of_tolerance")
        );
    }
    assert_eq!(probe.runs(), 0);
}

pub async fn malformed_is_400(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::default()).await;
    let client = Client::new(&running);
    for path in [DEDUP_PATH, PLAIN_PATH] {
        let body = event_body("evt_1");
        let mut headers = signed("msg_1", NOW, body.as_bytes(), Spelling::Webhook);
        headers.retain(|(name, _)| name != "webhook-signature");
        let reply = client.post(path, &headers, body.clone()).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "missing_header")
        );

        let mut headers = signed("msg_1", NOW, body.as_bytes(), Spelling::Webhook);
        headers[1].1 = "soon".to_owned();
        let reply = client.post(path, &headers, body.clone()).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "invalid_header")
        );

        // A signed body that is not JSON: 400, never 5xx.
        let not_json = b"this is not json \xff".to_vec();
        let headers = signed("msg_2", NOW, &not_json, Spelling::Webhook);
        let reply = client.post(path, &headers, not_json).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "invalid_event")
        );

        // Signed JSON that is not an event (AmpsEvent wants an object).
        let headers = signed("msg_3", NOW, b"[1,2]", Spelling::Webhook);
        let reply = client.post(path, &headers, "[1,2]").await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "invalid_event")
        );
    }
    assert_eq!(probe.runs(), 0);
}

pub async fn over_the_limit_is_413(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::default()).await;
    let client = Client::new(&running);
    let padding = "x".repeat(LIMIT);
    let body = format!(r#"{{"event":"push.completed","eventId":"evt_big","pad":"{padding}"}}"#);
    assert!(body.len() > LIMIT);
    for path in [DEDUP_PATH, PLAIN_PATH] {
        // Correctly signed, so only the size is wrong.
        let headers = signed("msg_big", NOW, body.as_bytes(), Spelling::Webhook);
        let reply = client.post(path, &headers, body.clone()).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (413, "body_too_large")
        );
        let reply = client.post_chunked(path, &headers, body.clone()).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (413, "body_too_large")
        );
    }
    // At the limit exactly, it is accepted.
    let base = event_body("evt_fit");
    let open = &base[..base.len() - 1];
    let pad = LIMIT - open.len() - r#","pad":""}"#.len();
    let fitted = format!(r#"{open},"pad":"{}"}}"#, "x".repeat(pad));
    assert_eq!(fitted.len(), LIMIT);
    let headers = signed("msg_fit", NOW, fitted.as_bytes(), Spelling::Webhook);
    let reply = client.post_chunked(DEDUP_PATH, &headers, fitted).await;
    assert_eq!(reply.status, 200);
    assert_eq!(probe.runs(), 1);
}

pub async fn event_id_wins_over_message_id(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::default()).await;
    let client = Client::new(&running);
    let first = client.deliver(DEDUP_PATH, "msg_a", "evt_shared").await;
    let second = client.deliver(DEDUP_PATH, "msg_b", "evt_shared").await;
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(second.json(), serde_json::json!({ "status": "duplicate" }));
    assert_eq!(probe.runs(), 1);
    // Without an eventId the message id is the key.
    let body = br#"{"type":"custom.thing","data":{}}"#;
    for id in ["msg_x", "msg_x", "msg_y"] {
        let headers = signed(id, NOW, body, Spelling::Webhook);
        assert_eq!(
            client
                .post(DEDUP_PATH, &headers, body.to_vec())
                .await
                .status,
            200
        );
    }
    assert_eq!(probe.runs(), 3);
}

pub async fn hundred_concurrent_deliveries(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::default()).await;
    let client = Client::new(&running);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let client = client.clone();
        tasks.spawn(async move { client.deliver(DEDUP_PATH, "msg_c", "evt_concurrent").await });
    }
    let mut replies = Vec::new();
    while let Some(reply) = tasks.join_next().await {
        replies.push(reply.unwrap());
    }
    assert_eq!(probe.runs(), 1, "the handler runs exactly once");
    let successes = probe.success_seqs();
    assert_eq!(successes.len(), 1);
    let succeeded_at = successes[0];
    let mut ok = 0;
    for reply in &replies {
        match reply.status {
            200 => {
                ok += 1;
                assert!(
                    reply.seq > succeeded_at,
                    "a 2xx (seq {}) arrived before the handler succeeded (seq {succeeded_at})",
                    reply.seq
                );
            }
            409 => assert!(reply.retry_after.is_some()),
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 1, "the first delivery is answered 200");
    // Once settled, every redelivery is a duplicate.
    let after = client.deliver(DEDUP_PATH, "msg_c", "evt_concurrent").await;
    assert_eq!(after.status, 200);
    assert_eq!(probe.runs(), 1);
}

pub async fn hundred_concurrent_while_held(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::holding()).await;
    let client = Client::new(&running);
    let hold = probe.hold.as_ref().unwrap();
    let entered = hold.entered.notified();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let client = client.clone();
        tasks.spawn(async move { client.deliver(DEDUP_PATH, "msg_h", "evt_held").await });
    }
    entered.await;
    // While the one handler is held, the 99 others are answered 409 and none runs.
    let mut held = Vec::new();
    for _ in 0..99 {
        held.push(tasks.join_next().await.unwrap().unwrap());
    }
    assert!(
        held.iter()
            .all(|reply| reply.status == 409 && reply.retry_after.is_some())
    );
    assert_eq!(probe.runs(), 1);
    hold.release.add_permits(1);
    let last = tasks.join_next().await.unwrap().unwrap();
    assert_eq!(last.status, 200);
    assert!(last.seq > probe.success_seqs()[0]);
    assert_eq!(probe.runs(), 1);
}

/// A server on the test Redis (`REDIS_URL`, else 127.0.0.1:6379) in a namespace of its own.
///
/// # Panics
///
/// When no Redis answers there: a test that needs Redis is marked `#[ignore = "needs Redis at
/// 127.0.0.1:6379"]`, and when it is run anyway (`--include-ignored`, as CI does) it fails
/// rather than pass without having tested anything.
pub async fn start_redis(start: Start, probe: Probe) -> (Running, Arc<Probe>) {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let store = match RedisStore::builder(url.as_str()).connect().await {
        Ok(store) => store,
        Err(error) => panic!(
            "this test needs Redis, and none answers at {url} ({error}): start one \
             (`redis-server`) or set REDIS_URL"
        ),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let namespace = format!("http-tests-{nanos}");
    let clock = clock();
    let probe = Arc::new(probe);
    let running = start(Setup {
        verifier: verifier(&clock),
        dedup: Deduplicator::new(Arc::new(store), &namespace).unwrap(),
        probe: Arc::clone(&probe),
    })
    .await;
    (running, probe)
}

pub async fn redis_store_concurrent_and_retry(start: Start) {
    let probe = Probe::default();
    probe.fail_next.store(1, Ordering::SeqCst);
    let (running, probe) = start_redis(start, probe).await;
    let client = Client::new(&running);
    assert_eq!(
        client.deliver(DEDUP_PATH, "msg_r", "evt_r").await.status,
        502
    );
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let client = client.clone();
        tasks.spawn(async move { client.deliver(DEDUP_PATH, "msg_r", "evt_r").await });
    }
    let mut statuses = Vec::new();
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.unwrap();
        if reply.status == 200 {
            assert!(reply.seq > probe.success_seqs()[0]);
        }
        statuses.push(reply.status);
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(probe.runs(), 2, "one failure, then exactly one success");
    assert_eq!(probe.success_seqs().len(), 1);
    let after = client.deliver(DEDUP_PATH, "msg_r2", "evt_r").await;
    assert_eq!(after.json(), serde_json::json!({ "status": "duplicate" }));
}

pub async fn plain_extractor_verifies(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::default()).await;
    let client = Client::new(&running);
    // Without the middleware there is no deduplication: both run.
    assert_eq!(
        client.deliver(PLAIN_PATH, "msg_p", "evt_p").await.status,
        200
    );
    assert_eq!(
        client.deliver(PLAIN_PATH, "msg_p", "evt_p").await.status,
        200
    );
    assert_eq!(probe.runs(), 2);
}

/// Signed bodies that are not valid events, each with [`MARKER`] where serde_json's message
/// quotes the value it refused: a string for a boolean, strings that are not times, a number
/// for a string beside the marker; and a syntax error right after the marker.
pub fn marked_bodies() -> Vec<String> {
    let event =
        |data: &str| format!(r#"{{"event":"push.completed","eventId":"evt_7a","data":{data}}}"#);
    vec![
        event(&format!(
            r#"{{"actionId":"act_1","deviceId":"dev_1","result":{{"success":"{MARKER}"}}}}"#
        )),
        event(&format!(
            r#"{{"actionId":"act_1","deviceId":"dev_1","result":{{"success":true}},"completedAt":"{MARKER}"}}"#
        )),
        format!(
            r#"{{"type":"device.reconnected","data":{{"deviceId":"dev_1","timestamp":"{MARKER}"}}}}"#
        ),
        event(&format!(r#"{{"actionId":"{MARKER}","deviceId":12}}"#)),
        format!(r#"{{"event":"push.completed","data":"{MARKER}" oops}}"#),
    ]
}

/// A distinctive string that a rejection must not repeat (issue item 7a).
pub const MARKER: &str = "MARKER_7a";

/// Item 7a over real sockets: a rejection never carries request content. For each body of
/// [`marked_bodies`], on the deduplicating route and the extractor alone: the 400's JSON body,
/// the [`Delivery::reason`] an outer middleware reads, and the log line of the rejection (found
/// by the request's id) say what was wrong and where, and none holds the marker.
pub async fn rejection_never_quotes_the_body(start: Start) {
    let lines = capture::install();
    let (running, probe, _clock) = start_memory(start, Probe::default()).await;
    let client = Client::new(&running);
    for (route, path) in [("dedup", DEDUP_PATH), ("plain", PLAIN_PATH)] {
        for (n, body) in marked_bodies().into_iter().enumerate() {
            let id = format!("msg_7a_{route}_{n}");
            let headers = signed(&id, NOW, body.as_bytes(), Spelling::Webhook);
            let reply = client.post(path, &headers, body.clone()).await;
            let text = String::from_utf8_lossy(&reply.body).into_owned();
            assert_eq!(
                (reply.status, reply.json()["error"].as_str()),
                (400, Some("invalid_event")),
                "{path}, {body}: {text}"
            );
            assert!(
                !text.contains(MARKER),
                "{path}: the 400 quotes the body: {text}"
            );
            let reason = reply.json()["reason"].as_str().unwrap().to_owned();
            assert!(reason.starts_with("the body is "), "{path}: {reason}");

            let delivery = probe.last_delivery();
            assert_eq!(
                (delivery.outcome(), delivery.status(), delivery.key()),
                (Outcome::Rejected, 400, None)
            );
            // The layer still has the headers; a rejection turned into a response does not.
            let want_id = (path == DEDUP_PATH).then_some(id.as_str());
            assert_eq!(delivery.id(), want_id, "{path}");
            assert_eq!(delivery.reason(), Some(reason.as_str()), "{path}");

            let logged = lines.containing(&id);
            assert_eq!(logged.len(), 1, "{path}: one log line for {id}: {logged:?}");
            assert!(logged[0].starts_with("WARN"), "{logged:?}");
            assert!(logged[0].contains("code=invalid_event"), "{logged:?}");
            assert!(logged[0].contains(&reason), "{logged:?}");
            assert!(
                !logged[0].contains(MARKER),
                "{path}: the log quotes the body: {logged:?}"
            );
        }
    }
    assert_eq!(probe.runs(), 0);
    let leaked = lines.containing(MARKER);
    assert!(
        leaked.is_empty(),
        "logged with the body's content: {leaked:?}"
    );
}

#[macro_export]
macro_rules! http_suite {
    ($start:path) => {
        $crate::http_suite!(@each $start;
            processed_then_duplicate,
            svix_spelling_and_any_case,
            in_flight_duplicate_gets_409,
            failure_releases_and_retry_runs,
            store_unreachable_gets_503,
            unauthorized_is_401,
            malformed_is_400,
            over_the_limit_is_413,
            event_id_wins_over_message_id,
            hundred_concurrent_deliveries,
            hundred_concurrent_while_held,
            plain_extractor_verifies,
            rejection_never_quotes_the_body,
            other_methods_get_405_untouched,
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs Redis at 127.0.0.1:6379"]
        async fn redis_store_concurrent_and_retry() {
            http_common::redis_store_concurrent_and_retry(|setup| Box::pin($start(setup))).await;
        }
    };
    (@each $start:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                http_common::$name(|setup| Box::pin($start(setup))).await;
            }
        )+
    };
}
