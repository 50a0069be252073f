//! The command-line tool with ed25519 keys: `sign` with `whsk_`, `verify` with `whpk_`, through
//! `--secret` or its alias `--key`, and the exit codes of the refusals.

#![allow(
    clippy::expect_used,
    reason = "helpers of the tests, outside #[test] functions"
)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

const SECRET_KEY: &str =
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
const PUBLIC_KEY: &str = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";
const HMAC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TIMESTAMP: &str = "1614265330";
const BODY: &[u8] = br#"{"test": 2432232314}"#;
const V1A_SIGNATURE: &str =
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";
const V1_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn amps-webhooks");
    let written = child.stdin.take().expect("stdin").write_all(stdin);
    // A key refused before the body is read ends the process first: the pipe is then closed.
    if let Err(error) = written {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
    }
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8 output")
}

fn sign(keys: &[(&str, &str)]) -> Output {
    let mut args = vec!["sign", "--id", ID, "--timestamp", TIMESTAMP];
    for (flag, key) in keys {
        args.extend([*flag, *key]);
    }
    run(&args, BODY)
}

fn verify(keys: &[(&str, &str)], signature: &str, body: &[u8]) -> Output {
    let id = format!("webhook-id: {ID}");
    let timestamp = format!("webhook-timestamp: {TIMESTAMP}");
    let signature = format!("webhook-signature: {signature}");
    let mut args = vec![
        "verify",
        "--now",
        TIMESTAMP,
        "--no-parse",
        "-H",
        &id,
        "-H",
        &timestamp,
        "-H",
        &signature,
    ];
    for (flag, key) in keys {
        args.extend([*flag, *key]);
    }
    run(&args, body)
}

#[test]
fn sign_with_a_signing_key_gives_the_vector() {
    for flag in ["--secret", "--key"] {
        let out = sign(&[(flag, SECRET_KEY)]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            format!(
                "webhook-id: {ID}\nwebhook-timestamp: {TIMESTAMP}\nwebhook-signature: {V1A_SIGNATURE}\n"
            )
        );
    }
}

#[test]
fn sign_with_both_kinds_gives_one_entry_per_key() {
    let out = sign(&[("--secret", HMAC_SECRET), ("--key", SECRET_KEY)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with(&format!(
            "webhook-signature: {V1_SIGNATURE} {V1A_SIGNATURE}\n"
        )),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn verify_with_a_public_key_accepts_and_rejects() {
    let mixed = format!("{V1_SIGNATURE} {V1A_SIGNATURE}");
    for (keys, signature) in [
        (vec![("--key", PUBLIC_KEY)], V1A_SIGNATURE),
        (vec![("--secret", PUBLIC_KEY)], mixed.as_str()),
        (vec![("--key", SECRET_KEY)], V1A_SIGNATURE),
        (vec![("--secret", HMAC_SECRET)], mixed.as_str()),
    ] {
        let out = verify(&keys, signature, BODY);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{keys:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stdout),
            format!("{{\"id\":\"{ID}\",\"timestamp\":{TIMESTAMP}}}\n")
        );
    }

    let out = verify(
        &[("--key", PUBLIC_KEY)],
        V1A_SIGNATURE,
        br#"{"test": 2432232315}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "rejected: none of the 1 signatures matches a configured key: check the key, and that the body is passed on byte for byte\n"
    );
}

#[test]
fn a_public_key_cannot_sign() {
    let out = sign(&[("--key", PUBLIC_KEY)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "--secret: a `whpk_` public key can only verify; signing needs the `whsk_` signing key (or a `whsec_` secret)\n"
    );
}

#[test]
fn a_weak_public_key_is_a_usage_error() {
    // The identity point: small order.
    let out = verify(
        &[("--key", "whpk_AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")],
        V1A_SIGNATURE,
        BODY,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("--secret: the `whpk_` key is a small-order ed25519 point"),
        "{}",
        text(&out.stderr)
    );
}
