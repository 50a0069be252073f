//! The command-line contract of `amps-webhooks sign` and `verify`: output fields and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &[u8] = br#"{"event":"push.completed","eventId":"evt_9","data":{"actionId":"a","deviceId":"d","result":{"success":true},"completedAt":"2026-05-08T22:00:05Z"}}"#;

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tool may exit before reading its input (a usage error): a broken pipe is expected then.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn sign(id: &str, timestamp: &str, body: &[u8]) -> Vec<String> {
    let out = run(
        &[
            "sign",
            "--secret",
            SECRET,
            "--id",
            id,
            "--timestamp",
            timestamp,
        ],
        body,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn verify_args<'a>(headers: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["verify", "--secret", SECRET, "--now", "1614265330"];
    for header in headers {
        args.extend(["-H", header.as_str()]);
    }
    args.extend(extra);
    args
}

#[test]
fn sign_prints_the_three_headers_of_the_known_answer() {
    let lines = sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(
        lines,
        [
            "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek",
            "webhook-timestamp: 1614265330",
            "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ]
    );
}

#[test]
fn verify_prints_the_event_as_json() {
    let headers = sign("msg_1", "1614265330", BODY);
    let out = run(&verify_args(&headers, &[]), BODY);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["id"], "msg_1");
    assert_eq!(json["timestamp"], 1_614_265_330);
    assert_eq!(json["type"], "push.completed");
    assert_eq!(json["idempotency_key"], "evt_9");
    assert_eq!(json["payload"]["actionId"], "a");
}

#[test]
fn a_signed_body_that_is_not_a_valid_event_is_said_to_be_signed() {
    // The README's old example: a valid signature over a body that is not a valid push.completed.
    let body = br#"{"type":"push.completed","data":{}}"#;
    let headers = sign("msg_1", "1614265330", body);
    let out = run(&verify_args(&headers, &[]), body);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "signature valid; the body is not a valid push.completed event: the body is JSON but not a valid event: missing field `actionId` (line 1, column 34); use --no-parse to check the signature only\n"
    );
    // The signature alone checks out.
    let out = run(&verify_args(&headers, &["--no-parse"]), body);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn verify_reads_the_body_from_a_file_and_svix_headers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, BODY).unwrap();
    let headers: Vec<String> = sign("msg_2", "1614265330", BODY)
        .into_iter()
        .map(|h| h.replacen("webhook-", "Svix-", 1))
        .collect();
    let out = run(
        &verify_args(&headers, &["--body-file", file.to_str().unwrap()]),
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rejection_exits_1_with_a_one_line_reason() {
    let headers = sign("msg_1", "1614265330", BODY);
    let out = run(&verify_args(&headers, &[]), b"{\"tampered\":true}");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("rejected: none of the 1 signatures matches"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    let stale = sign("msg_1", "1614260000", BODY);
    let out = run(&verify_args(&stale, &[]), BODY);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("5330 s old"));

    let out = run(&verify_args(&headers[..2], &[]), BODY);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`webhook-signature` header"));
}

#[test]
fn body_that_is_not_json_is_rejected_unless_no_parse() {
    let body = b"\xff\xfenot json";
    let headers = sign("msg_3", "1614265330", body);
    let out = run(&verify_args(&headers, &[]), body);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("rejected: the body is not valid JSON")
    );

    let out = run(&verify_args(&headers, &["--no-parse"]), body);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({ "id": "msg_3", "timestamp": 1_614_265_330 })
    );
}

