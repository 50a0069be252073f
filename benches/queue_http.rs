//! The axum receiver in queue mode (`enqueue_route`: verify, enqueue, 200, no handler in the
//! request) against the bare server and against the deduplicating receiver of today
//! (`WebhookLayer`, the handler in the request), on each backend compiled in: requests per
//! second in one run, the servers taking turns in slices. Then, per backend, the time from the
//! 2xx to the start of the handler of an idle `Worker` (concurrency 1), one delivery at a time.
//!
//! `cargo bench --bench queue_http --features queue,axum,memory` (memory);
//! `cargo bench --bench queue_http --features queue,axum,memory,redis,postgres,sqlite` (all:
//! Redis at `REDIS_URL`, else 127.0.0.1:6379; PostgreSQL at `DATABASE_URL`, else
//! postgres://postgres@127.0.0.1/test; SQLite in a temporary file). Arguments after `--` pick
//! backends by name (`-- memory redis`).
//!
//! Tunables (environment): `QUEUE_HTTP_SLICE` / `QUEUE_HTTP_SLICES` requests per slice and
//! slices per server on memory and Redis (default 2000 / 20), `QUEUE_HTTP_DURABLE_SLICE` /
//! `QUEUE_HTTP_DURABLE_SLICES` on PostgreSQL and SQLite, whose every enqueue waits for an fsync
//! (default 500 / 4), `QUEUE_HTTP_CONNECTIONS` (default 16), `QUEUE_HTTP_SAMPLES` latency
//! samples (default 2000; a quarter of them on PostgreSQL and SQLite).

// A load generator stops at the first failure: every `expect` here is a broken setup or a
// request the receiver refused, and the figures would be meaningless after it.
#![allow(clippy::expect_used, clippy::panic, clippy::cast_precision_loss)]

mod load;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::axum::{WebhookLayer, enqueue_route};
use amps_webhooks::queue::{JobRecord, MemoryQueue, Queue, QueueBackend};
use amps_webhooks::store::{
    ClaimToken, DEFAULT_MEMORY_CAPACITY, Deduplicator, IdempotencyStore, MemoryStore,
};
use amps_webhooks::{AmpsEvent, Verifier};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use load::{BODY_BYTES, SECRET, Server, connect, deliveries, env_or, interleave, post as send};
use tokio::sync::mpsc;

/// One backend under test: a store for the deduplicating receiver, a queue backend for the
/// enqueueing one, and what the run leaves behind to remove.
struct Backend {
    name: &'static str,
    store: Arc<dyn IdempotencyStore>,
    queue: Arc<dyn QueueBackend>,
    durable: bool,
    leftover: Leftover,
}

/// What a backend's run leaves behind, removed at the end.
enum Leftover {
    Nothing,
    #[cfg(feature = "redis")]
    RedisPrefix {
        url: String,
        prefix: String,
    },
    #[cfg(feature = "postgres")]
    Tables {
        pool: amps_webhooks::store::sqlx::PgPool,
        tables: Vec<String>,
    },
    #[cfg(feature = "sqlite")]
    Directory(tempfile::TempDir),
}

impl Leftover {
    async fn remove(self) {
        match self {
            Self::Nothing => {}
            #[cfg(feature = "redis")]
            Self::RedisPrefix { url, prefix } => load::unlink_prefix(&url, &prefix).await,
            #[cfg(feature = "postgres")]
            Self::Tables { pool, tables } => {
                for table in tables {
                    amps_webhooks::store::sqlx::raw_sql(&format!("DROP TABLE \"{table}\" CASCADE"))
                        .execute(&pool)
                        .await
                        .expect("drop a bench table");
                }
            }
            #[cfg(feature = "sqlite")]
            Self::Directory(dir) => drop(dir),
        }
    }
}

