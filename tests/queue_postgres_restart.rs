//! The store down, for real, on PostgreSQL: a server that the test starts itself
//! (`pg_servers`: initdb in a temporary directory, a free loopback port, fsync on) is crashed
//! (`pg_ctl stop -m immediate`) while a worker holds jobs and others are pending, then started
//! again on the same port and data directory.
//!
//! - While it is down, the receiver (the axum `enqueue_route`, over a real socket) answers 503
//!   with `Retry-After: 5`, and the idempotency store (`PostgresStore`) times out.
//! - Once it is back, the worker resumes: the handlers that finished during the outage have
//!   their jobs completed, the pending jobs are taken, and every job acknowledged 200 before
//!   the crash completes exactly once (a handler counting runs by key). What was refused 503
//!   was never stored: the same delivery is now a new job, and an idle worker is woken for it
//!   by `NOTIFY` (both polls are an hour: `LISTEN` is back too).
//! - The store's completed claim is still completed, its held claim still held (and its
//!   holder completes it); the store then passes conformance checks on the restarted server.
//!
//! Ignored by default (it runs initdb and a server of its own); run it with
//! `-- --include-ignored`, where missing server binaries fail it with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod axum_server;
#[path = "pg_servers/mod.rs"]
mod pg_servers;
#[path = "store_common/mod.rs"]
mod store_common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use amps_webhooks::integrations::axum::enqueue_route;
use amps_webhooks::queue::{AttemptOutcome, Job, PostgresQueue, Queue, QueueStats};
use amps_webhooks::store::{Claim, PostgresStore, StoreError};
use amps_webhooks::{Clock as _, MockClock, Secret, Signer, SystemClock, Verifier};
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::sync::{mpsc, watch};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Each backend's command timeout: what an operation waits for a server that is gone.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Longer than any step of the test: only a `NOTIFY` ends a waiting take early.
const NEVER: Duration = Duration::from_secs(3600);
/// How long the test waits for what must happen, before it fails saying what did not.
const PATIENCE: Duration = Duration::from_secs(120);
const BEFORE: usize = 12;
const CONCURRENCY: usize = 3;

/// `future`'s output; a panic naming `what` when it has not come within [`PATIENCE`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {PATIENCE:?}"))
}

/// Runs a blocking step (a `pg_ctl` command) without stalling the runtime's other tasks.
fn blocking<T>(step: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(step)
}

fn envelope(event_id: &str) -> String {
    format!(
        r#"{{"event":"push.completed","eventId":"{event_id}","data":{{"actionId":"a","deviceId":"d","result":{{"success":true}},"completedAt":"2026-05-08T22:00:05Z"}}}}"#
    )
}

/// An answer: its status, its `Retry-After`, its body.
type Answer = (u16, Option<String>, String);

