//! Load test of `amps-webhooks listen` as a process: requests per second with the inspector
//! recording every request (the default) against the same listener with `--no-inspect`. Two
//! listener processes, one client, the same run, 1 KiB signed bodies, a unique event id per
//! request; the servers take turns in short slices (A B, then B A, ...) and each one's time is
//! summed over its slices, so that other load on the machine weighs on both alike.
//!
//! `cargo bench --bench listen_load --features cli`
//!
//! Tunables (environment): `LISTEN_LOAD_SLICE` requests per slice (default 2000),
//! `LISTEN_LOAD_SLICES` slices per server (default 20), `LISTEN_LOAD_CONNECTIONS` concurrent
//! keep-alive connections (default 16).

// A load generator stops at the first failure: every `expect` here is a broken setup or a
// request the receiver refused, and the figures would be meaningless after it.
#![allow(clippy::expect_used, clippy::panic, clippy::cast_precision_loss)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use amps_webhooks::{Clock as _, Secret, Signer, SystemClock};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY_BYTES: usize = 1024;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Delivery {
    id: String,
    timestamp: String,
    signature: String,
    body: Bytes,
}

/// 1 KiB `push.completed` envelopes with unique `eventId`s, signed now.
fn deliveries(count: usize, offset: usize) -> Vec<Delivery> {
    let signer = Signer::new(SECRET.parse::<Secret>().expect("valid secret"));
    let now = SystemClock.unix_seconds();
    (0..count)
        .map(|i| {
            let n = offset + i;
            let head = format!(
                r#"{{"event":"push.completed","eventId":"evt_{n:012}","timestamp":"2026-05-08T22:00:05.120Z","data":{{"actionId":"act_{n}","deviceId":"dev_1","result":{{"success":true,"message":"Mode applied"}},"completedAt":"2026-05-08T22:00:05.000Z","note":""#
            );
            let tail = r#""}}"#;
            let body = format!("{head}{}{tail}", "x".repeat(BODY_BYTES - head.len() - tail.len()));
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

/// A `listen --json` process, its lines drained by a thread, killed when dropped.
struct Listen {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listen(extra: &[&str]) -> Listen {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .args(["listen", "--secret", SECRET, "--port", "0", "--json"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start listen");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    lines.read_line(&mut first).expect("first line");
    let line: serde_json::Value = serde_json::from_str(&first).expect("JSON first line");
    let url = line["listening"].as_str().expect("listening URL");
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("address")
        .parse()
        .expect("socket address");
    // One line per request: read and dropped, or the pipe fills and the listener blocks.
    std::thread::spawn(move || {
        let mut sink = [0u8; 64 * 1024];
        while lines.read(&mut sink).is_ok_and(|n| n > 0) {}
    });
    Listen { child, addr }
}

/// Sends every delivery over `connections` keep-alive connections; the seconds it took.
async fn drive(addr: SocketAddr, deliveries: Arc<Vec<Delivery>>, connections: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let deliveries = Arc::clone(&deliveries);
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(connection);
            while let Some(delivery) = deliveries.get(next.fetch_add(1, Ordering::Relaxed)) {
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
                assert_eq!(response.status(), 200, "every delivery is processed");
                response.into_body().collect().await.expect("body");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("client task");
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let slice = env_or("LISTEN_LOAD_SLICE", 2_000).max(1);
    let slices = env_or("LISTEN_LOAD_SLICES", 20).max(1);
    let connections = env_or("LISTEN_LOAD_CONNECTIONS", 16).max(1);
    let inspected = listen(&["--inspect", "127.0.0.1:0"]);
    let plain = listen(&["--no-inspect"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let warm = Arc::new(deliveries(2_000, usize::MAX / 2));
        drive(plain.addr, Arc::clone(&warm), connections).await;
        drive(inspected.addr, warm, connections).await;
        println!(
            "listen_load: {BODY_BYTES}-byte bodies, {connections} keep-alive connections, {slices} slices of {slice} requests per listener, interleaved"
        );
        let mut servers = [
            ("listen --no-inspect", plain.addr, 0.0),
            ("listen (inspector recording, keeps 500)", inspected.addr, 0.0),
        ];
        for index in 0..slices {
            let batch = Arc::new(deliveries(slice, index * slice));
            for turn in 0..servers.len() {
                let server = &mut servers[(index + turn) % 2];
                server.2 += drive(server.1, Arc::clone(&batch), connections).await;
            }
        }
        let total = (slices * slice) as f64;
        let plain_rate = total / servers[0].2;
        for (name, _, secs) in &servers {
            let rate = total / secs;
            println!("{name}: {rate:.0} req/s ({:.3} of --no-inspect)", rate / plain_rate);
        }
        println!("ratio: {:.3}", (total / servers[1].2) / plain_rate);
    });
}
