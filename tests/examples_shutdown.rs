//! The example receivers (examples/axum_receiver.rs, examples/actix_receiver.rs), run as built:
//! each is sent signed deliveries over a socket, interrupted with SIGINT or SIGTERM, and must
//! finish the request in flight, exit 0 and leave nothing claimed; a configuration error is said
//! in words and exits 2.
//!
//! `cargo test` builds the examples before it runs this file; alone, build them first
//! (`cargo build --examples --all-features`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amps_webhooks::{Clock as _, Secret, Signer, SystemClock};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const EXAMPLES: [&str; 2] = ["axum_receiver", "actix_receiver"];

/// target/debug/examples/NAME, beside this test's target/debug/deps/.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.is_file(),
        "{} is not built: `cargo test` builds the examples; alone, run `cargo build --examples --all-features` first",
        path.display()
    );
    path
}

/// A unique event id, so that runs against a shared Redis never meet.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{nanos}_{}", std::process::id())
}

fn body(event_id: &str) -> String {
    format!(
        r#"{{"event":"push.completed","eventId":"{event_id}","data":{{"actionId":"act_1","deviceId":"dev_1","result":{{"success":true}},"completedAt":"2026-05-08T22:00:05Z"}}}}"#
    )
}

/// A signed POST to /webhooks, as bytes, `Connection: close`.
fn request(addr: &str, id: &str, body: &str) -> Vec<u8> {
    let secret: Secret = SECRET.parse().unwrap();
    let signed = Signer::new(secret)
        .sign(id, SystemClock.unix_seconds(), body.as_bytes())
        .unwrap();
    let mut head = format!("POST /webhooks HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in signed.webhook_headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    head.into_bytes()
}

/// The status and body of the answer on `stream` (read to its end).
fn answer(mut stream: TcpStream) -> (u16, String) {
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn post(addr: &str, id: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(&request(addr, id, body)).unwrap();
    answer(stream)
}

/// An example receiver, killed if the test fails before it exits.
struct Receiver {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: Option<ChildStderr>,
    addr: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    /// Starts `name` on a free port and waits until it prints the address it listens on.
    fn start(name: &str, redis_url: Option<&str>) -> Self {
        let mut command = Command::new(example(name));
        command
            .env("WEBHOOK_SECRET", SECRET)
            .env("PORT", "0")
            .env("RUST_LOG", "info")
            .env_remove("REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = redis_url {
            command.env("REDIS_URL", url);
        }
        let mut child = command.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = child.stderr.take();
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let addr = first
            .trim_end()
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix("/webhooks"))
            .unwrap_or_else(|| panic!("{name}: unexpected first line {first:?}"))
            .to_owned();
        Self {
            child,
            stdout,
            stderr,
            addr,
        }
    }

    /// Sends `signal`, waits for the exit; the status and what was left on stdout and stderr.
    fn stop(mut self, signal: Signal) -> (ExitStatus, String, String) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, signal).unwrap();
        self.finish()
    }

    fn finish(&mut self) -> (ExitStatus, String, String) {
        let status = self.child.wait().unwrap();
        let mut stdout = String::new();
        self.stdout.read_to_string(&mut stdout).unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        (status, stdout, stderr)
    }
}

/// One run: a delivery, its duplicate, then one more whose body is still arriving when
/// `signal` comes; it is answered, and the process exits 0.
fn deliver_then_stop(name: &str, signal: Signal, redis_url: Option<&str>) -> (String, String) {
    let receiver = Receiver::start(name, redis_url);
    let addr = receiver.addr.clone();
    let first = unique("evt_ex");
    assert_eq!(post(&addr, "msg_ex_1", &body(&first)).0, 200, "{name}");
    // The same event again, as a sender's retry: a duplicate, so the first was completed.
    assert_eq!(
        post(&addr, "msg_ex_2", &body(&first)),
        (200, r#"{"status":"duplicate"}"#.to_owned()),
        "{name}"
    );

    // In flight at the signal: the head and half the body sent, the rest after it.
    let second = unique("evt_ex_late");
    let bytes = request(&addr, "msg_ex_3", &body(&second));
    let half = bytes.len() - 40;
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(&bytes[..half]).unwrap();
    // Not an assertion on time: it lets the server take the connection before the signal.
    std::thread::sleep(Duration::from_millis(300));
    let pid = Pid::from_raw(i32::try_from(receiver.child.id()).unwrap());
    kill(pid, signal).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&bytes[half..]).unwrap();
    assert_eq!(
        answer(stream).0,
        200,
        "{name}: the request in flight at {signal}"
    );

    let mut receiver = receiver;
    let (status, stdout, stderr) = receiver.finish();
    assert_eq!(status.code(), Some(0), "{name} after {signal}: {stderr}");
    // The handler ran once per event: the duplicate did not run it.
    assert_eq!(
        stdout,
        format!("msg_ex_1 {first} push.completed\nmsg_ex_3 {second} push.completed\n"),
        "{name}"
    );
    // The example's own log says what happened.
    assert!(
        stderr.contains("duplicate of a completed event; handler not run"),
        "{name}: {stderr}"
    );
    assert!(
        stderr.contains("shutting down: finishing the requests in flight"),
        "{name}: {stderr}"
    );
    assert!(!stderr.contains("claim released"), "{name}: {stderr}");
    (first, second)
}

