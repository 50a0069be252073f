//! Issue 19's Done-when: two `amps-webhooks work` processes draining one SQLite file at once
//! never run a job twice, except a job running at a kill (counted). `listen --enqueue` (a
//! third process) receives the 2,000 signed events of tests/queue_e2e_common over HTTP, 30 %
//! of them twice; then two `work --drain` processes forward the jobs to an app in this test
//! that fails the first delivery of one event in five and counts what it took; one worker is
//! killed with SIGKILL mid-run, the other drains the rest (the killed one's jobs once their
//! lease, 3 s with `--lease 3`, runs out). No process meets a locked database: SQLite's busy timeout waits its turn.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod queue_e2e_common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use amps_webhooks::queue::{Queue, SqliteQueue};
use amps_webhooks::store::sqlx;
use axum::http::StatusCode;
use bytes::Bytes;
use queue_e2e_common::{Deliveries, EVENTS, KILL_AFTER, Process, SECRET, fails_first, number};

/// The workers' concurrency: at most this many jobs run at the kill.
const CONCURRENCY: usize = 8;

/// What the app was sent, per event number: deliveries, and those it took (answered 200).
#[derive(Default)]
struct Counts {
    delivered: HashMap<usize, u32>,
    taken: HashMap<usize, u32>,
}

