//! Verifies and parses a signed Amps fixture on the embedded defaults, and prints the event.
//!
//! Run: `cargo run --example verify_fixture [PATH]` (default: a `push.failed` envelope).
//! The fixture is signed here with a known secret at a fixed time, then verified at that time
//! with a `MockClock`, exactly as a receiver would verify the platform's request.

use std::error::Error;

use amps_webhooks::{AmpsEvent, MockClock, Secret, Signer, Verifier};

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/amps/envelope-push-failed.json"
        )
        .to_owned()
    });
    let body = std::fs::read(&path)?;
    let secret: Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
    let sent_at = 1_778_277_632; // 2026-05-08T22:00:32Z

    // The platform's side: sign the body.
    let signed = Signer::new(secret.clone()).sign("msg_2fFmQm4xkW8d", sent_at, &body)?;
    for (name, value) in signed.webhook_headers() {
        println!("{name}: {value}");
    }

    // The receiver's side: verify, then parse into a typed event.
    let verifier = Verifier::builder()
        .secret(secret)
        .clock(MockClock::at_unix(sent_at + 2))
        .build()?;
    let event = verifier
        .verify(&signed.webhook_headers(), &body)?
        .parse::<AmpsEvent>()?;

    println!();
    println!("verified {} ({})", event.id(), event.payload().event_type());
    println!("idempotency key: {}", event.idempotency_key());
    match event.payload() {
        AmpsEvent::PushCompleted(push) => {
            println!(
                "action {} on {} completed at {}",
                push.action_id, push.device_id, push.completed_at
            );
        }
        AmpsEvent::PushFailed(push) => {
            let failure = push.failure();
            println!(
                "action {} on {} failed at {}: {} ({})",
                push.action_id,
                push.device_id,
                push.failed_at,
                failure.message.unwrap_or("no message"),
                failure.code.unwrap_or("no code"),
            );
        }
        AmpsEvent::DeviceDisconnected(device) => {
            println!(
                "device {} disconnected; reconnect at {:?}",
                device.device_id, device.reconnection_url
            );
        }
        other => println!("{}", serde_json::to_string_pretty(other)?),
    }
    Ok(())
}
