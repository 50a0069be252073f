//! Asymmetric signatures (Standard Webhooks `v1a`, ed25519): the known-answer vector, one-bit
//! changes, mixed headers, rotation, hostile signatures and keys, each with its exact error.

#![allow(
    clippy::expect_used,
    reason = "helpers of the tests, outside #[test] functions"
)]

use std::time::Duration;

use amps_webhooks::{
    Key, KeyError, KeySet, MAX_V1A_SIGNATURES, MockClock, PublicKey, Secret, SignError, Signer,
    SigningKey, Verifier, VerifyError,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use curve25519_dalek::edwards::CompressedEdwardsY;
use serde_json::Value;

const HMAC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A second key pair, for rotation: seed 0x07 * 32.
const SEED_2: [u8; 32] = [7; 32];

struct Vector {
    secret_key: String,
    public_key: String,
    id: String,
    timestamp: u64,
    payload: Vec<u8>,
    signature: String,
}

fn vector() -> Vector {
    let all: Value =
        serde_json::from_str(include_str!("data/standard-webhooks.json")).expect("vectors");
    let v = &all["asymmetric_v1a"];
    let text = |name: &str| v[name].as_str().expect(name).to_owned();
    Vector {
        secret_key: text("secret_key"),
        public_key: text("public_key"),
        id: text("id"),
        timestamp: v["timestamp"].as_u64().expect("timestamp"),
        payload: text("payload").into_bytes(),
        signature: text("signature"),
    }
}

fn verifier(keys: impl IntoIterator<Item = Key>, now: u64) -> Verifier {
    let mut set = KeySet::new();
    set.extend(keys);
    Verifier::builder()
        .keys(set)
        .clock(MockClock::at_unix(now))
        .build()
        .expect("verifier")
}

/// A verifier that judges only the signature: any timestamp is within its tolerance.
fn signature_only_verifier(key: Key) -> Verifier {
    Verifier::builder()
        .key(key)
        .clock(MockClock::at_unix(0))
        .dangerous_tolerance(Duration::from_secs(u64::MAX))
        .build()
        .expect("verifier")
}

fn public(v: &Vector) -> Key {
    Key::parse(&v.public_key).expect("public key")
}

fn headers<'a>(
    id: &'a [u8],
    timestamp: &'a [u8],
    signature: &'a [u8],
) -> [(&'static str, &'a [u8]); 3] {
    [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ]
}

fn verify(
    verifier: &Verifier,
    id: &str,
    timestamp: u64,
    body: &[u8],
    signature: &str,
) -> Result<(), VerifyError> {
    let timestamp = timestamp.to_string();
    verifier
        .verify(
            &headers(id.as_bytes(), timestamp.as_bytes(), signature.as_bytes()),
            body,
        )
        .map(|_| ())
}

fn v1a(bytes: &[u8]) -> String {
    format!("v1a,{}", STANDARD.encode(bytes))
}

fn signature_bytes(entry: &str) -> [u8; 64] {
    let decoded = STANDARD
        .decode(entry.strip_prefix("v1a,").expect("v1a entry"))
        .expect("base64");
    decoded.try_into().expect("64 bytes")
}

#[test]
fn the_vector_verifies_with_the_public_key_and_the_signing_key() {
    let v = vector();
    for key in [public(&v), Key::parse(&v.secret_key).expect("signing key")] {
        let verifier = verifier([key], v.timestamp);
        assert_eq!(
            verify(&verifier, &v.id, v.timestamp, &v.payload, &v.signature),
            Ok(())
        );
    }
    let public_key = PublicKey::parse(&v.public_key).expect("public key");
    assert_eq!(public_key.to_string(), v.public_key);
    // `whsk_` where only a verification key goes: its public half is taken.
    assert_eq!(
        PublicKey::parse(&v.secret_key).expect("derived"),
        public_key
    );
}

