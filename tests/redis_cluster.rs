//! On a Redis Cluster of three masters started here (redis-server on the PATH): the store
//! conformance suite on `RedisStore` and the queue conformance suite on `RedisQueue`, both
//! through `redis+cluster://` URLs, every case with its own namespace; and the keys of a queue
//! checked to live in one slot while queues spread over the masters.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "queue_common/mod.rs"]
mod queue_common;
#[path = "redis_servers/mod.rs"]
mod servers;
#[path = "store_common/mod.rs"]
mod store_common;

use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::MockClock;
use amps_webhooks::queue::{QueueBackend, RedisQueue};
use amps_webhooks::store::{ClaimToken, RedisStore};
use servers::Cluster;

fn unique(label: &str) -> String {
    format!(
        "{label}-{:012x}",
        ClaimToken::random().as_u128() as u64 >> 16
    )
}

async fn store_harness(url: &str) -> store_common::Harness {
    let store = RedisStore::builder(url)
        .prefix(unique("amps-webhooks-test"))
        .connect()
        .await
        .unwrap_or_else(|error| panic!("the cluster at {url} does not answer: {error}"));
    store_common::Harness {
        store: Arc::new(store),
        advance: Arc::new(|by| Box::pin(tokio::time::sleep(by))),
        lease: Duration::from_secs(1),
        retention: Duration::from_secs(2),
        namespace: unique("cluster"),
    }
}

async fn queue_harness(url: &str) -> queue_common::Harness {
    let clock = MockClock::at_unix(1_700_000_000);
    let queue = RedisQueue::builder(url)
        .prefix(unique("amps-webhooks-test"))
        .clock(Arc::new(clock.clone()))
        .connect()
        .await
        .unwrap_or_else(|error| panic!("the cluster at {url} does not answer: {error}"));
    queue_common::Harness {
        backend: Arc::new(queue),
        clock: Arc::new(clock.clone()),
        advance: Arc::new(move |by| {
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: Duration::from_secs(60),
        retention: Duration::from_secs(72 * 3600),
        namespace: queue_common::fresh_namespace("cluster"),
    }
}

/// Runs each named case of `$module` on a fresh harness from `$harness`.
macro_rules! run_cases {
    ($module:ident, $harness:expr; $($name:ident),+ $(,)?) => {
        $(
            eprintln!("cluster: {}::{}", stringify!($module), stringify!($name));
            $module::$name($harness.await).await;
        )+
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server on the PATH"]
async fn both_conformance_suites_pass_on_a_three_master_cluster() {
    let cluster = Cluster::start();
    let url = cluster.url();
    run_cases!(store_common, store_harness(&url);
        claim_complete_then_duplicate,
        in_flight_duplicate,
        release_then_reclaim,
        lease_expiry_then_takeover,
        stale_token_refused_on_complete,
        stale_token_refused_on_release,
        lapsed_claim_can_still_complete,
        release_of_unknown_key_is_a_no_op,
        retention_expiry,
        namespaces_isolate,
        plain_keys_never_meet_hashed_ones,
        run_processes_once,
        run_releases_on_failure,
        run_releases_on_panic,
        run_releases_when_dropped,
        guard_complete_and_drop,
        racing_claims_one_winner,
        exactly_once_under_redelivery,
    );
    run_cases!(queue_common, queue_harness(&url);
        enqueue_then_duplicate_in_each_state,
        take_order_and_attempt_counting,
        take_keeps_the_record,
        lease_expiry_takeover,
        stale_token_is_refused_and_changes_nothing,
        lapsed_lease_still_completes_when_nobody_took_it,
        renew_extends_the_lease,
        retry_after_its_delay,
        dead_after_fail_without_retry,
        dead_lists_newest_first_up_to_the_limit,
        redrive_key_and_all,
        release_gives_back_without_counting,
        stats_counts_each_state_and_the_oldest_age,
        purge_after_retention,
        complete_twice_under_the_same_token,
        concurrent_enqueues_of_one_key_store_one_job,
        concurrent_takes_never_share_a_job,
        any_bytes_body_round_trip,
        long_and_non_ascii_keys,
        namespaces_isolate,
        a_waiting_take_is_woken_by_an_enqueue,
    );
    // Queues of several namespaces land on more than one master: the cluster is really used.
    let queue = RedisQueue::builder(url.as_str()).connect().await.unwrap();
    let mut slots = std::collections::HashSet::new();
    for n in 0..16 {
        let namespace = format!("spread-{n}");
        let h = queue_harness(&url).await;
        let record = h.record("a");
        queue.enqueue(&namespace, &record).await.unwrap();
        slots.insert(slot_owner(&cluster, &queue.hash_tag(&namespace)));
        queue.purge(&namespace).await.unwrap();
    }
    assert!(slots.len() > 1, "16 queues all on one master: {slots:?}");
}

/// The port of the master that serves `tag`'s slot.
fn slot_owner(cluster: &Cluster, tag: &str) -> u16 {
    let output = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &cluster.ports[0].to_string()])
        .args(["CLUSTER", "KEYSLOT", tag])
        .output()
        .unwrap();
    let slot: u16 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    let nodes = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &cluster.ports[0].to_string()])
        .args(["CLUSTER", "SHARDS"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&nodes.stdout).into_owned();
    // CLUSTER SHARDS: per shard, `slots` then its ranges, then the nodes with their `port`.
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut owner = None;
    let mut in_range = false;
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == "slots" {
            in_range = false;
            let mut j = i + 1;
            while j + 1 < lines.len() && lines[j].parse::<u16>().is_ok() {
                let (low, high): (u16, u16) =
                    (lines[j].parse().unwrap(), lines[j + 1].parse().unwrap());
                in_range |= (low..=high).contains(&slot);
                j += 2;
            }
            i = j;
            continue;
        }
        if lines[i] == "port" && in_range && owner.is_none() {
            owner = lines.get(i + 1).and_then(|port| port.parse().ok());
        }
        i += 1;
    }
    owner.unwrap_or_else(|| panic!("no master serves slot {slot}: {text}"))
}
