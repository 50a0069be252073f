//! The queue conformance suite on SQLite (a fresh database file per test, time on a
//! `MockClock`), and the SQLite queue's own checks: two independent pools on one file never
//! hand one job to two workers, a take in another process's pool sees an enqueue by polling,
//! the transactional handler (commit together, fenced commits nothing, failure rolls back,
//! under a Worker: one business row per job), the bad-file and unwritable-file errors.
// The helpers are not tests: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "queue_common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::MockClock;
use amps_webhooks::queue::{
    AttemptOutcome, Enqueue, JobState, Queue, QueueBackend, SqliteQueue, TransactionalError,
};
use amps_webhooks::store::StoreError;
use amps_webhooks::store::sqlx::{self, SqlitePool};
use common::{Harness, fresh_namespace};

const LEASE: Duration = Duration::from_secs(60);
const RETENTION: Duration = Duration::from_secs(72 * 3600);

async fn open(path: &std::path::Path, clock: &MockClock) -> SqliteQueue {
    SqliteQueue::builder(path)
        .clock(clock.clone())
        .command_timeout(Duration::from_secs(10))
        .poll(Duration::from_millis(10))
        .connect()
        .await
        .unwrap()
}

async fn connect() -> (SqliteQueue, MockClock, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::at_unix(1_700_000_000);
    (open(&dir.path().join("queue.db"), &clock).await, clock, dir)
}