/// The app the workers forward to, standing for the handler: 500 to the first delivery of an
/// event that fails its first attempt, 200 to every other. Answers its URL and its counts.
async fn app() -> (String, Arc<Mutex<Counts>>) {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let shared = Arc::clone(&counts);
    let answer = move |body: Bytes| {
        let counts = Arc::clone(&shared);
        async move {
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let n = number(event["eventId"].as_str().unwrap());
            let mut counts = counts.lock().unwrap();
            let delivered = counts.delivered.entry(n).or_default();
            *delivered += 1;
            if *delivered == 1 && fails_first(n) {
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
            *counts.taken.entry(n).or_default() += 1;
            StatusCode::OK
        }
    };
    let router = axum::Router::new().route("/app", axum::routing::post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/app", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router).into_future());
    (url, counts)
}

/// The attempt lines of a `work --json` process: each a retry of a first attempt that the app
/// refused (500), or done (200). Answers how many were done.
fn done_attempts(worker: &Process) -> usize {
    let mut done = 0;
    for line in worker.lines() {
        let attempt: serde_json::Value = serde_json::from_str(&line).unwrap();
        let n = number(attempt["key"].as_str().unwrap());
        let seen = (
            attempt["outcome"].as_str().unwrap(),
            attempt["status"].as_u64(),
        );
        match seen {
            ("done", Some(200)) => done += 1,
            ("retry", Some(500)) if attempt["attempt"] == 1 && fails_first(n) => {}
            _ => panic!("an attempt that should not be: {line}"),
        }
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: 2,000 events through three processes, and the killed worker's lease waited out"]
async fn two_workers_on_one_file_run_each_job_once_but_those_running_at_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queue.db").to_str().unwrap().to_owned();
    let store = format!("sqlite://{file}");
    let backend = SqliteQueue::builder(&file).connect().await.unwrap();
    // `listen` and `work` default to the namespace `listen`.
    let queue = Queue::new(Arc::new(backend.clone()), "listen").unwrap();
    let tool = Path::new(env!("CARGO_BIN_EXE_amps-webhooks"));
    let argv = |args: &[&str]| args.iter().map(|&arg| arg.to_owned()).collect::<Vec<_>>();

    let mut listen = Process::spawn(
        "listen",
        tool,
        &argv(&[
            "listen",
            "--secret",
            SECRET,
            "--port",
            "0",
            "--store",
            &store,
            "--enqueue",
            "--json",
            "--no-inspect",
        ]),
    );
    let url = listen
        .first_line("its URL", |line| {
            let line: serde_json::Value = serde_json::from_str(line).ok()?;
            line["listening"].as_str().map(str::to_owned)
        })
        .await;
    let deliveries = Arc::new(Deliveries::new(url));
    let redelivered = deliveries.send_all().await;
    let stats = queue.stats().await.unwrap();
    assert_eq!([stats.pending, stats.done], [EVENTS as u64, 0]);

    let (app, counts) = app().await;
    let concurrency = CONCURRENCY.to_string();
    let work = argv(&[
        "work",
        "--store",
        &store,
        "--forward-to",
        &app,
        "--concurrency",
        &concurrency,
        "--schedule",
        "0s,200ms,200ms,200ms",
        "--lease",
        "3",
        "--drain",
        "--json",
    ]);
    let mut killed = Process::spawn("work 1", tool, &work);
    let mut survivor = Process::spawn("work 2", tool, &work);
    let before =
        queue_e2e_common::wait_for(&queue, "the first jobs done", |s| s.done >= KILL_AFTER).await;
    killed.kill();
    // The jobs running now: the killed worker's (until their lease runs out) and the other's.
    let running: BTreeSet<usize> = sqlx::query_scalar::<_, String>(
        "SELECT idempotency_key FROM amps_webhook_jobs WHERE namespace = 'listen' AND state = 'running'",
    )
    .fetch_all(backend.pool())
    .await
    .unwrap()
    .iter()
    .map(|key| number(key))
    .collect();
    // `--lease 3`: no running job is held for longer than 3 s from now (the lease's end is
    // stored in microseconds since the epoch).
    let lease_end: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(next_run_at) FROM amps_webhook_jobs WHERE namespace = 'listen' AND state = 'running'",
    )
    .fetch_one(backend.pool())
    .await
    .unwrap();
    let lease_end = lease_end.expect("jobs running right after the kill");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let now = i64::try_from(now.as_micros()).unwrap();
    assert!(
        lease_end <= now + 3_000_000,
        "a lease ends {} µs from now",
        lease_end - now
    );
    let status = survivor.exit().await;
    assert!(status.success(), "the surviving worker failed: {status}");
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        [stats.pending, stats.running, stats.dead, stats.done],
        [0, 0, 0, EVENTS as u64],
        "{stats:?}"
    );

    let counts = counts.lock().unwrap();
    let untaken: Vec<usize> = (0..EVENTS)
        .filter(|n| !counts.taken.contains_key(n))
        .collect();
    assert_eq!(untaken, Vec::<usize>::new(), "events the app never took");
    let repeated: BTreeMap<usize, u32> = counts
        .taken
        .iter()
        .filter(|(_, taken)| **taken != 1)
        .map(|(n, taken)| (*n, *taken))
        .collect();
    assert!(repeated.values().all(|&taken| taken == 2), "{repeated:?}");
    assert!(repeated.len() <= CONCURRENCY, "{repeated:?}");
    let outside: Vec<&usize> = repeated.keys().filter(|n| !running.contains(n)).collect();
    assert_eq!(
        outside,
        Vec::<&usize>::new(),
        "run twice, not running at the kill"
    );
    // Each event's first delivery refused when it fails first, and only that one.
    let refused = counts.delivered.values().sum::<u32>() - counts.taken.values().sum::<u32>();
    let failing = (0..EVENTS).filter(|&n| fails_first(n)).count();
    assert_eq!(refused as usize, failing);
    let (done_killed, done_survivor) = (done_attempts(&killed), done_attempts(&survivor));
    assert!(
        done_killed > 0 && done_survivor > 0,
        "{done_killed}, {done_survivor}"
    );
    for process in [&listen, &killed, &survivor] {
        let locked: Vec<String> = process
            .errors()
            .into_iter()
            .filter(|line| line.contains("locked"))
            .collect();
        assert_eq!(locked, Vec::<String>::new());
    }
    println!(
        "{EVENTS} events, {redelivered} delivered again; killed a worker at {before:?}, \
         {} jobs running then; {refused} first deliveries refused; done by the killed \
         worker {done_killed}, by the other {done_survivor}; {} run twice (running at the \
         kill): {repeated:?}",
        running.len(),
        repeated.len()
    );
}
