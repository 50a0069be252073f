//! The queue's end-to-end run over real sockets and processes, shared by
//! tests/queue_postgres_e2e.rs, tests/queue_redis_e2e.rs and tests/queue_sqlite_e2e.rs (issue
//! 16's and issue 19's Done-when): an example's `receive` process (the library's
//! `enqueue_route`) is sent 2,000 signed events over HTTP, 30 % of them delivered again, each
//! answer asserted; the example's `work` process, whose handler fails the first attempt of one
//! event in five, is killed with SIGKILL mid-run and started again with `--drain`. Then every
//! event's effect exists, the effects repeat only as the backend allows, and the queue is
//! empty: 2,000 done.
//!
//! A backend's test file gives a [`Backend`] (its example, the flags that point it at this
//! run's queue, a [`Queue`] for the stats, the effects) and calls [`end_to_end`]. The pieces
//! ([`Process`], [`Deliveries`], [`wait_for`], [`example`]) serve tests of their own.
#![allow(dead_code, unreachable_pub, missing_docs)]
// Helpers of tests, not tests themselves: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod deliveries;
mod process;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amps_webhooks::queue::{Queue, QueueStats};

pub use deliveries::Deliveries;
pub use process::{Process, example};

/// The secret of the examples.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Events sent.
pub const EVENTS: usize = 2_000;
/// Jobs done before the worker is killed.
pub const KILL_AFTER: u64 = 500;
/// How long anything may take before the test calls it a hang.
pub(crate) const HANG: Duration = Duration::from_secs(300);

/// The key (`eventId`) of event `n`.
pub fn key(n: usize) -> String {
    format!("evt-{n}")
}

/// The number of a key made by [`key`].
pub fn number(key: &str) -> usize {
    key.strip_prefix("evt-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a key of this test: {key:?}"))
}

/// Whether event `n` is delivered a second time: 30 %.
pub fn redelivered(n: usize) -> bool {
    n % 10 < 3
}

/// Whether the handler fails event `n`'s first attempt (the examples' rule: the key ends in a
/// multiple of 5): 20 %.
pub fn fails_first(n: usize) -> bool {
    n.is_multiple_of(5)
}

/// The body of event `n`: an event type the Amps parser does not know (kept as such), its key.
pub fn body(n: usize) -> Vec<u8> {
    format!(
        r#"{{"type":"order.paid","eventId":"{}","data":{{"order":{n}}}}}"#,
        key(n)
    )
    .into_bytes()
}

