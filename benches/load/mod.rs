//! The load generator the HTTP benches share: 1 KiB signed `push.completed` deliveries with
//! unique event ids, sent over keep-alive connections on loopback, and the servers under test
//! taking turns in slices (A B, then B A, ...) so that other load on the machine weighs on all
//! of them alike. Each bench includes it with `mod load;`.

// A load generator stops at the first failure: every `expect` here is a broken setup or a
// request the receiver refused, and the figures would be meaningless after it.
#![allow(
    dead_code,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use amps_webhooks::{Clock as _, Secret, Signer, SystemClock};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

/// The signing secret of every delivery.
pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The size of every body.
pub(crate) const BODY_BYTES: usize = 1024;

/// The environment variable `name` as a number, or `default`.
pub(crate) fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One pre-signed request: the three header values and the body.
pub(crate) struct Delivery {
    pub(crate) id: String,
    pub(crate) timestamp: String,
    pub(crate) signature: String,
    pub(crate) body: Bytes,
}

/// `count` 1 KiB `push.completed` envelopes with unique `eventId`s from `offset`, signed now.
pub(crate) fn deliveries(count: usize, offset: usize) -> Vec<Delivery> {
    let signer = Signer::new(SECRET.parse::<Secret>().expect("valid secret"));
    let now = SystemClock.unix_seconds();
    (0..count)
        .map(|i| {
            let n = offset + i;
            let head = format!(
                r#"{{"event":"push.completed","eventId":"evt_{n:012}","timestamp":"2026-05-08T22:00:05.120Z","data":{{"actionId":"act_{n}","deviceId":"dev_1","deviceType":"battery","actionType":"battery:set_operation_mode","result":{{"success":true,"message":"Mode applied"}},"completedAt":"2026-05-08T22:00:05.000Z","note":""#
            );
            let tail = r#""}}"#;
            let pad = BODY_BYTES - head.len() - tail.len();
            let body = format!("{head}{}{tail}", "x".repeat(pad));
            assert_eq!(body.len(), BODY_BYTES);
            let id = format!("msg_{n:012}");
            let signed = signer.sign(&id, now, body.as_bytes()).expect("valid id");
            Delivery {
                id,
                timestamp: signed.timestamp().to_owned(),
                signature: signed.signature().to_owned(),
                body: Bytes::from(body),
            }
        })
        .collect()
}

/// Serves `app` on a free loopback port.
#[cfg(feature = "axum")]
pub(crate) async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A keep-alive connection to `addr`.
pub(crate) async fn connect(addr: SocketAddr) -> http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

/// POSTs `delivery` to `/webhooks` on `sender`, asserts the 200, reads the body.
pub(crate) async fn post(sender: &mut http1::SendRequest<Full<Bytes>>, delivery: &Delivery) {
    let request = hyper::Request::post("/webhooks")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.id)
        .header("webhook-timestamp", &delivery.timestamp)
        .header("webhook-signature", &delivery.signature)
        .body(Full::new(delivery.body.clone()))
        .expect("request");
    sender.ready().await.expect("connection ready");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), 200, "every delivery is accepted");
    response.into_body().collect().await.expect("body");
}

/// Sends every delivery to `addr`'s `/webhooks` over `connections` keep-alive connections,
/// each answered 200; the seconds it took.
pub(crate) async fn drive(
    addr: SocketAddr,
    deliveries: Arc<Vec<Delivery>>,
    connections: usize,
) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let deliveries = Arc::clone(&deliveries);
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut sender = connect(addr).await;
            while let Some(delivery) = deliveries.get(next.fetch_add(1, Ordering::Relaxed)) {
                post(&mut sender, delivery).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("client task");
    }
    started.elapsed().as_secs_f64()
}

/// A server under test: its name, its address, and the seconds its slices took so far.
pub(crate) struct Server {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    pub(crate) seconds: f64,
}

impl Server {
    /// A server not yet measured.
    pub(crate) fn new(name: impl Into<String>, addr: SocketAddr) -> Self {
        Self {
            name: name.into(),
            addr,
            seconds: 0.0,
        }
    }

    /// Its rate over `total` requests, in requests per second.
    pub(crate) fn rate(&self, total: usize) -> f64 {
        total as f64 / self.seconds
    }
}

/// Warms every server up (connections, allocator), then sends each `slices` slices of `slice`
/// fresh deliveries (the same ones to all, signed just before, in a rotating order), summing
/// each one's time; `between` runs before each slice. Answers the requests each server got.
pub(crate) async fn interleave(
    servers: &mut [Server],
    slices: usize,
    slice: usize,
    connections: usize,
    mut between: impl FnMut(),
) -> usize {
    let warm = Arc::new(deliveries(2_000, usize::MAX / 2));
    for server in servers.iter() {
        drive(server.addr, Arc::clone(&warm), connections).await;
    }
    let count = servers.len();
    for index in 0..slices {
        between();
        let batch = Arc::new(deliveries(slice, index * slice));
        for turn in 0..count {
            let server = &mut servers[(index + turn) % count];
            server.seconds += drive(server.addr, Arc::clone(&batch), connections).await;
        }
    }
    slices * slice
}

/// Removes every key of a bench run from the Redis at `url`: all are under `{prefix:...}`
/// (SCAN, not KEYS, so that the server keeps answering others).
#[cfg(feature = "redis")]
pub(crate) async fn unlink_prefix(url: &str, prefix: &str) {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{{{prefix}:*"))
            .arg("COUNT")
            .arg(5_000)
            .query_async(&mut connection)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            let _: i64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut connection)
                .await
                .expect("UNLINK");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}
