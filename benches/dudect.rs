//! A statistical timing test of the signature check (the dudect method: Welch's t-test on two
//! classes of inputs, timed in random order, over several cropped percentiles).
//!
//! `verify_wrong_first_vs_last_byte`: requests whose `v1` tag is wrong in its first byte (Left)
//! against requests whose tag is wrong in its last byte (Right), through `Verifier::verify`. A
//! comparison that stops at the first differing byte answers the Left class sooner; the usual
//! threshold for "told apart" is |t| > 4.5. The README has the figures measured so far.
//!
//! `same_text_31_vs_0_matching_bytes`: the same tag texts in both classes (the right tag wrong
//! in its last byte), sent under the id they were made for (31 bytes match the expected tag)
//! or under another id of the same length (none match).
//!
//! `null_verify_wrong_first_vs_first_byte`: both classes wrong in the first byte, so any |t|
//! it shows is the harness and the machine, not the verifier: the noise floor.
//!
//! `other_key_same_inputs`: the same requests, verified under another key, so that neither
//! class shares a prefix with the expected tag. What it shows comes from handling the inputs
//! (public data), not from comparing them with the secret tag.
//!
//! `control_early_exit_compare`: the same HMAC and the same inputs, compared with a loop that
//! stops at the first differing byte, as the leaky verifiers did. It shows that this test, with
//! this many samples on this machine, does see a leak of that size: its |t| is far above 4.5.
//!
//! Run: `cargo bench --bench dudect` (add a name to run only that one; `DUDECT_SAMPLES=N` for
//! another number of timed calls than 1 000 000).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use amps_webhooks::{MockClock, Secret, Signer, Verifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dudect_bencher::ctbench::{BenchMetadata, BenchName, BenchOpts, run_benches_console};
use dudect_bencher::rand::Rng;
use dudect_bencher::{BenchRng, Class, CtRunner};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The verifier's key in `other_key_same_inputs`: the tags then share no prefix with the one
/// it expects.
const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: u64 = 1_614_265_330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;
/// Timed calls per benchmark, unless `DUDECT_SAMPLES` says otherwise.
const SAMPLES: usize = 1_000_000;

fn samples() -> usize {
    std::env::var("DUDECT_SAMPLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(SAMPLES)
}

/// The right `v1` tag of the request.
fn right_tag() -> Vec<u8> {
    let signed = Signer::new(Secret::parse(SECRET).unwrap())
        .sign(ID, TS, BODY)
        .unwrap();
    STANDARD.decode(&signed.signature()[3..]).unwrap()
}

/// For each sample: a random class, and the right tag made wrong by a random non-zero difference
/// in its first byte (Left) or in byte `right_position` (Right). `measure` is given the tag in
/// the same buffer every time, so that both classes use the same memory and differ only in
/// content.
fn run(
    runner: &mut CtRunner,
    rng: &mut BenchRng,
    right_position: usize,
    mut measure: impl FnMut(&mut CtRunner, Class, &[u8]),
) {
    let right = right_tag();
    let mut tag = right.clone();
    for _ in 0..samples() {
        let draw = rng.next_u32();
        let (class, position) = if draw & 1 == 0 {
            (Class::Left, 0)
        } else {
            (Class::Right, right_position)
        };
        tag.copy_from_slice(&right);
        tag[position] ^= ((draw >> 1) % 255 + 1) as u8;
        measure(runner, class, &tag);
    }
}

fn verify_wrong_first_vs_last_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    verify_wrong_first_vs(SECRET, 31, runner, rng);
}

fn null_verify_wrong_first_vs_first_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    verify_wrong_first_vs(SECRET, 0, runner, rng);
}

fn other_key_same_inputs(runner: &mut CtRunner, rng: &mut BenchRng) {
    verify_wrong_first_vs(OTHER_SECRET, 31, runner, rng);
}