/// Polls the stats (real time: the worker is another process) until `until` holds.
pub async fn wait_for(
    queue: &Queue,
    what: &str,
    until: impl Fn(&QueueStats) -> bool,
) -> QueueStats {
    let start = Instant::now();
    loop {
        let stats = queue.stats().await.unwrap();
        if until(&stats) {
            return stats;
        }
        assert!(
            start.elapsed() < HANG,
            "hang guard: {what} did not happen; {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A queue and its effects, as one backend's test sets them up.
pub trait Backend {
    /// The example (examples/NAME.rs) whose `receive` and `work` run here.
    const EXAMPLE: &'static str;
    /// Whether the handler's effect commits with its job's completion (the transactional
    /// handler): then exactly one effect per event, whatever the kill.
    const EXACTLY_ONCE: bool;
    /// The flags after `receive` or `work` that point the example at this run's queue.
    fn args(&self) -> Vec<String>;
    /// The same queue, for its stats.
    fn queue(&self) -> &Queue;
    /// How many times each key's effect exists.
    fn effects(&self) -> impl Future<Output = HashMap<String, u64>>;
}

/// What [`end_to_end`] saw, for the test to print or check further.
#[derive(Debug)]
pub struct Run {
    pub redelivered: usize,
    /// The stats right after the kill.
    pub at_kill: QueueStats,
    /// The worker's concurrency (what it printed): at most this many jobs ran at the kill.
    pub concurrency: usize,
    /// The keys whose first attempt the workers said failed.
    pub retried: usize,
    /// The keys whose effect exists more than once, with their count.
    pub repeated: BTreeMap<String, u64>,
}

/// A `work` process of `binary` on `args`, with `--drain` when `drain`; answers it and the
/// concurrency it printed.
async fn worker(binary: &Path, name: &str, args: &[String], drain: bool) -> (Process, usize) {
    let mut argv = vec!["work".to_owned()];
    argv.extend_from_slice(args);
    if drain {
        argv.push("--drain".to_owned());
    }
    let mut process = Process::spawn(name, binary, &argv);
    let settings = process.line_after("working: concurrency ").await;
    let concurrency = settings.split(',').next().unwrap().parse().unwrap();
    (process, concurrency)
}

/// The keys of the workers' lines `retry KEY attempt 1: ...`, each asserted to be the first
/// attempt of an event that fails it (no other attempt may fail, nor any die).
fn retried(lines: &[String]) -> BTreeSet<usize> {
    lines
        .iter()
        .filter(|line| !line.starts_with("working: ") && !line.starts_with("stopped: "))
        .map(|line| {
            let words: Vec<&str> = line.splitn(5, ' ').collect();
            assert!(
                matches!(words[..], ["retry", _, "attempt", "1:", _]),
                "an attempt that should not have failed: {line:?}"
            );
            let n = number(words[1]);
            assert!(fails_first(n), "{line:?}: not an event that fails first");
            n
        })
        .collect()
}

/// The whole run on `backend`; see the module's docs.
pub async fn end_to_end<B: Backend>(backend: &B) -> Run {
    let binary = example(B::EXAMPLE);
    let mut argv = vec!["receive".to_owned()];
    argv.extend(backend.args());
    let mut receiver = Process::spawn("receive", &binary, &argv);
    let addr = receiver.line_after("listening on ").await;
    let deliveries = Arc::new(Deliveries::new(format!("http://{addr}/webhooks")));
    let queue = backend.queue();

    let (mut first, concurrency) = worker(&binary, "work", &backend.args(), false).await;
    let sending = tokio::spawn(Arc::clone(&deliveries).send_all());
    // Mid-run: jobs done, jobs running (their leases held by the worker about to die).
    let before = wait_for(queue, "the first jobs done", |s| {
        s.done >= KILL_AFTER && s.running > 0
    })
    .await;
    first.kill();
    let at_kill = queue.stats().await.unwrap();
    let redelivered = sending.await.unwrap();
    let unfinished = queue.stats().await.unwrap();
    println!(
        "{}: killed the worker at {before:?}; then {at_kill:?}",
        B::EXAMPLE
    );
    assert!(
        unfinished.pending > 0 && unfinished.done < EVENTS as u64,
        "the kill came too late: {unfinished:?}"
    );
    // Redeliveries while no worker runs: duplicates, whatever their job's state.
    for n in (0..EVENTS).step_by(97) {
        deliveries.again(n).await;
    }

    // Started again, draining: it takes over the killed worker's jobs once their lease runs
    // out, and exits once nothing is pending or running.
    let (mut second, _) = worker(&binary, "work --drain", &backend.args(), true).await;
    let status = second.exit().await;
    assert!(status.success(), "the restarted worker failed: {status}");
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        [stats.pending, stats.running, stats.dead, stats.done],
        [0, 0, 0, EVENTS as u64],
        "{stats:?}"
    );

    let effects = backend.effects().await;
    let missing: Vec<usize> = (0..EVENTS)
        .filter(|&n| !effects.contains_key(&key(n)))
        .collect();
    assert_eq!(missing, Vec::<usize>::new(), "events without their effect");
    assert_eq!(effects.len(), EVENTS, "effects of keys never sent");
    let repeated: BTreeMap<String, u64> = effects
        .into_iter()
        .filter(|(_, count)| *count != 1)
        .collect();
    if B::EXACTLY_ONCE {
        assert_eq!(
            repeated,
            BTreeMap::new(),
            "events with more than one effect"
        );
    } else {
        // Only a job running at the kill may have repeated its effect: once.
        assert!(repeated.values().all(|&count| count == 2), "{repeated:?}");
        assert!(
            repeated.len() <= concurrency,
            "{} repeated: {repeated:?}",
            repeated.len()
        );
        assert!(
            repeated.len() as u64 <= at_kill.running,
            "{repeated:?}, {at_kill:?}"
        );
    }

    // The failing first attempts: each said so, but for those a kill cut short (at most the
    // jobs running at it).
    let mut lines = first.lines();
    lines.extend(second.lines());
    let retried = retried(&lines);
    let failing = (0..EVENTS).filter(|&n| fails_first(n)).count();
    assert!(
        retried.len() <= failing && retried.len() + concurrency >= failing,
        "{} of {failing} first attempts failed",
        retried.len()
    );
    let run = Run {
        redelivered,
        at_kill,
        concurrency,
        retried: retried.len(),
        repeated,
    };
    println!(
        "{}: {EVENTS} events, {} delivered again, {} of {failing} failing first attempts seen \
         failing, {} running at the kill (concurrency {}), {} effects repeated: {:?}",
        B::EXAMPLE,
        run.redelivered,
        run.retried,
        run.at_kill.running,
        run.concurrency,
        run.repeated.len(),
        run.repeated
    );
    drop(receiver);
    run
}
