//! The queue conformance suite on PostgreSQL (`DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`), time on a `MockClock`; and this backend's own
//! checks: `LISTEN/NOTIFY` wakes a waiting take without its poll, the transactional handler
//! (business rows and completion commit together, a fenced worker commits nothing) on its own
//! and under a `Worker`, PostgreSQL unreachable or silent, the migration, the configuration.
//!
//! Every test works in its own table (`amps_webhooks_test.q_<unix time>_<random>`); tables of
//! runs older than an hour are dropped on the way. The tests are `#[ignore = "needs PostgreSQL
//! at 127.0.0.1:5432"]`; run them with `-- --include-ignored`, where a missing PostgreSQL
//! fails them with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "queue_common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amps_webhooks::MockClock;
use amps_webhooks::queue::{
    AttemptOutcome, Enqueue, JobState, PostgresQueue, PostgresQueueBuilder, Queue,
    TransactionalError,
};
use amps_webhooks::store::sqlx::{self, PgPool};
use amps_webhooks::store::{ClaimToken, StoreError};
use common::{Harness, fresh_namespace, keys};

const SCHEMA: &str = "amps_webhooks_test";
const LEASE: Duration = Duration::from_secs(60);
const RETENTION: Duration = Duration::from_secs(72 * 3600);

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A table name of this test alone; its creation time lets later runs drop it.
fn unique_table() -> String {
    format!(
        "q_{}_{:012x}",
        unix_now(),
        ClaimToken::random().as_u128() as u64 & 0xffff_ffff_ffff
    )
}

