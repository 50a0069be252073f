//! End to end on PostgreSQL over real sockets (issue 16's Done-when): 2,000 signed events
//! verified and enqueued, 30 % of them delivered again, 20 % of first attempts failing, the
//! worker a separate process (examples/queue_postgres.rs `work`, transactional handler) killed
//! with SIGKILL mid-run and restarted; every event's business row exists, exactly once.
//!
//! The worker binary is the example's: `cargo test --features queue,postgres` builds it (so
//! does `--all-features`); alone, `cargo build --example queue_postgres --features
//! queue,postgres` first, then `cargo test --features queue,postgres --test queue_postgres_e2e
//! -- --include-ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amps_webhooks::queue::{Enqueue, PostgresQueue, Queue, QueueStats};
use amps_webhooks::store::sqlx;
use amps_webhooks::{Signer, Verifier};

const SCHEMA: &str = "amps_webhooks_test";
const EVENTS: usize = 2_000;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The example's binary, beside this test's (target/<profile>/examples).
fn worker_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile.join("examples").join("queue_postgres");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build --example queue_postgres --features queue,postgres` (cargo test --features queue,postgres builds it)",
        binary.display()
    );
    binary
}

fn spawn_worker(table: &str, namespace: &str, business: &str, drain: bool) -> Child {
    let mut command = Command::new(worker_binary());
    command
        .args(["work", "--schema", SCHEMA, "--table", table])
        .args(["--namespace", namespace, "--business", business])
        .env("DATABASE_URL", database_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if drain {
        command.arg("--drain");
    }
    command.spawn().unwrap()
}

/// Polls the stats (real time: the worker is another process) until `until` holds.
async fn wait_for(queue: &Queue, what: &str, until: impl Fn(&QueueStats) -> bool) -> QueueStats {
    let waited = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let stats = queue.stats().await.unwrap();
            if until(&stats) {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("hang guard: {what} did not happen within 120 s"))
}

/// The signed delivery of event `i` (its `webhook-id` differs per delivery, as a redelivery's
/// may; the `eventId` is the key), verified and parsed, and enqueued.
async fn deliver(
    queue: &Queue,
    signer: &Signer,
    verifier: &Verifier,
    i: usize,
    try_: u32,
) -> Enqueue {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = format!(r#"{{"type":"order.paid","eventId":"evt_{i}","data":{{"order":{i}}}}}"#);
    let signed = signer
        .sign(&format!("msg_{i}_{try_}"), now, body.as_bytes())
        .unwrap();
    let headers = signed.webhook_headers();
    let event = verifier
        .verify(&headers, body.as_bytes())
        .unwrap()
        .parse::<serde_json::Value>()
        .unwrap();
    queue.enqueue(&event, &headers).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn two_thousand_events_redelivered_failing_and_a_killed_worker_give_one_row_each() {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let table = format!("q_{unix}_e2e_{}", std::process::id());
    let business = format!("{table}_effects");
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
    backend.migrate().await.unwrap();
    sqlx::query(&format!(
        "CREATE TABLE \"{SCHEMA}\".\"{business}\" (id bigserial PRIMARY KEY, event_key text NOT NULL, event_type text)"
    ))
    .execute(backend.pool())
    .await
    .unwrap();
    let namespace = "e2e";
    let queue = Queue::new(Arc::new(backend.clone()), namespace).unwrap();
    let signer = Arc::new(Signer::new(SECRET.parse().unwrap()));
    let verifier = Arc::new(Verifier::new(SECRET.parse().unwrap()));

    let mut first = spawn_worker(&table, namespace, &business, false);
    // Receivers: 8 at once, each event once, 30 % of them (i % 10 < 3) again at once after.
    let receivers: Vec<_> = (0..8)
        .map(|lane| {
            let (queue, signer, verifier) =
                (queue.clone(), Arc::clone(&signer), Arc::clone(&verifier));
            tokio::spawn(async move {
                let mut duplicates = 0;
                for i in (lane..EVENTS).step_by(8) {
                    assert_eq!(
                        deliver(&queue, &signer, &verifier, i, 1).await,
                        Enqueue::Enqueued,
                        "evt_{i}"
                    );
                    if i % 10 < 3 {
                        let again = deliver(&queue, &signer, &verifier, i, 2).await;
                        assert!(
                            matches!(again, Enqueue::Duplicate { .. }),
                            "evt_{i} again: {again:?}"
                        );
                        duplicates += 1;
                    }
                }
                duplicates
            })
        })
        .collect();
    let mut duplicates = 0;
    for receiver in receivers {
        duplicates += receiver.await.unwrap();
    }
    assert_eq!(duplicates, EVENTS * 3 / 10);

    // Mid-run: kill the worker process with SIGKILL, handlers running.
    let before = wait_for(&queue, "a third of the jobs done", |stats| {
        stats.done >= 600
    })
    .await;
    first.kill().unwrap();
    assert!(!first.wait().unwrap().success());
    let at_kill = queue.stats().await.unwrap();
    println!("killed the worker at {before:?}, then {at_kill:?}");

    // Redeliveries while no worker runs: still duplicates, whatever their state.
    for i in (0..EVENTS).step_by(97) {
        let again = deliver(&queue, &signer, &verifier, i, 3).await;
        assert!(
            matches!(again, Enqueue::Duplicate { .. }),
            "evt_{i} after the kill: {again:?}"
        );
    }

    // Restart, draining: it takes over the lapsed leases and finishes.
    let second = spawn_worker(&table, namespace, &business, true);
    let output = tokio::task::spawn_blocking(move || second.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "the restarted worker failed: {output:?}"
    );
    println!(
        "restarted worker: {}",
        String::from_utf8_lossy(&output.stdout).trim()
    );

    let stats = queue.stats().await.unwrap();
    assert_eq!(
        [stats.pending, stats.running, stats.dead, stats.done],
        [0, 0, 0, EVENTS as u64]
    );
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT event_key, count(*) FROM \"{SCHEMA}\".\"{business}\" GROUP BY event_key"
    ))
    .fetch_all(backend.pool())
    .await
    .unwrap();
    let repeated: Vec<_> = rows.iter().filter(|(_, count)| *count != 1).collect();
    assert_eq!(
        repeated,
        Vec::<&(String, i64)>::new(),
        "events with other than one row"
    );
    let mut keys: Vec<String> = rows.into_iter().map(|(key, _)| key).collect();
    keys.sort();
    let mut expected: Vec<String> = (0..EVENTS).map(|i| format!("evt_{i}")).collect();
    expected.sort();
    assert_eq!(keys, expected);
    let retried: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"{SCHEMA}\".\"{table}\" WHERE namespace = $1 AND attempts > 1"
    ))
    .bind(namespace)
    .fetch_one(backend.pool())
    .await
    .unwrap();
    println!(
        "{EVENTS} events, {duplicates} redelivered, {retried} jobs needed more than one attempt"
    );
    // The worker fails the first attempt of the keys whose bytes sum to a multiple of 5 (about
    // a fifth): each of those was retried, and so was each job running at the kill.
    let failing = (0..EVENTS)
        .filter(|i| format!("evt_{i}").bytes().map(u32::from).sum::<u32>() % 5 == 0)
        .count();
    assert!(failing > EVENTS / 6, "{failing}");
    assert!(
        retried >= failing as i64,
        "{retried} retried, {failing} failing first"
    );

    sqlx::raw_sql(&format!(
        "DROP TABLE \"{SCHEMA}\".\"{business}\"; DROP TABLE \"{SCHEMA}\".\"{table}\"; \
         DROP SEQUENCE \"{SCHEMA}\".\"{table}_dead_seq\""
    ))
    .execute(backend.pool())
    .await
    .unwrap();
}
