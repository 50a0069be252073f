//! Verify throughput: amps-webhooks beside a bare HMAC-SHA256 of the same bytes (RustCrypto,
//! keyed once: the floor) and beside the `standardwebhooks` crate (the spec's reference Rust
//! implementation, which the svix crate's verifier matches) on the same signed requests.
//!
//! Run: `cargo bench --bench verify --features http`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use amps_webhooks::{Clock, Secret, Signer, SystemClock, Verifier};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SIZES: [usize; 5] = [256, 2 * 1024, 16 * 1024, 256 * 1024, 1024 * 1024];

fn body(len: usize) -> Vec<u8> {
    // JSON-looking bytes; the content does not matter to a MAC.
    let pattern = br#"{"event":"push.completed","data":{"actionId":"act_7f3c2a91"}}"#;
    pattern.iter().copied().cycle().take(len).collect()
}

fn signed_headers(body: &[u8]) -> HeaderMap {
    // Signed now: standardwebhooks reads the real clock, so every verifier here does.
    let signed = Signer::new(Secret::parse(SECRET).unwrap())
        .sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            SystemClock.unix_seconds(),
            body,
        )
        .unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in signed.webhook_headers() {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    headers
}

fn verify(c: &mut Criterion) {
    let ours = Verifier::new(Secret::parse(SECRET).unwrap());
    let reference = standardwebhooks::Webhook::new(SECRET).unwrap();
    let key = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        SECRET.trim_start_matches("whsec_"),
    )
    .unwrap();
    let keyed = Hmac::<Sha256>::new_from_slice(&key).unwrap();

    let mut group = c.benchmark_group("verify");
    for size in SIZES {
        let body = body(size);
        let headers = signed_headers(&body);
        let id = headers["webhook-id"].as_bytes().to_vec();
        let timestamp = headers["webhook-timestamp"].as_bytes().to_vec();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("amps-webhooks", size), &body, |b, body| {
            b.iter(|| {
                ours.verify(black_box(&headers), black_box(body))
                    .unwrap()
                    .timestamp()
            });
        });
        group.bench_with_input(
            BenchmarkId::new("bare-hmac-sha256", size),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut mac = keyed.clone();
                    mac.update(black_box(&id));
                    mac.update(b".");
                    mac.update(black_box(&timestamp));
                    mac.update(b".");
                    mac.update(black_box(body));
                    mac.finalize().into_bytes()
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("standardwebhooks", size),
            &body,
            |b, body| {
                b.iter(|| {
                    reference
                        .verify(black_box(body), black_box(&headers))
                        .unwrap()
                });
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = verify
}
criterion_main!(benches);
