//! End to end on PostgreSQL over real sockets and processes (issue 16's Done-when), by the
//! shared run of tests/queue_e2e_common: examples/queue_postgres.rs as the receiver process
//! (the library's `enqueue_route`) and the worker process (the transactional handler, killed
//! with SIGKILL mid-run and restarted); every event's business row exists, exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod queue_e2e_common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amps_webhooks::queue::{PostgresQueue, Queue};
use amps_webhooks::store::sqlx;
use queue_e2e_common::{Backend, end_to_end};

const SCHEMA: &str = "amps_webhooks_test";
const NAMESPACE: &str = "e2e";

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// This run's jobs table and business table, in the test schema.
struct Postgres {
    backend: PostgresQueue,
    queue: Queue,
    table: String,
    business: String,
}

impl Backend for Postgres {
    const EXAMPLE: &'static str = "queue_postgres";
    const EXACTLY_ONCE: bool = true;

    fn args(&self) -> Vec<String> {
        [
            "--schema",
            SCHEMA,
            "--table",
            &self.table,
            "--namespace",
            NAMESPACE,
        ]
        .into_iter()
        .chain(["--business", &self.business])
        .map(str::to_owned)
        .collect()
    }

    fn queue(&self) -> &Queue {
        &self.queue
    }

    async fn effects(&self) -> HashMap<String, u64> {
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT event_key, count(*) FROM \"{SCHEMA}\".\"{}\" GROUP BY event_key",
            self.business
        ))
        .fetch_all(self.backend.pool())
        .await
        .unwrap();
        rows.into_iter()
            .map(|(key, count)| (key, count.unsigned_abs()))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn two_thousand_events_redelivered_failing_and_a_killed_worker_give_one_row_each() {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let table = format!("q_{unix}_e2e_{}", std::process::id());
    let backend = match PostgresQueue::builder(database_url())
        .schema(SCHEMA)
        .table(table.as_str())
        .command_timeout(Duration::from_secs(10))
        .connect()
        .await
    {
        Ok(backend) => backend,
        Err(error) => panic!(
            "this test needs a PostgreSQL at {} ({error})",
            database_url()
        ),
    };
    // The receiver migrates too, idempotently; the stats need the table before it starts.
    backend.migrate().await.unwrap();
    let postgres = Postgres {
        queue: Queue::new(Arc::new(backend.clone()), NAMESPACE).unwrap(),
        backend,
        business: format!("{table}_effects"),
        table,
    };
    let run = end_to_end(&postgres).await;
    assert_eq!(run.repeated.len(), 0);

    sqlx::raw_sql(&format!(
        "DROP TABLE \"{SCHEMA}\".\"{business}\"; DROP TABLE \"{SCHEMA}\".\"{table}\"; \
         DROP SEQUENCE \"{SCHEMA}\".\"{table}_dead_seq\"",
        business = postgres.business,
        table = postgres.table
    ))
    .execute(postgres.backend.pool())
    .await
    .unwrap();
}
