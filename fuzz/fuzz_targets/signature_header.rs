//! The signature-header codec through the public API: a valid id, timestamp, body and key, and
//! an arbitrary `webhook-signature` header. The request must verify exactly when one entry is
//! the right `v1,<base64>` text, and otherwise fail with the exact error.
#![no_main]

use std::sync::LazyLock;

use amps_webhooks::{MAX_SIGNATURE_HEADER_LEN, MockClock, Secret, Verifier, VerifyError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;

// The spec's shared vector (tests/data/standard-webhooks.json, "spec-shared").
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TIMESTAMP: u64 = 1_614_265_330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;
const RIGHT_ENTRY: &[u8] = b"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    Verifier::builder()
        .secret(Secret::parse(SECRET).expect("the vector's secret parses"))
        .clock(MockClock::at_unix(TIMESTAMP))
        .build()
        .expect("one key")
});

fuzz_target!(|header: &[u8]| {
    let timestamp = TIMESTAMP.to_string();
    let headers = [
        ("webhook-id", ID.as_bytes()),
        ("webhook-timestamp", timestamp.as_bytes()),
        ("webhook-signature", header),
    ];
    let outcome = VERIFIER.verify(&headers, BODY);

    if header.len() > MAX_SIGNATURE_HEADER_LEN {
        assert_eq!(
            outcome.err(),
            Some(VerifyError::SignatureHeaderTooLong {
                limit: MAX_SIGNATURE_HEADER_LEN
            })
        );
        return;
    }
    let entries = || header.split(|&b| b == b' ');
    // Canonical base64 has one spelling per value, so the right tag has one accepted entry.
    let right = entries().any(|entry| entry == RIGHT_ENTRY);
    let candidates = entries()
        .filter_map(|entry| entry.strip_prefix(b"v1,"))
        .filter(|encoded| STANDARD.decode(encoded).is_ok_and(|tag| tag.len() == 32))
        .count();
    match outcome {
        Ok(verified) => {
            assert!(right, "accepted without the right entry: {header:?}");
            assert_eq!(verified.id(), ID);
            assert_eq!(verified.body(), BODY);
        }
        Err(error) => {
            assert!(!right, "refused the right entry: {error}");
            assert_eq!(error, VerifyError::NoMatchingSignature { candidates });
            assert_eq!(error.http_status(), 401);
        }
    }
});
