//! The conformance suite against a real PostgreSQL (`DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`), time on a `MockClock`; the transactional inbox
//! (`claim_in`): commit, rollback, concurrent duplicates, how it meets leased claims, and 2,000
//! events redelivered by 16 workers with rollbacks on purpose; purge, migration, configuration.
//!
//! Every test works in its own table (`amps_webhooks_test.t_<unix time>_<random>`), so tests
//! running in parallel never meet; tables of runs older than an hour are dropped on the way.
//! The tests that need a PostgreSQL are `#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]`, so
//! that a plain `cargo test` says so; run them with `-- --include-ignored` (as CI does), where a
//! missing PostgreSQL fails them with the reason.
// The helpers are not tests: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "store_common/mod.rs"]
mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amps_webhooks::MockClock;
use amps_webhooks::store::sqlx::{self, PgPool};
use amps_webhooks::store::{
    Admission, Claim, ClaimToken, Deduplicated, Deduplicator, IdempotencyStore, InboxClaim,
    PostgresInbox, PostgresStore, StoreError,
};
use common::Harness;

const SCHEMA: &str = "amps_webhooks_test";
const LEASE: Duration = Duration::from_secs(60);
const RETENTION: Duration = Duration::from_secs(72 * 3600);

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A table name of this test alone; its creation time lets later runs drop it.
fn unique_table() -> String {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "t_{unix}_{:012x}",
        ClaimToken::random().as_u128() as u64 & 0xffff_ffff_ffff
    )
}

