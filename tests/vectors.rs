//! The Standard Webhooks known-answer vectors, data-driven: every valid one is accepted and
//! every invalid one rejected with its exact error, and the signer reproduces every signature.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use amps_webhooks::{MockClock, Secret, Signer, Verifier, VerifyError};

fn verifier_at(secret: &str, now: u64) -> Verifier {
    Verifier::builder()
        .secret(Secret::parse(secret).unwrap())
        .clock(MockClock::at_unix(now))
        .build()
        .unwrap()
}

#[test]
fn valid_vectors_verify() {
    let (valid, _) = common::vectors();
    assert_eq!(valid.len(), 8);
    for v in &valid {
        let verifier = verifier_at(&v.secret, v.timestamp);
        let headers = v.headers();
        let verified = verifier
            .verify(&headers, &v.body)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(verified.id(), v.id, "{}", v.name);
        assert_eq!(verified.timestamp().as_unix(), v.timestamp, "{}", v.name);
        assert_eq!(verified.body(), v.body.as_slice(), "{}", v.name);
    }
}

#[test]
fn invalid_vectors_are_rejected_with_no_matching_signature() {
    let (_, invalid) = common::vectors();
    assert_eq!(invalid.len(), 6);
    for v in &invalid {
        assert_eq!(
            v.expect.as_deref(),
            Some("no matching signature"),
            "{}",
            v.name
        );
        let error = verifier_at(&v.secret, v.timestamp)
            .verify(&v.headers(), &v.body)
            .unwrap_err();
        let expected_candidates = v
            .signature_header
            .split(' ')
            .filter(|e| e.starts_with("v1,"))
            .count();
        assert_eq!(
            error,
            VerifyError::NoMatchingSignature {
                candidates: expected_candidates
            },
            "{}",
            v.name
        );
        assert_eq!(error.http_status(), 401);
    }
}

#[test]
fn signer_reproduces_single_signature_vectors() {
    let (valid, _) = common::vectors();
    let mut checked = 0;
    for v in valid.iter().filter(|v| !v.signature_header.contains(' ')) {
        let signed = Signer::new(Secret::parse(&v.secret).unwrap())
            .sign(&v.id, v.timestamp, &v.body)
            .unwrap();
        assert_eq!(signed.signature(), v.signature_header, "{}", v.name);
        assert_eq!(signed.timestamp(), v.timestamp.to_string());
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn svix_header_names_are_accepted_in_any_case() {
    let (valid, _) = common::vectors();
    let v = &valid[0];
    let headers = [
        ("Svix-Id", v.id.clone()),
        ("SVIX-TIMESTAMP", v.timestamp.to_string()),
        ("svix-signature", v.signature_header.clone()),
    ];
    let verified = verifier_at(&v.secret, v.timestamp)
        .verify(&headers, &v.body)
        .unwrap();
    assert_eq!(verified.id(), v.id);
}

#[test]
fn tolerance_is_enforced_both_ways_at_its_edges() {
    let (valid, _) = common::vectors();
    let v = &valid[0];
    let at = |now| {
        verifier_at(&v.secret, now)
            .verify(&v.headers(), &v.body)
            .map(|_| ())
    };
    assert_eq!(at(v.timestamp + 300), Ok(()));
    assert_eq!(at(v.timestamp - 300), Ok(()));
    assert_eq!(
        at(v.timestamp + 301),
        Err(VerifyError::TimestampTooOld {
            age: 301,
            tolerance: 300
        })
    );
    assert_eq!(
        at(v.timestamp - 301),
        Err(VerifyError::TimestampTooNew {
            ahead: 301,
            tolerance: 300
        })
    );
    // Saturating: a clock at the epoch or at the end of time cannot overflow.
    assert_eq!(
        at(0),
        Err(VerifyError::TimestampTooNew {
            ahead: v.timestamp,
            tolerance: 300
        })
    );
    assert!(matches!(
        at(u64::MAX / 1_000_000_000),
        Err(VerifyError::TimestampTooOld { .. })
    ));
}

#[test]
fn rotation_accepts_any_configured_key() {
    let (valid, _) = common::vectors();
    let v = valid.iter().find(|v| v.name == "svix-rust-sign").unwrap();
    let verifier = Verifier::builder()
        .secret(Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap())
        .secret(Secret::parse(&v.secret).unwrap())
        .clock(MockClock::at_unix(v.timestamp))
        .build()
        .unwrap();
    assert!(verifier.verify(&v.headers(), &v.body).is_ok());
}

#[test]
fn headers_are_checked_with_exact_errors() {
    let (valid, _) = common::vectors();
    let v = &valid[0];
    let verifier = verifier_at(&v.secret, v.timestamp);
    let mut headers = v.headers();
    headers.retain(|(n, _)| n != "webhook-id");
    assert_eq!(
        verifier.verify(&headers, &v.body).unwrap_err(),
        VerifyError::MissingHeader { name: "webhook-id" }
    );
    let mut headers = v.headers();
    headers.push(("Webhook-Timestamp".into(), v.timestamp.to_string()));
    assert_eq!(
        verifier.verify(&headers, &v.body).unwrap_err(),
        VerifyError::RepeatedHeader {
            name: "webhook-timestamp"
        }
    );
    let small = Verifier::builder()
        .secret(Secret::parse(&v.secret).unwrap())
        .clock(MockClock::at_unix(v.timestamp))
        .max_body_bytes(4)
        .build()
        .unwrap();
    let error = small.verify(&v.headers(), &v.body).unwrap_err();
    assert_eq!(
        error,
        VerifyError::BodyTooLarge {
            limit: 4,
            len: v.body.len()
        }
    );
    assert_eq!(error.http_status(), 413);
}