#[test]
fn signing_the_vector_gives_its_signature() {
    // ed25519 signatures are deterministic: the signer must reproduce the vector exactly.
    let v = vector();
    let key = SigningKey::parse(&v.secret_key).expect("signing key");
    assert_eq!(key.public_key().to_string(), v.public_key);
    let signed = Signer::with_keys(KeySet::from(Key::from(key)))
        .sign(&v.id, v.timestamp, &v.payload)
        .expect("sign");
    assert_eq!(signed.signature(), v.signature);
    assert_eq!(signed.timestamp(), v.timestamp.to_string());
}

#[test]
fn every_one_bit_change_is_rejected() {
    let v = vector();
    let verifier = signature_only_verifier(public(&v));
    let ts = v.timestamp.to_string();
    let sig = v.signature.as_bytes();
    assert_eq!(
        verify(&verifier, &v.id, v.timestamp, &v.payload, &v.signature),
        Ok(())
    );
    let no_match = Err(VerifyError::NoMatchingSignature { candidates: 1 });

    for bit in 0..v.payload.len() * 8 {
        let mut body = v.payload.clone();
        body[bit / 8] ^= 1 << (bit % 8);
        let request = headers(v.id.as_bytes(), ts.as_bytes(), sig);
        let result = verifier.verify(&request, &body).map(|_| ());
        assert_eq!(result, no_match, "body bit {bit}");
    }

    for bit in 0..v.id.len() * 8 {
        let mut id = v.id.clone().into_bytes();
        id[bit / 8] ^= 1 << (bit % 8);
        let byte = id[bit / 8];
        // A flip that leaves printable ASCII without `.` gives another id, which the
        // signature does not cover; any other flip gives an id the verifier refuses first.
        let expected = if byte.is_ascii_graphic() && byte != b'.' {
            no_match.clone()
        } else {
            Err(VerifyError::InvalidId {
                max_len: amps_webhooks::MAX_ID_LEN,
            })
        };
        let request = headers(&id, ts.as_bytes(), sig);
        let result = verifier.verify(&request, &v.payload).map(|_| ());
        assert_eq!(result, expected, "id bit {bit}");
    }

    for bit in 0..ts.len() * 8 {
        let mut timestamp = ts.clone().into_bytes();
        timestamp[bit / 8] ^= 1 << (bit % 8);
        let expected = if timestamp[bit / 8].is_ascii_digit() {
            no_match.clone()
        } else {
            Err(VerifyError::InvalidTimestamp)
        };
        let request = headers(v.id.as_bytes(), &timestamp, sig);
        let result = verifier.verify(&request, &v.payload).map(|_| ());
        assert_eq!(result, expected, "timestamp bit {bit}");
    }

    let good = signature_bytes(&v.signature);
    for bit in 0..good.len() * 8 {
        let mut flipped = good;
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            verify(&verifier, &v.id, v.timestamp, &v.payload, &v1a(&flipped)),
            no_match,
            "signature bit {bit}"
        );
    }
}

#[test]
fn v1_and_v1a_entries_are_checked_against_their_own_kind_of_key_only() {
    let v = vector();
    let public_key = PublicKey::parse(&v.public_key).expect("public key");
    // The public key's own 32 bytes as an HMAC secret: a v1 tag made with them must not pass
    // a verifier that holds the public key, nor the v1a signature a verifier holding them.
    let hmac_of_public = Secret::from_bytes(public_key.as_bytes()).expect("secret");
    let v1_entry = Signer::new(hmac_of_public.clone())
        .sign(&v.id, v.timestamp, &v.payload)
        .expect("sign")
        .signature()
        .to_owned();

    let public_only = verifier([public(&v)], v.timestamp);
    assert_eq!(
        verify(&public_only, &v.id, v.timestamp, &v.payload, &v1_entry),
        Err(VerifyError::NoMatchingSignature { candidates: 0 })
    );
    let hmac_only = verifier([Key::from(hmac_of_public.clone())], v.timestamp);
    assert_eq!(
        verify(&hmac_only, &v.id, v.timestamp, &v.payload, &v.signature),
        Err(VerifyError::NoMatchingSignature { candidates: 0 })
    );

    // Both kinds in one verifier, both entries in one header, in either order.
    let both = verifier([Key::from(hmac_of_public), public(&v)], v.timestamp);
    for header in [
        format!("{v1_entry} {}", v.signature),
        format!("{} {v1_entry}", v.signature),
        v1_entry.clone(),
        v.signature.clone(),
    ] {
        assert_eq!(
            verify(&both, &v.id, v.timestamp, &v.payload, &header),
            Ok(()),
            "{header}"
        );
    }
    // Neither entry valid: both were compared.
    let mut bad_v1a = signature_bytes(&v.signature);
    bad_v1a[0] ^= 1;
    let header = format!("v1,{} {}", STANDARD.encode([0u8; 32]), v1a(&bad_v1a));
    assert_eq!(
        verify(&both, &v.id, v.timestamp, &v.payload, &header),
        Err(VerifyError::NoMatchingSignature { candidates: 2 })
    );
}

