//! Property tests: sign then verify round-trips for random secrets, ids, timestamps and bodies
//! (including bytes that are not UTF-8), and any one-bit change is rejected with the exact error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use amps_webhooks::{MockClock, Secret, Signer, Verifier, VerifyError};
use proptest::prelude::*;

fn id_strategy() -> impl Strategy<Value = String> {
    // Printable ASCII without '.', 1 to 64 characters.
    proptest::string::string_regex("[!-\\-/-~]{1,64}").unwrap()
}

#[derive(Debug)]
struct Case {
    secret: Vec<u8>,
    id: String,
    timestamp: u64,
    body: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(any::<u8>(), 24..=64),
        id_strategy(),
        1_000_000_000u64..4_000_000_000,
        proptest::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_map(|(secret, id, timestamp, body)| Case {
            secret,
            id,
            timestamp,
            body,
        })
}

fn verify(
    case: &Case,
    id: &[u8],
    timestamp: &[u8],
    signature: &[u8],
    body: &[u8],
) -> Result<(), VerifyError> {
    let verifier = Verifier::builder()
        .secret(Secret::from_bytes(&case.secret).unwrap())
        .clock(MockClock::at_unix(case.timestamp))
        // Wide enough that a flipped timestamp bit is still judged by its signature.
        .dangerous_tolerance(std::time::Duration::from_secs(u64::MAX / 2))
        .build()
        .unwrap();
    let headers: [(&str, &[u8]); 3] = [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ];
    verifier.verify(&headers, body).map(|_| ())
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut flipped = bytes.to_vec();
    let bit = bit % (bytes.len() * 8);
    flipped[bit / 8] ^= 1 << (bit % 8);
    flipped
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_then_verify_round_trips(case in case()) {
        let signed = Signer::new(Secret::from_bytes(&case.secret).unwrap())
            .sign(&case.id, case.timestamp, &case.body)
            .unwrap();
        prop_assert_eq!(
            verify(&case, signed.id().as_bytes(), signed.timestamp().as_bytes(), signed.signature().as_bytes(), &case.body),
            Ok(())
        );
    }

    #[test]
    fn any_one_bit_change_is_rejected(case in case(), bit in any::<usize>(), part in 0..4u8) {
        let signed = Signer::new(Secret::from_bytes(&case.secret).unwrap())
            .sign(&case.id, case.timestamp, &case.body)
            .unwrap();
        let (id, ts, sig, body) = (
            signed.id().as_bytes().to_vec(),
            signed.timestamp().as_bytes().to_vec(),
            signed.signature().as_bytes().to_vec(),
            case.body.clone(),
        );
        let result = match part {
            0 if !body.is_empty() => verify(&case, &id, &ts, &sig, &flip(&body, bit)),
            0 | 1 => {
                let id = flip(&id, bit);
                let result = verify(&case, &id, &ts, &sig, &body);
                // A flipped id may leave printable ASCII: then only the signature can catch it.
                if id.iter().all(|b| b.is_ascii_graphic() && *b != b'.') {
                    prop_assert!(matches!(result, Err(VerifyError::NoMatchingSignature { candidates: 1 })), "{:?}", result);
                } else {
                    prop_assert_eq!(result, Err(VerifyError::InvalidId { max_len: amps_webhooks::MAX_ID_LEN }));
                }
                return Ok(());
            }
            2 => {
                let ts = flip(&ts, bit);
                let result = verify(&case, &id, &ts, &sig, &body);
                if ts.iter().all(u8::is_ascii_digit) {
                    prop_assert!(matches!(result, Err(VerifyError::NoMatchingSignature { candidates: 1 })), "{:?}", result);
                } else {
                    prop_assert_eq!(result, Err(VerifyError::InvalidTimestamp));
                }
                return Ok(());
            }
            _ => {
                // Flip a bit of the decoded tag, then re-encode: a well-formed but wrong entry.
                use base64::Engine as _;
                let engine = base64::engine::general_purpose::STANDARD;
                let tag = engine.decode(&sig[3..]).unwrap();
                let entry = format!("v1,{}", engine.encode(flip(&tag, bit)));
                verify(&case, &id, &ts, entry.as_bytes(), &body)
            }
        };
        prop_assert_eq!(result, Err(VerifyError::NoMatchingSignature { candidates: 1 }));
    }
}
