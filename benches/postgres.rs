//! Claims per second on PostgreSQL (`DATABASE_URL`, else postgres://postgres@127.0.0.1/test),
//! fresh keys, one at a time and with 32 in flight: a leased `claim`, a leased `claim` +
//! `complete` (through `Arc<dyn IdempotencyStore>`), and a transactional `BEGIN`, `claim_in`,
//! `COMMIT`. A timed loop (each figure is the whole run's count over its wall time); the
//! table is created for the run and dropped after.
//!
//! Run: `cargo bench --bench postgres --features postgres`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use amps_webhooks::store::{Claim, IdempotencyStore, PostgresInbox, PostgresStore};

const SEQUENTIAL: usize = 2_000;
const CONCURRENT: usize = 10_000;
const IN_FLIGHT: usize = 32;

#[derive(Clone, Copy)]
enum Op {
    Claim,
    ClaimComplete,
    Transaction,
}

async fn one(store: &Arc<dyn IdempotencyStore>, inbox: &PostgresInbox, op: Op, key: &str) {
    match op {
        Op::Claim => {
            let claim = store.claim(key, Duration::from_secs(60)).await.unwrap();
            assert!(matches!(claim, Claim::Acquired(_)));
        }
        Op::ClaimComplete => {
            let Claim::Acquired(token) = store.claim(key, Duration::from_secs(60)).await.unwrap()
            else {
                panic!("fresh key not acquired")
            };
            store
                .complete(key, token, Duration::from_secs(600))
                .await
                .unwrap();
        }
        Op::Transaction => {
            let mut tx = inbox.store().pool().begin().await.unwrap();
            let claim = inbox.claim_in(&mut tx, key).await.unwrap();
            assert_eq!(claim, amps_webhooks::store::InboxClaim::Acquired);
            tx.commit().await.unwrap();
        }
    }
}

async fn run(
    store: &Arc<dyn IdempotencyStore>,
    inbox: &PostgresInbox,
    op: Op,
    label: &str,
    parallel: usize,
) {
    let total = if parallel == 1 {
        SEQUENTIAL
    } else {
        CONCURRENT
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..parallel)
        .map(|lane| {
            let (store, inbox) = (Arc::clone(store), inbox.clone());
            let label = label.to_owned();
            tokio::spawn(async move {
                for i in (lane..total).step_by(parallel) {
                    one(&store, &inbox, op, &format!("{label}-{parallel}-{i}")).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "{label:<28} {parallel:>2} in flight: {:>8.0} /s  ({:>7.1} µs each, {total} in {:.2} s)",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / total as f64 * parallel as f64,
        elapsed.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let table = format!(
        "bench_{:08x}",
        amps_webhooks::store::ClaimToken::random().as_u128() as u32
    );
    let store = match PostgresStore::builder(url.as_str())
        .table(table.as_str())
        .max_connections(IN_FLIGHT as u32)
        .connect()
        .await
    {
        Ok(store) => store,
        Err(error) => {
            eprintln!("SKIPPED the PostgreSQL benchmarks: no PostgreSQL at {url} ({error})");
            return;
        }
    };
    store.migrate().await.unwrap();
    let settings: (String, String) = amps_webhooks::store::sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('synchronous_commit')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    println!(
        "PostgreSQL {} (synchronous_commit = {}), table {table}",
        settings.0, settings.1
    );
    let inbox = store.inbox("bench").unwrap();
    let shared: Arc<dyn IdempotencyStore> = Arc::new(store.clone());
    for parallel in [1, IN_FLIGHT] {
        run(&shared, &inbox, Op::Claim, "claim", parallel).await;
        run(
            &shared,
            &inbox,
            Op::ClaimComplete,
            "claim + complete",
            parallel,
        )
        .await;
        run(
            &shared,
            &inbox,
            Op::Transaction,
            "BEGIN + claim_in + COMMIT",
            parallel,
        )
        .await;
    }
    amps_webhooks::store::sqlx::query(&format!("DROP TABLE \"{table}\""))
        .execute(store.pool())
        .await
        .unwrap();
}
