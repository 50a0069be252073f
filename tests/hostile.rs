//! Hostile input, data-driven: each row of the shared table (tests/hostile_cases) is one attack
//! or malformed request that webhook verifiers are known to have got wrong (truncated
//! comparisons, lax base64, lenient or overflowing timestamps, empty keys, ambiguous headers,
//! panics on junk), with the exact outcome: the request accepted, or refused with this
//! `VerifyError` and this HTTP status. tests/hostile_http.rs sends the same table over HTTP.
//!
//! Inputs the fuzzers found are kept in tests/data/hostile/ and replayed at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod hostile_cases;

#[cfg(feature = "amps")]
use amps_webhooks::AmpsEvent;
use amps_webhooks::{KeyError, KeySet, ParseError, Secret, Signer, Verifier, VerifyError};
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hostile_cases::{
    Accepted, AcceptedNotJson, BODY, Case, ID, RIGHT, Refused, Request, SECRET, TS, body_cases,
    header_cases, non_canonical, right_tag, signature_cases, timestamp_cases, verifier_at,
};
fn check(cases: Vec<Case>) -> usize {
    let count = cases.len();
    for Case {
        name,
        request,
        now,
        expect,
    } in cases
    {
        let verifier = verifier_at(now);
        let outcome = verifier.verify(&request.headers, &request.body);
        let context = format!("{name}: {:?}", request.headers);
        match (outcome, expect) {
            (Ok(verified), Accepted) => {
                verified.parse::<serde_json::Value>().expect(&context);
            }
            (Ok(verified), AcceptedNotJson) => {
                assert_eq!(verified.body(), request.body, "{context}");
                assert!(
                    matches!(
                        verified.parse::<serde_json::Value>(),
                        Err(ParseError::InvalidJson { .. })
                    ),
                    "{context}"
                );
                #[cfg(feature = "amps")]
                assert!(
                    matches!(
                        verified.parse::<AmpsEvent>(),
                        Err(ParseError::InvalidJson { .. })
                    ),
                    "{context}"
                );
            }
            (Err(error), Refused(status, expected)) => {
                assert_eq!(error, expected, "{context}");
                assert_eq!(error.http_status(), status, "{context}");
                assert!(!error.to_string().is_empty());
            }
            (outcome, expect) => {
                panic!(
                    "{context}: got {:?}, expected {expect:?}",
                    outcome.map(|v| v.id())
                )
            }
        }
    }
    count
}

#[test]
fn signature_headers() {
    assert!(check(signature_cases()) >= 40);
}

#[test]
fn timestamps() {
    assert!(check(timestamp_cases()) >= 35);
}

#[test]
fn headers_and_ids() {
    assert!(check(header_cases()) >= 30);
}

#[test]
fn bodies() {
    assert!(check(body_cases()) >= 14);
}

/// The refused spellings really are the right tag, so a lax decoder would have accepted them.
#[test]
fn refused_spellings_decode_to_the_right_tag_under_lax_base64() {
    let tag = right_tag();
    let lax = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    for spelling in [
        format!("v1,{}", non_canonical(&RIGHT[3..])),
        RIGHT.trim_end_matches('=').into(),
    ] {
        assert_eq!(lax.decode(&spelling[3..]).unwrap(), tag, "{spelling}");
    }
    let url_safe = base64::engine::general_purpose::URL_SAFE;
    assert_eq!(
        url_safe
            .decode(RIGHT[3..].replace('+', "-").replace('/', "_"))
            .unwrap(),
        tag
    );
}