#[test]
fn rotation_works_for_ed25519_and_from_hmac_to_ed25519() {
    let v = vector();
    let old = SigningKey::parse(&v.secret_key).expect("old key");
    let new = SigningKey::from_seed(&SEED_2);
    let hmac = Secret::parse(HMAC_SECRET).expect("secret");

    let mut keys = KeySet::new();
    keys.push(hmac.clone());
    keys.push_key(old.clone());
    keys.push_key(new.clone());
    let signed = Signer::try_with_keys(keys)
        .expect("signer")
        .sign(&v.id, v.timestamp, &v.payload)
        .expect("sign");
    let entries: Vec<&str> = signed.signature().split(' ').collect();
    assert_eq!(entries.len(), 3);
    assert!(entries[0].starts_with("v1,"));
    assert_eq!(entries[1], v.signature);
    assert!(entries[2].starts_with("v1a,") && entries[2] != entries[1]);

    // Each receiver, whichever single key it holds, accepts.
    for key in [
        Key::from(hmac),
        Key::from(old.public_key()),
        Key::from(new.public_key()),
    ] {
        let receiver = verifier([key.clone()], v.timestamp);
        assert_eq!(
            verify(
                &receiver,
                &v.id,
                v.timestamp,
                &v.payload,
                signed.signature()
            ),
            Ok(()),
            "{key:?}"
        );
    }
    // A receiver holding old and new public keys accepts either sender.
    let receiver = verifier(
        [Key::from(old.public_key()), Key::from(new.public_key())],
        v.timestamp,
    );
    for signer_key in [old, new] {
        let signed = Signer::with_keys(KeySet::from(Key::from(signer_key)))
            .sign(&v.id, v.timestamp, &v.payload)
            .expect("sign");
        assert_eq!(
            verify(
                &receiver,
                &v.id,
                v.timestamp,
                &v.payload,
                signed.signature()
            ),
            Ok(())
        );
    }
    // An unrelated key: both v1a entries compared, neither matches.
    let stranger = verifier(
        [Key::from(SigningKey::from_seed(&[9; 32]).public_key())],
        v.timestamp,
    );
    assert_eq!(
        verify(
            &stranger,
            &v.id,
            v.timestamp,
            &v.payload,
            signed.signature()
        ),
        Err(VerifyError::NoMatchingSignature { candidates: 2 })
    );
}