fn harness_of(queue: SqliteQueue, clock: MockClock, dir: Arc<tempfile::TempDir>) -> Harness {
    Harness {
        backend: Arc::new(queue),
        clock: Arc::new(clock.clone()),
        advance: Arc::new(move |by| {
            // The directory lives as long as the harness.
            let _dir = &dir;
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: LEASE,
        retention: RETENTION,
        namespace: fresh_namespace("sqlite"),
    }
}

async fn harness() -> Harness {
    let (queue, clock, dir) = connect().await;
    harness_of(queue, clock, Arc::new(dir))
}

queue_conformance_tests!(harness());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_on_one_file_never_take_one_job_twice() {
    let (first, clock, dir) = connect().await;
    let second = open(&dir.path().join("queue.db"), &clock).await;
    let dir = Arc::new(dir);
    let h = harness_of(first.clone(), clock.clone(), Arc::clone(&dir));
    for i in 0..300 {
        h.enqueued(&format!("evt-{i}")).await;
    }
    let takers: Vec<_> = (0..8)
        .map(|i| {
            let backend: Arc<dyn QueueBackend> = if i % 2 == 0 {
                Arc::new(first.clone())
            } else {
                Arc::new(second.clone())
            };
            let namespace = h.namespace.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let jobs = backend
                        .take(&namespace, 7, LEASE, Duration::ZERO)
                        .await
                        .unwrap();
                    if jobs.is_empty() {
                        return mine;
                    }
                    for job in jobs {
                        backend.complete(&namespace, &job, RETENTION).await.unwrap();
                        mine.push(job.key().to_owned());
                    }
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut runs = 0;
    for taker in takers {
        for key in taker.await.unwrap() {
            runs += 1;
            assert!(seen.insert(key.clone()), "{key} ran twice");
        }
    }
    assert_eq!((runs, seen.len()), (300, 300));
    assert_eq!(h.counts().await, [0, 0, 0, 300]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_on_another_pool_sees_an_enqueue_by_polling() {
    let (first, clock, dir) = connect().await;
    let second = open(&dir.path().join("queue.db"), &clock).await;
    let h = harness_of(first, clock, Arc::new(dir));
    let waiting = {
        let namespace = h.namespace.clone();
        tokio::spawn(async move {
            second
                .take(&namespace, 1, LEASE, Duration::from_secs(30))
                .await
                .unwrap()
        })
    };
    h.enqueued("polled").await;
    let jobs = waiting.await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].key(), "polled");
}

async fn business_table(queue: &SqliteQueue) -> String {
    let business = format!("{}_orders", queue.table());
    sqlx::query(&format!(
        "CREATE TABLE {business} (id INTEGER PRIMARY KEY, job_key TEXT NOT NULL)"
    ))
    .execute(queue.pool())
    .await
    .unwrap();
    business
}

async fn business_rows(pool: &SqlitePool, business: &str) -> Vec<String> {
    sqlx::query_scalar(&format!("SELECT job_key FROM {business} ORDER BY id"))
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_in_commits_with_the_business_row_and_the_worker_completion_is_a_no_op() {
    let (queue, clock, dir) = connect().await;
    let business = business_table(&queue).await;
    let h = harness_of(queue.clone(), clock, Arc::new(dir));
    h.enqueued("order-1").await;
    let job = h.take_one("order-1").await;

    let mut tx = queue.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query(&format!("INSERT INTO {business} (job_key) VALUES (?1)"))
        .bind(job.key().to_owned())
        .execute(&mut *tx)
        .await
        .unwrap();
    queue
        .complete_in(&mut tx, &h.namespace, &job, RETENTION)
        .await
        .unwrap();
    // Uncommitted: readers still see the job running and no business row.
    assert_eq!(h.counts().await, [0, 1, 0, 0]);
    assert_eq!(
        business_rows(queue.pool(), &business).await,
        Vec::<String>::new()
    );
    tx.commit().await.unwrap();

    assert_eq!(h.counts().await, [0, 0, 0, 1]);
    assert_eq!(business_rows(queue.pool(), &business).await, ["order-1"]);
    h.complete(&job).await.unwrap();
    assert_eq!(
        h.enqueue("order-1").await,
        Enqueue::Duplicate {
            state: JobState::Done
        }
    );
}

fn inserting_handler(
    queue: &SqliteQueue,
    namespace: &str,
    business: &str,
) -> impl Fn(amps_webhooks::queue::Job) -> amps_webhooks::queue::TransactionalFuture<sqlx::Error>
+ Clone
+ Send
+ Sync
+ 'static {
    let business = business.to_owned();
    queue.transactional(namespace, RETENTION, move |job, mut tx| {
        let business = business.clone();
        async move {
            sqlx::query(&format!("INSERT INTO {business} (job_key) VALUES (?1)"))
                .bind(job.key().to_owned())
                .execute(&mut *tx)
                .await?;
            Ok::<_, sqlx::Error>(tx)
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_transactional_handler_commits_nothing() {
    let (queue, clock, dir) = connect().await;
    let business = business_table(&queue).await;
    let h = harness_of(queue.clone(), clock, Arc::new(dir));
    h.enqueued("order-2").await;
    let stale = h.take_one("order-2").await;
    h.outlive_lease().await;
    let current = h.take_one("order-2").await;
    assert_eq!(current.attempt(), 2);
    let handler = inserting_handler(&queue, &h.namespace, &business);
    let fenced = handler(stale).await;
    assert!(
        matches!(
            fenced,
            Err(TransactionalError::Store(StoreError::StaleToken))
        ),
        "{fenced:?}"
    );
    assert_eq!(
        business_rows(queue.pool(), &business).await,
        Vec::<String>::new()
    );
    assert_eq!(h.counts().await, [0, 1, 0, 0]);
    handler(current).await.unwrap();
    assert_eq!(business_rows(queue.pool(), &business).await, ["order-2"]);
    assert_eq!(h.counts().await, [0, 0, 0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_transactional_handler_rolls_back_its_writes() {
    let (queue, clock, dir) = connect().await;
    let business = business_table(&queue).await;
    let h = harness_of(queue.clone(), clock, Arc::new(dir));
    h.enqueued("order-3").await;
    let job = h.take_one("order-3").await;
    let handler = {
        let business = business.clone();
        queue.transactional(&h.namespace, RETENTION, move |job, mut tx| {
            let business = business.clone();
            async move {
                sqlx::query(&format!("INSERT INTO {business} (job_key) VALUES (?1)"))
                    .bind(job.key().to_owned())
                    .execute(&mut *tx)
                    .await
                    .map_err(|error| error.to_string())?;
                Err::<sqlx::Transaction<'static, sqlx::Sqlite>, _>("the ledger said no".to_owned())
            }
        })
    };
    let failed = handler(job.clone()).await;
    assert!(
        matches!(&failed, Err(TransactionalError::Handler(message)) if message == "the ledger said no"),
        "{failed:?}"
    );
    assert_eq!(
        business_rows(queue.pool(), &business).await,
        Vec::<String>::new()
    );
    h.fail(&job, "the ledger said no", Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(h.counts().await, [1, 0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_with_a_transactional_handler_writes_one_row_per_job() {
    let (queue, clock, dir) = connect().await;
    let business = business_table(&queue).await;
    let namespace = fresh_namespace("sqlite-worker");
    let jobs = Queue::new(Arc::new(queue.clone()), &namespace)
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
        .with_retention(RETENTION);
    let h = Harness {
        namespace: namespace.clone(),
        ..harness_of(queue.clone(), clock, Arc::new(dir))
    };
    for i in 0..50 {
        assert_eq!(
            jobs.enqueue_record(&h.record(&format!("evt-{i}")))
                .await
                .unwrap(),
            Enqueue::Enqueued
        );
    }
    let report = jobs
        .worker()
        .concurrency(8)
        .poll(Duration::from_millis(100))
        .drain(true)
        .on_attempt(|attempt| assert_eq!(attempt.outcome, AttemptOutcome::Done))
        .build()
        .run(
            inserting_handler(&queue, &namespace, &business),
            std::future::pending(),
        )
        .await
        .unwrap();
    assert_eq!(report.done, 50);
    let mut rows = business_rows(queue.pool(), &business).await;
    rows.sort();
    let mut expected: Vec<String> = (0..50).map(|i| format!("evt-{i}")).collect();
    expected.sort();
    assert_eq!(rows, expected);
    assert_eq!(h.counts().await, [0, 0, 0, 50]);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_configuration_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.txt");
    std::fs::write(&path, "not a database\n".repeat(400)).unwrap();
    match SqliteQueue::builder(&path).connect().await {
        Err(StoreError::Configuration {
            store: "sqlite",
            detail,
        }) => assert_eq!(
            detail,
            format!(
                "{} is not an SQLite database (error returned from database: (code: 26) file is not a database); give the path of an SQLite database, or of a new file to create",
                path.display()
            )
        ),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_queue_and_the_store_share_one_file() {
    let (queue, clock, dir) = connect().await;
    let store = amps_webhooks::store::SqliteStore::builder(dir.path().join("queue.db"))
        .clock(clock.clone())
        .connect()
        .await
        .unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .fetch_all(queue.pool())
            .await
            .unwrap();
    assert_eq!(tables, ["amps_webhook_jobs", "amps_webhooks_inbox"]);
    assert_eq!(store.path(), queue.path());
    assert!(
        queue
            .migration_sql()
            .starts_with("CREATE TABLE IF NOT EXISTS \"amps_webhook_jobs\" (")
    );
}

/// The `backend` label of its metrics.
#[tokio::test]
async fn the_queue_names_itself_sqlite() {
    let (queue, _clock, _dir) = connect().await;
    assert_eq!(queue.name(), "sqlite");
}