#[test]
fn secrets() {
    let b64 = |len: usize| STANDARD.encode(vec![0x5a; len]);
    let cases: Vec<(&str, String, Result<(), KeyError>)> = vec![
        ("empty", String::new(), Err(KeyError::Empty)),
        ("the prefix alone", "whsec_".into(), Err(KeyError::Empty)),
        ("padding alone", "whsec_====".into(), Err(KeyError::InvalidBase64)),
        ("a space", "whsec_ ".into(), Err(KeyError::Empty)),
        ("not base64", "whsec_not-base64!".into(), Err(KeyError::InvalidBase64)),
        ("a space inside", "whsec_not base64!".into(), Err(KeyError::InnerWhitespace { position: 9 })),
        ("a trailing newline", format!("{SECRET}\n"), Ok(())),
        ("surrounding spaces", format!(" {SECRET} "), Ok(())),
        ("quoted", format!("\"{SECRET}\""), Err(KeyError::Quoted { quote: '"' })),
        ("unpadded", format!("whsec_{}", b64(25).trim_end_matches('=')), Err(KeyError::InvalidBase64)),
        ("URL-safe", format!("whsec_{}", STANDARD.encode([0xfb; 30]).replace('+', "-").replace('/', "_")), Err(KeyError::InvalidBase64)),
        ("non-canonical trailing bits", format!("whsec_{}", non_canonical(&b64(25))), Err(KeyError::InvalidBase64)),
        ("non-canonical trailing bits, one pad", format!("whsec_{}", non_canonical(&b64(26))), Err(KeyError::InvalidBase64)),
        ("upper-case prefix", SECRET.replace("whsec_", "WHSEC_"), Err(KeyError::InvalidBase64)),
        ("the prefix twice", SECRET.replace("whsec_", "whsec_whsec_"), Err(KeyError::InvalidBase64)),
        ("one byte", format!("whsec_{}", b64(1)), Err(KeyError::TooShort { len: 1 })),
        ("16 bytes", format!("whsec_{}", b64(16)), Err(KeyError::TooShort { len: 16 })),
        ("23 bytes", format!("whsec_{}", b64(23)), Err(KeyError::TooShort { len: 23 })),
        ("24 bytes", format!("whsec_{}", b64(24)), Ok(())),
        ("24 bytes without the prefix", b64(24), Ok(())),
        ("64 bytes", format!("whsec_{}", b64(64)), Ok(())),
        ("65 bytes", format!("whsec_{}", b64(65)), Err(KeyError::TooLong { len: 65 })),
        ("1 MiB", format!("whsec_{}", b64(1 << 20)), Err(KeyError::TooLong { len: 1 << 20 })),
        ("an ed25519 signing key", "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==".into(), Err(KeyError::WrongKind { found: "whsk_" })),
        ("an ed25519 public key", "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=".into(), Err(KeyError::WrongKind { found: "whpk_" })),
    ];
    for (name, text, expected) in &cases {
        assert_eq!(
            Secret::parse(text).map(|_| ()),
            *expected,
            "{name}: {text:?}"
        );
        assert_eq!(text.parse::<Secret>().map(|_| ()), *expected, "{name}");
    }
    assert_eq!(cases.len(), 25);

    for (len, expected) in [
        (0, Err(KeyError::Empty)),
        (1, Err(KeyError::TooShort { len: 1 })),
        (23, Err(KeyError::TooShort { len: 23 })),
        (24, Ok(())),
        (64, Ok(())),
        (65, Err(KeyError::TooLong { len: 65 })),
    ] {
        assert_eq!(
            Secret::from_bytes(&vec![0; len]).map(|_| ()),
            expected,
            "{len} bytes"
        );
    }
    // One bad secret spoils a key set: rotation never silently drops to fewer keys.
    assert_eq!(
        KeySet::parse([SECRET, "whsec_"]).map(|keys| keys.len()),
        Err(KeyError::Empty)
    );
}

/// Without keys there is no verifier, and a signer without keys signs nothing a verifier takes.
#[test]
fn no_keys_no_verifier() {
    assert_eq!(
        Verifier::builder().build().map(|_| ()),
        Err(amps_webhooks::BuildError::NoKeys)
    );
    let unsigned = Signer::with_keys(KeySet::new()).sign(ID, TS, BODY).unwrap();
    assert_eq!(unsigned.signature(), "");
    assert_eq!(
        verifier_at(TS)
            .verify(&unsigned.webhook_headers(), BODY)
            .map(|_| ()),
        Err(VerifyError::NoMatchingSignature { candidates: 0 })
    );
}

