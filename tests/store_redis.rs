//! The conformance suite against a real Redis (`REDIS_URL`, else 127.0.0.1:6379), and outages:
//! a closed port, a server that never answers, a connection cut or killed mid-run.
//!
//! The tests that need a Redis are `#[ignore = "needs Redis at 127.0.0.1:6379"]`, so that a
//! plain `cargo test` says so; run them with `-- --include-ignored` (as CI does), where a
//! missing Redis fails them with the reason.
// The helpers (proxy, connection) are not tests: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "store_common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amps_webhooks::store::{ClaimToken, Deduplicated, Deduplicator, RedisStore, StoreError};
use common::Harness;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh namespace per test, so that tests share one Redis without meeting.
fn unique(label: &str) -> String {
    format!("{label}-{:016x}", ClaimToken::random().as_u128() as u64)
}

/// The store on the test Redis; a test that needs one fails, saying why, when none answers.
async fn connect() -> RedisStore {
    let url = redis_url();
    match RedisStore::builder(url.as_str())
        .prefix("amps-webhooks-test")
        .command_timeout(Duration::from_secs(2))
        .connect()
        .await
    {
        Ok(store) => store,
        Err(error) => panic!(
            "this test needs a Redis, and none answers at {url} ({error}): start one with `redis-server --port 6379 --save ''` or set REDIS_URL"
        ),
    }
}

async fn harness() -> Harness {
    let store = connect().await;
    Harness {
        store: Arc::new(store),
        // Redis keeps TTLs by its own clock: short real leases, waited out for real.
        advance: Arc::new(|by| Box::pin(tokio::time::sleep(by))),
        // Long enough that a loaded machine does not outlive them between two steps.
        lease: Duration::from_secs(1),
        retention: Duration::from_secs(2),
        namespace: unique("conformance"),
    }
}

conformance_tests!(harness(), #[ignore = "needs Redis at 127.0.0.1:6379"]);

#[allow(clippy::needless_lifetimes)] // rustc needs the name, clippy thinks it does not
fn counting_handler<'a>(
    runs: &'a AtomicUsize,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<(), ()>> + Send + 'a>> {
    move || {
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

#[tokio::test]
async fn closed_port_is_store_unavailable_within_the_timeout() {
    // Port 1 on loopback: nothing listens there.
    let timeout = Duration::from_millis(300);
    let store = RedisStore::builder("redis://127.0.0.1:1")
        .command_timeout(timeout)
        .build()
        .unwrap();
    let dedup = Deduplicator::new(Arc::new(store), "outage").unwrap();
    let runs = AtomicUsize::new(0);
    let outcome =
        tokio::time::timeout(timeout * 2, dedup.run_key("evt_1", counting_handler(&runs)))
            .await
            .expect("answered within the command timeout");
    match outcome {
        Deduplicated::StoreUnavailable(error) => {
            assert!(
                matches!(
                    error,
                    StoreError::Unavailable { store: "redis", .. }
                        | StoreError::Timeout { store: "redis", .. }
                ),
                "{error:?}"
            );
            assert!(error.is_unavailable());
        }
        other => panic!("expected StoreUnavailable, got {other:?}"),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(matches!(
        RedisStore::builder("redis://127.0.0.1:1")
            .command_timeout(timeout)
            .connect()
            .await,
        Err(StoreError::Unavailable { .. } | StoreError::Timeout { .. })
    ));
}

#[tokio::test]
async fn silent_server_times_out_at_the_configured_timeout() {
    // A listener that accepts and never answers: the handshake and the claim hang.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let accept = {
        let held = Arc::clone(&held);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                held.lock().unwrap().push(socket);
            }
        })
    };
    let timeout = Duration::from_millis(250);
    let store = RedisStore::builder(format!("redis://{addr}"))
        .command_timeout(timeout)
        .build()
        .unwrap();
    let dedup = Deduplicator::new(Arc::new(store), "outage").unwrap();
    let runs = AtomicUsize::new(0);
    let outcome =
        tokio::time::timeout(timeout * 4, dedup.run_key("evt_1", counting_handler(&runs)))
            .await
            .expect("answered within the command timeout");
    assert!(
        matches!(&outcome, Deduplicated::StoreUnavailable(StoreError::Timeout { store: "redis", after }) if after.as_millis() == timeout.as_millis()),
        "{outcome:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    accept.abort();
}

/// A TCP proxy in front of Redis that a test can cut (every connection dropped, port closed)
/// and restore, and whose upstream sockets' addresses identify the store's connections to
/// `CLIENT KILL ADDR`.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    upstream_addrs: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut proxy = Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            accept: None,
            connections: Arc::default(),
            upstream_addrs: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let (upstream, connections, upstream_addrs) = (
            self.upstream,
            Arc::clone(&self.connections),
            Arc::clone(&self.upstream_addrs),
        );
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                    continue;
                };
                upstream_addrs
                    .lock()
                    .unwrap()
                    .push(outbound.local_addr().unwrap());
                connections.lock().unwrap().push(tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }));
            }
        }));
    }

    fn cut(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    async fn restore(&mut self) {
        // The aborted accept task drops its listener at its next poll.
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("could not listen on {} again", self.addr);
    }
}

