//! The whole path on Redis: receive (verify, enqueue, answer 200 at once), then work (a
//! worker runs the handler later), on `RedisQueue`.
//!
//! `cargo run --example queue_redis --features queue,redis,axum` runs both in one process
//! against `REDIS_URL` (default `redis://127.0.0.1:6379`; a `redis+cluster://` URL with the
//! feature `redis-cluster`): it sends itself one signed delivery twice, and exits once the
//! worker has processed it (the second delivery a duplicate).
//!
//! The end-to-end test (tests/queue_redis_e2e.rs) runs the parts as processes it can kill,
//! with the same flags (`--url URL --prefix P --namespace N`):
//! - `queue_redis receive ...`: the library's `enqueue_route` (verify, enqueue, answer 200 at
//!   once) on a free loopback port, printed as `listening on ADDR`;
//! - `queue_redis work ... [--drain]`: a worker whose handler records its effect as
//!   `HINCRBY {P:N}:effects KEY 1` (Redis has no transaction to share with the queue: a job
//!   running at a kill may repeat its effect), until killed or (with `--drain`) until nothing
//!   is pending or running. It prints its settings first, then one line per attempt that did
//!   not complete its job; its handler fails the first attempt of each event whose key ends in
//!   a multiple of 5.
#![allow(clippy::expect_used)]

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::integrations::axum::enqueue_route;
use amps_webhooks::queue::{Attempt, AttemptOutcome, Job, Queue, RedisQueue};
use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::store::StoreError;
use amps_webhooks::{Secret, Signer, Verifier};
use axum::Router;

/// The secret the example signs and verifies with.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The worker's concurrency: at most this many jobs run at a kill.
const CONCURRENCY: usize = 32;
/// The worker's lease: a killed worker's jobs are taken over this long after.
const LEASE: Duration = Duration::from_secs(2);

/// Where the parts run.
struct Config {
    url: String,
    prefix: String,
    namespace: String,
    drain: bool,
}

impl Config {
    fn from_args(mut args: impl Iterator<Item = String>) -> Result<Self, Box<dyn Error>> {
        let mut config = Self {
            url: std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
            prefix: "amps-webhooks-example".to_owned(),
            namespace: format!("example-{}", std::process::id()),
            drain: false,
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--url" => config.url = value()?,
                "--prefix" => config.prefix = value()?,
                "--namespace" => config.namespace = value()?,
                "--drain" => config.drain = true,
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        Ok(config)
    }

    async fn queue(&self) -> Result<Queue, StoreError> {
        let backend = RedisQueue::builder(self.url.as_str())
            .prefix(self.prefix.as_str())
            .connect()
            .await?;
        Queue::new(Arc::new(backend), &self.namespace)
    }
}

/// Receive: the library's route verifies each delivery, enqueues it (a redelivery is a
/// duplicate) and answers 200 at once; 503 + Retry-After when Redis cannot answer.
fn app(queue: Queue) -> Router {
    let verifier = Verifier::new(SECRET.parse::<Secret>().expect("the example's secret"));
    Router::new().route("/webhooks", enqueue_route(verifier, queue))
}

/// Where the end-to-end worker counts its effects: the same Redis as the queue.
#[derive(Clone)]
enum Effects {
    One(redis::aio::MultiplexedConnection),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Effects {
    async fn open(url: &str) -> redis::RedisResult<Self> {
        #[cfg(feature = "redis-cluster")]
        if let Some(nodes) = url.strip_prefix("redis+cluster://") {
            let nodes: Vec<String> = nodes
                .split(',')
                .map(|node| format!("redis://{node}"))
                .collect();
            let client = redis::cluster::ClusterClient::new(nodes)?;
            return Ok(Self::Cluster(client.get_async_connection().await?));
        }
        let client = redis::Client::open(url)?;
        Ok(Self::One(client.get_multiplexed_async_connection().await?))
    }

    /// One more effect for `key`.
    async fn add(&self, hash: &str, key: &str) -> redis::RedisResult<i64> {
        let mut command = redis::cmd("HINCRBY");
        command.arg(hash).arg(key).arg(1);
        match self.clone() {
            Self::One(mut connection) => command.query_async(&mut connection).await,
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(mut connection) => command.query_async(&mut connection).await,
        }
    }
}

/// The failure the end-to-end test asks for: the first attempt of each event whose key ends
/// in a multiple of 5 fails.
fn fails_first(job: &Job) -> bool {
    let number = job
        .key()
        .rsplit(['-', '_'])
        .next()
        .and_then(|n| n.parse::<u64>().ok());
    job.attempt() == 1 && number.is_some_and(|n| n.is_multiple_of(5))
}

/// The line of an attempt that did not complete its job (`retry evt-5 attempt 1: ...`).
fn report(attempt: &Attempt<'_, (), String>) {
    if attempt.outcome != AttemptOutcome::Done {
        let error = attempt.result.as_ref().err().map(ToString::to_string);
        println!(
            "{} {} attempt {}: {}",
            attempt.outcome,
            attempt.job.key(),
            attempt.job.attempt(),
            error.unwrap_or_default()
        );
    }
}

/// Work: effects counted per key in Redis, until drained (or killed).
async fn work(config: &Config) -> Result<(), Box<dyn Error>> {
    let queue = config.queue().await?;
    let effects = format!("{{{}:{}}}:effects", config.prefix, config.namespace);
    let connection = Effects::open(&config.url).await?;
    println!("working: concurrency {CONCURRENCY}, lease {LEASE:?}");
    let worker = queue
        .worker()
        .concurrency(CONCURRENCY)
        .lease(LEASE)
        .poll(Duration::from_millis(200))
        .schedule(RetrySchedule::fixed([Duration::from_millis(50); 4])?)
        .drain(config.drain)
        .on_attempt(report)
        .build();
    let report = worker
        .run(
            move |job| {
                let (connection, effects) = (connection.clone(), effects.clone());
                async move {
                    if fails_first(&job) {
                        return Err(format!("first attempt of {} fails", job.key()));
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    connection
                        .add(&effects, job.key())
                        .await
                        .map_err(|error| error.to_string())?;
                    Ok(())
                }
            },
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await?;
    println!("stopped: {report:?}");
    Ok(())
}

/// The whole path in one process: one delivery sent twice, processed once.
async fn demo(config: &Config) -> Result<(), Box<dyn Error>> {
    let queue = config.queue().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(axum::serve(listener, app(queue.clone())).into_future());

    let body = br#"{"event":"push.completed","eventId":"evt_1","data":{"actionId":"act_1","deviceId":"dev_1","result":{"success":true},"completedAt":"2026-05-08T22:00:05Z"}}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let signed = Signer::new(SECRET.parse()?).sign("msg_1", now, body)?;
    for _ in 0..2 {
        let mut request = format!(
            "POST /webhooks HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in signed.webhook_headers() {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(request.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        println!("{}", answer.lines().next().unwrap_or_default());
    }

    let report = queue
        .worker()
        .drain(true)
        .build()
        .run(
            |job| async move {
                println!("handled {} (attempt {})", job.key(), job.attempt());
                Ok::<_, std::convert::Infallible>(())
            },
            std::future::pending(),
        )
        .await?;
    println!("done: {}", report.done);
    queue.purge().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let part = args.next_if(|arg| arg == "receive" || arg == "work");
    let config = Config::from_args(args)?;
    match part.as_deref() {
        Some("receive") => {
            let queue = config.queue().await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("listening on {}", listener.local_addr()?);
            axum::serve(listener, app(queue)).await?;
            Ok(())
        }
        Some(_) => work(&config).await,
        None => demo(&config).await,
    }
}