#[test]
fn the_examples_finish_in_flight_requests_and_exit_0_on_sigint() {
    for name in EXAMPLES {
        deliver_then_stop(name, Signal::SIGINT, None);
    }
}

#[test]
fn the_examples_finish_in_flight_requests_and_exit_0_on_sigterm() {
    for name in EXAMPLES {
        deliver_then_stop(name, Signal::SIGTERM, None);
    }
}

#[test]
fn an_idle_example_exits_0_on_sigint() {
    for name in EXAMPLES {
        let receiver = Receiver::start(name, None);
        let (status, stdout, _) = receiver.stop(Signal::SIGINT);
        assert_eq!((status.code(), stdout.as_str()), (Some(0), ""), "{name}");
    }
}

/// On Redis, what the examples leave behind is visible: each event's key holds a completion
/// (`done`), not an in-flight claim's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis at 127.0.0.1:6379"]
async fn on_redis_nothing_is_left_claimed() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!("no Redis answers at {url} ({e}): this test needs one; start it with `redis-server --port 6379 --save ''` or set REDIS_URL")
        });
    for name in EXAMPLES {
        let url = url.clone();
        let events = tokio::task::spawn_blocking(move || {
            deliver_then_stop(name, Signal::SIGINT, Some(&url))
        })
        .await
        .unwrap();
        for event in [events.0, events.1] {
            // The store's key: its default prefix, then `{namespace:k:key}` (the hash tag).
            let held: Option<String> = redis::cmd("GET")
                .arg(format!("amps-webhooks:{{amps:k:{event}}}"))
                .query_async(&mut redis)
                .await
                .unwrap();
            assert_eq!(held.as_deref(), Some("done"), "{name}: {event}");
        }
    }
}

#[test]
fn configuration_errors_are_said_in_words_and_exit_2() {
    let cases: [(&[(&str, &str)], String); 4] = [
        (
            &[],
            "WEBHOOK_SECRET is not set: export the endpoint's signing secret (whsec_...) from the Amps dashboard\n".to_owned(),
        ),
        (
            &[("WEBHOOK_SECRET", "whsec_short")],
            format!(
                "WEBHOOK_SECRET is not a valid signing secret: {}; copy it again from the endpoint's settings in the Amps dashboard\n",
                "whsec_short".parse::<Secret>().unwrap_err()
            ),
        ),
        (
            &[("WEBHOOK_SECRET", SECRET), ("PORT", "http")],
            "PORT \"http\" is not a port number: set it to 0-65535 (0 picks a free port)\n"
                .to_owned(),
        ),
        (
            &[("WEBHOOK_SECRET", SECRET), ("REDIS_URL", "postgres://nope")],
            "REDIS_URL postgres://nope: ".to_owned(),
        ),
    ];
    for name in EXAMPLES {
        for (env, message) in &cases {
            let output = Command::new(example(name))
                .env_remove("WEBHOOK_SECRET")
                .env_remove("REDIS_URL")
                .env_remove("PORT")
                // Errors only: the message is the whole of standard error.
                .env("RUST_LOG", "error")
                .envs(env.iter().copied())
                .output()
                .unwrap();
            let stderr = String::from_utf8(output.stderr).unwrap();
            assert_eq!(output.status.code(), Some(2), "{name} {env:?}: {stderr}");
            assert!(output.stdout.is_empty(), "{name} {env:?}");
            if message.ends_with('\n') {
                assert_eq!(&stderr, message, "{name} {env:?}");
            } else {
                assert!(
                    stderr.starts_with(message.as_str())
                        && stderr.ends_with("; set it to a reachable Redis (redis://HOST:PORT), or unset it to deduplicate in memory\n"),
                    "{name} {env:?}: {stderr}"
                );
            }
        }
    }
}
