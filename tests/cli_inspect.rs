//! `listen`'s inspector over real sockets: its JSON API (every field of an entry, the detail,
//! the bound on the list, replay, the live stream) and what it never shows (a secret).
#![allow(clippy::unwrap_used, clippy::panic)]

mod inspect_common;

use std::process::Command;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use inspect_common::{Listen, SECRET_KEY, envelope, now, signed, signed_at};
use serde_json::json;

fn seqs(list: &serde_json::Value) -> Vec<u64> {
    list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn an_entry_has_every_field_and_a_duplicate_names_the_first() {
    let mut listen = Listen::start(&[]);
    let body = envelope("evt_fields");
    let timestamp = now() - 100;
    let headers = signed_at("msg_fields", timestamp, body.as_bytes());
    let before = now();
    assert_eq!(listen.post(&headers, body.clone()).await, 200);
    let after = now();
    assert_eq!(listen.post(&headers, body.clone()).await, 200);

    let (status, list) = listen.get_json("api/requests").await;
    assert_eq!(status, 200);
    assert_eq!(seqs(&list), [2, 1]);
    let first = &list["requests"][1];
    let received: jiff::Timestamp = first["received_at"].as_str().unwrap().parse().unwrap();
    let received_s = u64::try_from(received.as_second()).unwrap();
    assert!((before..=after).contains(&received_s), "{received}");
    // Receipt minus `webhook-timestamp`, exactly, in seconds.
    assert_eq!(
        first["timestamp_skew_s"],
        json!(received_s - timestamp),
        "{first}"
    );
    let host = listen
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut expected = json!({
        "seq": 1,
        "received_at": first["received_at"],
        "method": "POST",
        "path": "/webhooks",
        "id": "msg_fields",
        "type": "push.completed",
        "key": "evt_fields",
        "outcome": "processed",
        "status": 200,
        "reason": null,
        "timestamp_skew_s": received_s - timestamp,
        "duplicate_of": null,
        "replay_of": null,
        "headers": [
            ["webhook-id", "msg_fields"],
            ["webhook-timestamp", timestamp.to_string()],
            ["webhook-signature", headers[2].1],
            ["content-type", "application/json"],
            ["host", host],
            ["content-length", body.len().to_string()],
        ],
        "body": body,
        "forward": null,
    });
    assert_eq!(first, &expected);

    let second = &list["requests"][0];
    assert_eq!(second["outcome"], "duplicate");
    assert_eq!(second["duplicate_of"], 1);
    assert_eq!(second["reason"], "already processed; handler not run");

    // The detail: the entry, each signature entry's verdict, the tolerance.
    let (status, detail) = listen.get_json("api/requests/1").await;
    assert_eq!(status, 200);
    expected["signatures"] = json!([{ "entry": headers[2].1, "matched": true, "note": null }]);
    expected["within_tolerance"] = json!(true);
    expected["parse_error"] = json!(null);
    assert_eq!(detail, expected);
}

#[tokio::test]
async fn unknown_entries_are_404() {
    let listen = Listen::start(&[]);
    for path in ["api/requests/1", "api/requests/999", "api/requests/abc"] {
        let (status, body) = listen.get_json(path).await;
        assert_eq!(status, 404, "{path}");
        let seq = path.rsplit('/').next().unwrap();
        assert_eq!(
            body,
            json!({ "error": format!("no request #{seq} is kept") })
        );
    }
    let (status, page) = listen.get("requests/7").await;
    assert_eq!(status, 404);
    assert!(page.contains("No request #7"), "{page}");
}

#[tokio::test]
async fn verdicts_per_signature_entry_and_a_body_that_is_not_utf8() {
    let mut listen = Listen::start(&[]);
    // Two entries: a forged one, then the right one.
    let body = envelope("evt_two");
    let mut headers = signed("msg_two", body.as_bytes());
    let right = headers[2].1.clone();
    let forged = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    headers[2].1 = format!("{forged} {right}");
    assert_eq!(listen.post(&headers, body).await, 200);
    let (_, detail) = listen.get_json("api/requests/1").await;
    assert_eq!(
        detail["signatures"],
        json!([
            { "entry": forged, "matched": false, "note": null },
            { "entry": right, "matched": true, "note": null },
        ])
    );
    assert_eq!(detail["outcome"], "processed");

    // Signed, but not UTF-8: `body_base64`, no `body`; the detail has the parser's message.
    let binary: &[u8] = b"\xff\xfe{\"event\"}";
    let headers = signed("msg_binary", binary);
    assert_eq!(listen.post(&headers, Bytes::from_static(binary)).await, 400);
    let (_, detail) = listen.get_json("api/requests/2").await;
    assert_eq!(detail["body_base64"], "//57ImV2ZW50In0=");
    assert_eq!(detail.get("body"), None);
    assert_eq!(detail["outcome"], "rejected");
    assert_eq!(detail["signatures"][0]["matched"], true);
    let reason = detail["reason"].as_str().unwrap();
    let message = detail["parse_error"].as_str().unwrap();
    assert!(
        message.starts_with(reason) && message.len() > reason.len(),
        "{reason:?} / {message:?}"
    );

    // A signed JSON body that is not a valid event: the full message quotes the body's value,
    // the reason (the terminal's, the list's) does not.
    let body = r#"{"event":"push.completed","eventId":"evt_bad","data":{"actionId":"a","deviceId":"d","result":{"success":"sekrit-value"},"completedAt":"2026-05-08T22:00:05Z"}}"#;
    let headers = signed("msg_bad", body.as_bytes());
    assert_eq!(listen.post(&headers, body).await, 400);
    let (_, detail) = listen.get_json("api/requests/3").await;
    assert_eq!(detail["body"], body);
    let reason = detail["reason"].as_str().unwrap();
    assert!(!reason.contains("sekrit-value"), "{reason}");
    assert_eq!(
        detail["parse_error"],
        format!(
            "{reason}: invalid type: string \"sekrit-value\", expected a boolean at line 1 column 118"
        )
    );

    // No signature header at all: nothing to judge.
    let headers = vec![("webhook-id".to_owned(), "msg_none".to_owned())];
    assert_eq!(listen.post(&headers, "{}").await, 400);
    let (_, detail) = listen.get_json("api/requests/4").await;
    assert_eq!(
        (
            &detail["signatures"],
            &detail["timestamp_skew_s"],
            &detail["within_tolerance"]
        ),
        (&json!([]), &json!(null), &json!(null))
    );
}

#[tokio::test]
async fn the_list_keeps_the_last_n_newest_first() {
    let keep = 4;
    let mut listen = Listen::start(&["--inspect-keep", "4"]);
    for n in 0..keep + 5 {
        let body = envelope(&format!("evt_keep_{n}"));
        let headers = signed(&format!("msg_keep_{n}"), body.as_bytes());
        assert_eq!(listen.post(&headers, body).await, 200);
    }
    let (_, list) = listen.get_json("api/requests").await;
    assert_eq!(seqs(&list), [9, 8, 7, 6]);
    assert_eq!(list["requests"][3]["id"], "msg_keep_5");
    assert_eq!(listen.get("api/requests/5").await.0, 404);
    assert_eq!(listen.get("api/requests/6").await.0, 200);

    // The first delivery of a key is gone from the list: a duplicate of it links to none; a
    // duplicate of a key still kept links to its first.
    for (n, first) in [(0, json!(null)), (8, json!(9))] {
        let body = envelope(&format!("evt_keep_{n}"));
        let headers = signed(&format!("msg_keep_{n}"), body.as_bytes());
        assert_eq!(listen.post(&headers, body).await, 200);
        let (_, list) = listen.get_json("api/requests").await;
        assert_eq!(list["requests"][0]["outcome"], "duplicate");
        assert_eq!(list["requests"][0]["duplicate_of"], first, "evt_keep_{n}");
    }
}

#[tokio::test]
async fn replay_as_recorded_fires_the_checks_again_and_resigned_is_verified() {
    let mut listen = Listen::start(&[]);
    let body = envelope("evt_stale");
    let headers = signed_at("msg_stale", now() - 1000, body.as_bytes());
    assert_eq!(listen.post(&headers, body).await, 401);
    let (_, stale) = listen.get_json("api/requests/1").await;
    assert_eq!(stale["outcome"], "rejected");
    assert_eq!(stale["within_tolerance"], false);
    assert_eq!(stale["signatures"][0]["matched"], true);

    let (status, again) = listen.replay(1, false).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            &again["seq"],
            &again["replay_of"],
            &again["outcome"],
            &again["status"]
        ),
        (&json!(2), &json!(1), &json!("rejected"), &json!(401))
    );
    // The same refusal; its age may have grown by a second since the first delivery.
    let without_age = |reason: &serde_json::Value| {
        let reason = reason.as_str().unwrap().to_owned();
        let (before, after) = reason.split_once(" s old").unwrap();
        let digits = before.trim_end_matches(|c: char| c.is_ascii_digit());
        format!("{digits}N s old{after}")
    };
    assert_eq!(without_age(&again["reason"]), without_age(&stale["reason"]));
    assert_eq!(again["headers"], stale["headers"]);
    assert_eq!(again["body"], stale["body"]);

    let (status, resigned) = listen.replay(1, true).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            &resigned["seq"],
            &resigned["replay_of"],
            &resigned["outcome"],
            &resigned["status"]
        ),
        (&json!(3), &json!(1), &json!("processed"), &json!(200))
    );
    assert_eq!(resigned["within_tolerance"], true);
    assert_eq!(resigned["signatures"][0]["matched"], true);
    assert_eq!(resigned["id"], "msg_stale");
    assert_eq!(resigned["body"], stale["body"]);
    assert_ne!(resigned["signatures"], stale["signatures"]);

    // A replay is a new entry in the list, the newest.
    let (_, list) = listen.get_json("api/requests").await;
    assert_eq!(seqs(&list), [3, 2, 1]);

    let (status, missing) = listen.replay(9, true).await;
    assert_eq!(status, 404);
    assert_eq!(missing, json!({ "error": "no request #9 is kept" }));
}