fn verify_wrong_first_vs(
    secret: &str,
    right_position: usize,
    runner: &mut CtRunner,
    rng: &mut BenchRng,
) {
    let verifier = Verifier::builder()
        .secret(Secret::parse(secret).unwrap())
        .clock(MockClock::at_unix(TS))
        .build()
        .unwrap();
    let mut headers = [
        ("webhook-id", ID.to_owned()),
        ("webhook-timestamp", TS.to_string()),
        ("webhook-signature", String::with_capacity(64)),
    ];
    run(runner, rng, right_position, |runner, class, tag| {
        // Rewritten in place, outside the timed call.
        let signature = &mut headers[2].1;
        signature.clear();
        signature.push_str("v1,");
        STANDARD.encode_string(tag, signature);
        runner.run_one(class, || verifier.verify(&headers, BODY).is_err());
    });
}

fn same_text_31_vs_0_matching_bytes(runner: &mut CtRunner, rng: &mut BenchRng) {
    let verifier = Verifier::builder()
        .secret(Secret::parse(SECRET).unwrap())
        .clock(MockClock::at_unix(TS))
        .build()
        .unwrap();
    // Same length as ID, so the HMAC does the same work in both classes.
    let other_id = ID.replace('k', "K");
    let mut headers = [
        ("webhook-id", String::with_capacity(64)),
        ("webhook-timestamp", TS.to_string()),
        ("webhook-signature", String::with_capacity(64)),
    ];
    // Both classes send the right tag for ID made wrong in its last byte: texts from the same
    // distribution. Sent as ID it matches the expected tag in 31 bytes (Left); sent as the
    // other id, in none (Right).
    let right = right_tag();
    let mut tag = right.clone();
    for _ in 0..samples() {
        let draw = rng.next_u32();
        let (class, id) = if draw & 1 == 0 {
            (Class::Left, ID)
        } else {
            (Class::Right, other_id.as_str())
        };
        tag.copy_from_slice(&right);
        tag[31] ^= ((draw >> 1) % 255 + 1) as u8;
        headers[0].1.clear();
        headers[0].1.push_str(id);
        let signature = &mut headers[2].1;
        signature.clear();
        signature.push_str("v1,");
        STANDARD.encode_string(&tag, signature);
        runner.run_one(class, || verifier.verify(&headers, BODY).is_err());
    }
}

fn control_early_exit_compare(runner: &mut CtRunner, rng: &mut BenchRng) {
    let key = STANDARD.decode(&SECRET["whsec_".len()..]).unwrap();
    let keyed = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let timestamp = TS.to_string();
    run(runner, rng, 31, |runner, class, candidate| {
        runner.run_one(class, || {
            let mut mac = keyed.clone();
            for part in [ID.as_bytes(), b".", timestamp.as_bytes(), b".", BODY] {
                mac.update(part);
            }
            let expected = mac.finalize().into_bytes();
            // Deliberately leaky: stops at the first differing byte.
            let mut equal = true;
            for (a, b) in expected.iter().zip(candidate) {
                if std::hint::black_box(a != b) {
                    equal = false;
                    break;
                }
            }
            equal
        });
    });
}

fn main() {
    // `cargo bench` passes `--bench`; a plain argument selects benchmarks by name.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let benches = vec![
        BenchMetadata {
            name: BenchName("verify_wrong_first_vs_last_byte"),
            seed: None,
            benchfn: verify_wrong_first_vs_last_byte,
        },
        BenchMetadata {
            name: BenchName("null_verify_wrong_first_vs_first_byte"),
            seed: None,
            benchfn: null_verify_wrong_first_vs_first_byte,
        },
        BenchMetadata {
            name: BenchName("other_key_same_inputs"),
            seed: None,
            benchfn: other_key_same_inputs,
        },
        BenchMetadata {
            name: BenchName("same_text_31_vs_0_matching_bytes"),
            seed: None,
            benchfn: same_text_31_vs_0_matching_bytes,
        },
        BenchMetadata {
            name: BenchName("control_early_exit_compare"),
            seed: None,
            benchfn: control_early_exit_compare,
        },
    ];
    let options = BenchOpts {
        filter,
        ..BenchOpts::default()
    };
    run_benches_console(options, benches).unwrap();
}
