//! End to end over real sockets and processes, on Redis (127.0.0.1:6379) and on a Redis
//! Cluster of three masters started here: the example `queue_redis` as the receiver process
//! and the worker process; 2,000 signed events sent to the receiver, 30 % of them delivered
//! again; the worker fails 20 % of first attempts; it is killed with SIGKILL mid-run and
//! started again. Every event's effect exists; an effect repeats only for a job that was
//! running at the kill (at most the worker's concurrency); the test prints how many.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

#[path = "redis_servers/mod.rs"]
mod servers;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amps_webhooks::queue::{Queue, RedisQueue};
use amps_webhooks::store::ClaimToken;
use amps_webhooks::{Secret, Signer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const EVENTS: usize = 2_000;
/// The worker's concurrency in the example: no more jobs than this run at the kill.
const CONCURRENCY: usize = 32;

/// The example binary, built with this test's Redis features when it is not there yet.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("queue_redis");
    let features = if cfg!(feature = "redis-cluster") {
        "queue,redis,axum,redis-cluster"
    } else {
        "queue,redis,axum"
    };
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["build", "--example", "queue_redis", "--features", features])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "cargo build --example queue_redis failed");
    assert!(path.exists(), "{} not built", path.display());
    path
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> Process {
    Process(
        Command::new(example())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// POSTs one signed delivery; answers the status code.
async fn post(addr: &str, id: &str, body: &[u8]) -> u16 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = Signer::new(SECRET.parse::<Secret>().unwrap())
        .sign(id, now, body)
        .unwrap();
    let mut request = format!(
        "POST /webhooks HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in signed.webhook_headers() {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

async fn effects(url: &str, hash: &str) -> HashMap<String, i64> {
    let mut command = redis::cmd("HGETALL");
    command.arg(hash);
    #[cfg(feature = "redis-cluster")]
    if let Some(nodes) = url.strip_prefix("redis+cluster://") {
        let nodes: Vec<String> = nodes
            .split(',')
            .map(|node| format!("redis://{node}"))
            .collect();
        let mut connection = redis::cluster::ClusterClient::new(nodes)
            .unwrap()
            .get_async_connection()
            .await
            .unwrap();
        return command.query_async(&mut connection).await.unwrap();
    }
    let mut connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    command.query_async(&mut connection).await.unwrap()
}

async fn end_to_end(url: &str) {
    let prefix = format!(
        "amps-webhooks-e2e-{:08x}",
        ClaimToken::random().as_u128() as u32
    );
    let namespace = "e2e";
    let hash = format!("{{{prefix}:{namespace}}}:effects");
    let backend = RedisQueue::builder(url)
        .prefix(prefix.as_str())
        .connect()
        .await
        .unwrap();
    let queue = Queue::new(Arc::new(backend), namespace).unwrap();

    let mut receiver = spawn(&["receive", url, &prefix, namespace]);
    let mut line = String::new();
    BufReader::new(receiver.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let worker = spawn(&["work", url, &prefix, namespace]);

    // 2,000 events, 30 % of them delivered again (a retry: same id, same body), 16 at a time.
    let addr = Arc::new(addr);
    let mut sends = Vec::new();
    for lane in 0..16 {
        let addr = Arc::clone(&addr);
        sends.push(tokio::spawn(async move {
            for n in (lane..EVENTS).step_by(16) {
                let body =
                    format!(r#"{{"type":"test.event","eventId":"evt-{n}","data":{{"n":{n}}}}}"#);
                let id = format!("msg_{n}");
                assert_eq!(post(&addr, &id, body.as_bytes()).await, 200, "evt-{n}");
                if n % 10 < 3 {
                    assert_eq!(
                        post(&addr, &id, body.as_bytes()).await,
                        200,
                        "evt-{n} again"
                    );
                }
            }
        }));
    }
    // The kill lands mid-run: once a quarter of the effects exist.
    let start = Instant::now();
    while effects(url, &hash).await.len() < EVENTS / 4 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the worker made no progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut worker = worker;
    worker.0.kill().unwrap(); // SIGKILL
    worker.0.wait().unwrap();
    let at_kill = effects(url, &hash).await.len();
    for send in sends {
        send.await.unwrap();
    }
    // Started again, draining: it exits once nothing is pending or running (the killed
    // worker's jobs taken over once their lease runs out).
    let mut restarted = spawn(&["work", url, &prefix, namespace, "drain"]);
    let start = Instant::now();
    loop {
        if let Some(status) = restarted.0.try_wait().unwrap() {
            assert!(status.success(), "the restarted worker failed: {status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the restarted worker did not drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let effects = effects(url, &hash).await;
    let missing: Vec<usize> = (0..EVENTS)
        .filter(|n| !effects.contains_key(&format!("evt-{n}")))
        .collect();
    assert!(
        missing.is_empty(),
        "events without their effect: {missing:?}"
    );
    let repeated: Vec<(&String, &i64)> = effects.iter().filter(|(_, count)| **count > 1).collect();
    eprintln!(
        "{url}: {EVENTS} events, {} effects, {} at the kill, {} repeated (jobs running at the kill): {repeated:?}",
        effects.len(),
        at_kill,
        repeated.len()
    );
    assert_eq!(effects.len(), EVENTS);
    assert!(
        repeated.iter().all(|(_, count)| **count == 2),
        "{repeated:?}"
    );
    assert!(repeated.len() <= CONCURRENCY, "{} repeated", repeated.len());
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.running, stats.dead, stats.done),
        (0, 0, 0, EVENTS as u64)
    );
    drop(receiver);
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
    end_to_end(&url).await;
}

#[cfg(feature = "redis-cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server on the PATH"]
async fn two_thousand_events_through_a_killed_worker_on_a_cluster() {
    let cluster = servers::Cluster::start();
    end_to_end(&cluster.url()).await;
}
