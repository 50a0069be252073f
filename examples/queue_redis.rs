//! The whole path on Redis: receive (verify, enqueue, answer 200 at once), then work (a
//! worker runs the handler later), on `RedisQueue`.
//!
//! `cargo run --example queue_redis --features queue,redis,axum` runs both in one process
//! against `REDIS_URL` (default `redis://127.0.0.1:6379`; a `redis+cluster://` URL with the
//! feature `redis-cluster`): it sends itself one signed delivery twice, and exits once the
//! worker has processed it (the second delivery a duplicate).
//!
//! The end-to-end test runs it as two processes, which it can kill:
//! - `queue_redis receive URL PREFIX NAMESPACE`: the receiver on a free loopback port, which
//!   it prints as `listening on ADDR`;
//! - `queue_redis work URL PREFIX NAMESPACE [drain]`: a worker (concurrency 32, lease 2 s)
//!   whose handler records its effect as `HINCRBY {PREFIX:NAMESPACE}:effects KEY 1` and fails
//!   the first attempt of every fifth event (`evt-N`, N a multiple of 5).
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::queue::{Enqueue, Queue, RedisQueue};
use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::store::StoreError;
use amps_webhooks::{Secret, Signer, Verifier};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// The secret the example signs and verifies with.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone)]
struct Receiver {
    verifier: Verifier,
    queue: Queue,
}

/// Verify, enqueue, answer: 200 once stored (or a duplicate), 503 + Retry-After when Redis
/// cannot answer (nothing acknowledged that was not stored), 401/400 for a bad delivery.
async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = match receiver.verifier.verify(&headers, &body) {
        Ok(verified) => verified,
        Err(error) => return (StatusCode::UNAUTHORIZED, error.to_string()).into_response(),
    };
    let event = match verified.parse::<serde_json::Value>() {
        Ok(event) => event,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    match receiver.queue.enqueue(&event, &headers).await {
        Ok(Enqueue::Enqueued) => (StatusCode::OK, r#"{"queued":true}"#).into_response(),
        Ok(Enqueue::Duplicate { .. }) => (StatusCode::OK, r#"{"duplicate":true}"#).into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            error.to_string(),
        )
            .into_response(),
    }
}

async fn open(url: &str, prefix: &str, namespace: &str) -> Result<Queue, StoreError> {
    let backend = RedisQueue::builder(url).prefix(prefix).connect().await?;
    Queue::new(Arc::new(backend), namespace)
}

fn app(queue: Queue) -> Router {
    let verifier = Verifier::new(SECRET.parse::<Secret>().expect("the example's secret"));
    Router::new()
        .route("/webhooks", post(receive))
        .with_state(Receiver { verifier, queue })
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

/// The worker of the end-to-end test: effects counted per key in Redis.
async fn work(
    url: &str,
    prefix: &str,
    namespace: &str,
    drain: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let queue = open(url, prefix, namespace).await?;
    let effects = format!("{{{prefix}:{namespace}}}:effects");
    let connection = Effects::open(url).await?;
    let worker = queue
        .worker()
        .concurrency(32)
        .lease(Duration::from_secs(2))
        .poll(Duration::from_millis(200))
        .schedule(RetrySchedule::fixed([Duration::from_millis(50); 4])?)
        .drain(drain)
        .build();
    let report = worker
        .run(
            move |job| {
                let (connection, effects) = (connection.clone(), effects.clone());
                async move {
                    let n: u64 = job.key().trim_start_matches("evt-").parse().unwrap_or(1);
                    if job.attempt() == 1 && n.is_multiple_of(5) {
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
    println!("{report:?}");
    Ok(())
}

/// The whole path in one process: one delivery sent twice, processed once.
async fn demo(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let namespace = format!("example-{}", std::process::id());
    let queue = open(url, "amps-webhooks-example", &namespace).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(axum::serve(listener, app(queue.clone())).into_future());

    let body = br#"{"type":"push.completed","eventId":"evt_1","timestamp":"2023-11-14T22:13:20Z","data":{}}"#;
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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["receive", url, prefix, namespace] => {
            let queue = open(url, prefix, namespace).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("listening on {}", listener.local_addr()?);
            axum::serve(listener, app(queue)).await?;
            Ok(())
        }
        ["work", url, prefix, namespace, rest @ ..] => {
            work(url, prefix, namespace, rest == ["drain"]).await
        }
        [] => {
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
            demo(&url).await
        }
        _ => Err("usage: queue_redis [receive|work URL PREFIX NAMESPACE [drain]]".into()),
    }
}