/// Drops the queue tables (and their sequences) of runs that started more than an hour ago.
async fn drop_stale_tables(pool: &PgPool) {
    let Ok(tables) = sqlx::query_scalar::<_, String>(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = $1 AND table_name LIKE 'q\\_%'",
    )
    .bind(SCHEMA)
    .fetch_all(pool)
    .await
    else {
        return;
    };
    for table in tables {
        let created = table
            .strip_prefix("q_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|unix| unix.parse::<u64>().ok());
        if created.is_some_and(|created| created + 3600 < unix_now()) {
            let _ = sqlx::raw_sql(&format!(
                "DROP TABLE IF EXISTS \"{SCHEMA}\".\"{table}\"; \
                 DROP SEQUENCE IF EXISTS \"{SCHEMA}\".\"{table}_dead_seq\""
            ))
            .execute(pool)
            .await;
        }
    }
}

/// A builder on a fresh table of the test schema, its clock set.
fn builder(clock: &MockClock) -> PostgresQueueBuilder {
    PostgresQueue::builder(database_url())
        .schema(SCHEMA)
        .table(unique_table())
        .clock(clock.clone())
        .command_timeout(Duration::from_secs(5))
}

/// A migrated queue from `builder`; panics, saying why, when no PostgreSQL answers.
async fn migrated(builder: PostgresQueueBuilder) -> PostgresQueue {
    let url = database_url();
    let queue = match builder.connect().await {
        Ok(queue) => queue,
        Err(error) => panic!(
            "this test needs a PostgreSQL, and none answers at {url} ({error}): start one on 127.0.0.1:5432 with a database `test` or set DATABASE_URL"
        ),
    };
    drop_stale_tables(queue.pool()).await;
    queue.migrate().await.unwrap();
    queue
}

async fn connect() -> (PostgresQueue, MockClock) {
    let clock = MockClock::at_unix(1_700_000_000);
    (migrated(builder(&clock)).await, clock)
}

fn harness_of(queue: PostgresQueue, clock: MockClock) -> Harness {
    Harness {
        backend: Arc::new(queue),
        clock: Arc::new(clock.clone()),
        advance: Arc::new(move |by| {
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: LEASE,
        retention: RETENTION,
        namespace: fresh_namespace("postgres"),
    }
}

async fn harness() -> Harness {
    let (queue, clock) = connect().await;
    harness_of(queue, clock)
}

queue_conformance_tests!(harness(), #[ignore = "needs PostgreSQL at 127.0.0.1:5432"]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn notify_wakes_a_waiting_take_that_would_not_poll_before_its_wait_ends() {
    let clock = MockClock::at_unix(1_700_000_000);
    // A poll longer than the wait: only a notification can end the wait with the job
    // before the wait runs out.
    let queue = migrated(builder(&clock).poll(Duration::from_secs(3600))).await;
    let h = harness_of(queue, clock);
    let waiting = {
        let h = h.clone();
        tokio::spawn(async move {
            h.backend
                .take(&h.namespace, 1, h.lease, Duration::from_secs(30))
                .await
                .unwrap()
        })
    };
    // Let the take listen, look, find nothing and wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the take answered before any enqueue"
    );
    h.enqueued("woken").await;
    // A hang guard well inside the 30 s wait: the take answers the job because it was woken.
    let jobs = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the waiting take was not woken by the enqueue's NOTIFY")
        .unwrap();
    assert_eq!(keys(&jobs), ["woken"]);
    assert_eq!(jobs[0].attempt(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn notifications_of_another_namespace_do_not_hand_over_its_jobs() {
    let clock = MockClock::at_unix(1_700_000_000);
    let queue = migrated(builder(&clock).poll(Duration::from_secs(3600))).await;
    let h = harness_of(queue.clone(), clock.clone());
    let other = harness_of(queue, clock);
    let waiting = {
        let h = h.clone();
        tokio::spawn(async move {
            h.backend
                .take(&h.namespace, 1, h.lease, Duration::from_millis(800))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    other.enqueued("elsewhere").await;
    assert!(waiting.await.unwrap().is_empty());
    assert_eq!(keys(&other.take(5).await), ["elsewhere"]);
}

/// A business table beside the queue's.
async fn business_table(queue: &PostgresQueue) -> String {
    let business = format!("{}_orders", queue.table());
    sqlx::query(&format!(
        "CREATE TABLE {business} (id bigserial PRIMARY KEY, job_key text NOT NULL)"
    ))
    .execute(queue.pool())
    .await
    .unwrap();
    business
}

async fn business_rows(pool: &PgPool, business: &str) -> Vec<String> {
    sqlx::query_scalar(&format!("SELECT job_key FROM {business} ORDER BY id"))
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn complete_in_commits_with_the_business_row_and_the_worker_completion_is_a_no_op() {
    let (queue, clock) = connect().await;
    let business = business_table(&queue).await;
    let h = harness_of(queue.clone(), clock);
    h.enqueued("order-1").await;
    let job = h.take_one("order-1").await;

    let mut tx = queue.pool().begin().await.unwrap();
    sqlx::query(&format!("INSERT INTO {business} (job_key) VALUES ($1)"))
        .bind(job.key())
        .execute(&mut *tx)
        .await
        .unwrap();
    queue
        .complete_in(&mut tx, &h.namespace, &job, RETENTION)
        .await
        .unwrap();
    // Uncommitted: the job is still running for everyone else, and no one can take it over.
    assert_eq!(h.counts().await, [0, 1, 0, 0]);
    h.outlive_lease().await;
    assert!(
        h.take(5).await.is_empty(),
        "a job locked by complete_in was taken"
    );
    tx.commit().await.unwrap();

    assert_eq!(h.counts().await, [0, 0, 0, 1]);
    assert_eq!(business_rows(queue.pool(), &business).await, ["order-1"]);
    // The worker's own completion after the commit: a no-op.
    h.complete(&job).await.unwrap();
    assert_eq!(
        h.enqueue("order-1").await,
        Enqueue::Duplicate {
            state: JobState::Done
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn a_fenced_transactional_handler_commits_nothing() {
    let (queue, clock) = connect().await;
    let business = business_table(&queue).await;
    let h = harness_of(queue.clone(), clock);
    h.enqueued("order-2").await;
    let stale = h.take_one("order-2").await;
    h.outlive_lease().await;
    let current = h.take_one("order-2").await;
    assert_eq!(current.attempt(), 2);

    let handler = {
        let business = business.clone();
        queue.transactional(&h.namespace, RETENTION, move |job, mut tx| {
            let business = business.clone();
            async move {
                sqlx::query(&format!("INSERT INTO {business} (job_key) VALUES ($1)"))
                    .bind(job.key())
                    .execute(&mut *tx)
                    .await?;
                Ok::<_, sqlx::Error>(tx)
            }
        })
    };
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
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn a_failing_transactional_handler_rolls_back_its_writes() {
    let (queue, clock) = connect().await;
    let business = business_table(&queue).await;
    let h = harness_of(queue.clone(), clock);
    h.enqueued("order-3").await;
    let job = h.take_one("order-3").await;
    let handler = {
        let business = business.clone();
        queue.transactional(&h.namespace, RETENTION, move |job, mut tx| {
            let business = business.clone();
            async move {
                sqlx::query(&format!("INSERT INTO {business} (job_key) VALUES ($1)"))
                    .bind(job.key())
                    .execute(&mut *tx)
                    .await
                    .map_err(|error| error.to_string())?;
                Err::<sqlx::Transaction<'static, sqlx::Postgres>, _>(
                    "the ledger said no".to_owned(),
                )
            }
        })
    };
    let failed = handler(job.clone()).await;
    assert!(
        matches!(&failed, Err(TransactionalError::Handler(message)) if message == "the ledger said no"),
        "{failed:?}"
    );
    assert_eq!(failed.unwrap_err().to_string(), "the ledger said no");
    assert_eq!(
        business_rows(queue.pool(), &business).await,
        Vec::<String>::new()
    );
    // Still running under the worker's token: the worker records the failure.
    h.fail(&job, "the ledger said no", Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(h.counts().await, [1, 0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn a_worker_with_a_transactional_handler_writes_one_row_per_job() {
    let (queue, clock) = connect().await;
    let business = business_table(&queue).await;
    let namespace = fresh_namespace("postgres-worker");
    let jobs = Queue::new(Arc::new(queue.clone()), &namespace)
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
        .with_retention(RETENTION);
    let h = Harness {
        namespace: namespace.clone(),
        ..harness_of(queue.clone(), clock)
    };
    for i in 0..50 {
        let key = format!("evt-{i}");
        assert_eq!(
            jobs.enqueue_record(&h.record(&key)).await.unwrap(),
            Enqueue::Enqueued
        );
    }
    let handler = {
        let business = business.clone();
        queue.transactional(&namespace, RETENTION, move |job, mut tx| {
            let business = business.clone();
            async move {
                sqlx::query(&format!("INSERT INTO {business} (job_key) VALUES ($1)"))
                    .bind(job.key())
                    .execute(&mut *tx)
                    .await?;
                Ok::<_, sqlx::Error>(tx)
            }
        })
    };
    let report = jobs
        .worker()
        .concurrency(8)
        .poll(Duration::from_millis(100))
        .drain(true)
        .on_attempt(|attempt| assert_eq!(attempt.outcome, AttemptOutcome::Done))
        .build()
        .run(handler, std::future::pending())
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

/// True for the postgres store's timeout after `timeout`.
fn timed_out(error: Option<&StoreError>, timeout: Duration) -> bool {
    matches!(error, Some(StoreError::Timeout { store: "postgres", after }) if *after == timeout)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_closed_port_fails_every_operation_within_the_command_timeout() {
    // sqlx's pool tries to connect again until its acquire timeout (the command timeout), so
    // a refused connection is answered as that timeout.
    let timeout = Duration::from_millis(300);
    let queue = PostgresQueue::builder(format!(
        "postgres://postgres@127.0.0.1:{}/test",
        closed_port()
    ))
    .command_timeout(timeout)
    .build()
    .unwrap();
    let h = harness_of(queue, MockClock::at_unix(1_700_000_000));
    let enqueued = h.backend.enqueue(&h.namespace, &h.record("a")).await;
    assert!(timed_out(enqueued.as_ref().err(), timeout), "{enqueued:?}");
    let taken = h
        .backend
        .take(&h.namespace, 1, LEASE, Duration::from_millis(50))
        .await;
    assert!(timed_out(taken.as_ref().err(), timeout), "{taken:?}");
    let stats = h.backend.stats(&h.namespace).await;
    assert!(timed_out(stats.as_ref().err(), timeout), "{stats:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout() {
    // Accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let queue = PostgresQueue::builder(format!("postgres://postgres@127.0.0.1:{port}/test"))
        .command_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let h = harness_of(queue, MockClock::at_unix(1_700_000_000));
    let enqueued = h.backend.enqueue(&h.namespace, &h.record("a")).await;
    assert!(
        matches!(
            enqueued,
            Err(StoreError::Timeout { store: "postgres", after }) if after == Duration::from_millis(300)
        ),
        "{enqueued:?}"
    );
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn migration_is_idempotent_and_an_unmigrated_table_is_an_error() {
    let clock = MockClock::at_unix(1_700_000_000);
    let queue = migrated(builder(&clock)).await;
    queue.migrate().await.unwrap();
    assert!(queue.migration_sql().contains(&format!(
        "CREATE TABLE IF NOT EXISTS \"{SCHEMA}\".\"{}\"",
        queue.table().trim_start_matches("amps_webhooks_test.")
    )));
    let bare = builder(&clock).connect().await.unwrap();
    let h = harness_of(bare, clock);
    let enqueued = h.backend.enqueue(&h.namespace, &h.record("a")).await;
    assert!(
        matches!(
            enqueued,
            Err(StoreError::Unavailable {
                store: "postgres",
                ..
            })
        ),
        "{enqueued:?}"
    );
}

#[tokio::test]
async fn bad_configuration_is_refused() {
    for (builder, says) in [
        (
            PostgresQueue::builder("postgres://x@127.0.0.1/db").table("Jobs"),
            "table name",
        ),
        (
            PostgresQueue::builder("postgres://x@127.0.0.1/db").table("a".repeat(49)),
            "table name",
        ),
        (
            PostgresQueue::builder("postgres://x@127.0.0.1/db").schema("a-b"),
            "schema name",
        ),
        (
            PostgresQueue::builder("mysql://x@127.0.0.1/db"),
            "postgres://",
        ),
    ] {
        match builder.build() {
            Err(StoreError::Configuration {
                store: "postgres",
                detail,
            }) => {
                assert!(detail.contains(says), "{detail}");
            }
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }
}
