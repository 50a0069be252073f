//! The whole verifier on arbitrary requests: a fixed key and a `MockClock`, arbitrary headers and
//! body. The input is read like an HTTP head: `name: value` lines, an empty line, then the body.
//! Whatever the input, verify must not panic; when it accepts, the request must really be signed
//! (the target recomputes the HMAC itself), fresh, and the parsers must not panic on the body.
#![no_main]

use std::sync::LazyLock;

use amps_webhooks::{
    AmpsEvent, HeaderLookup, Headers, MAX_ID_LEN, MockClock, Secret, Verifier, VerifyError,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use libfuzzer_sys::fuzz_target;

// The spec's shared vector's secret and time (tests/data/standard-webhooks.json).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: u64 = 1_614_265_330;
const TOLERANCE: u64 = 300;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    Verifier::builder()
        .secret(Secret::parse(SECRET).expect("the vector's secret parses"))
        .clock(MockClock::at_unix(NOW))
        .max_body_bytes(64 * 1024)
        .build()
        .expect("one key")
});

/// Splits `name: value` lines from the body at the first empty line.
fn request(data: &[u8]) -> (Vec<(String, &[u8])>, &[u8]) {
    let mut headers = Vec::new();
    let mut rest = data;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let (line, after) = rest.split_at(end);
        rest = after.get(1..).unwrap_or_default();
        if line.is_empty() {
            return (headers, rest);
        }
        let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default();
        let value = value.strip_prefix(b" ").unwrap_or(value);
        headers.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    (headers, rest)
}

fn one<'a>(headers: &'a [(String, &'a [u8])], standard: &str, svix: &str) -> &'a [u8] {
    match headers.lookup(standard) {
        HeaderLookup::One(value) => value,
        HeaderLookup::Missing => match headers.lookup(svix) {
            HeaderLookup::One(value) => value,
            other => panic!("accepted with {svix} {other:?}"),
        },
        HeaderLookup::Repeated => panic!("accepted with a repeated {standard}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let (headers, body) = request(data);
    let error = match VERIFIER.verify(headers.as_slice(), body) {
        Ok(verified) => {
            let id = one(&headers, "webhook-id", "svix-id");
            let timestamp = one(&headers, "webhook-timestamp", "svix-timestamp");
            let signatures = one(&headers, "webhook-signature", "svix-signature");
            assert_eq!(verified.id().as_bytes(), id);
            assert!(!id.is_empty() && id.len() <= MAX_ID_LEN);
            assert!(
                id.iter().all(|&b| b.is_ascii_graphic() && b != b'.'),
                "{id:?}"
            );
            assert!(!timestamp.is_empty() && timestamp.iter().all(u8::is_ascii_digit));
            assert!(verified.timestamp().as_unix().abs_diff(NOW) <= TOLERANCE);
            assert_eq!(verified.body(), body);

            let key = STANDARD.decode(&SECRET["whsec_".len()..]).expect("base64");
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key");
            for part in [id, &b"."[..], timestamp, &b"."[..], body] {
                mac.update(part);
            }
            let entry = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
            assert!(
                signatures
                    .split(|&b| b == b' ')
                    .any(|e| e == entry.as_bytes()),
                "accepted without the right signature"
            );

            // Parsing a verified body gives a value or a typed error, never a panic.
            if let Ok(event) = verified.parse::<AmpsEvent>() {
                let _ = serde_json::to_vec(event.payload()).expect("serializable");
            }
            let _ = verified.parse::<serde_json::Value>();
            return;
        }
        Err(error) => error,
    };
    assert!(matches!(error.http_status(), 400 | 401 | 413));
    assert!(!error.to_string().is_empty());
    if let VerifyError::TimestampTooOld { age, tolerance } = error {
        assert!(age > tolerance && tolerance == TOLERANCE);
    }
    if let VerifyError::TimestampTooNew { ahead, tolerance } = error {
        assert!(ahead > tolerance && tolerance == TOLERANCE);
    }
});