/// The test Redis's address (a test that needs one fails when none answers).
async fn redis_addr() -> SocketAddr {
    connect().await;
    let url = redis_url();
    let host_port = url
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no host:port in REDIS_URL {url}"))
        .to_owned();
    tokio::net::lookup_host(host_port.as_str())
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("{host_port} does not resolve"))
}

#[tokio::test]
#[ignore = "needs Redis at 127.0.0.1:6379"]
async fn connection_cut_mid_run_fails_closed_then_recovers() {
    let upstream = redis_addr().await;
    let mut proxy = Proxy::start(upstream).await;
    let timeout = Duration::from_millis(500);
    let store = RedisStore::builder(format!("redis://{}", proxy.addr))
        .prefix("amps-webhooks-test")
        .command_timeout(timeout)
        .build()
        .unwrap();
    let dedup = Deduplicator::new(Arc::new(store), &unique("cut")).unwrap();
    let runs = AtomicUsize::new(0);
    for i in 0..20 {
        let outcome = dedup
            .run_key(&format!("evt-{i}"), counting_handler(&runs))
            .await;
        assert!(
            matches!(outcome, Deduplicated::Processed(())),
            "{outcome:?}"
        );
    }
    proxy.cut();
    for i in 20..25 {
        let outcome = tokio::time::timeout(
            timeout * 3,
            dedup.run_key(&format!("evt-{i}"), counting_handler(&runs)),
        )
        .await
        .expect("answered within the command timeout");
        assert!(
            matches!(&outcome, Deduplicated::StoreUnavailable(error) if error.is_unavailable()),
            "{outcome:?}"
        );
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        20,
        "the handler never runs without a claim"
    );
    proxy.restore().await;
    // The connection manager reconnects; the events refused meanwhile are processed on retry,
    // and the ones done before are still duplicates.
    let mut recovered = false;
    for _ in 0..100 {
        if dedup
            .run_key("evt-20", counting_handler(&runs))
            .await
            .is_processed()
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recovered,
        "the store did not recover after the proxy came back"
    );
    assert!(
        dedup
            .run_key("evt-3", counting_handler(&runs))
            .await
            .is_duplicate()
    );
    assert_eq!(runs.load(Ordering::SeqCst), 21);
}

#[tokio::test]
#[ignore = "needs Redis at 127.0.0.1:6379"]
async fn client_kill_mid_run_never_runs_a_handler_without_a_claim() {
    let upstream = redis_addr().await;
    let proxy = Proxy::start(upstream).await;
    let store = RedisStore::builder(format!("redis://{}", proxy.addr))
        .prefix("amps-webhooks-test")
        .command_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let dedup = Deduplicator::new(Arc::new(store), &unique("kill")).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let (processed, unavailable) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (dedup, runs, processed, unavailable) = (
            dedup.clone(),
            Arc::clone(&runs),
            Arc::clone(&processed),
            Arc::clone(&unavailable),
        );
        tokio::spawn(async move {
            for i in 0..400 {
                match dedup
                    .run_key(&format!("evt-{i}"), counting_handler(&runs))
                    .await
                {
                    // The kill may land between the claim and the completion: the handler ran
                    // under its claim, only the record is missing.
                    Deduplicated::Processed(()) | Deduplicated::ProcessedUnrecorded { .. } => {
                        processed.fetch_add(1, Ordering::SeqCst)
                    }
                    Deduplicated::StoreUnavailable(error) => {
                        assert!(error.is_unavailable(), "{error:?}");
                        unavailable.fetch_add(1, Ordering::SeqCst)
                    }
                    other => panic!("unexpected outcome {other:?}"),
                };
            }
        })
    };
    let client = redis::Client::open(redis_url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let mut killed = 0;
    while killed < 3 && !load.is_finished() {
        while processed.load(Ordering::SeqCst) < (killed + 1) * 50 && !load.is_finished() {
            tokio::task::yield_now().await;
        }
        let addrs: Vec<SocketAddr> = proxy.upstream_addrs.lock().unwrap().clone();
        for addr in addrs {
            let _: Result<redis::Value, _> = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ADDR")
                .arg(addr.to_string())
                .query_async(&mut admin)
                .await;
        }
        killed += 1;
    }
    load.await.unwrap();
    let (processed, unavailable) = (
        processed.load(Ordering::SeqCst),
        unavailable.load(Ordering::SeqCst),
    );
    eprintln!("CLIENT KILL x{killed}: {processed} processed, {unavailable} store-unavailable");
    assert_eq!(processed + unavailable, 400);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        processed,
        "the handler ran only under a claim"
    );
    assert!(killed >= 1 && processed >= 50);
}
