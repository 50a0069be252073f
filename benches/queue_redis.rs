//! The Redis queue's throughput (`REDIS_URL`, else 127.0.0.1:6379): the drain rate of a
//! worker with a no-op handler at concurrency 1 and 32, and the time of one enqueue and one
//! take + complete at 0, 100,000 and 200,000 pending jobs; each beside its floor in the same
//! run, one `EVALSHA` of a script that does nothing, round trip for round trip.
//!
//! `cargo bench --bench queue_redis --features queue,redis`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod load;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amps_webhooks::WebhookTimestamp;
use amps_webhooks::queue::{JobRecord, Queue, QueueBackend, RedisQueue};
use amps_webhooks::store::ClaimToken;

fn record(key: &str) -> JobRecord {
    let now = SystemTime::now();
    JobRecord {
        webhook_id: format!("msg_{key}"),
        key: key.to_owned(),
        event_type: Some("push.completed".to_owned()),
        timestamp: WebhookTimestamp::from_unix(now.duration_since(UNIX_EPOCH).unwrap().as_secs()),
        received_at: now,
        body: br#"{"type":"push.completed","eventId":"x","data":{"pushId":"p_1","status":"delivered"}}"#.to_vec(),
        headers: vec![("webhook-id".to_owned(), format!("msg_{key}"))],
        attempts: 0,
        last_error: None,
        next_run_at: now,
    }
}

/// Enqueues `count` jobs named `label-N`, 64 at a time.
async fn fill(backend: &Arc<RedisQueue>, namespace: &str, label: &str, count: usize) {
    let lanes: Vec<_> = (0..64)
        .map(|lane| {
            let (backend, namespace, label) =
                (Arc::clone(backend), namespace.to_owned(), label.to_owned());
            tokio::spawn(async move {
                for n in (lane..count).step_by(64) {
                    backend
                        .enqueue(&namespace, &record(&format!("{label}-{n}")))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for lane in lanes {
        lane.await.unwrap();
    }
}

/// Microseconds per sequential round trip of a script that does nothing: the floor.
async fn floor_us(url: &str, rounds: u32) -> f64 {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let script = redis::Script::new("return 1");
    let start = Instant::now();
    for _ in 0..rounds {
        let _: i64 = script
            .key("{bench}:floor")
            .invoke_async(&mut connection)
            .await
            .unwrap();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

async fn drain(url: &str, prefix: &str, concurrency: usize, jobs: usize) -> f64 {
    let backend = Arc::new(
        RedisQueue::builder(url)
            .prefix(prefix)
            .connect()
            .await
            .unwrap(),
    );
    let namespace = format!("drain-{concurrency}");
    fill(&backend, &namespace, "d", jobs).await;
    let queue = Queue::new(backend, &namespace).unwrap();
    let worker = queue.worker().concurrency(concurrency).drain(true).build();
    let start = Instant::now();
    let report = worker
        .run(
            |_job| async { Ok::<_, std::convert::Infallible>(()) },
            std::future::pending(),
        )
        .await
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(report.done, jobs as u64);
    queue.purge().await.unwrap();
    jobs as f64 / elapsed.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!(
        "amps-webhooks-bench-{:08x}",
        ClaimToken::random().as_u128() as u32
    );
    let floor = floor_us(&url, 5_000).await;
    println!(
        "floor: one EVALSHA round trip {floor:.1} us ({:.0}/s sequential)",
        1e6 / floor
    );

    for (concurrency, jobs) in [(1, 5_000), (32, 50_000)] {
        let rate = drain(&url, &prefix, concurrency, jobs).await;
        println!(
            "drain, no-op handler, concurrency {concurrency:>2}: {rate:>8.0} jobs/s ({jobs} jobs)"
        );
    }

    let backend = Arc::new(
        RedisQueue::builder(url.as_str())
            .prefix(prefix.as_str())
            .connect()
            .await
            .unwrap(),
    );
    let namespace = "backlog";
    let rounds = 2_000;
    let mut filled = 0;
    for pending in [0, 100_000, 200_000] {
        fill(
            &backend,
            namespace,
            &format!("p{pending}"),
            pending - filled,
        )
        .await;
        filled = pending;
        let start = Instant::now();
        for n in 0..rounds {
            backend
                .enqueue(namespace, &record(&format!("m{pending}-{n}")))
                .await
                .unwrap();
        }
        let enqueue = start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
        let start = Instant::now();
        for _ in 0..rounds {
            let jobs = backend
                .take(namespace, 1, Duration::from_secs(60), Duration::ZERO)
                .await
                .unwrap();
            for job in &jobs {
                backend
                    .complete(namespace, job, Duration::from_secs(60))
                    .await
                    .unwrap();
            }
        }
        let take = start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
        let floor = floor_us(&url, 2_000).await;
        println!(
            "{pending:>7} pending: enqueue {enqueue:>6.1} us ({:.2}x floor), take+complete {take:>6.1} us ({:.2}x floor), floor {floor:.1} us",
            enqueue / floor,
            take / floor
        );
    }
    load::unlink_prefix(&url, &prefix).await;
}