#[test]
fn hostile_signatures_get_their_exact_errors() {
    let v = vector();
    let verifier = verifier([public(&v)], v.timestamp);
    let good = signature_bytes(&v.signature);
    let check = |header: &str| verify(&verifier, &v.id, v.timestamp, &v.payload, header);

    // Wrong lengths are not well-formed entries: nothing to compare.
    for len in [0, 1, 32, 63, 65, 96] {
        let mut bytes = good.to_vec();
        bytes.resize(len, 0);
        assert_eq!(
            check(&v1a(&bytes)),
            Err(VerifyError::NoMatchingSignature { candidates: 0 }),
            "{len} bytes"
        );
    }
    // The signature truncated by one base64 character or padded with one more.
    assert_eq!(
        check(&v.signature[..v.signature.len() - 1]),
        Err(VerifyError::NoMatchingSignature { candidates: 0 })
    );
    assert_eq!(
        check(&format!("{}=", v.signature)),
        Err(VerifyError::NoMatchingSignature { candidates: 0 })
    );

    // Non-canonical S: S + L satisfies the same group equation; strict verification refuses it.
    let mut malleated = good;
    let mut carry = 0u16;
    for (byte, l) in malleated[32..].iter_mut().zip(ED25519_ORDER) {
        let total = u16::from(*byte) + u16::from(l) + carry;
        *byte = total.to_le_bytes()[0];
        carry = total >> 8;
    }
    assert_eq!(carry, 0);
    assert_eq!(
        check(&v1a(&malleated)),
        Err(VerifyError::NoMatchingSignature { candidates: 1 })
    );

    // R of small order, with S = 0 and with the real S.
    for torsion in curve25519_dalek::constants::EIGHT_TORSION {
        for s in [[0u8; 32], good[32..].try_into().expect("S")] {
            let mut forged = [0u8; 64];
            forged[..32].copy_from_slice(torsion.compress().as_bytes());
            forged[32..].copy_from_slice(&s);
            assert_eq!(
                check(&v1a(&forged)),
                Err(VerifyError::NoMatchingSignature { candidates: 1 })
            );
        }
    }

    // More well-formed v1a entries than the limit: refused before any verification, even
    // with the valid one among them.
    let decoy = v1a(&[0u8; 64]);
    let mut entries = vec![decoy.as_str(); MAX_V1A_SIGNATURES];
    entries.push(&v.signature);
    assert_eq!(
        check(&entries.join(" ")),
        Err(VerifyError::TooManySignatures {
            limit: MAX_V1A_SIGNATURES
        })
    );
    assert_eq!(
        VerifyError::TooManySignatures { limit: 8 }.http_status(),
        400
    );
    // At the limit, the last one is still found.
    entries.remove(0);
    assert_eq!(check(&entries.join(" ")), Ok(()));
}

#[test]
fn the_v1a_limit_does_not_apply_to_a_verifier_without_ed25519_keys() {
    let v = vector();
    let secret = Secret::parse(HMAC_SECRET).expect("secret");
    let signed = Signer::new(secret.clone())
        .sign(&v.id, v.timestamp, &v.payload)
        .expect("sign");
    let decoys = vec![v1a(&[0u8; 64]); MAX_V1A_SIGNATURES + 1].join(" ");
    let header = format!("{decoys} {}", signed.signature());
    let hmac_only = verifier([Key::from(secret)], v.timestamp);
    assert_eq!(
        verify(&hmac_only, &v.id, v.timestamp, &v.payload, &header),
        Ok(())
    );
}

/// L, the order of the ed25519 base point, little-endian.
const ED25519_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn whpk(bytes: &[u8]) -> String {
    format!("whpk_{}", STANDARD.encode(bytes))
}

/// The little-endian encoding of y = p + k (p = 2^255 - 19), a non-canonical spelling of y = k.
fn p_plus(k: u8) -> [u8; 32] {
    let mut bytes = [0xff; 32];
    bytes[0] = 0xed + k;
    bytes[31] = 0x7f;
    bytes
}