#[test]
fn configuration_errors_exit_2() {
    let out = run(
        &["verify", "--secret", "whsec_short", "-H", "webhook-id: a"],
        BODY,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secret"));
    let out = run(&["verify", "--secret", SECRET, "-H", "no colon here"], BODY);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["sign", "--secret", SECRET, "--id", "has.dot"], BODY);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["verify", "--bogus-flag"], BODY);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sign_takes_a_secret_as_pasted_and_names_its_faults() {
    let args = |secret: &'static str| {
        [
            "sign",
            "--secret",
            secret,
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
        ]
    };
    // As read from a file by `--secret "$(cat file)"`'s cousins: a trailing newline, a space.
    for secret in [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
        " whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ",
    ] {
        let out = run(&args(secret), br#"{"test": 2432232314}"#);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\nwebhook-timestamp: 1614265330\nwebhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n"
        );
    }
    for (secret, error) in [
        (
            "\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
            amps_webhooks::KeyError::Quoted { quote: '"' },
        ),
        (
            "whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw",
            amps_webhooks::KeyError::InnerWhitespace { position: 22 },
        ),
    ] {
        let out = run(&args(secret), b"{}");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            format!("--secret: {error}\n")
        );
    }
    // A public key where a key to sign with is needed: the message says which key to use.
    let out = run(
        &args("whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=\n"),
        b"{}",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    #[cfg(feature = "ed25519")]
    let error = amps_webhooks::SignError::PublicKeyCannotSign.to_string();
    #[cfg(not(feature = "ed25519"))]
    let error = amps_webhooks::KeyError::Ed25519Disabled { found: "whpk_" }.to_string();
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("--secret: {error}\n")
    );
}

#[test]
fn the_guides_first_example_runs_as_written() {
    // The first `sh` block of the command-line guide, less its `cargo install` line, run by bash
    // in an empty directory with this build's binary first on the PATH.
    let guide = include_str!("../src/docs/cli.md");
    let block = guide
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the guide opens with a sh block");
    let script: String = block
        .lines()
        .filter(|line| !line.starts_with("cargo install"))
        .map(|line| format!("{line}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["id"], "msg_1");
    assert_eq!(json["type"], "push.completed");
    assert_eq!(json["payload"]["actionId"], "act_1");
}

#[test]
fn sign_prints_headers_a_curl_command_or_json() {
    let args = |format: &'static str| {
        [
            "sign",
            "--secret",
            SECRET,
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
            "--format",
            format,
        ]
    };
    let body = br#"{"test": 2432232314}"#;
    let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let out = run(&args("headers"), body);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\nwebhook-timestamp: 1614265330\nwebhook-signature: {signature}\n"
        )
    );
    let out = run(&args("json"), body);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "{{\"webhook-id\":\"msg_p5jXN8AQM9LWM0D4loKWxJek\",\"webhook-timestamp\":\"1614265330\",\"webhook-signature\":\"{signature}\"}}\n"
        )
    );
    let out = run(&args("curl"), body);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "curl --fail-with-body -sS http://127.0.0.1:8080/webhooks -H 'webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek' -H 'webhook-timestamp: 1614265330' -H 'webhook-signature: {signature}' -H 'content-type: application/json' --data-binary '{{\"test\": 2432232314}}'\n"
        )
    );
    // A body that is not text cannot be inlined: --body-file then.
    let out = run(&args("curl"), b"\xff\xfe");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "--format curl: the body is not UTF-8 text; give it with --body-file\n"
    );
    let out = run(&args("yaml"), body);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// Run under `script`, the tool's standard input is a terminal: it says where it reads the body
