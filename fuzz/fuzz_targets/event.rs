//! Event parsing on arbitrary bodies: the bytes are signed, verified (any bytes verify: the body
//! is never required to be UTF-8 or JSON), then parsed into `Event<AmpsEvent>` and the generic
//! `Event<serde_json::Value>`. Parsing yields an event or a typed `ParseError`, never a panic,
//! and a body that is not JSON is always `ParseError::InvalidJson`.
#![no_main]

use std::sync::LazyLock;

use amps_webhooks::{AmpsEvent, MockClock, ParseError, Secret, Signer, Verifier};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: u64 = 1_614_265_330;

static KEYS: LazyLock<(Signer, Verifier)> = LazyLock::new(|| {
    let secret = Secret::parse(SECRET).expect("the vector's secret parses");
    let verifier = Verifier::builder()
        .secret(secret.clone())
        .clock(MockClock::at_unix(NOW))
        .build()
        .expect("one key");
    (Signer::new(secret), verifier)
});

fuzz_target!(|body: &[u8]| {
    let (signer, verifier) = &*KEYS;
    let signed = signer.sign("msg_fuzz", NOW, body).expect("a valid id");
    let headers = signed.svix_headers();
    let verified = verifier
        .verify(&headers, body)
        .expect("a signed body verifies");
    assert_eq!(verified.body(), body);

    let json = serde_json::from_slice::<serde_json::Value>(body);
    match verified.parse::<serde_json::Value>() {
        Ok(event) => {
            assert_eq!(Some(event.payload()), json.as_ref().ok());
            assert_eq!(event.raw_body(), body);
            assert_eq!(event.id().as_str(), "msg_fuzz");
            let key = event.idempotency_key();
            assert!(key == "msg_fuzz" || Some(key) == event.event_id());
        }
        Err(ParseError::InvalidJson { .. }) => assert!(json.is_err()),
        Err(other) => panic!("a generic JSON value failed with {other:?}"),
    }

    match verified.parse::<AmpsEvent>() {
        Ok(event) => {
            assert!(json.is_ok());
            // The envelope's type and the payload's are read from the same fields.
            if let Some(declared) = event.event_type() {
                assert_eq!(event.payload().event_type(), declared);
            }
            serde_json::to_vec(event.payload()).expect("an event serializes");
            // Its Standard Webhooks body parses back to the same event.
            let body = serde_json::to_vec(&event.payload().as_body()).expect("a body serializes");
            let again = serde_json::from_slice::<AmpsEvent>(&body).expect("the body parses");
            assert_eq!(&again, event.payload());
        }
        Err(ParseError::InvalidJson { .. }) => assert!(json.is_err()),
        Err(ParseError::InvalidEvent { .. }) => assert!(json.is_ok()),
        Err(other) => panic!("unexpected {other:?}"),
    }
});
