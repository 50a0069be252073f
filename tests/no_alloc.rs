//! `verify` of a valid request makes no heap allocation: the body is fed to the MAC in place and
//! the proof borrows the request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use amps_webhooks::{MockClock, Secret, Verifier};

#[test]
fn verifying_a_valid_request_does_not_allocate() {
    let (valid, _) = common::vectors();
    for v in &valid {
        let verifier = Verifier::builder()
            .secret(Secret::parse(&v.secret).unwrap())
            .clock(MockClock::at_unix(v.timestamp))
            .build()
            .unwrap();
        let headers = v.headers();
        // Warm up once so that lazily initialised state (CPU feature detection) is in place.
        verifier.verify(&headers, &v.body).unwrap();
        let mut ok = false;
        let counts = allocation_counter::measure(|| {
            ok = verifier.verify(&headers, &v.body).is_ok();
        });
        assert!(ok, "{}", v.name);
        assert_eq!(counts.count_total, 0, "{}: {counts:?}", v.name);
    }
}

#[test]
fn the_counter_does_count() {
    let counts = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert_eq!(counts.count_total, 1);
}
