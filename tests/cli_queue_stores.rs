//! `listen --enqueue` in one process and `work` in another, over Redis, PostgreSQL and one
//! SQLite file, with
//! `inbox stats`, `dead` and `redrive` between them: exact values, each test in a namespace
//! of its own on the shared servers.
#![allow(clippy::unwrap_used, clippy::panic)]

mod cli_common;

use std::process::Output;

use cli_common::{App, Tool, bin, deliver, envelope, listen, unique};
use serde_json::{Value, json};

fn redis_url() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let addr = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_ok(),
        "no Redis answers at {url}: this test needs one; start it with `redis-server --port 6379 --save ''` or set REDIS_URL"
    );
    url
}

fn postgres_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let reachable =
        std::net::TcpStream::connect(url.rsplit('@').next().unwrap().split('/').next().unwrap())
            .is_ok();
    assert!(
        reachable,
        "no PostgreSQL answers at {url}: this test needs one (trust auth, database `test`) or DATABASE_URL"
    );
    url
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

/// The standard output of a subcommand that must exit 0, line by line as JSON.
fn json_lines(args: &[&str]) -> Vec<Value> {
    let output = run(args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn stats(store: &str, namespace: &str) -> Value {
    let mut lines = json_lines(&[
        "inbox",
        "stats",
        "--store",
        store,
        "--namespace",
        namespace,
        "--json",
    ]);
    assert_eq!(lines.len(), 1);
    lines.remove(0)
}

/// `work --drain --json` until nothing is left: its attempts, as (attempt, id, status,
/// outcome), in the order made (one at a time).
fn drain(store: &str, namespace: &str, app: &App) -> Vec<(u64, String, Value, String)> {
    json_lines(&[
        "work",
        "--store",
        store,
        "--namespace",
        namespace,
        "--forward-to",
        &app.url,
        "--schedule",
        "0s,0s",
        "--concurrency",
        "1",
        "--drain",
        "--json",
    ])
    .into_iter()
    .map(|line| {
        (
            line["attempt"].as_u64().unwrap(),
            line["id"].as_str().unwrap().to_owned(),
            line["status"].clone(),
            line["outcome"].as_str().unwrap().to_owned(),
        )
    })
    .collect()
}

fn attempt(n: u64, id: &str, status: u16, outcome: &str) -> (u64, String, Value, String) {
    (n, id.to_owned(), json!(status), outcome.to_owned())
}

/// Receive, stats, work (one job done, one dead), dead, redrive, work again.
async fn listen_then_work(store: &str) {
    let namespace = unique("q");
    let (mut listener, url) = listen(&["--enqueue", "--store", store, "--namespace", &namespace]);
    assert_eq!(deliver(&url, "msg_ok", &envelope("evt_ok")).await, 200);
    assert_eq!(deliver(&url, "msg_bad", &envelope("evt_bad")).await, 200);
    assert_eq!(deliver(&url, "msg_ok", &envelope("evt_ok")).await, 200);
    let outcomes: Vec<_> = (0..3)
        .map(|_| {
            let line = listener.next_json();
            (
                line["id"].clone(),
                line["outcome"].clone(),
                line["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (json!("msg_ok"), json!("queued"), json!(null)),
            (json!("msg_bad"), json!("queued"), json!(null)),
            (
                json!("msg_ok"),
                json!("duplicate"),
                json!("already queued; not enqueued again")
            ),
        ]
    );
    let before = stats(store, &namespace);
    assert!(before["oldest_pending_age_s"].is_u64(), "{before}");
    assert_eq!(
        before,
        json!({"pending": 2, "running": 0, "dead": 0, "done": 0,
            "oldest_pending_age_s": before["oldest_pending_age_s"]})
    );

    let app = App::refusing("evt_bad");
    let app = app.await;
    assert_eq!(
        drain(store, &namespace, &app),
        [
            attempt(1, "msg_ok", 200, "done"),
            attempt(1, "msg_bad", 500, "retry"),
            attempt(2, "msg_bad", 500, "dead"),
        ]
    );
    assert_eq!(
        stats(store, &namespace),
        json!({"pending": 0, "running": 0, "dead": 1, "done": 1, "oldest_pending_age_s": null})
    );
    let dead = json_lines(&[
        "inbox",
        "dead",
        "--store",
        store,
        "--namespace",
        &namespace,
        "--json",
    ]);
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0],
        json!({"id": "msg_bad", "key": "evt_bad", "type": "push.completed", "attempts": 2,
            "last_error": "the app answered 500", "received_at": dead[0]["received_at"]})
    );
    // Done, so the redelivery of a processed event is a duplicate.
    assert_eq!(deliver(&url, "msg_ok", &envelope("evt_ok")).await, 200);
    assert_eq!(
        listener.next_json()["reason"],
        "already processed; not enqueued again"
    );

    let output = run(&[
        "inbox",
        "redrive",
        "--store",
        store,
        "--namespace",
        &namespace,
        "--key",
        "evt_bad",
    ]);
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap()
        ),
        (Some(0), "1 dead job back to pending\n".to_owned())
    );
    assert_eq!(stats(store, &namespace)["pending"], 1);
    let fixed = App::start(&[]).await;
    assert_eq!(
        drain(store, &namespace, &fixed),
        [attempt(1, "msg_bad", 200, "done")]
    );
    assert_eq!(
        stats(store, &namespace),
        json!({"pending": 0, "running": 0, "dead": 0, "done": 2, "oldest_pending_age_s": null})
    );
    assert_eq!(
        json_lines(&[
            "inbox",
            "redrive",
            "--store",
            store,
            "--namespace",
            &namespace,
            "--all",
            "--json"
        ]),
        [json!({"redriven": 0})]
    );
}