/// from before waiting for it. From a pipe (every other test here) it says nothing.
#[test]
fn reading_the_body_from_a_terminal_is_said() {
    let bin = env!("CARGO_BIN_EXE_amps-webhooks");
    // The signature of `{}` by msg_1 at 1614265330.
    let signature = "v1,ZztYR0IIDCBCUcYzh8ZE+qsQWpIgtHU7R1hpe8htaD4=";
    let commands = [
        format!("{bin} sign --secret {SECRET} --id msg_1 --timestamp 1614265330"),
        format!(
            "{bin} verify --secret {SECRET} --now 1614265330 --no-parse -H 'webhook-id: msg_1' -H 'webhook-timestamp: 1614265330' -H 'webhook-signature: {signature}'"
        ),
    ];
    for command in commands {
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect(
                "this test needs `script` (util-linux) on the PATH, to give the tool a terminal",
            );
        // `{}` then Ctrl-D (the end of the input), typed at the terminal.
        child.stdin.take().unwrap().write_all(b"{}\x04").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{command}: {out:?}");
        // The terminal merges the tool's standard error and output, with CR LF line ends.
        let text = String::from_utf8(out.stdout).unwrap().replace("\r\n", "\n");
        assert!(
            text.contains("reading the body from stdin; end with Ctrl-D, or use --body-file\n"),
            "{text:?}"
        );
        assert!(
            text.contains(signature) || text.contains(r#"{"id":"msg_1","timestamp":1614265330}"#),
            "{text:?}"
        );
    }
    // From a pipe: nothing on standard error.
    let out = run(
        &[
            "sign",
            "--secret",
            SECRET,
            "--id",
            "msg_1",
            "--timestamp",
            "1614265330",
        ],
        b"{}",
    );
    assert_eq!(
        (out.status.code(), out.stderr.is_empty()),
        (Some(0), true),
        "{out:?}"
    );
}

/// The guide's local loop, its two `sh` blocks after `listen`'s synopsis: the first runs in
/// the background on a free port (`--port 0` added), the second once it listens, with the
/// guide's `http://127.0.0.1:8080/webhooks` replaced by the URL it printed.
#[test]
fn the_guides_local_loop_runs_as_written() {
    let guide = include_str!("../src/docs/cli.md");
    let blocks: Vec<&str> = guide
        .split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .collect();
    let at = blocks
        .iter()
        .position(|block| block.starts_with("amps-webhooks listen "))
        .expect("the guide has a listen block");
    let (listen, send) = (blocks[at], blocks[at + 1]);
    assert!(send.starts_with("amps-webhooks send "), "{send}");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut listener = Command::new("bash")
        .args(["-c", &format!("exec {} --port 0", listen.trim())])
        .env("PATH", &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(listener.stdout.take().unwrap());
    let mut line = String::new();
    let mut next = |line: &mut String| {
        line.clear();
        std::io::BufRead::read_line(&mut lines, line).unwrap();
        line.trim_end().to_owned()
    };
    let url = next(&mut line)
        .strip_prefix("listening on ")
        .expect("listen prints its URL first")
        .to_owned();
    assert!(
        next(&mut line).starts_with("inspector on http://127.0.0.1:"),
        "listen names its inspector second"
    );
    let out = Command::new("bash")
        .args([
            "-euo",
            "pipefail",
            "-c",
            &send.replace("http://127.0.0.1:8080/webhooks", &url),
        ])
        .env("PATH", &path)
        .output()
        .unwrap();
    let processed = next(&mut line);
    let duplicate = next(&mut line);
    let _ = listener.kill();
    let _ = listener.wait();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("delivered msg_"))
            .count(),
        2,
        "{stdout}"
    );
    assert!(
        processed.starts_with("processed   200 msg_")
            && processed.ends_with(" type=push.completed key=evt_1"),
        "{processed}"
    );
    assert!(
        duplicate.starts_with("duplicate   200 msg_")
            && duplicate.ends_with("key=evt_1  (already processed; handler not run)"),
        "{duplicate}"
    );
}

/// Without `--secret`/`--key`, `verify` takes the keys of `AMPS_WEBHOOKS_SECRET`, separated by
/// spaces or commas; neither is a usage error naming both.
#[test]
fn verify_reads_the_secret_from_the_environment() {
    let headers = sign("msg_env", "1614265330", BODY);
    let mut args = vec![
        "verify".to_owned(),
        "--now".to_owned(),
        "1614265330".to_owned(),
    ];
    for header in &headers {
        args.extend(["-H".to_owned(), header.clone()]);
    }
    let with_env = |value: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args(&args)
            .env("AMPS_WEBHOOKS_SECRET", value)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(BODY);
        child.wait_with_output().unwrap()
    };
    let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    for value in [
        SECRET.to_owned(),
        format!("{other},{SECRET}"),
        format!(" {other}  {SECRET}\n"),
    ] {
        let out = with_env(&value);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(event["id"], "msg_env");
    }
    // Only the other key: the signature matches none.
    let out = with_env(other);
    assert_eq!(out.status.code(), Some(1));
    let out = with_env("");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "no key: give --secret S (repeat it for several) or set AMPS_WEBHOOKS_SECRET (keys separated by spaces or commas)\n"
    );
}