async fn processed(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> StatusCode {
    std::hint::black_box(&event);
    StatusCode::OK
}

/// The deduplicating receiver's handler keeping each delivery's body and signature headers in
/// memory, as an in-memory queue must: the floor of any of them.
async fn kept(
    axum::extract::State(state): axum::extract::State<Keeping>,
    headers: axum::http::HeaderMap,
    VerifiedEvent(event): VerifiedEvent<AmpsEvent>,
) -> StatusCode {
    let record = JobRecord::from_event(&event, &headers, std::time::SystemTime::now());
    state.records.lock().expect("not poisoned").push(record);
    StatusCode::OK
}

/// The state of the floor's router: the verifier its extractor needs, and the records kept.
#[derive(Clone)]
struct Keeping {
    verifier: Verifier,
    records: Arc<std::sync::Mutex<Vec<JobRecord>>>,
}

impl axum::extract::FromRef<Keeping> for Verifier {
    fn from_ref(state: &Keeping) -> Self {
        state.verifier.clone()
    }
}

fn verifier() -> Verifier {
    Verifier::new(SECRET.parse().expect("valid secret"))
}

/// A namespace no earlier run used.
fn fresh(what: &str) -> String {
    format!("{what}-{:08x}", ClaimToken::random().as_u128() as u32)
}

async fn receivers(backend: &Backend) -> (SocketAddr, SocketAddr, Queue) {
    let dedup = Deduplicator::new(Arc::clone(&backend.store), &fresh("dedup")).expect("namespace");
    let deduplicating = Router::new()
        .route(
            "/webhooks",
            post(processed).layer(WebhookLayer::new(verifier(), dedup)),
        )
        .with_state(verifier());
    let queue = Queue::new(Arc::clone(&backend.queue), &fresh("queue")).expect("namespace");
    let enqueueing = Router::new().route("/webhooks", enqueue_route(verifier(), queue.clone()));
    (
        load::serve(deduplicating).await,
        load::serve(enqueueing).await,
        queue,
    )
}

/// The receivers' rates on `backend`, beside the bare server's, in one interleaved run.
async fn rates(backend: &Backend, bare: SocketAddr) {
    let (slice, slices) = if backend.durable {
        (
            env_or("QUEUE_HTTP_DURABLE_SLICE", 500),
            env_or("QUEUE_HTTP_DURABLE_SLICES", 4),
        )
    } else {
        (
            env_or("QUEUE_HTTP_SLICE", 2_000),
            env_or("QUEUE_HTTP_SLICES", 20),
        )
    };
    let connections = env_or("QUEUE_HTTP_CONNECTIONS", 16).max(1);
    let (deduplicating, enqueueing, _) = receivers(backend).await;
    let servers = [
        Server::new("bare (no verification, handler does nothing)", bare),
        Server::new(
            format!(
                "deduplicating receiver (WebhookLayer, {} store)",
                backend.name
            ),
            deduplicating,
        ),
        Server::new(
            format!("enqueue mode (enqueue_route, {} queue)", backend.name),
            enqueueing,
        ),
    ];
    let mut servers = Vec::from(servers);
    if backend.name == "memory" {
        let dedup =
            Deduplicator::new(Arc::clone(&backend.store), &fresh("kept")).expect("namespace");
        let records: Arc<std::sync::Mutex<Vec<JobRecord>>> = Arc::default();
        let keeping = Router::new()
            .route(
                "/webhooks",
                post(kept).layer(WebhookLayer::new(verifier(), dedup)),
            )
            .with_state(Keeping {
                verifier: verifier(),
                records,
            });
        servers.push(Server::new(
            "floor: the deduplicating receiver keeping each job's record in memory",
            load::serve(keeping).await,
        ));
    }
    let total = interleave(
        &mut servers,
        slices.max(1),
        slice.max(1),
        connections,
        || {},
    )
    .await;
    println!(
        "{}: {BODY_BYTES}-byte bodies, {connections} connections, {slices} slices of {slice} per server",
        backend.name
    );
    let bare_rate = servers[0].rate(total);
    for server in &servers {
        let rate = server.rate(total);
        println!(
            "  {}: {rate:.0} req/s ({:.3} of bare)",
            server.name,
            rate / bare_rate
        );
    }
    println!(
        "  {}: enqueue mode / deduplicating receiver = {:.3}",
        backend.name,
        servers[2].rate(total) / servers[1].rate(total)
    );
    if let Some(floor) = servers.get(3) {
        println!(
            "  {}: enqueue mode / the floor keeping each record = {:.3}",
            backend.name,
            servers[2].rate(total) / floor.rate(total)
        );
    }
}

/// The time from each 2xx to its handler's start on an idle worker, in µs, sorted. Negative
/// when the handler started before the client had read the answer.
async fn latencies(backend: &Backend) -> Vec<f64> {
    let samples = env_or("QUEUE_HTTP_SAMPLES", 2_000) / if backend.durable { 4 } else { 1 };
    let (_, enqueueing, queue) = receivers(backend).await;
    let (started, mut starts) = mpsc::unbounded_channel();
    let worker = queue.worker().concurrency(1).build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(
        move |job| {
            let at = Instant::now();
            let started = started.clone();
            async move {
                started
                    .send((job.webhook_id().to_owned(), at))
                    .expect("the bench listens");
                Ok::<(), Infallible>(())
            }
        },
        async move {
            let _ = stopped.await;
        },
    ));
    let mut sender = connect(enqueueing).await;
    let mut figures = Vec::with_capacity(samples);
    for (index, delivery) in deliveries(samples, 1 << 40).iter().enumerate() {
        send(&mut sender, delivery).await;
        let answered = Instant::now();
        let (id, at) = starts.recv().await.expect("the worker runs");
        assert_eq!(id, delivery.id, "one job at a time");
        let micros = if at >= answered {
            at.duration_since(answered).as_secs_f64() * 1e6
        } else {
            -(answered.duration_since(at).as_secs_f64() * 1e6)
        };
        if index >= samples / 10 {
            figures.push(micros);
        }
        // Leave the worker idle again (its completion recorded) before the next delivery.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = stop.send(());
    running.await.expect("worker task").expect("worker run");
    figures.sort_by(f64::total_cmp);
    figures
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn backends(picked: &[String]) -> Vec<Backend> {
    let wanted = |name: &str| picked.is_empty() || picked.iter().any(|p| p == name);
    let mut backends = Vec::new();
    if wanted("memory") {
        backends.push(Backend {
            name: "memory",
            store: Arc::new(MemoryStore::new(DEFAULT_MEMORY_CAPACITY)),
            queue: Arc::new(MemoryQueue::new()),
            durable: false,
            leftover: Leftover::Nothing,
        });
    }
    #[cfg(feature = "redis")]
    if wanted("redis") {
        use amps_webhooks::queue::RedisQueue;
        use amps_webhooks::store::RedisStore;
        let url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let prefix = fresh("amps-webhooks-bench");
        let store = RedisStore::builder(url.as_str())
            .prefix(prefix.as_str())
            .connect()
            .await
            .unwrap_or_else(|error| panic!("needs a Redis at {url}: {error}"));
        let queue = RedisQueue::builder(url.as_str())
            .prefix(prefix.as_str())
            .connect()
            .await
            .unwrap_or_else(|error| panic!("needs a Redis at {url}: {error}"));
        backends.push(Backend {
            name: "redis",
            store: Arc::new(store),
            queue: Arc::new(queue),
            durable: false,
            leftover: Leftover::RedisPrefix { url, prefix },
        });
    }
    #[cfg(feature = "postgres")]
    if wanted("postgres") {
        use amps_webhooks::queue::PostgresQueue;
        use amps_webhooks::store::PostgresStore;
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".to_owned());
        let table = fresh("bench_http").replace('-', "_");
        let store = PostgresStore::builder(url.as_str())
            .table(format!("{table}_claims"))
            .max_connections(16)
            .connect()
            .await
            .unwrap_or_else(|error| panic!("needs a PostgreSQL at {url}: {error}"));
        store.migrate().await.expect("migrate the store");
        let queue = PostgresQueue::builder(url.as_str())
            .table(format!("{table}_jobs"))
            .max_connections(16)
            .connect()
            .await
            .unwrap_or_else(|error| panic!("needs a PostgreSQL at {url}: {error}"));
        queue.migrate().await.expect("migrate the queue");
        let leftover = Leftover::Tables {
            pool: queue.pool().clone(),
            tables: vec![format!("{table}_claims"), format!("{table}_jobs")],
        };
        backends.push(Backend {
            name: "postgres",
            store: Arc::new(store),
            queue: Arc::new(queue),
            durable: true,
            leftover,
        });
    }
    #[cfg(feature = "sqlite")]
    if wanted("sqlite") {
        use amps_webhooks::queue::SqliteQueue;
        use amps_webhooks::store::SqliteStore;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::builder(dir.path().join("claims.db"))
            .connect()
            .await
            .expect("the SQLite store");
        let queue = SqliteQueue::builder(dir.path().join("jobs.db"))
            .connect()
            .await
            .expect("the SQLite queue");
        backends.push(Backend {
            name: "sqlite",
            store: Arc::new(store),
            queue: Arc::new(queue),
            durable: true,
            leftover: Leftover::Directory(dir),
        });
    }
    backends
}

fn main() {
    let picked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let bare = load::serve(Router::new().route("/webhooks", post(|| async { StatusCode::OK })))
            .await;
        let backends = backends(&picked).await;
        for backend in &backends {
            rates(backend, bare).await;
        }
        for backend in &backends {
            let figures = latencies(backend).await;
            println!(
                "{}: 2xx to handler start, idle worker, {} samples: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
                backend.name,
                figures.len(),
                percentile(&figures, 0.50),
                percentile(&figures, 0.99),
                figures[figures.len() - 1]
            );
        }
        for backend in backends {
            backend.leftover.remove().await;
        }
    });
}