/// `work` without `--drain` runs until SIGTERM, then exits 0.
async fn work_stops_at_sigterm(store: &str) {
    let namespace = unique("t");
    let app = App::start(&[]).await;
    let mut worker = Tool::spawn(&[
        "work",
        "--store",
        store,
        "--namespace",
        &namespace,
        "--forward-to",
        &app.url,
        "--json",
    ]);
    // A job forwarded shows the worker is up (and its signal handlers with it).
    let (mut listener, url) = listen(&["--enqueue", "--store", store, "--namespace", &namespace]);
    assert_eq!(deliver(&url, "msg_term", &envelope("evt_term")).await, 200);
    assert_eq!(listener.next_json()["outcome"], "queued");
    assert_eq!(worker.next_json()["outcome"], "done");
    assert_eq!(worker.terminate(), Some(0));
    assert_eq!(app.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis at 127.0.0.1:6379"]
async fn redis_listen_enqueue_then_work_and_inbox() {
    listen_then_work(&redis_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis at 127.0.0.1:6379"]
async fn redis_work_exits_0_at_sigterm() {
    work_stops_at_sigterm(&redis_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn postgres_listen_enqueue_then_work_and_inbox() {
    listen_then_work(&postgres_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn postgres_work_exits_0_at_sigterm() {
    work_stops_at_sigterm(&postgres_url()).await;
}

/// `listen` deduplicates on PostgreSQL without `--enqueue`: a second listener on the same
/// namespace knows the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432"]
async fn postgres_store_deduplicates_across_listeners() {
    let store = postgres_url();
    let namespace = unique("d");
    let args = ["--store", store.as_str(), "--namespace", namespace.as_str()];
    {
        let (mut first, url) = listen(&args);
        assert_eq!(deliver(&url, "msg_pg", &envelope("evt_pg")).await, 200);
        assert_eq!(first.next_json()["outcome"], "processed");
    }
    let (mut second, url) = listen(&args);
    assert_eq!(deliver(&url, "msg_pg", &envelope("evt_pg")).await, 200);
    assert_eq!(second.next_json()["outcome"], "duplicate");
}

/// `sqlite://PATH` of a new file in a new temporary directory (kept while the guard lives).
fn sqlite_url() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hooks.db").display());
    (url, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_listen_enqueue_then_work_and_inbox() {
    let (url, _dir) = sqlite_url();
    listen_then_work(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_work_exits_0_at_sigterm() {
    let (url, _dir) = sqlite_url();
    work_stops_at_sigterm(&url).await;
}

#[test]
fn sqlite_store_that_is_not_a_database_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "not a database\n".repeat(400)).unwrap();
    let url = format!("sqlite://{}", path.display());
    for args in [
        vec!["inbox", "stats", "--store", url.as_str()],
        vec![
            "work",
            "--store",
            url.as_str(),
            "--forward-to",
            "http://127.0.0.1:9/",
        ],
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8(output.stderr).unwrap().trim_end(),
            format!(
                "--store {url}: the sqlite idempotency store's configuration is invalid: {} is not an SQLite database (error returned from database: (code: 26) file is not a database); give the path of an SQLite database, or of a new file to create",
                path.display()
            ),
            "{args:?}"
        );
    }
}

/// The guide's queue commands, run as written on Redis in the default namespace `listen`
/// (`--port 0 --no-inspect` added to `listen`): a delivery is queued, the `inbox` block runs
/// (its stats count the job), and `work --drain` forwards every job of the namespace to an app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis at 127.0.0.1:6379"]
async fn the_guides_queue_commands_run_as_written() {
    let store = redis_url();
    assert_eq!(
        store, "redis://127.0.0.1:6379",
        "the guide's commands name this store"
    );
    let block = cli_common::guide_block(
        "amps-webhooks listen --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --enqueue",
    );
    let (mut listener, url) = cli_common::listen_as_written(&block, "--port 0 --no-inspect");
    let event_id = unique("evt_guide");
    assert_eq!(
        deliver(&url, "msg_guide_q", &envelope(&event_id)).await,
        200
    );
    let line = listener.next_line();
    assert!(
        line == format!("queued      200 msg_guide_q type=push.completed key={event_id}"),
        "{line}"
    );
    drop(listener);

    let inbox = cli_common::guide_block("amps-webhooks inbox stats ");
    let mut outputs = Vec::new();
    for command in inbox.lines() {
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let output = run(&args);
        assert_eq!(output.status.code(), Some(0), "{command}: {output:?}");
        outputs.push(String::from_utf8(output.stdout).unwrap());
    }
    let stats: Value = serde_json::from_str(outputs[0].trim()).unwrap();
    assert!(stats["pending"].as_u64().unwrap() >= 1, "{stats}");
    assert!(
        outputs[2].trim_end().ends_with("back to pending"),
        "{:?}",
        outputs[2]
    );

    let app = App::start(&[]).await;
    let attempts = json_lines(&[
        "work",
        "--store",
        &store,
        "--forward-to",
        &app.url,
        "--drain",
        "--json",
    ]);
    assert!(
        attempts
            .iter()
            .any(|a| a["key"] == event_id.as_str() && a["outcome"] == "done"),
        "{attempts:?}"
    );
    assert!(
        app.received()
            .iter()
            .any(|r| r.body[..] == envelope(&event_id)[..]),
        "the app got the guide's delivery"
    );
    assert_eq!(stats_of_default(&store)["pending"], 0);
}

fn stats_of_default(store: &str) -> Value {
    json_lines(&["inbox", "stats", "--store", store, "--json"]).remove(0)
}
