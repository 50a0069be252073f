//! Verifying one request signed with `v1a` (ed25519) beside `v1` (HMAC-SHA256), at 256 B and
//! 16 KiB of body: `cargo bench --bench v1a --features ed25519`.

#![allow(
    clippy::expect_used,
    reason = "a bench with a broken setup must stop loudly"
)]

use std::hint::black_box;
use std::time::Duration;

use amps_webhooks::{Key, KeySet, MockClock, Secret, Signer, SigningKey, Verifier};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const TIMESTAMP: u64 = 1_614_265_330;
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";

fn verify_v1_and_v1a(c: &mut Criterion) {
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
    let signing = SigningKey::from_seed(&[7; 32]);
    let schemes = [
        ("v1", Key::from(secret.clone()), Key::from(secret)),
        ("v1a", Key::from(signing.public_key()), Key::from(signing)),
    ];

    let mut group = c.benchmark_group("verify");
    for len in [256, 16 * 1024] {
        let body = vec![b'a'; len];
        group.throughput(Throughput::Bytes(len as u64));
        for (name, verifying, signing) in &schemes {
            let signed = Signer::with_keys(KeySet::from(signing.clone()))
                .sign(ID, TIMESTAMP, &body)
                .expect("sign");
            let verifier = Verifier::builder()
                .key(verifying.clone())
                .clock(MockClock::at_unix(TIMESTAMP))
                .build()
                .expect("verifier");
            let headers = signed.webhook_headers();
            verifier
                .verify(&headers, &body)
                .expect("the request verifies");
            group.bench_with_input(BenchmarkId::new(*name, len), &body, |b, body| {
                b.iter(|| {
                    verifier
                        .verify(black_box(&headers), black_box(body))
                        .is_ok()
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = verify_v1_and_v1a
}
criterion_main!(benches);
