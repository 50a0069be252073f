//! End to end on Redis (127.0.0.1:6379) and on a Redis Cluster of three masters started here,
//! over real sockets and processes (issue 16's Done-when), by the shared run of
//! tests/queue_e2e_common: examples/queue_redis.rs as the receiver process (the library's
//! `enqueue_route`) and the worker process (killed with SIGKILL mid-run and restarted), whose
//! handler counts its effects in a Redis hash. None is lost; an effect repeats only for a job
//! that was running at the kill (at most the worker's concurrency); the run prints how many.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

#[path = "redis_servers/mod.rs"]
mod servers;

mod queue_e2e_common;

use std::collections::HashMap;
use std::sync::Arc;

use amps_webhooks::queue::{Queue, RedisQueue};
use amps_webhooks::store::ClaimToken;
use queue_e2e_common::{Backend, end_to_end};

const NAMESPACE: &str = "e2e";

/// This run's queue: a prefix of its own on the server (or cluster) at `url`.
struct Redis {
    url: String,
    prefix: String,
    queue: Queue,
}

impl Backend for Redis {
    const EXAMPLE: &'static str = "queue_redis";
    const EXACTLY_ONCE: bool = false;

    fn args(&self) -> Vec<String> {
        [
            "--url",
            &self.url,
            "--prefix",
            &self.prefix,
            "--namespace",
            NAMESPACE,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The worker's hash `{PREFIX:NAMESPACE}:effects`: key to count.
    async fn effects(&self) -> HashMap<String, u64> {
        let mut command = redis::cmd("HGETALL");
        command.arg(format!("{{{}:{NAMESPACE}}}:effects", self.prefix));
        #[cfg(feature = "redis-cluster")]
        if let Some(nodes) = self.url.strip_prefix("redis+cluster://") {
            let nodes: Vec<String> = nodes.split(',').map(|n| format!("redis://{n}")).collect();
            let client = redis::cluster::ClusterClient::new(nodes).unwrap();
            let mut connection = client.get_async_connection().await.unwrap();
            return command.query_async(&mut connection).await.unwrap();
        }
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        command.query_async(&mut connection).await.unwrap()
    }
}

async fn run_on(url: &str) {
    let prefix = format!(
        "amps-webhooks-e2e-{:08x}",
        ClaimToken::random().as_u128() as u32
    );
    let backend = RedisQueue::builder(url)
        .prefix(prefix.as_str())
        .connect()
        .await
        .unwrap_or_else(|error| panic!("this test needs a Redis at {url} ({error})"));
    let redis = Redis {
        url: url.to_owned(),
        prefix,
        queue: Queue::new(Arc::new(backend), NAMESPACE).unwrap(),
    };
    let run = end_to_end(&redis).await;
    eprintln!(
        "{url}: {} effects repeated (jobs running at the kill, of {} running then)",
        run.repeated.len(),
        run.at_kill.running
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Redis at 127.0.0.1:6379"]
async fn two_thousand_events_through_a_killed_worker_on_redis() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    if redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .is_err()
    {
        panic!(
            "this test needs a Redis, and none answers at {url}: start one with `redis-server --port 6379 --save ''` or set REDIS_URL"
        );
    }
    run_on(&url).await;
}

#[cfg(feature = "redis-cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server on the PATH"]
async fn two_thousand_events_through_a_killed_worker_on_a_cluster() {
    let cluster = servers::Cluster::start();
    run_on(&cluster.url()).await;
}
