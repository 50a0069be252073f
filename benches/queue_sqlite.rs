//! SQLite beside memory in one run (the VM's speed varies: read the ratios): claims per second
//! (`claim` + `complete` of fresh keys through `Arc<dyn IdempotencyStore>`, one at a time and
//! 32 in flight), enqueues per second (fresh keys through `Queue::enqueue_record`, one at a
//! time and 32 in flight: what a receiver in enqueue mode pays per delivery), and the drain
//! rate of a `Worker` with a no-op handler at concurrency 1 and 32. A timed loop: each figure
//! is the whole run's count over its wall time. The SQLite file is in a temporary directory.
//!
//! Run: `cargo bench --bench queue_sqlite --features sqlite,queue,memory`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use amps_webhooks::WebhookTimestamp;
use amps_webhooks::queue::{JobRecord, MemoryQueue, Queue, QueueBackend, SqliteQueue};
use amps_webhooks::store::{Claim, IdempotencyStore, MemoryStore, SqliteStore};

const CLAIMS: usize = 4_000;
const JOBS: usize = 4_000;
const IN_FLIGHT: usize = 32;

fn record(key: &str) -> JobRecord {
    let now = SystemTime::now();
    JobRecord {
        webhook_id: key.to_owned(),
        key: key.to_owned(),
        event_type: Some("push.completed".to_owned()),
        timestamp: WebhookTimestamp::from_unix(1_700_000_000),
        received_at: now,
        body: br#"{"event":"push.completed","eventId":"x","data":{}}"#.to_vec(),
        headers: vec![("webhook-id".to_owned(), key.to_owned())],
        attempts: 0,
        last_error: None,
        next_run_at: now,
    }
}

/// Runs `total` calls of `op` (given its index), `parallel` at a time: calls per second.
async fn rate<F, Fut>(total: usize, parallel: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let tasks: Vec<_> = (0..parallel)
        .map(|lane| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut i = lane;
                while i < total {
                    op(i).await;
                    i += parallel;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

async fn claims(store: Arc<dyn IdempotencyStore>, parallel: usize, round: &str) -> f64 {
    let round = round.to_owned();
    rate(CLAIMS, parallel, move |i| {
        let (store, key) = (Arc::clone(&store), format!("{round}:{i}"));
        async move {
            let Claim::Acquired(token) = store.claim(&key, Duration::from_secs(60)).await.unwrap()
            else {
                panic!("fresh key")
            };
            store
                .complete(&key, token, Duration::from_secs(3600))
                .await
                .unwrap();
        }
    })
    .await
}

async fn enqueues(queue: Queue, parallel: usize) -> f64 {
    rate(JOBS, parallel, move |i| {
        let queue = queue.clone();
        async move {
            queue
                .enqueue_record(&record(&format!("e{i}")))
                .await
                .unwrap();
        }
    })
    .await
}

async fn drain(queue: &Queue, concurrency: usize) -> f64 {
    let started = Instant::now();
    let report = queue
        .worker()
        .concurrency(concurrency)
        .poll(Duration::from_millis(20))
        .drain(true)
        .build()
        .run(
            |_job| async { Ok::<(), std::io::Error>(()) },
            std::future::pending(),
        )
        .await
        .unwrap();
    report.done as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let sqlite_store: Arc<dyn IdempotencyStore> = Arc::new(
        SqliteStore::builder(&path)
            .max_connections(IN_FLIGHT as u32)
            .connect()
            .await
            .unwrap(),
    );
    let memory_store: Arc<dyn IdempotencyStore> = Arc::new(MemoryStore::new(1_000_000));
    println!(
        "SQLite {} (WAL, synchronous = FULL), file in {}",
        sqlite_version(&path).await,
        dir.path().display()
    );
    for parallel in [1, IN_FLIGHT] {
        let sqlite = claims(Arc::clone(&sqlite_store), parallel, &format!("c{parallel}")).await;
        let memory = claims(Arc::clone(&memory_store), parallel, &format!("c{parallel}")).await;
        println!(
            "claim + complete, {parallel:>2} in flight: sqlite {sqlite:>9.0}/s  memory {memory:>9.0}/s  ratio {:.4}",
            sqlite / memory
        );
    }
    let sqlite_queue: Arc<dyn QueueBackend> = Arc::new(
        SqliteQueue::builder(&path)
            .max_connections(IN_FLIGHT as u32)
            .connect()
            .await
            .unwrap(),
    );
    let memory_queue: Arc<dyn QueueBackend> = Arc::new(MemoryQueue::new());
    for concurrency in [1, IN_FLIGHT] {
        let mut figures = Vec::new();
        for (name, backend) in [("sqlite", &sqlite_queue), ("memory", &memory_queue)] {
            let queue = Queue::new(Arc::clone(backend), &format!("{name}-{concurrency}")).unwrap();
            let enqueued = enqueues(queue.clone(), concurrency).await;
            let drained = drain(&queue, concurrency).await;
            figures.push((name, enqueued, drained));
        }
        for (name, enqueued, drained) in &figures {
            println!(
                "{name}: enqueue {concurrency:>2} in flight {enqueued:>9.0}/s; drain at concurrency {concurrency:>2} {drained:>9.0} jobs/s"
            );
        }
        println!(
            "ratio sqlite/memory at {concurrency}: enqueue {:.4}, drain {:.4}",
            figures[0].1 / figures[1].1,
            figures[0].2 / figures[1].2
        );
    }
}

async fn sqlite_version(path: &std::path::Path) -> String {
    let pool =
        amps_webhooks::store::sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
    amps_webhooks::store::sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&pool)
        .await
        .unwrap()
}