#[test]
fn hostile_public_keys_are_refused_when_parsed() {
    // Every point of small order (the 8-torsion subgroup, identity included).
    for torsion in curve25519_dalek::constants::EIGHT_TORSION {
        let text = whpk(torsion.compress().as_bytes());
        assert_eq!(
            PublicKey::parse(&text).unwrap_err(),
            KeyError::WeakPublicKey,
            "{text}"
        );
        assert_eq!(Key::parse(&text).unwrap_err(), KeyError::WeakPublicKey);
        assert_eq!(
            KeySet::parse([text.as_str()]).unwrap_err(),
            KeyError::WeakPublicKey
        );
    }

    // y with no x on the curve.
    let off_curve = (2u8..=255)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            bytes
        })
        .find(|bytes| CompressedEdwardsY(*bytes).decompress().is_none())
        .expect("some small y is off the curve");
    assert_eq!(
        PublicKey::from_bytes(&off_curve).unwrap_err(),
        KeyError::InvalidPublicKey
    );

    // Non-canonical spellings that decompression would take: y = p + k for a point y = k of
    // large order, and the identity with the sign bit of x = 0 set.
    let k = (2u8..19)
        .find(|&k| {
            let mut bytes = [0u8; 32];
            bytes[0] = k;
            CompressedEdwardsY(bytes)
                .decompress()
                .is_some_and(|point| !point.is_small_order())
        })
        .expect("a small y of large order");
    assert!(CompressedEdwardsY(p_plus(k)).decompress().is_some());
    let mut negative_zero = [0u8; 32];
    negative_zero[0] = 1;
    negative_zero[31] = 0x80;
    for bytes in [p_plus(k), negative_zero] {
        assert_eq!(
            PublicKey::parse(&whpk(&bytes)).unwrap_err(),
            KeyError::InvalidPublicKey
        );
    }

    let v = vector();
    let real = STANDARD.decode(&v.public_key[5..]).expect("base64");
    for len in [0, 31, 33, 64] {
        let mut bytes = real.clone();
        bytes.resize(len, 1);
        let expected = if len == 0 {
            KeyError::Empty
        } else {
            KeyError::InvalidKeyLength {
                found: "whpk_",
                expected: 32,
                len,
            }
        };
        assert_eq!(PublicKey::parse(&whpk(&bytes)).unwrap_err(), expected);
    }
    assert_eq!(
        PublicKey::parse(v.public_key.trim_end_matches('=')).unwrap_err(),
        KeyError::InvalidBase64
    );
}

#[test]
fn each_kind_of_key_goes_only_where_it_can_serve() {
    let v = vector();

    // The HMAC-only parser keeps refusing ed25519 keys.
    assert_eq!(
        Secret::parse(&v.public_key).unwrap_err(),
        KeyError::WrongKind { found: "whpk_" }
    );
    assert_eq!(
        Secret::parse(&v.secret_key).unwrap_err(),
        KeyError::WrongKind { found: "whsk_" }
    );
    // An HMAC secret is no ed25519 key.
    assert_eq!(
        PublicKey::parse(HMAC_SECRET).unwrap_err(),
        KeyError::WrongKind { found: "whsec_" }
    );
    assert_eq!(
        SigningKey::parse(HMAC_SECRET).unwrap_err(),
        KeyError::WrongKind { found: "whsec_" }
    );

    // The any-key parser tells them apart by prefix.
    assert!(matches!(Key::parse(HMAC_SECRET), Ok(Key::Hmac(_))));
    assert!(matches!(Key::parse(&v.public_key), Ok(Key::Public(_))));
    assert!(matches!(Key::parse(&v.secret_key), Ok(Key::Signing(_))));

    // A public key where a key to sign with is needed.
    assert_eq!(
        SigningKey::parse(&v.public_key).unwrap_err(),
        KeyError::WrongKind { found: "whpk_" }
    );
    let with_public = KeySet::parse([HMAC_SECRET, v.public_key.as_str()]).expect("keys");
    assert_eq!(
        Signer::try_with_keys(with_public.clone()).unwrap_err(),
        SignError::PublicKeyCannotSign
    );
    assert_eq!(
        Signer::with_keys(with_public)
            .sign(&v.id, v.timestamp, &v.payload)
            .unwrap_err(),
        SignError::PublicKeyCannotSign
    );
    // The id is still checked first.
    assert_eq!(
        Signer::with_keys(KeySet::parse([v.public_key.as_str()]).expect("keys"))
            .sign("a.b", v.timestamp, &v.payload)
            .unwrap_err(),
        SignError::InvalidId {
            max_len: amps_webhooks::MAX_ID_LEN
        }
    );

    // A signing key whose halves do not belong together.
    let mut keypair = STANDARD.decode(&v.secret_key[5..]).expect("base64");
    keypair[40] ^= 0x20;
    assert_eq!(
        Key::parse(&format!("whsk_{}", STANDARD.encode(&keypair))).unwrap_err(),
        KeyError::MismatchedKeyPair
    );
}

