//! End to end on SQLite over real sockets and processes (issue 19's Done-when), by the shared
//! run of tests/queue_e2e_common: examples/queue_sqlite.rs as the receiver process (the
//! library's `enqueue_route`) and the worker process (the transactional handler, killed with
//! SIGKILL mid-run and restarted), all on one database file; every event's business row
//! exists, exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod queue_e2e_common;

use std::collections::HashMap;
use std::sync::Arc;

use amps_webhooks::queue::{Queue, SqliteQueue};
use amps_webhooks::store::sqlx;
use queue_e2e_common::{Backend, end_to_end};

const NAMESPACE: &str = "e2e";

/// This run's database file, in a directory removed at the end.
struct Sqlite {
    _dir: tempfile::TempDir,
    file: String,
    backend: SqliteQueue,
    queue: Queue,
}

impl Backend for Sqlite {
    const EXAMPLE: &'static str = "queue_sqlite";
    const EXACTLY_ONCE: bool = true;

    fn args(&self) -> Vec<String> {
        ["--file", &self.file, "--namespace", NAMESPACE]
            .map(str::to_owned)
            .to_vec()
    }

    fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The example's business table `orders`: key to rows.
    async fn effects(&self) -> HashMap<String, u64> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT event_key, count(*) FROM orders GROUP BY event_key")
                .fetch_all(self.backend.pool())
                .await
                .unwrap();
        rows.into_iter()
            .map(|(key, count)| (key, count.unsigned_abs()))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: 2,000 events through processes"]
async fn two_thousand_events_redelivered_failing_and_a_killed_worker_give_one_row_each() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queue.db").to_str().unwrap().to_owned();
    // The test's own connection to the file, for the stats (the file created here).
    let backend = SqliteQueue::builder(&file).connect().await.unwrap();
    let sqlite = Sqlite {
        _dir: dir,
        file,
        queue: Queue::new(Arc::new(backend.clone()), NAMESPACE).unwrap(),
        backend,
    };
    let run = end_to_end(&sqlite).await;
    assert_eq!(run.repeated.len(), 0);
}