fn kept(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/hostile/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Fuzzer finding (event target): an event followed by a stray `}` was `InvalidEvent`, though
/// the body is not JSON: the typed parse failed on the shape before reaching the junk.
#[test]
fn fuzz_regression_event_then_junk_is_invalid_json() {
    let body = kept("event-trailing-brace.json");
    let request = Request::body(&body);
    let verifier = verifier_at(TS);
    let verified = verifier.verify(&request.headers, &body).unwrap();
    // Any type the first value does not fit fails on its shape first.
    assert!(matches!(
        verified.parse::<std::collections::HashMap<String, u64>>(),
        Err(ParseError::InvalidJson { .. })
    ));
    assert!(matches!(
        verified.parse::<serde_json::Value>(),
        Err(ParseError::InvalidJson { .. })
    ));
    #[cfg(feature = "amps")]
    assert!(matches!(
        verified.parse::<AmpsEvent>(),
        Err(ParseError::InvalidJson { .. })
    ));
}

/// Fuzzer finding (event target): with two `event` keys the envelope took the first and the
/// payload the last, so the two named different types.
#[test]
fn fuzz_regression_repeated_event_key_names_one_type() {
    let body = kept("event-repeated-event-key.json");
    let request = Request::body(&body);
    let verifier = verifier_at(TS);
    let verified = verifier.verify(&request.headers, &body).unwrap();
    let last = "push-T22:00-06-01T10:30:00.000LZ";
    let generic = verified.parse::<serde_json::Value>().unwrap();
    assert_eq!(generic.payload()["event"], last);
    assert_eq!(generic.event_type(), Some(last));
    #[cfg(feature = "amps")]
    {
        let event = verified.parse::<AmpsEvent>().unwrap();
        assert_eq!(event.event_type(), Some(last));
        assert_eq!(event.payload().event_type(), last);
    }
}

/// Issue 15, item 7a: a parse error's `Display` (the rejection reason of the integrations, the
/// `listen` line, tracing) never carries body content, whatever field the body got wrong; the
/// parser's own message is still there for the tools that ask for it.
#[test]
fn parse_errors_do_not_quote_the_body() {
    const MARKER: &str = "BODY-MARKER-c0ffee";
    let verifier = verifier_at(TS);
    let refuse = |body: &str, parse: &dyn Fn(amps_webhooks::Verified<'_>) -> ParseError| {
        let request = Request::body(body.as_bytes());
        let verified = verifier.verify(&request.headers, body.as_bytes()).unwrap();
        let error = parse(verified);
        assert!(
            matches!(error, ParseError::InvalidEvent { .. }),
            "{body}: {error:?}"
        );
        assert!(!error.to_string().contains(MARKER), "{body}: {error}");
        error
    };
    type Map = std::collections::HashMap<String, u64>;
    let error = refuse(&format!(r#"{{"n":"{MARKER}"}}"#), &|v| {
        v.parse::<Map>().unwrap_err()
    });
    assert!(error.detail().contains(MARKER), "{}", error.detail());
    let error = refuse(&format!(r#"["{MARKER}"]"#), &|v| {
        v.parse::<Vec<u64>>().unwrap_err()
    });
    assert!(error.detail().contains(MARKER), "{}", error.detail());
    #[cfg(feature = "amps")]
    for body in [
        format!(
            r#"{{"type":"device.reconnected","data":{{"deviceId":"d","timestamp":"{MARKER}"}}}}"#
        ),
        format!(
            r#"{{"event":"push.completed","eventId":"e","timestamp":"x","data":{{"actionId":["{MARKER}"]}}}}"#
        ),
    ] {
        refuse(&body, &|v| v.parse::<AmpsEvent>().unwrap_err());
    }
}
