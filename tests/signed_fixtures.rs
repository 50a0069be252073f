//! The signed fixtures in tests/fixtures/: one per Amps payload of tests/data/amps/, signed with
//! the documented test secret (tests/fixtures/README.md). This test checks that every committed
//! fixture is exactly what signing its payload gives (`UPDATE_FIXTURES=1` rewrites them), and
//! replays each through a `Verifier` at its recorded time into the right `AmpsEvent`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use amps_webhooks::sender::HeaderStyle;
use amps_webhooks::testing::{Fixture, ReplayError};
use amps_webhooks::{AmpsEvent, KeySet, Signer, VerifyError};

/// The fixtures' secret: base64 of the 32 bytes `amps-webhooks test fixtures 2026`. For tests
/// only; never configure it on a real endpoint.
const FIXTURE_SECRET: &str = "whsec_YW1wcy13ZWJob29rcyB0ZXN0IGZpeHR1cmVzIDIwMjY=";
/// When they were signed: 2026-05-08T22:00:32Z.
const SIGNED_AT: u64 = 1_778_277_632;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The payload files, sorted by name.
fn payloads() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/data/amps"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_str().unwrap().to_owned()
}

/// The fixture a payload file signs to: id `msg_<stem>`; the `typed-` shapes under the `svix-`
/// names, the others under both spellings, so replays exercise each.
fn expected_fixture(payload: &Path) -> Fixture {
    let body = std::fs::read(payload).unwrap();
    let name = stem(payload);
    let style = if name.starts_with("typed-") {
        HeaderStyle::Svix
    } else {
        HeaderStyle::Both
    };
    let signer = Signer::new(FIXTURE_SECRET.parse().unwrap());
    Fixture::sign(&signer, &format!("msg_{name}"), SIGNED_AT, &body, style)
        .unwrap()
        .with_description(format!(
            "tests/data/amps/{name}.json signed with the test secret of tests/fixtures/README.md"
        ))
}

#[test]
fn committed_fixtures_are_the_signed_payloads() {
    let update = std::env::var("UPDATE_FIXTURES").as_deref() == Ok("1");
    let payloads = payloads();
    assert_eq!(payloads.len(), 9);
    for payload in &payloads {
        let expected = expected_fixture(payload);
        let path = root()
            .join("tests/fixtures")
            .join(format!("{}.json", stem(payload)));
        if update {
            expected.save(&path).unwrap();
        }
        let committed = Fixture::load(&path).unwrap_or_else(|error| {
            panic!("{error}; run `UPDATE_FIXTURES=1 cargo test --features testing --test signed_fixtures`")
        });
        assert_eq!(committed, expected, "{}", path.display());
        // Byte for byte: the file is what `to_json` writes.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected.to_json());
    }
}

#[test]
fn every_fixture_replays_into_its_event() {
    let cases = [
        ("envelope-device-connected", "device.connected"),
        ("envelope-device-disconnected", "device.disconnected"),
        ("envelope-push-completed", "push.completed"),
        ("envelope-push-failed", "push.failed"),
        (
            "envelope-unknown-schedule-slot-failed",
            "schedule.slot_failed",
        ),
        ("flat-push-completed", "push.completed"),
        ("flat-push-failed-error-fields", "push.failed"),
        ("flat-push-failed-error-object", "push.failed"),
        ("typed-device-reconnected", "device.reconnected"),
    ];
    for (name, event_type) in cases {
        let fixture =
            Fixture::load(root().join("tests/fixtures").join(format!("{name}.json"))).unwrap();
        assert_eq!(fixture.timestamp(), SIGNED_AT);
        assert_eq!(fixture.id(), Some(format!("msg_{name}").as_str()));
        let verified = fixture
            .replay(KeySet::parse([FIXTURE_SECRET]).unwrap())
            .unwrap();
        let event = verified.parse::<AmpsEvent>().unwrap();
        assert_eq!(event.payload().event_type(), event_type, "{name}");
        let unknown = matches!(event.payload(), AmpsEvent::Unknown { .. });
        assert_eq!(unknown, name.contains("unknown"), "{name}");
    }
}

#[test]
fn fixtures_fail_with_another_secret() {
    let fixture =
        Fixture::load(root().join("tests/fixtures/envelope-push-completed.json")).unwrap();
    let other = KeySet::parse(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap();
    assert!(matches!(
        fixture.replay(other),
        Err(ReplayError::Rejected(
            VerifyError::NoMatchingSignature { .. }
        ))
    ));
}