/// Signs an envelope for `key` now (as message `msg_<key>`) and POSTs it to `url`.
async fn deliver(url: &str, key: &str) -> Answer {
    let body = envelope(key);
    let secret: Secret = SECRET.parse().unwrap();
    let signed = Signer::new(secret)
        .sign(
            &format!("msg_{key}"),
            SystemClock.unix_seconds(),
            body.as_bytes(),
        )
        .unwrap();
    let mut request = hyper::Request::post(url).header("content-type", "application/json");
    for (name, value) in signed.webhook_headers() {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(Bytes::from(body))).unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        retry_after,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn queued() -> Answer {
    (200, None, r#"{"queued":true}"#.to_owned())
}

fn counts(stats: &QueueStats) -> [u64; 4] {
    [stats.pending, stats.running, stats.dead, stats.done]
}

/// What the worker's handler did: how often it ran for each key (counted once it is let
/// through), who entered it, and the gate that holds it until the test opens it.
struct Effects {
    runs: Mutex<BTreeMap<String, u32>>,
    entered: mpsc::UnboundedSender<String>,
    gate: watch::Receiver<bool>,
}

impl Effects {
    async fn handle(&self, job: Job) -> Result<(), String> {
        let key = job.key().to_owned();
        let _ = self.entered.send(key.clone());
        let mut gate = self.gate.clone();
        gate.wait_for(|open| *open).await.unwrap();
        *self
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default() += 1;
        Ok(())
    }

    fn runs(&self) -> BTreeMap<String, u32> {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The idempotency store on the server, its time on a `MockClock`, as the conformance suite
/// takes it.
async fn store_harness(url: &str, namespace: &str) -> store_common::Harness {
    let clock = MockClock::at_unix(1_700_000_000);
    let store = PostgresStore::builder(url)
        .clock(clock.clone())
        .command_timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store_common::Harness {
        store: Arc::new(store),
        advance: Arc::new(move |by| {
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: Duration::from_secs(60),
        retention: Duration::from_secs(3600),
        namespace: namespace.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts its own PostgreSQL (initdb and pg_ctl from /usr/lib/postgresql/15/bin)"]
async fn a_crash_gets_503s_and_after_the_restart_every_acknowledged_job_completes_once() {
    let mut server = blocking(pg_servers::Server::start);
    let backend = PostgresQueue::builder(server.url())
        .command_timeout(TIMEOUT)
        .poll(NEVER)
        .connect()
        .await
        .unwrap();
    backend.migrate().await.unwrap();
    let queue = Queue::new(Arc::new(backend), "restart").unwrap();
    let verifier = Verifier::new(SECRET.parse().unwrap());
    let app = Router::new().route("/webhooks", enqueue_route(verifier, queue.clone()));
    let receiver = axum_server::serve(0, app).await;
    let url = format!("http://{}/webhooks", receiver.addr);
    let store = store_harness(&server.url(), "restart").await;

    let before: Vec<String> = (0..BEFORE).map(|n| format!("before-{n}")).collect();
    for key in &before {
        assert_eq!(deliver(&url, key).await, queued(), "{key}");
    }
    let done_claim = store.key("done");
    let token = store.acquire(&done_claim).await;
    store
        .store
        .complete(&done_claim, token, store.retention)
        .await
        .unwrap();
    let held_claim = store.key("held");
    let held = store.acquire(&held_claim).await;

    // The worker takes CONCURRENCY jobs and holds them at the gate; the rest stay pending.
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let (open, gate) = watch::channel(false);
    let effects = Arc::new(Effects {
        runs: Mutex::default(),
        entered: entered_tx,
        gate,
    });
    let (attempts_tx, mut attempts) = mpsc::unbounded_channel();
    let worker = queue
        .worker::<(), String>()
        .concurrency(CONCURRENCY)
        .poll(NEVER)
        .on_attempt(move |attempt| {
            let _ = attempts_tx.send((attempt.job.key().to_owned(), attempt.outcome));
        })
        .build();
    let handler = {
        let effects = Arc::clone(&effects);
        move |job: Job| {
            let effects = Arc::clone(&effects);
            async move { effects.handle(job).await }
        }
    };
    let working = tokio::spawn(worker.run(handler, std::future::pending::<()>()));
    let mut running = BTreeSet::new();
    for _ in 0..CONCURRENCY {
        running.insert(within("a handler entered", entered.recv()).await.unwrap());
    }
    assert_eq!(
        counts(&queue.stats().await.unwrap()),
        [(BEFORE - CONCURRENCY) as u64, CONCURRENCY as u64, 0, 0]
    );

    blocking(|| server.crash());
    let refused: Vec<String> = (0..3).map(|n| format!("down-{n}")).collect();
    let unavailable = json!({"error": "store_unavailable",
        "reason": "the queue is unavailable; retry later"});
    for key in refused.iter().chain(&before[..1]) {
        let (status, retry_after, body) = deliver(&url, key).await;
        assert_eq!((status, retry_after.as_deref()), (503, Some("5")), "{key}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            unavailable
        );
    }
    let claimed = store.store.claim(&store.key("down"), store.lease).await;
    assert!(
        matches!(claimed, Err(StoreError::Timeout { store: "postgres", after }) if after == TIMEOUT),
        "{claimed:?}"
    );
    // The held handlers finish while the server is down: their completions wait it out.
    open.send(true).unwrap();

    blocking(|| server.restart());
    let mut outcomes = BTreeMap::new();
    while outcomes.len() < BEFORE {
        let (key, outcome) = within(
            "the jobs acknowledged before the crash done",
            attempts.recv(),
        )
        .await
        .unwrap();
        assert_eq!(outcome, AttemptOutcome::Done, "{key}");
        assert!(
            outcomes.insert(key.clone(), outcome).is_none(),
            "{key} twice"
        );
    }
    assert_eq!(
        outcomes.keys().cloned().collect::<BTreeSet<_>>(),
        before.iter().cloned().collect()
    );
    let once: BTreeMap<String, u32> = before.iter().map(|key| (key.clone(), 1)).collect();
    assert_eq!(effects.runs(), once);
    assert_eq!(running.len(), CONCURRENCY);
    assert!(
        running.iter().all(|key| before.contains(key)),
        "{running:?}"
    );
    assert_eq!(
        counts(&queue.stats().await.unwrap()),
        [0, 0, 0, BEFORE as u64]
    );

    // Refused, so never stored: the same delivery is a new job now (not a duplicate), and the
    // idle worker is woken for it by NOTIFY (its take waits an hour, the backend polls hourly).
    assert_eq!(deliver(&url, &refused[0]).await, queued());
    let (key, outcome) = within("the job enqueued after the restart done", attempts.recv())
        .await
        .unwrap();
    assert_eq!(
        (key.as_str(), outcome),
        (refused[0].as_str(), AttemptOutcome::Done)
    );
    assert_eq!(
        deliver(&url, &before[0]).await,
        (200, None, r#"{"status":"duplicate"}"#.to_owned())
    );
    let mut expected = once;
    expected.insert(refused[0].clone(), 1);
    assert_eq!(effects.runs(), expected);
    assert_eq!(
        counts(&queue.stats().await.unwrap()),
        [0, 0, 0, BEFORE as u64 + 1]
    );
    assert!(
        matches!(attempts.try_recv(), Err(mpsc::error::TryRecvError::Empty)),
        "an attempt more than one per job"
    );
    working.abort();

    // The idempotency store kept its claims across the crash.
    assert_eq!(store.claim(&done_claim).await, Claim::Completed);
    assert!(
        matches!(store.claim(&held_claim).await, Claim::InFlight { .. }),
        "the held claim"
    );
    store
        .store
        .complete(&held_claim, held, store.retention)
        .await
        .unwrap();
    assert_eq!(store.claim(&held_claim).await, Claim::Completed);
    store.acquire(&store.key("down")).await;
    let fresh = |namespace: &str| store_common::Harness {
        namespace: namespace.to_owned(),
        ..store.clone()
    };
    store_common::lease_expiry_then_takeover(fresh("after-takeover")).await;
    store_common::racing_claims_one_winner(fresh("after-racing")).await;
    store_common::exactly_once_under_redelivery(fresh("after-redelivery")).await;
}
