//! `amps-webhooks listen --enqueue` on the memory queue over real sockets: each delivery is
//! verified, deduplicated and enqueued (200 at once, outcome `queued`), and with
//! `--forward-to` a worker in the same process forwards the jobs to the app (an axum server in
//! the test), retrying what it does not take and dead-lettering after the last attempt. And
//! the usage errors of `work`, `inbox` and the worker's options.
#![allow(clippy::unwrap_used, clippy::panic)]

mod cli_common;

use amps_webhooks::{Clock as _, SystemClock, Verifier};
use cli_common::{App, SECRET, bin, deliver, envelope, listen, post, signed};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_queued_then_forwarded_and_its_redelivery_is_a_duplicate() {
    let app = App::start(&[]).await;
    let (mut listener, url) = listen(&["--enqueue", "--forward-to", &app.url]);
    let body = envelope("evt_q1");
    let headers = signed("msg_q1", &body);
    let (status, answer) = post(&url, &headers, &body).await;
    assert_eq!((status, answer.as_str()), (200, r#"{"queued":true}"#));
    // The request's line, then the attempt's (in this order: the job is enqueued first).
    let mut lines = [listener.next_json(), listener.next_json()];
    lines.sort_by_key(|line| line.get("attempt").is_some());
    assert_eq!(
        lines[0],
        json!({"id": "msg_q1", "type": "push.completed", "key": "evt_q1",
            "outcome": "queued", "status": 200, "reason": null})
    );
    let latency = lines[1]["latency_ms"].clone();
    assert_eq!(
        lines[1],
        json!({"id": "msg_q1", "key": "evt_q1", "type": "push.completed", "attempt": 1,
            "status": 200, "outcome": "done", "error": null, "latency_ms": latency,
            "retry_in_s": null})
    );
    let received = app.received();
    assert_eq!(received.len(), 1);
    assert_eq!(&received[0].body[..], &body[..]);
    for (name, value) in &headers {
        assert_eq!(received[0].headers[name.as_str()], value.as_str(), "{name}");
    }
    assert_eq!(received[0].headers["content-type"], "application/json");

    assert_eq!(deliver(&url, "msg_q1", &body).await, 200);
    assert_eq!(
        listener.next_json(),
        json!({"id": "msg_q1", "type": "push.completed", "key": "evt_q1",
            "outcome": "duplicate", "status": 200,
            "reason": "already processed; not enqueued again"})
    );
    assert_eq!(app.received().len(), 1);
}

/// The line of a bare body (no `type` field) in enqueue mode names the type it was parsed as,
/// as the deduplicating receiver's does; a rejection's line, the request's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_lines_name_a_bare_bodys_type_and_a_rejections_id() {
    let (mut listener, url) = listen(&["--enqueue"]);
    let flat = include_bytes!("data/amps/flat-push-completed.json");
    let (status, answer) = post(&url, &signed("msg_q_flat", flat), flat).await;
    assert_eq!((status, answer.as_str()), (200, r#"{"queued":true}"#));
    assert_eq!(
        listener.next_json(),
        json!({"id": "msg_q_flat", "type": "push.completed", "key": "msg_q_flat",
            "outcome": "queued", "status": 200, "reason": null})
    );
    let (status, _) = post(&url, &signed("msg_q_forged", b"another body"), flat).await;
    assert_eq!(status, 401);
    let line = listener.next_json();
    assert_eq!(
        (
            &line["id"],
            &line["type"],
            &line["key"],
            &line["outcome"],
            &line["status"]
        ),
        (
            &json!("msg_q_forged"),
            &json!(null),
            &json!(null),
            &json!("rejected"),
            &json!(401)
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_app_refuses_is_retried_then_dead() {
    let app = App::start(&[500, 503]).await;
    let (mut listener, url) = listen(&[
        "--enqueue",
        "--forward-to",
        &app.url,
        "--schedule",
        "0s,0s",
        "--max-attempts",
        "2",
    ]);
    assert_eq!(deliver(&url, "msg_q2", &envelope("evt_q2")).await, 200);
    let mut lines: Vec<_> = (0..3).map(|_| listener.next_json()).collect();
    lines.sort_by_key(|line| line["attempt"].as_u64());
    assert_eq!(lines[0]["outcome"], "queued");
    let attempts: Vec<_> = lines[1..]
        .iter()
        .map(|line| {
            (
                line["attempt"].clone(),
                line["status"].clone(),
                line["outcome"].clone(),
                line["error"].clone(),
                line["retry_in_s"].clone(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (
                json!(1),
                json!(500),
                json!("retry"),
                json!("the app answered 500"),
                json!(0.0)
            ),
            (
                json!(2),
                json!(503),
                json!("dead"),
                json!("the app answered 503"),
                json!(null)
            ),
        ]
    );
    assert_eq!(app.received().len(), 2);
    // Dead: a redelivery is a duplicate of it, not a new job.
    assert_eq!(deliver(&url, "msg_q2", &envelope("evt_q2")).await, 200);
    assert_eq!(
        listener.next_json()["reason"],
        "already dead-lettered (redrive it to run it again); not enqueued again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resign_with_signs_the_job_again_with_its_secret() {
    const OTHER: &str = "whsec_dGhlIGFwcCdzIG93biBzZWNyZXQsIDMyIGJ5dGVz";
    let app = App::start(&[]).await;
    let (mut listener, url) = listen(&[
        "--enqueue",
        "--forward-to",
        &app.url,
        "--resign-with",
        OTHER,
    ]);
    let body = envelope("evt_q3");
    assert_eq!(deliver(&url, "msg_q3", &body).await, 200);
    listener.next_json();
    listener.next_json();
    let received = app.received();
    assert_eq!(received.len(), 1);
    let verifier = Verifier::new(OTHER.parse().unwrap());
    let verified = verifier
        .verify(&received[0].headers, &received[0].body)
        .unwrap();
    assert_eq!(verified.id(), "msg_q3");
    assert!(verified.timestamp().as_unix() <= SystemClock.unix_seconds());
    // Not the listener's secret any more.
    let original = Verifier::new(SECRET.parse().unwrap());
    assert!(matches!(
        original.verify(&received[0].headers, &received[0].body),
        Err(amps_webhooks::VerifyError::NoMatchingSignature { candidates: 1 })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_is_not_enqueued() {
    let app = App::start(&[]).await;
    let (mut listener, url) = listen(&["--enqueue", "--forward-to", &app.url]);
    let body = envelope("evt_q4");
    let mut headers = signed("msg_q4", &body);
    headers[2].1 = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned();
    assert_eq!(post(&url, &headers, &body).await.0, 401);
    let line = listener.next_json();
    assert_eq!(
        (&line["id"], &line["outcome"], &line["status"], &line["key"]),
        (
            &json!("msg_q4"),
            &json!("rejected"),
            &json!(401),
            &json!(null)
        )
    );
    assert!(app.received().is_empty());
}

#[test]
fn sigterm_stops_listen_and_its_worker_with_exit_0() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(App::start(&[]));
    let (mut listener, _url) = listen(&["--enqueue", "--forward-to", &app.url]);
    assert_eq!(listener.terminate(), Some(0));
}

fn usage_error(args: &[&str]) -> String {
    let output = bin().args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    assert!(output.stdout.is_empty(), "{args:?}");
    String::from_utf8(output.stderr).unwrap()
}

/// The usage error of `listen --enqueue --forward-to` (a worker in the process) with the
/// worker's `options`.
fn worker_usage_error(options: &[&str]) -> String {
    let mut args = vec![
        "listen",
        "--secret",
        SECRET,
        "--port",
        "0",
        "--enqueue",
        "--forward-to",
        "http://127.0.0.1:9/app",
    ];
    args.extend(options);
    usage_error(&args)
}

#[test]
fn max_attempts_and_schedule_must_agree() {
    let stderr = worker_usage_error(&["--max-attempts", "3", "--schedule", "0s,5s"]);
    assert_eq!(
        stderr.trim_end(),
        r#"--max-attempts 3 disagrees with --schedule "0s,5s", which makes 2 attempts: give one of them, or make them agree"#
    );
}

#[test]
fn worker_options_need_a_worker() {
    for option in [["--concurrency", "4"], ["--lease", "5"]] {
        let mut args = vec!["listen", "--secret", SECRET, "--port", "0"];
        args.extend(option);
        assert_eq!(
            usage_error(&args).trim_end(),
            "--concurrency, --max-attempts, --schedule, --resign-with and --lease set the worker of `listen --enqueue --forward-to URL`",
            "{option:?}"
        );
    }
}

#[test]
fn a_lease_under_a_second_is_refused() {
    for lease in ["0.5", "0", "NaN"] {
        assert_eq!(
            worker_usage_error(&["--lease", lease]).trim_end(),
            format!("--lease {lease}: expected at least 1 second"),
            "{lease}"
        );
    }
}

#[test]
fn work_and_inbox_refuse_the_memory_store() {
    for args in [
        &[
            "work",
            "--store",
            "memory",
            "--forward-to",
            "http://127.0.0.1:9/app",
        ][..],
        &["inbox", "stats", "--store", "memory"][..],
    ] {
        let stderr = usage_error(args);
        assert!(
            stderr.starts_with(
                "--store memory: the memory queue lives in the `listen --enqueue` process"
            ),
            "{stderr}"
        );
    }
}

#[test]
fn unreachable_stores_exit_2_naming_the_store_without_its_password() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let redis = format!("redis://:hunter2@127.0.0.1:{port}");
    let postgres = format!("postgres://app:hunter2@127.0.0.1:{port}/test");
    for store in [&redis, &postgres] {
        for args in [
            vec!["inbox", "stats", "--store", store],
            vec![
                "work",
                "--store",
                store,
                "--forward-to",
                "http://127.0.0.1:9/app",
                "--drain",
            ],
        ] {
            let stderr = usage_error(&args);
            let shown = store.replace("hunter2", "***");
            assert!(
                stderr.starts_with(&format!("--store {shown}: ")),
                "{stderr}"
            );
            assert!(!stderr.contains("hunter2"), "{stderr}");
        }
    }
    // listen --enqueue too: it exits before printing its URL.
    let stderr = usage_error(&[
        "listen",
        "--secret",
        SECRET,
        "--port",
        "0",
        "--enqueue",
        "--store",
        &redis,
    ]);
    assert!(
        stderr.starts_with("--store redis://:***@127.0.0.1:"),
        "{stderr}"
    );
}
