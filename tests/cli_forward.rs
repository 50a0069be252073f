//! `amps-webhooks listen --forward-to URL` over real sockets: the app (an axum server in the
//! test) gets the raw body byte for byte and the request's headers; its answer is the
//! sender's; its 2xx completes the claim, anything else releases it; an app that is down gets
//! the sender a 502.
#![allow(clippy::unwrap_used, clippy::panic)]

mod cli_common;

use cli_common::{App, closed_port_url, listen, post, signed};
use serde_json::json;

/// Spacing, key order and non-ASCII text that a parse and re-serialization would not keep.
const BODY: &[u8] = "{ \"event\" : \"push.completed\",\"eventId\":\"evt_fwd\",\n \"data\":{\"actionId\":\"a\",\"deviceId\":\"d\",\"result\":{\"success\":true},\"completedAt\":\"2026-05-08T22:00:05Z\",\"note\":\"caf\u{e9} \u{2713}\"} }".as_bytes();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_2xx_completes_the_claim_and_the_redelivery_is_a_duplicate() {
    let app = App::start(&[202]).await;
    let (mut listener, url) = listen(&["--forward-to", &app.url]);
    let mut headers = signed("msg_fwd_1", BODY);
    headers.push((
        "content-type".to_owned(),
        "application/json; charset=utf-8".to_owned(),
    ));
    headers.push(("x-trace".to_owned(), "abc 123".to_owned()));
    let (status, answer) = post(&url, &headers, BODY).await;
    assert_eq!((status, answer.as_str()), (202, "app says 202"));

    let received = app.received();
    assert_eq!(received.len(), 1);
    assert_eq!(&received[0].body[..], BODY);
    for (name, value) in &headers {
        assert_eq!(
            received[0]
                .headers
                .get_all(name.as_str())
                .iter()
                .collect::<Vec<_>>(),
            vec![value.as_str()],
            "{name}"
        );
    }
    let line = listener.next_json();
    let latency = line["forward"]["latency_ms"].as_u64().unwrap();
    assert_eq!(
        line,
        json!({"id": "msg_fwd_1", "type": "push.completed", "key": "evt_fwd",
            "outcome": "processed", "status": 202, "reason": null,
            "forward": {"status": 202, "latency_ms": latency}})
    );

    // The platform delivers again: completed, so a duplicate, and the app is not called.
    let (status, _) = post(&url, &signed("msg_fwd_1", BODY), BODY).await;
    assert_eq!(status, 200);
    assert_eq!(
        listener.next_json(),
        json!({"id": "msg_fwd_1", "type": "push.completed", "key": "evt_fwd",
            "outcome": "duplicate", "status": 200, "reason": "already processed; handler not run",
            "forward": null})
    );
    assert_eq!(app.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_500_releases_the_claim_and_the_redelivery_is_forwarded_again() {
    let app = App::start(&[500]).await;
    let (mut listener, url) = listen(&["--forward-to", &app.url]);
    let (status, answer) = post(&url, &signed("msg_fwd_2", BODY), BODY).await;
    assert_eq!((status, answer.as_str()), (500, "app says 500"));
    let line = listener.next_json();
    assert_eq!(
        (
            &line["outcome"],
            &line["status"],
            &line["reason"],
            &line["forward"]["status"]
        ),
        (
            &json!("failed"),
            &json!(500),
            &json!("the app answered 500"),
            &json!(500)
        )
    );

    let (status, answer) = post(&url, &signed("msg_fwd_2", BODY), BODY).await;
    assert_eq!((status, answer.as_str()), (200, "app says 200"));
    let line = listener.next_json();
    assert_eq!(
        (
            &line["outcome"],
            &line["status"],
            &line["forward"]["status"]
        ),
        (&json!("processed"), &json!(200), &json!(200))
    );
    let received = app.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| &r.body[..] == BODY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_cannot_be_reached_gets_the_sender_a_502() {
    let down = closed_port_url();
    let (mut listener, url) = listen(&["--forward-to", &down]);
    let (status, answer) = post(&url, &signed("msg_fwd_3", BODY), BODY).await;
    assert_eq!(status, 502);
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["error"], "forward_failed");
    let line = listener.next_json();
    assert_eq!(
        (
            &line["outcome"],
            &line["status"],
            &line["forward"]["status"]
        ),
        (&json!("failed"), &json!(502), &json!(null))
    );
    let reason = line["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("the app at {down} cannot be reached: ")),
        "{reason}"
    );
    // Released: the retry is forwarded again (and fails the same way).
    let (status, _) = post(&url, &signed("msg_fwd_3", BODY), BODY).await;
    assert_eq!(status, 502);
    assert_eq!(listener.next_json()["outcome"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readable_line_shows_the_apps_status() {
    let app = App::start(&[]).await;
    let mut args = vec!["listen", "--secret", cli_common::SECRET, "--port", "0"];
    args.extend(["--path", "/hooks", "--forward-to", &app.url]);
    args.extend(["--inspect", "127.0.0.1:0"]);
    let mut listener = cli_common::Tool::spawn(&args);
    let first = listener.next_line();
    let url = first.strip_prefix("listening on ").unwrap().to_owned();
    let second = listener.next_line();
    assert!(
        second.starts_with("inspector on http://127.0.0.1:"),
        "{second}"
    );
    assert_eq!(post(&url, &signed("msg_fwd_4", BODY), BODY).await.0, 200);
    let line = listener.next_line();
    let prefix = "processed   200 msg_fwd_4 type=push.completed key=evt_fwd forward=200 in ";
    assert!(line.starts_with(prefix) && line.ends_with(" ms"), "{line}");
}

#[test]
fn a_forward_url_that_is_not_plain_http_is_a_usage_error() {
    for url in ["https://127.0.0.1/app", "not a url", "/app"] {
        let output = cli_common::bin()
            .args(["listen", "--secret", cli_common::SECRET, "--port", "0"])
            .args(["--forward-to", url])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{url}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.starts_with("--forward-to "), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

/// The guide's forwarding example, run as written (`--port 0 --no-inspect` added, the app's
/// URL put for `http://127.0.0.1:3000/webhooks`): the delivery reaches the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_forwarding_example_runs_as_written() {
    let app = App::start(&[]).await;
    let block = cli_common::guide_block(
        "amps-webhooks listen --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --forward-to ",
    )
    .replace("http://127.0.0.1:3000/webhooks", &app.url);
    let (mut listener, url) = cli_common::listen_as_written(&block, "--port 0 --no-inspect");
    let (status, answer) = post(&url, &signed("msg_guide_fwd", BODY), BODY).await;
    assert_eq!((status, answer.as_str()), (200, "app says 200"));
    assert_eq!(app.received().len(), 1);
    assert_eq!(&app.received()[0].body[..], BODY);
    let line = listener.next_line();
    assert!(
        line.starts_with("processed   200 msg_guide_fwd type=push.completed key=evt_fwd"),
        "{line}"
    );
}