#[tokio::test]
async fn the_stream_delivers_each_new_entry() {
    let mut listen = Listen::start(&[]);
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let response = client
        .request(
            hyper::Request::get(format!("{}api/stream", listen.inspector))
                .body(http_body_util::Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.into_body();

    let body = envelope("evt_stream");
    let headers = signed("msg_stream", body.as_bytes());
    assert_eq!(listen.post(&headers, body).await, 200);

    let mut text = String::new();
    while !text.contains("\n\n") {
        let frame = stream.frame().await.unwrap().unwrap();
        if let Some(data) = frame.data_ref() {
            text.push_str(std::str::from_utf8(data).unwrap());
        }
    }
    let data = text
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no data in {text:?}"));
    assert!(text.lines().any(|line| line == "id: 1"), "{text:?}");
    let event: serde_json::Value = serde_json::from_str(data).unwrap();
    let (_, list) = listen.get_json("api/requests").await;
    assert_eq!(event, list["requests"][0]);
    assert_eq!(event["id"], "msg_stream");
}

#[tokio::test]
async fn no_secret_in_any_answer_and_pages_are_locked_down() {
    let mut listen = Listen::start(&[]);
    let body = envelope("evt_secret");
    let headers = signed("msg_secret", body.as_bytes());
    assert_eq!(listen.post(&headers, body).await, 200);
    for path in [
        "",
        "requests/1",
        "api/requests",
        "api/requests/1",
        "assets/inspector.js",
    ] {
        let (status, text) = listen.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!text.contains(SECRET_KEY), "{path} shows the secret");
    }
    let (status, _) = inspect_common::request(
        "GET",
        &format!("{}api/requests", listen.inspector),
        &[("host".to_owned(), "attacker.example:4040".to_owned())],
        Bytes::new(),
    )
    .await;
    assert_eq!(status, 403);
}

#[test]
#[ignore = "needs jq on the PATH (installed by .ci/run)"]
fn the_guides_inspector_example_runs_as_written() {
    // The guide's `sh` block that uses the API, run by bash in an empty directory with this
    // build's binary first on the PATH; its output is what the block's comments say.
    assert!(
        Command::new("jq").arg("--version").output().is_ok(),
        "jq is missing: this test runs the guide's example, which uses it (`apt-get install -y jq`)"
    );
    let guide = include_str!("../src/docs/cli.md");
    let block = guide
        .split("```sh\n")
        .filter_map(|rest| rest.split("\n```").next())
        .find(|block| block.contains("api/requests"))
        .expect("the guide has the inspector's example");
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
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("AMPS_WEBHOOKS_SECRET")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected: Vec<&str> = block
        .lines()
        .filter_map(|line| line.strip_prefix("# "))
        .map(|line| line.split(": ").next().unwrap())
        .collect();
    let printed: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .collect();
    assert_eq!(printed, expected, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_request_shows_the_apps_answer() {
    // The app answers 500 with a 2 KiB body: the entry has its status and latency, the detail
    // its first KiB; the sender gets the whole answer.
    let answer = "e".repeat(2048);
    let app_body = answer.clone();
    let app = axum::Router::new().route(
        "/app",
        axum::routing::post(move || {
            let body = app_body.clone();
            async move { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, body) }
        }),
    );
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://{}/app", socket.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(socket, app).await.unwrap() });

    let mut listen = Listen::start(&["--forward-to", &app_url]);
    let body = envelope("evt_forward");
    let headers = signed("msg_forward", body.as_bytes());
    let (status, sent_back) =
        inspect_common::request("POST", &listen.url, &headers, Bytes::from(body.clone())).await;
    let _ = listen.next_line();
    assert_eq!(status, 500);
    assert_eq!(sent_back, answer.as_bytes());
    let (_, list) = listen.get_json("api/requests").await;
    let entry = &list["requests"][0];
    assert_eq!(entry["outcome"], "failed");
    assert_eq!(entry["reason"], "the app answered 500");
    assert_eq!(entry["forward"]["status"], 500);
    assert!(entry["forward"]["latency_ms"].is_u64(), "{entry}");
    assert_eq!(entry["forward"].as_object().unwrap().len(), 2, "{entry}");
    let (_, detail) = listen.get_json("api/requests/1").await;
    assert_eq!(detail["forward"]["body"], "e".repeat(1024));
}

/// `listen --enqueue` serves the library's enqueueing route; the inspector records what it
/// made of each request all the same: queued, a duplicate (of the first), a bare body with the
/// type it was parsed as, a rejection with the request's id.
#[tokio::test]
async fn enqueue_mode_requests_are_recorded() {
    let mut listen = Listen::start(&["--enqueue"]);
    let body = envelope("evt_enq");
    let headers = signed("msg_enq", body.as_bytes());
    assert_eq!(listen.post(&headers, body.clone()).await, 200);
    assert_eq!(listen.post(&headers, body.clone()).await, 200);
    let flat = include_str!("data/amps/flat-push-completed.json");
    assert_eq!(
        listen
            .post(&signed("msg_enq_flat", flat.as_bytes()), flat)
            .await,
        200
    );
    let forged = signed("msg_enq_forged", b"another body");
    assert_eq!(listen.post(&forged, body.clone()).await, 401);

    let (status, list) = listen.get_json("api/requests").await;
    assert_eq!(status, 200);
    assert_eq!(seqs(&list), [4, 3, 2, 1]);
    let seen: Vec<_> = list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|entry| {
            json!([
                entry["id"],
                entry["type"],
                entry["key"],
                entry["outcome"],
                entry["status"],
                entry["duplicate_of"]
            ])
        })
        .collect();
    assert_eq!(
        seen,
        [
            json!(["msg_enq", "push.completed", "evt_enq", "queued", 200, null]),
            json!(["msg_enq", "push.completed", "evt_enq", "duplicate", 200, 1]),
            json!([
                "msg_enq_flat",
                "push.completed",
                "msg_enq_flat",
                "queued",
                200,
                null
            ]),
            json!(["msg_enq_forged", null, null, "rejected", 401, null]),
        ]
    );
    assert_eq!(
        list["requests"][2]["reason"],
        "already queued; not enqueued again"
    );
    assert_eq!(list["requests"][3]["reason"], json!(null));
}