#[test]
fn verifying_a_valid_v1a_request_does_not_allocate() {
    let v = vector();
    let mut keys = KeySet::parse([HMAC_SECRET, v.public_key.as_str()]).expect("keys");
    keys.push_key(SigningKey::from_seed(&SEED_2).public_key());
    let verifier = Verifier::builder()
        .keys(keys)
        .clock(MockClock::at_unix(v.timestamp))
        .build()
        .expect("verifier");
    let ts = v.timestamp.to_string();
    // A decoy v1 entry first, so both kinds of check run.
    let signature = format!("v1,{} {}", STANDARD.encode([0u8; 32]), v.signature);
    let request = headers(v.id.as_bytes(), ts.as_bytes(), signature.as_bytes());
    let mut outcome = None;
    let info = allocation_counter::measure(|| {
        outcome = Some(
            verifier
                .verify(&request, &v.payload)
                .map(|verified| verified.id()),
        );
    });
    assert_eq!(outcome, Some(Ok(v.id.as_str())));
    assert_eq!(info.count_total, 0);
}

#[test]
fn errors_say_what_to_do() {
    assert_eq!(
        KeyError::WeakPublicKey.to_string(),
        "the `whpk_` key is a small-order ed25519 point, under which anyone can forge signatures; use the public key of a real key pair"
    );
    assert_eq!(
        SignError::PublicKeyCannotSign.to_string(),
        "a `whpk_` public key can only verify; signing needs the `whsk_` signing key (or a `whsec_` secret)"
    );
    assert_eq!(
        VerifyError::TooManySignatures { limit: 8 }.to_string(),
        "the `webhook-signature` header has more than 8 `v1a` entries; a sender lists one entry per active key"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the body, id and timestamp, a `whsk_` signature verifies under its `whpk_`
        /// key, and under no other key.
        #[test]
        fn signatures_round_trip(
            seed in any::<[u8; 32]>(),
            other_seed in any::<[u8; 32]>(),
            id in "[!-~&&[^.]]{1,64}",
            timestamp in 0u64..=9_999_999_999,
            body in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            prop_assume!(seed != other_seed);
            let key = SigningKey::from_seed(&seed);
            let signed = Signer::with_keys(KeySet::from(Key::from(key.clone())))
                .sign(&id, timestamp, &body)
                .expect("sign");
            let own = signature_only_verifier(Key::from(key.public_key()));
            prop_assert_eq!(verify(&own, &id, timestamp, &body, signed.signature()), Ok(()));
            let other =
                signature_only_verifier(Key::from(SigningKey::from_seed(&other_seed).public_key()));
            prop_assert_eq!(
                verify(&other, &id, timestamp, &body, signed.signature()),
                Err(VerifyError::NoMatchingSignature { candidates: 1 })
            );
        }

        /// Any signature header, however malformed, gets its exact answer and no panic: the
        /// real signature is accepted, and otherwise the well-formed `v1a` entries are counted.
        #[test]
        fn arbitrary_headers_never_pass(
            entries in proptest::collection::vec(
                prop_oneof![
                    Just(vector().signature),
                    any::<[u8; 32]>().prop_map(|half| v1a(&[half, half].concat())),
                    "v1a?,[A-Za-z0-9+/=]{0,100}",
                    "[ -~]{0,20}",
                ],
                0..12,
            )
        ) {
            let header = entries.join(" ");
            let v = vector();
            let verifier = verifier([public(&v)], v.timestamp);
            let result = verify(&verifier, &v.id, v.timestamp, &v.payload, &header);
            let well_formed = header
                .split(' ')
                .filter_map(|entry| entry.strip_prefix("v1a,"))
                .filter(|b64| STANDARD.decode(b64).is_ok_and(|bytes| bytes.len() == 64))
                .count();
            let expected = if well_formed > MAX_V1A_SIGNATURES {
                Err(VerifyError::TooManySignatures { limit: MAX_V1A_SIGNATURES })
            } else if header.split(' ').any(|entry| entry == v.signature) {
                Ok(())
            } else {
                Err(VerifyError::NoMatchingSignature { candidates: well_formed })
            };
            prop_assert_eq!(result, expected);
        }
    }
}
