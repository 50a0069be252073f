//! The PostgreSQL queue (`DATABASE_URL`, else postgres://postgres@127.0.0.1/test), with
//! `synchronous_commit` on (checked): the drain rate of a `Worker` with a no-op handler at
//! concurrency 1 and 32, against the floor of the same run (two single-row autocommit
//! `UPDATE`s per job, as a take and a complete are, at the same concurrency); then the latency
//! of one enqueue, one take and one completion with 0, 100,000 and 200,000 jobs pending in the
//! namespace.
//! Timed loops; the tables are created for the run and dropped after.
//!
//! Run: `cargo bench --bench queue_postgres --features queue,postgres`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amps_webhooks::WebhookTimestamp;
use amps_webhooks::queue::{JobRecord, PostgresQueue, Queue, QueueBackend};
use amps_webhooks::store::sqlx;

const DRAINED: [(usize, usize); 2] = [(1, 2_000), (32, 10_000)];
const BACKLOGS: [i64; 3] = [0, 100_000, 200_000];
const SAMPLES: usize = 500;

fn record(key: &str) -> JobRecord {
    let now = SystemTime::now();
    JobRecord {
        webhook_id: format!("msg_{key}"),
        key: key.to_owned(),
        event_type: Some("push.completed".to_owned()),
        timestamp: WebhookTimestamp::from_unix(now.duration_since(UNIX_EPOCH).unwrap().as_secs()),
        received_at: now,
        body: format!(r#"{{"eventId":"{key}","type":"push.completed","data":{{}}}}"#).into_bytes(),
        headers: vec![
            ("webhook-id".to_owned(), format!("msg_{key}")),
            (
                "webhook-signature".to_owned(),
                "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=".to_owned(),
            ),
        ],
        attempts: 0,
        last_error: None,
        next_run_at: now,
    }
}

async fn fill(backend: &PostgresQueue, namespace: &str, count: usize) {
    let tasks: Vec<_> = (0..16)
        .map(|lane| {
            let (backend, namespace) = (backend.clone(), namespace.to_owned());
            tokio::spawn(async move {
                for i in (lane..count).step_by(16) {
                    backend
                        .enqueue(&namespace, &record(&format!("job-{i}")))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

async fn drain(backend: &PostgresQueue, concurrency: usize, jobs: usize) -> f64 {
    let namespace = format!("drain-{concurrency}");
    fill(backend, &namespace, jobs).await;
    let queue = Queue::new(Arc::new(backend.clone()), &namespace).unwrap();
    let started = Instant::now();
    let report = queue
        .worker()
        .concurrency(concurrency)
        .poll(Duration::from_millis(100))
        .drain(true)
        .build()
        .run(
            |_job| async { Ok::<(), Infallible>(()) },
            std::future::pending(),
        )
        .await
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(report.done, jobs as u64);
    jobs as f64 / elapsed
}

/// Jobs per second if each cost two single-row autocommit updates, `concurrency` at once.
async fn floor(backend: &PostgresQueue, table: &str, concurrency: usize, jobs: usize) -> f64 {
    let pool = backend.pool().clone();
    let statement =
        format!("UPDATE {table} SET attempts = attempts WHERE namespace = $1 AND key = $2");
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|lane| {
            let (pool, statement) = (pool.clone(), statement.clone());
            tokio::spawn(async move {
                for i in (lane..jobs).step_by(concurrency) {
                    for _ in 0..2 {
                        sqlx::query(&statement)
                            .bind(format!("drain-{concurrency}"))
                            .bind(format!("k:job-{i}"))
                            .execute(&pool)
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    jobs as f64 / started.elapsed().as_secs_f64()
}

/// Mean µs of one enqueue, one take and one completion, with `pending` jobs already waiting.
async fn latency(backend: &PostgresQueue, table: &str, pending: i64) -> (f64, f64, f64) {
    let namespace = format!("backlog-{pending}");
    sqlx::query(&format!(
        "INSERT INTO {table} (namespace, key, idempotency_key, webhook_id, timestamp, received_at, \
         body, headers, state, attempts, next_run_at) \
         SELECT $1, 'k:old-' || n, 'old-' || n, 'msg_' || n, 1700000000, \
         now() - interval '1 hour', '\\x7b7d', '[]', 'pending', 0, now() - interval '1 hour' \
         FROM generate_series(1, $2) AS n"
    ))
    .bind(&namespace)
    .bind(pending)
    .execute(backend.pool())
    .await
    .unwrap();
    sqlx::query(&format!("ANALYZE {table}"))
        .execute(backend.pool())
        .await
        .unwrap();
    let started = Instant::now();
    for i in 0..SAMPLES {
        backend
            .enqueue(&namespace, &record(&format!("new-{i}")))
            .await
            .unwrap();
    }
    let enqueue = started.elapsed().as_secs_f64() * 1e6 / SAMPLES as f64;
    let started = Instant::now();
    let mut taken = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let jobs = backend
            .take(&namespace, 1, Duration::from_secs(60), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1);
        taken.extend(jobs);
    }
    let take = started.elapsed().as_secs_f64() * 1e6 / SAMPLES as f64;
    let started = Instant::now();
    for job in &taken {
        backend
            .complete(&namespace, job, Duration::from_secs(3600))
            .await
            .unwrap();
    }
    let complete = started.elapsed().as_secs_f64() * 1e6 / SAMPLES as f64;
    (enqueue, take, complete)
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".to_owned());
    let name = format!(
        "bench_jobs_{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    let backend = PostgresQueue::builder(url.as_str())
        .table(name.as_str())
        .max_connections(40)
        .command_timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap_or_else(|error| panic!("needs a PostgreSQL at {url}: {error}"));
    backend.migrate().await.unwrap();
    let commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(backend.pool())
        .await
        .unwrap();
    assert_eq!(commit, "on", "measure with synchronous_commit on");
    let table = format!("\"{name}\"");
    println!("synchronous_commit = {commit}");
    for (concurrency, jobs) in DRAINED {
        let rate = drain(&backend, concurrency, jobs).await;
        let floor = floor(&backend, &table, concurrency, jobs).await;
        println!(
            "drain, no-op handler, concurrency {concurrency:>2}: {rate:>7.0} jobs/s   floor (2 autocommit updates a job): {floor:>7.0} jobs/s   ratio {:.2}",
            rate / floor
        );
    }
    for pending in BACKLOGS {
        let (enqueue, take, complete) = latency(&backend, &table, pending).await;
        println!(
            "{pending:>7} pending: enqueue {enqueue:>7.0} µs   take {take:>7.0} µs   complete {complete:>7.0} µs   (mean of {SAMPLES})"
        );
    }
    sqlx::raw_sql(&format!(
        "DROP TABLE {table}; DROP SEQUENCE \"{name}_dead_seq\""
    ))
    .execute(backend.pool())
    .await
    .unwrap();
}