/// Drops the test tables of runs that started more than an hour ago.
async fn drop_stale_tables(pool: &PgPool) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let Ok(tables) = sqlx::query_scalar::<_, String>(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(SCHEMA)
    .fetch_all(pool)
    .await
    else {
        return;
    };
    for table in tables {
        let created = table
            .strip_prefix("t_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|unix| unix.parse::<u64>().ok());
        if created.is_some_and(|created| created + 3600 < now) {
            // Another run may drop it at the same moment: that is fine.
            let _ = sqlx::query(&format!("DROP TABLE IF EXISTS \"{SCHEMA}\".\"{table}\""))
                .execute(pool)
                .await;
        }
    }
}

/// A migrated store on a fresh table, and its clock; a test that needs one fails, saying why,
/// when no PostgreSQL answers.
async fn connect() -> (PostgresStore, MockClock) {
    let url = database_url();
    let clock = MockClock::at_unix(1_700_000_000);
    let store = match PostgresStore::builder(url.as_str())
        .schema(SCHEMA)
        .table(unique_table())
        .clock(clock.clone())
        .command_timeout(Duration::from_secs(5))
        .connect()
        .await
    {
        Ok(store) => store,
        Err(error) => panic!(
            "this test needs a PostgreSQL, and none answers at {url} ({error}): start one on 127.0.0.1:5432 with a database `test` or set DATABASE_URL"
        ),
    };
    drop_stale_tables(store.pool()).await;
    store.migrate().await.unwrap();
    (store, clock)
}

async fn harness() -> Harness {
    let (store, clock) = connect().await;
    Harness {
        store: Arc::new(store),
        advance: Arc::new(move |by| {
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: LEASE,
        retention: RETENTION,
        namespace: "postgres-test".to_owned(),
    }
}

conformance_tests!(harness(), #[ignore = "needs PostgreSQL at 127.0.0.1:5432"]);

/// The inbox of a fresh store, and a business table beside it.
async fn inbox() -> (PostgresInbox, MockClock, String) {
    let (store, clock) = connect().await;
    let business = format!("{}_orders", store.table());
    sqlx::query(&format!(
        "CREATE TABLE {business} (id bigserial PRIMARY KEY, event_id text NOT NULL)"
    ))
    .execute(store.pool())
    .await
    .unwrap();
    let inbox = store
        .inbox("orders")
        .unwrap()
        .with_lease(LEASE)
        .with_retention(RETENTION);
    (inbox, clock, business)
}

async fn business_rows(pool: &PgPool, business: &str, event: &str) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {business} WHERE event_id = $1"
    ))
    .bind(event)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Claims `key` in a new transaction, writes the business row when acquired, and leaves the
/// transaction open for the test to end.
async fn claim_and_apply(
    inbox: &PostgresInbox,
    business: &str,
    key: &str,
) -> (InboxClaim, sqlx::Transaction<'static, sqlx::Postgres>) {
    let mut tx = inbox.store().pool().begin().await.unwrap();
    let claim = inbox.claim_in(&mut tx, key).await.unwrap();
    if claim == InboxClaim::Acquired {
        sqlx::query(&format!("INSERT INTO {business} (event_id) VALUES ($1)"))
            .bind(key)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    (claim, tx)
}

/// Waits until some session waits on a lock held by another (the server's own account, not a
/// timer), so that a test knows its second claim is blocked and not merely slow.
async fn wait_for_a_lock_waiter(pool: &PgPool, table: &str) {
    let marker = format!("%{}%", table.rsplit('.').next().unwrap());
    for _ in 0..1_000 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
        )
        .bind(&marker)
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no session ever waited on the uncommitted claim");
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn committed_claim_makes_every_later_claim_a_duplicate() {
    let (inbox, _clock, business) = inbox().await;
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Acquired);
    tx.commit().await.unwrap();
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Completed);
    tx.rollback().await.unwrap();
    // The leased path over the same namespace sees the same record.
    assert!(matches!(
        inbox.deduplicator().claim("evt_1").await,
        Admission::Duplicate
    ));
    assert_eq!(
        business_rows(inbox.store().pool(), &business, "evt_1").await,
        1
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn rolled_back_claim_leaves_the_event_unprocessed() {
    let (inbox, _clock, business) = inbox().await;
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Acquired);
    tx.rollback().await.unwrap();
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Acquired, "the retry processes it");
    // Dropped without a commit: rolled back too.
    drop(tx);
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Acquired);
    tx.commit().await.unwrap();
    assert_eq!(
        business_rows(inbox.store().pool(), &business, "evt_1").await,
        1
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn concurrent_duplicate_waits_then_is_a_duplicate_or_processes_once() {
    let (inbox, _clock, business) = inbox().await;
    for commit_first in [true, false] {
        let key = format!("evt-{commit_first}");
        let (claim, first) = claim_and_apply(&inbox, &business, &key).await;
        assert_eq!(claim, InboxClaim::Acquired);
        let second = {
            let (inbox, business, key) = (inbox.clone(), business.clone(), key.clone());
            tokio::spawn(async move {
                let (claim, tx) = claim_and_apply(&inbox, &business, &key).await;
                tx.commit().await.unwrap();
                claim
            })
        };
        wait_for_a_lock_waiter(inbox.store().pool(), inbox.store().table()).await;
        assert!(!second.is_finished(), "the duplicate waits for the first");
        if commit_first {
            first.commit().await.unwrap();
            assert_eq!(second.await.unwrap(), InboxClaim::Completed);
        } else {
            first.rollback().await.unwrap();
            assert_eq!(second.await.unwrap(), InboxClaim::Acquired);
        }
        assert_eq!(
            business_rows(inbox.store().pool(), &business, &key).await,
            1
        );
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn leased_claim_waits_for_an_uncommitted_transactional_claim() {
    let (inbox, _clock, business) = inbox().await;
    for commit_first in [true, false] {
        let key = format!("evt-{commit_first}");
        let (claim, first) = claim_and_apply(&inbox, &business, &key).await;
        assert_eq!(claim, InboxClaim::Acquired);
        let leased = {
            let (dedup, key) = (inbox.deduplicator().clone(), key.clone());
            tokio::spawn(async move { dedup.claim(&key).await })
        };
        wait_for_a_lock_waiter(inbox.store().pool(), inbox.store().table()).await;
        assert!(!leased.is_finished());
        if commit_first {
            first.commit().await.unwrap();
            assert!(matches!(leased.await.unwrap(), Admission::Duplicate));
        } else {
            first.rollback().await.unwrap();
            let Admission::Acquired(guard) = leased.await.unwrap() else {
                panic!("the rolled-back event must be claimable")
            };
            guard.complete().await.unwrap();
        }
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn transactional_claim_meets_a_live_lease_as_in_flight_without_locking_it() {
    let (inbox, clock, business) = inbox().await;
    let Admission::Acquired(guard) = inbox.deduplicator().claim("evt_1").await else {
        panic!("expected Acquired")
    };
    clock.advance(Duration::from_secs(15));
    let (claim, open) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(
        claim,
        InboxClaim::InFlight {
            retry_after: LEASE - Duration::from_secs(15)
        }
    );
    // The transaction is still open: the leased worker completes at once all the same.
    tokio::time::timeout(Duration::from_secs(2), guard.complete())
        .await
        .expect("complete is not held up by the open transaction")
        .unwrap();
    open.commit().await.unwrap();
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Completed);
    tx.rollback().await.unwrap();
    assert_eq!(
        business_rows(inbox.store().pool(), &business, "evt_1").await,
        0,
        "the leased worker's effect is its own business"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn transactional_claim_takes_over_a_lapsed_lease_and_fences_its_worker() {
    let (inbox, clock, business) = inbox().await;
    let store = inbox.store().clone();
    let key = inbox.deduplicator().storage_key("evt_1");
    let Claim::Acquired(stale) = store.claim(&key, LEASE).await.unwrap() else {
        panic!("expected Acquired")
    };
    clock.advance(LEASE);
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Acquired);
    tx.commit().await.unwrap();
    assert!(matches!(
        store.complete(&key, stale, RETENTION).await,
        Err(StoreError::StaleToken)
    ));
    assert!(matches!(
        store.release(&key, stale).await,
        Err(StoreError::StaleToken)
    ));
    assert_eq!(store.claim(&key, LEASE).await.unwrap(), Claim::Completed);
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn transactional_record_expires_after_its_retention_by_the_clock() {
    let (inbox, clock, business) = inbox().await;
    let inbox = inbox.with_retention(Duration::from_secs(600));
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Acquired);
    tx.commit().await.unwrap();
    clock.advance(Duration::from_secs(599));
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Completed);
    tx.rollback().await.unwrap();
    clock.advance(Duration::from_secs(1));
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Acquired, "forgotten after the retention");
    tx.rollback().await.unwrap();
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn purge_deletes_exactly_the_expired_rows() {
    let (inbox, clock, business) = inbox().await;
    let store = inbox.store().clone();
    let count = || async {
        sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {}", store.table()))
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    // 1,500 completions kept 10 minutes (more than one purge batch), 3 leases of 1 minute,
    // 2 completions kept 72 hours, one of them by a transaction.
    for i in 0..1_500 {
        let key = format!("short-{i}");
        let Claim::Acquired(token) = store.claim(&key, LEASE).await.unwrap() else {
            panic!("expected Acquired")
        };
        store
            .complete(&key, token, Duration::from_secs(600))
            .await
            .unwrap();
    }
    for i in 0..3 {
        let _ = store.claim(&format!("lease-{i}"), LEASE).await.unwrap();
    }
    let Claim::Acquired(token) = store.claim("long", LEASE).await.unwrap() else {
        panic!("expected Acquired")
    };
    store.complete("long", token, RETENTION).await.unwrap();
    let (claim, tx) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Acquired);
    tx.commit().await.unwrap();
    assert_eq!(count().await, 1_505);

    assert_eq!(
        store.purge_expired().await.unwrap(),
        0,
        "nothing expired yet"
    );
    clock.advance(LEASE);
    assert_eq!(store.purge_expired().await.unwrap(), 3);
    clock.advance(Duration::from_secs(600));
    assert_eq!(store.purge_expired().await.unwrap(), 1_500);
    assert_eq!(count().await, 2);
    assert_eq!(store.claim("long", LEASE).await.unwrap(), Claim::Completed);
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn migration_is_idempotent_and_safe_to_race() {
    let (store, _clock) = connect().await;
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap().unwrap();
    }
    let sql = store.migration_sql();
    assert!(sql.starts_with(&format!("CREATE SCHEMA IF NOT EXISTS \"{SCHEMA}\";")));
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
    )
    .bind(SCHEMA)
    .bind(store.table().rsplit('.').next().unwrap())
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        columns,
        [
            "key",
            "state",
            "token",
            "lease_expires_at",
            "retain_until",
            "expires_at",
            "created_at",
            "updated_at"
        ]
    );
    let indexed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = $2",
    )
    .bind(SCHEMA)
    .bind(format!(
        "{}_expires_at_idx",
        store.table().rsplit('.').next().unwrap()
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(indexed, 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn an_unmigrated_table_is_a_store_error_not_a_pass() {
    let (store, _clock) = connect().await;
    let missing = PostgresStore::with_pool(store.pool().clone())
        .schema(SCHEMA)
        .table(unique_table())
        .build()
        .unwrap();
    let dedup = Deduplicator::new(Arc::new(missing.clone()), "ns").unwrap();
    let runs = AtomicUsize::new(0);
    let outcome = dedup
        .run_key("evt_1", || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(())
        })
        .await;
    match outcome {
        Deduplicated::StoreUnavailable(
            error @ StoreError::Unavailable {
                store: "postgres", ..
            },
        ) => assert!(error.is_unavailable()),
        other => panic!("expected StoreUnavailable, got {other:?}"),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let mut tx = store.pool().begin().await.unwrap();
    assert!(matches!(
        missing
            .inbox("ns")
            .unwrap()
            .claim_in(&mut tx, "evt_1")
            .await,
        Err(StoreError::Unavailable {
            store: "postgres",
            ..
        })
    ));
}

#[tokio::test]
async fn closed_port_is_store_unavailable_within_the_timeout() {
    let timeout = Duration::from_millis(300);
    let store = PostgresStore::builder("postgres://postgres@127.0.0.1:1/test")
        .command_timeout(timeout)
        .build()
        .unwrap();
    let outcome = tokio::time::timeout(timeout * 3, store.claim("ns:evt_1", LEASE))
        .await
        .expect("answered within the command timeout");
    assert!(
        matches!(
            outcome,
            Err(StoreError::Unavailable {
                store: "postgres",
                ..
            } | StoreError::Timeout {
                store: "postgres",
                ..
            })
        ),
        "{outcome:?}"
    );
    assert!(matches!(
        PostgresStore::builder("postgres://postgres@127.0.0.1:1/test")
            .command_timeout(timeout)
            .connect()
            .await,
        Err(StoreError::Unavailable { .. } | StoreError::Timeout { .. })
    ));
}

#[tokio::test]
async fn bad_configuration_is_refused() {
    for table in ["", "Upper", "with-dash", "1st", &"t".repeat(49)] {
        assert!(matches!(
            PostgresStore::builder("postgres://127.0.0.1/test")
                .table(table)
                .build(),
            Err(StoreError::Configuration {
                store: "postgres",
                ..
            })
        ));
    }
    assert!(matches!(
        PostgresStore::builder("postgres://127.0.0.1/test")
            .schema("a;drop")
            .build(),
        Err(StoreError::Configuration {
            store: "postgres",
            ..
        })
    ));
    assert!(matches!(
        PostgresStore::builder("mysql://127.0.0.1/test").build(),
        Err(StoreError::Configuration {
            store: "postgres",
            ..
        })
    ));
    let store = PostgresStore::builder("postgres://127.0.0.1/test")
        .schema("app")
        .table("inbox")
        .build()
        .unwrap();
    assert_eq!(store.table(), "app.inbox");
    assert!(!format!("{store:?}").contains("postgres://"));
}

/// A small deterministic generator (splitmix64), so that a failure can be replayed.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const EVENTS: usize = 2_000;
const WORKERS: usize = 16;

/// 2,000 events, 30 % delivered twice, 16 workers; each delivery claims in a transaction and
/// inserts its business row in the same transaction, and 20 % of the transactions that own
/// their event are rolled back on purpose (a crash between the work and its record). Every
/// unacknowledged delivery is redelivered until all are acknowledged. Exactly one business row
/// per event must be committed, none missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn transactional_exactly_once_under_redelivery_and_rollbacks() {
    let (inbox, _clock, business) = inbox().await;
    let mut deliveries: Vec<usize> = (0..EVENTS).collect();
    deliveries.extend((0..EVENTS).filter(|&i| mix(i as u64) % 100 < 30));
    // Shuffle (Fisher-Yates) so that duplicates arrive both soon and late.
    for i in (1..deliveries.len()).rev() {
        let j = (mix(1_000_000 + i as u64) % (i as u64 + 1)) as usize;
        deliveries.swap(i, j);
    }
    let total = deliveries.len();
    let queue = Arc::new(Mutex::new(deliveries.into_iter().collect::<VecDeque<_>>()));
    let outstanding = Arc::new(AtomicUsize::new(total));
    let attempts = Arc::new(AtomicUsize::new(0));
    // committed, duplicates, rolled back
    let stats = Arc::new([const { AtomicUsize::new(0) }; 3]);

    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (inbox, business, queue, outstanding, attempts, stats) = (
                inbox.clone(),
                business.clone(),
                Arc::clone(&queue),
                Arc::clone(&outstanding),
                Arc::clone(&attempts),
                Arc::clone(&stats),
            );
            tokio::spawn(async move {
                while outstanding.load(Ordering::SeqCst) > 0 {
                    let next = queue.lock().unwrap().pop_front();
                    let Some(event) = next else {
                        tokio::task::yield_now().await;
                        continue;
                    };
                    let attempt = attempts.fetch_add(1, Ordering::SeqCst);
                    let (claim, tx) =
                        claim_and_apply(&inbox, &business, &format!("evt-{event}")).await;
                    let acknowledged = match claim {
                        InboxClaim::Acquired if mix(attempt as u64 ^ 0xABCD) % 100 < 20 => {
                            tx.rollback().await.unwrap();
                            stats[2].fetch_add(1, Ordering::SeqCst);
                            false
                        }
                        InboxClaim::Acquired => {
                            tx.commit().await.unwrap();
                            stats[0].fetch_add(1, Ordering::SeqCst);
                            true
                        }
                        InboxClaim::Completed => {
                            tx.rollback().await.unwrap();
                            stats[1].fetch_add(1, Ordering::SeqCst);
                            true
                        }
                        InboxClaim::InFlight { .. } => panic!("no leased claim was made"),
                    };
                    if acknowledged {
                        outstanding.fetch_sub(1, Ordering::SeqCst);
                    } else {
                        // Not acknowledged: the sender delivers it again, later.
                        queue.lock().unwrap().push_back(event);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }

    let pool = inbox.store().pool();
    let (rows, distinct): (i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*), count(DISTINCT event_id) FROM {business}"
    ))
    .fetch_one(pool)
    .await
    .unwrap();
    let doubled: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT event_id, count(*) FROM {business} GROUP BY event_id HAVING count(*) <> 1 LIMIT 10"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(doubled.is_empty(), "events applied twice: {doubled:?}");
    assert_eq!((rows, distinct), (EVENTS as i64, EVENTS as i64));
    let [committed, duplicates, rolled_back] =
        std::array::from_fn(|i| stats[i].load(Ordering::SeqCst));
    assert_eq!(committed, EVENTS);
    assert_eq!(committed + duplicates, total);
    assert!(
        rolled_back > EVENTS / 10,
        "rollbacks exercised: {rolled_back}"
    );
    assert!(
        duplicates > EVENTS / 5,
        "duplicates exercised: {duplicates}"
    );
    let recorded: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {} WHERE state = 'completed'",
        inbox.store().table()
    ))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(recorded, EVENTS as i64);
    eprintln!(
        "{total} deliveries: {committed} committed, {duplicates} duplicates, {rolled_back} rolled back"
    );
}

/// At `REPEATABLE READ`, a duplicate that waited for a committed claim cannot read it (its
/// snapshot predates it): it gets a serialization failure (SQLSTATE 40001), a store error the
/// sender retries, never a second effect.
#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn repeatable_read_duplicate_gets_a_serialization_failure() {
    let (inbox, _clock, business) = inbox().await;
    let (claim, first) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Acquired);
    let second = {
        let inbox = inbox.clone();
        tokio::spawn(async move {
            let mut tx = inbox.store().pool().begin().await.unwrap();
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await
                .unwrap();
            // Take the snapshot before the first transaction commits.
            sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
            inbox.claim_in(&mut tx, "evt_1").await
        })
    };
    wait_for_a_lock_waiter(inbox.store().pool(), inbox.store().table()).await;
    first.commit().await.unwrap();
    match second.await.unwrap() {
        Err(StoreError::Unavailable {
            store: "postgres",
            source,
        }) => {
            let code = source
                .downcast_ref::<sqlx::Error>()
                .and_then(|error| error.as_database_error())
                .and_then(|error| error.code().map(|code| code.into_owned()));
            assert_eq!(code.as_deref(), Some("40001"), "{source}");
        }
        other => panic!("expected a serialization failure, got {other:?}"),
    }
    assert_eq!(
        business_rows(inbox.store().pool(), &business, "evt_1").await,
        1
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn leased_claim_behind_an_open_transaction_times_out_and_fails_closed() {
    let (inbox, clock, business) = inbox().await;
    let timeout = Duration::from_millis(300);
    let table = inbox.store().table().rsplit('.').next().unwrap().to_owned();
    let impatient = PostgresStore::with_pool(inbox.store().pool().clone())
        .schema(SCHEMA)
        .table(table)
        .clock(clock)
        .command_timeout(timeout)
        .build()
        .unwrap();
    let (claim, open) = claim_and_apply(&inbox, &business, "evt_1").await;
    assert_eq!(claim, InboxClaim::Acquired);
    let key = inbox.deduplicator().storage_key("evt_1");
    match impatient.claim(&key, LEASE).await {
        Err(StoreError::Timeout {
            store: "postgres",
            after,
        }) => assert_eq!(after, timeout),
        other => panic!("expected a timeout, got {other:?}"),
    }
    open.commit().await.unwrap();
    assert_eq!(
        impatient.claim(&key, LEASE).await.unwrap(),
        Claim::Completed
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn claim_event_in_keys_on_the_events_id() {
    use amps_webhooks::{Clock, Secret, Signer, Verifier};
    let (inbox, clock, _business) = inbox().await;
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = br#"{"event":"push.completed","eventId":"evt_42","data":{}}"#;
    let signed = Signer::new(secret.clone())
        .sign("msg_1", clock.unix_seconds(), body)
        .unwrap();
    let verifier = Verifier::builder()
        .secret(secret)
        .clock(clock)
        .build()
        .unwrap();
    let headers = signed.webhook_headers();
    let event = verifier
        .verify(&headers[..], body)
        .unwrap()
        .parse::<serde_json::Value>()
        .unwrap();
    let mut tx = inbox.store().pool().begin().await.unwrap();
    assert_eq!(
        inbox.claim_event_in(&mut tx, &event).await.unwrap(),
        InboxClaim::Acquired
    );
    tx.commit().await.unwrap();
    let stored: String = sqlx::query_scalar(&format!(
        "SELECT key FROM {} WHERE state = 'completed'",
        inbox.store().table()
    ))
    .fetch_one(inbox.store().pool())
    .await
    .unwrap();
    assert_eq!(stored, "orders:k:evt_42");
}

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn spawned_purger_purges_at_once_then_on_schedule() {
    let (store, clock) = connect().await;
    for i in 0..5 {
        let _ = store.claim(&format!("k{i}"), LEASE).await.unwrap();
    }
    clock.advance(LEASE);
    let _ = store.claim("live", LEASE).await.unwrap();
    // tokio's interval ticks at once: the first purge runs as soon as the task does.
    let purger = store.spawn_purger(Duration::from_secs(3600));
    let mut left = -1;
    for _ in 0..1_000 {
        left = sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {}", store.table()))
            .fetch_one(store.pool())
            .await
            .unwrap();
        if left == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    purger.abort();
    assert_eq!(left, 1, "only the live claim is left");
}
