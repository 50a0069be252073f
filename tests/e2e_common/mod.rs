//! End to end: the reference sender delivering to a framework's receiver over loopback, with
//! faults, against the memory and the Redis stores.
//!
//! Time: the sender, the verifier and the memory store share one `MockClock`; the sender sleeps
//! through [`TestSleeper`], which advances that clock at once (so the platform's 27-hour
//! schedule runs in milliseconds) and then waits, in real time, until no handler is running
//! (so "5 minutes later" also means "the slow handler has finished"). Real time is used only
//! for the per-attempt socket timeouts.
//!
//! A framework's test file provides `start(Setup) -> Running` at its root and expands
//! [`e2e_suite!`].
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amps_webhooks::retry::{RetrySchedule, SeededJitter};
use amps_webhooks::sender::{
    AttemptResult, DeliveryEnd, DeliveryReport, HeaderStyle, InstantSleeper, Sender, Sleeper,
};
use amps_webhooks::store::{ClaimToken, Deduplicator, IdempotencyStore, MemoryStore, RedisStore};
use amps_webhooks::{AmpsEvent, Event, MockClock, Secret, Signer, Verifier};

pub const NOW: u64 = 1_700_000_000;
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const PATH: &str = "/webhooks";
/// The per-attempt timeout of the tests that expect no timeout (a loaded machine is slow).
pub const PATIENT: Duration = Duration::from_secs(5);
/// The per-attempt timeout of the slow-handler test: short, yet long enough for the retry's
/// quick answer on a loaded machine.
pub const SHORT: Duration = Duration::from_millis(500);

/// What the handler does on its next run for a key.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Answer this status (the effect does not happen).
    Fail(u16),
    /// Answer 429 with `Retry-After` in seconds.
    TooMany(u64),
    /// Wait this long (real time), then succeed.
    Slow(Duration),
}

/// The receiver's handler state: scripted faults, the effects, the runs in flight.
#[derive(Debug, Default)]
pub struct Probe {
    faults: Mutex<HashMap<String, VecDeque<Fault>>>,
    /// How many times each key's effect happened.
    effects: Mutex<HashMap<String, usize>>,
    runs: AtomicUsize,
    in_flight: AtomicUsize,
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Probe {
    pub fn script(&self, key: &str, faults: &[Fault]) {
        self.faults
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_default()
            .extend(faults.iter().copied());
    }

    pub fn effects(&self, key: &str) -> usize {
        self.effects.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    pub fn all_effects(&self) -> HashMap<String, usize> {
        self.effects.lock().unwrap().clone()
    }

    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    /// Waits (real time, at most 10 s) until no handler run is in flight: finished, or dropped
    /// by a framework that cancels a handler whose client went away.
    pub async fn settle(&self) {
        for _ in 0..2000 {
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("a handler run is still in flight after 10 s");
    }
}

/// The status a handler answers, and its `Retry-After`.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<u64>,
}

/// Every test server's webhook handler.
pub async fn handle(probe: &Probe, event: &Event<AmpsEvent>) -> Answer {
    probe.in_flight.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight(&probe.in_flight);
    probe.runs.fetch_add(1, Ordering::SeqCst);
    let key = event.idempotency_key().to_owned();
    let fault = probe
        .faults
        .lock()
        .unwrap()
        .get_mut(&key)
        .and_then(VecDeque::pop_front);
    match fault {
        Some(Fault::Fail(status)) => {
            return Answer {
                status,
                retry_after: None,
            };
        }
        Some(Fault::TooMany(secs)) => {
            return Answer {
                status: 429,
                retry_after: Some(secs),
            };
        }
        Some(Fault::Slow(by)) => tokio::time::sleep(by).await,
        None => {}
    }
    *probe.effects.lock().unwrap().entry(key).or_default() += 1;
    Answer {
        status: 200,
        retry_after: None,
    }
}

/// What a server is started with.
pub struct Setup {
    pub verifier: Verifier,
    pub dedup: Deduplicator,
    pub probe: Arc<Probe>,
    /// The port to listen on (0: any free one).
    pub port: u16,
}

/// A started server; dropping the guard stops it.
pub struct Running {
    pub url: String,
    pub guard: Box<dyn Send>,
}

pub type Start = fn(Setup) -> Pin<Box<dyn Future<Output = Running> + Send>>;

type Hook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Advances the mock clock at once, lets the receiver settle, then runs the hook registered for
/// this sleep (the n-th sleep of the sender, from 0), if any.
#[derive(Clone)]
pub struct TestSleeper {
    instant: InstantSleeper,
    probe: Arc<Probe>,
    count: Arc<AtomicUsize>,
    hooks: Arc<Mutex<HashMap<usize, Hook>>>,
}

impl fmt::Debug for TestSleeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestSleeper")
            .field("slept", &self.instant.slept())
            .finish_non_exhaustive()
    }
}

impl TestSleeper {
    pub fn new(clock: &MockClock, probe: &Arc<Probe>) -> Self {
        Self {
            instant: InstantSleeper::new(clock.clone()),
            probe: Arc::clone(probe),
            count: Arc::default(),
            hooks: Arc::default(),
        }
    }

    /// Runs `hook` during the `n`-th sleep (from 0), after the clock moved.
    pub fn on_sleep<F, Fut>(&self, n: usize, hook: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks
            .lock()
            .unwrap()
            .insert(n, Box::new(move || Box::pin(hook())));
    }

    pub fn slept(&self) -> Vec<Duration> {
        self.instant.slept()
    }
}

impl Sleeper for TestSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            self.instant.sleep(duration).await;
            self.probe.settle().await;
            let n = self.count.fetch_add(1, Ordering::SeqCst);
            let hook = self.hooks.lock().unwrap().remove(&n);
            if let Some(hook) = hook {
                hook().await;
            }
        })
    }
}

/// Where the receiver keeps its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Redis,
}

pub fn secret() -> Secret {
    SECRET.parse().unwrap()
}

pub fn verifier(clock: &MockClock) -> Verifier {
    Verifier::builder()
        .secret(secret())
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The deduplicator on `kind`. The Redis kind needs a Redis server (the tests on it are
/// `#[ignore]`d for that reason): without one it panics, saying so.
pub async fn dedup(kind: StoreKind, clock: &MockClock) -> Deduplicator {
    let namespace = format!("e2e-{:016x}", ClaimToken::random().as_u128() as u64);
    let store: Arc<dyn IdempotencyStore> = match kind {
        StoreKind::Memory => Arc::new(
            MemoryStore::builder()
                .capacity(10_000)
                .clock(clock.clone())
                .build(),
        ),
        StoreKind::Redis => {
            let url = redis_url();
            match RedisStore::builder(url.as_str())
                .prefix("amps-webhooks-e2e")
                .connect()
                .await
            {
                Ok(store) => Arc::new(store),
                Err(error) => panic!(
                    "no Redis answers at {url} ({error}): this test needs one; start it with `redis-server --port 6379 --save ''` or set REDIS_URL"
                ),
            }
        }
    };
    Deduplicator::new(store, &namespace).unwrap()
}

/// A receiver on `kind`, the shared clock, the probe.
pub struct World {
    pub clock: MockClock,
    pub probe: Arc<Probe>,
    pub running: Option<Running>,
    pub url: String,
}

pub async fn world(start: Start, kind: StoreKind) -> World {
    let clock = MockClock::at_unix(NOW);
    let probe = Arc::new(Probe::default());
    let dedup = dedup(kind, &clock).await;
    let running = start(Setup {
        verifier: verifier(&clock),
        dedup,
        probe: Arc::clone(&probe),
        port: 0,
    })
    .await;
    World {
        clock,
        probe,
        url: running.url.clone(),
        running: Some(running),
    }
}

pub fn sender(clock: &MockClock, sleeper: TestSleeper, seed: u64, timeout: Duration) -> Sender {
    Sender::builder(Signer::new(secret()))
        .clock(clock.clone())
        .sleeper(sleeper)
        .jitter(SeededJitter::new(seed))
        .timeout(timeout)
        .build()
}

/// An Amps envelope for `push.completed` with this `eventId`.
pub fn event_body(event_id: &str) -> String {
    format!(
        r#"{{"event":"push.completed","eventId":"{event_id}","timestamp":"2026-05-08T22:00:05.120Z","data":{{"actionId":"act_{event_id}","deviceId":"dev_1","result":{{"success":true}},"completedAt":"2026-05-08T22:00:05.000Z"}}}}"#
    )
}

/// Checks every attempt's wait against the schedule: the nominal delay, jittered by the seeded
/// source within plus or minus 20 %, or a longer `Retry-After` (cut at `max_retry_after`) after
/// a 429 or 503; the mock clock moved by exactly that wait between two attempts; each attempt
/// was signed at the time it started.
pub fn assert_follows_schedule(
    report: &DeliveryReport,
    schedule: &RetrySchedule,
    seed: u64,
    max_retry_after: Duration,
) {
    let jitter = SeededJitter::new(seed);
    let mut retry_after: Option<Duration> = None;
    let mut previous: Option<std::time::SystemTime> = None;
    for (index, attempt) in report.attempts.iter().enumerate() {
        let nominal = schedule.delays()[index];
        assert_eq!(attempt.number, index + 1);
        assert_eq!(attempt.scheduled, nominal);
        let jittered = if nominal.is_zero() {
            Duration::ZERO
        } else {
            use amps_webhooks::retry::JitterSource as _;
            schedule.jittered(nominal, jitter.next_unit())
        };
        assert!(
            jittered >= nominal.mul_f64(0.8) && jittered <= nominal.mul_f64(1.2),
            "attempt {}: {jittered:?} outside 20 % of {nominal:?}",
            attempt.number
        );
        let expected = match retry_after.take() {
            Some(after) => jittered.max(after.min(max_retry_after)),
            None => jittered,
        };
        assert_eq!(attempt.waited, expected, "attempt {}", attempt.number);
        if let Some(previous) = previous {
            assert_eq!(
                attempt.started_at.duration_since(previous).unwrap(),
                attempt.waited,
                "attempt {}: the clock moved by the wait",
                attempt.number
            );
        }
        let started = attempt
            .started_at
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(attempt.timestamp, started, "signed with a fresh timestamp");
        previous = Some(attempt.started_at);
        if let AttemptResult::Response {
            status: 429 | 503,
            retry_after: after,
            ..
        } = &attempt.result
        {
            retry_after = *after;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tests, each run for both stores.

/// A handler failing its first three runs: four attempts, on the platform's schedule; the
/// effect happens once.
pub async fn failing_handler_is_retried(start: Start, kind: StoreKind) {
    let world = world(start, kind).await;
    world.probe.script(
        "evt_fail",
        &[Fault::Fail(500), Fault::Fail(502), Fault::Fail(500)],
    );
    let sleeper = TestSleeper::new(&world.clock, &world.probe);
    let sender = sender(&world.clock, sleeper.clone(), 11, PATIENT);
    let report = sender
        .send(&world.url, "msg_fail", event_body("evt_fail"))
        .await
        .unwrap();
    assert_eq!(report.end, DeliveryEnd::Delivered);
    assert_eq!(
        report.statuses(),
        [Some(500), Some(502), Some(500), Some(200)]
    );
    assert_follows_schedule(
        &report,
        &RetrySchedule::platform(),
        11,
        amps_webhooks::sender::DEFAULT_MAX_RETRY_AFTER,
    );
    assert_eq!(
        sleeper.slept(),
        report.attempts[1..]
            .iter()
            .map(|a| a.waited)
            .collect::<Vec<_>>()
    );
    assert_eq!(world.probe.effects("evt_fail"), 1);
    assert_eq!(world.probe.runs(), 4);
}

/// Every attempt fails: the schedule runs out after its 8 attempts, in about 27.6 virtual
/// hours; nothing was processed.
pub async fn schedule_runs_out(start: Start, kind: StoreKind) {
    let world = world(start, kind).await;
    world.probe.script("evt_never", &[Fault::Fail(500); 8]);
    let sleeper = TestSleeper::new(&world.clock, &world.probe);
    let sender = sender(&world.clock, sleeper, 12, PATIENT);
    let report = sender
        .send(&world.url, "msg_never", event_body("evt_never"))
        .await
        .unwrap();
    assert_eq!(report.end, DeliveryEnd::Exhausted);
    assert_eq!(report.statuses(), [Some(500); 8]);
    assert_follows_schedule(
        &report,
        &RetrySchedule::platform(),
        12,
        amps_webhooks::sender::DEFAULT_MAX_RETRY_AFTER,
    );
    let total: Duration = report.attempts.iter().map(|a| a.waited).sum();
    let nominal: Duration = RetrySchedule::platform().delays().iter().sum();
    assert!(total >= nominal.mul_f64(0.8) && total <= nominal.mul_f64(1.2));
    assert_eq!(world.probe.effects("evt_never"), 0);
}

/// A handler slower than the per-attempt timeout: the attempt times out; the retry (after the
/// slow run finished or was cancelled) is acknowledged, and the effect happened once.
pub async fn slow_handler_times_out_then_is_acknowledged(start: Start, kind: StoreKind) {
    let world = world(start, kind).await;
    world
        .probe
        .script("evt_slow", &[Fault::Slow(Duration::from_millis(1500))]);
    let sleeper = TestSleeper::new(&world.clock, &world.probe);
    let sender = sender(&world.clock, sleeper, 13, SHORT);
    let report = sender
        .send(&world.url, "msg_slow", event_body("evt_slow"))
        .await
        .unwrap();
    assert_eq!(report.end, DeliveryEnd::Delivered);
    assert_eq!(report.attempts.len(), 2);
    assert_eq!(
        report.attempts[0].result,
        AttemptResult::TimedOut { after: SHORT }
    );
    assert_eq!(report.attempts[1].result.status(), Some(200));
    assert_follows_schedule(
        &report,
        &RetrySchedule::platform(),
        13,
        amps_webhooks::sender::DEFAULT_MAX_RETRY_AFTER,
    );
    assert_eq!(world.probe.effects("evt_slow"), 1);
}

/// The receiver is down for the first two attempts (connection refused), up for the third.
pub async fn receiver_down_then_up(start: Start, kind: StoreKind) {
    let clock = MockClock::at_unix(NOW);
    let probe = Arc::new(Probe::default());
    let dedup = dedup(kind, &clock).await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}{PATH}");
    let sleeper = TestSleeper::new(&clock, &probe);
    let server: Arc<Mutex<Option<Running>>> = Arc::default();
    {
        let (server, verifier, probe) = (Arc::clone(&server), verifier(&clock), Arc::clone(&probe));
        // The second sleep is the one before the third attempt.
        sleeper.on_sleep(1, move || async move {
            let running = start(Setup {
                verifier,
                dedup,
                probe,
                port,
            })
            .await;
            *server.lock().unwrap() = Some(running);
        });
    }
    let sender = sender(&clock, sleeper, 14, PATIENT);
    let report = sender
        .send(&url, "msg_down", event_body("evt_down"))
        .await
        .unwrap();
    assert_eq!(report.end, DeliveryEnd::Delivered);
    assert_eq!(report.statuses(), [None, None, Some(200)]);
    for attempt in &report.attempts[..2] {
        assert!(
            matches!(attempt.result, AttemptResult::ConnectFailed { .. }),
            "{:?}",
            attempt.result
        );
    }
    assert_follows_schedule(
        &report,
        &RetrySchedule::platform(),
        14,
        amps_webhooks::sender::DEFAULT_MAX_RETRY_AFTER,
    );
    assert_eq!(probe.effects("evt_down"), 1);
    assert!(server.lock().unwrap().is_some());
}

/// 429 with `Retry-After`: the next attempt waits that long instead of the shorter scheduled
/// delay; a `Retry-After` over the maximum is cut to it.
pub async fn too_many_requests_honours_retry_after(start: Start, kind: StoreKind) {
    let world = world(start, kind).await;
    world
        .probe
        .script("evt_429", &[Fault::TooMany(120), Fault::TooMany(100_000)]);
    let sleeper = TestSleeper::new(&world.clock, &world.probe);
    let sender = sender(&world.clock, sleeper, 15, PATIENT);
    let report = sender
        .send(&world.url, "msg_429", event_body("evt_429"))
        .await
        .unwrap();
    assert_eq!(report.end, DeliveryEnd::Delivered);
    assert_eq!(report.statuses(), [Some(429), Some(429), Some(200)]);
    assert!(
        matches!(
            &report.attempts[0].result,
            AttemptResult::Response { status: 429, retry_after: Some(after), .. } if after.as_secs() == 120
        ),
        "{:?}",
        report.attempts[0].result
    );
    // 120 s instead of about 5 s; then 1 h (the cap) instead of 100,000 s or about 5 min.
    assert_eq!(report.attempts[1].waited, Duration::from_secs(120));
    assert_eq!(report.attempts[2].waited, Duration::from_secs(3600));
    assert_follows_schedule(
        &report,
        &RetrySchedule::platform(),
        15,
        amps_webhooks::sender::DEFAULT_MAX_RETRY_AFTER,
    );
    assert_eq!(world.probe.effects("evt_429"), 1);
}

/// Duplicates on purpose: the same message twice, the same event under another message id,
/// each header spelling; the effect happens once per event.
pub async fn duplicates_are_processed_once(start: Start, kind: StoreKind) {
    let world = world(start, kind).await;
    for (seed, style) in [
        (21, HeaderStyle::Webhook),
        (22, HeaderStyle::Svix),
        (23, HeaderStyle::Both),
    ] {
        let sleeper = TestSleeper::new(&world.clock, &world.probe);
        let sender = Sender::builder(Signer::new(secret()))
            .clock(world.clock.clone())
            .sleeper(sleeper)
            .jitter(SeededJitter::new(seed))
            .timeout(PATIENT)
            .header_style(style)
            .build();
        let event = format!("evt_dup_{}", style.as_str());
        for id in ["msg_dup_a", "msg_dup_a", "msg_dup_b"] {
            let id = format!("{id}_{}", style.as_str());
            let report = sender
                .send(&world.url, &id, event_body(&event))
                .await
                .unwrap();
            assert_eq!(report.statuses(), [Some(200)], "{id}");
        }
        assert_eq!(world.probe.effects(&event), 1, "{event}");
    }
    assert_eq!(world.probe.runs(), 3);
}

/// A batch with every fault at once: nothing lost, nothing processed twice.
pub async fn batch_with_faults_loses_nothing(start: Start, kind: StoreKind) {
    let world = world(start, kind).await;
    let sleeper = TestSleeper::new(&world.clock, &world.probe);
    let sender = sender(&world.clock, sleeper, 31, PATIENT);
    let mut expected = HashMap::new();
    for n in 0..24 {
        let event = format!("evt_batch_{n}");
        match n % 4 {
            1 => world.probe.script(&event, &[Fault::Fail(503)]),
            2 => world
                .probe
                .script(&event, &[Fault::TooMany(30), Fault::Fail(500)]),
            _ => {}
        }
        expected.insert(event, 1);
    }
    for n in 0..24 {
        let event = format!("evt_batch_{n}");
        // Every third event is sent again under a new message id: a duplicate.
        let copies = if n % 3 == 0 { 2 } else { 1 };
        for copy in 0..copies {
            let report = sender
                .send(
                    &world.url,
                    &format!("msg_batch_{n}_{copy}"),
                    event_body(&event),
                )
                .await
                .unwrap();
            assert_eq!(report.end, DeliveryEnd::Delivered, "{event}");
        }
    }
    assert_eq!(world.probe.all_effects(), expected);
}

/// A `redis-server` child process on a port of its own, killed and restarted by the test.
pub struct RedisProcess {
    pub port: u16,
    child: Option<Child>,
}

impl RedisProcess {
    pub fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (/usr/bin/redis-server)");
        let process = Self {
            port,
            child: Some(child),
        };
        process.wait_ready();
        process
    }

    fn wait_ready(&self) {
        for _ in 0..500 {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::Read as _;
                stream
                    .set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                if stream.write_all(b"PING\r\n").is_ok() {
                    let mut reply = [0u8; 7];
                    if stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n" {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    /// Kills the server (SIGKILL: its connections drop) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        *self = Self::start(self.port);
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Redis killed and restarted mid-run: while it is down the receiver fails closed (503 +
/// `Retry-After`), the sender retries, and once Redis is back the event is processed once.
pub async fn redis_restarted_mid_run(start: Start) {
    if let Err(error) = Command::new("redis-server").arg("--version").output() {
        panic!("redis-server cannot be run ({error}): this test starts its own; install Redis");
    }
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let redis = Arc::new(Mutex::new(RedisProcess::start(port)));
    let store = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .command_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let clock = MockClock::at_unix(NOW);
    let probe = Arc::new(Probe::default());
    let running = start(Setup {
        verifier: verifier(&clock),
        dedup: Deduplicator::new(Arc::new(store.clone()), "restart").unwrap(),
        probe: Arc::clone(&probe),
        port: 0,
    })
    .await;

    // Before the outage.
    let quiet = TestSleeper::new(&clock, &probe);
    let report = sender(&clock, quiet, 41, PATIENT)
        .send(&running.url, "msg_before", event_body("evt_before"))
        .await
        .unwrap();
    assert_eq!(report.statuses(), [Some(200)]);

    // The first attempt fails in the handler; Redis dies before the second and comes back
    // before the third.
    probe.script("evt_outage", &[Fault::Fail(500)]);
    let sleeper = TestSleeper::new(&clock, &probe);
    {
        let redis = Arc::clone(&redis);
        sleeper.on_sleep(0, move || async move {
            redis.lock().unwrap().kill();
        });
    }
    {
        let redis = Arc::clone(&redis);
        let store = store.clone();
        sleeper.on_sleep(1, move || async move {
            redis.lock().unwrap().restart();
            // The connection manager reconnects on its next command: make that this ping.
            for _ in 0..100 {
                if store.ping().await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("the store did not reconnect to the restarted Redis");
        });
    }
    let report = sender(&clock, sleeper, 42, PATIENT)
        .send(&running.url, "msg_outage", event_body("evt_outage"))
        .await
        .unwrap();
    assert_eq!(report.end, DeliveryEnd::Delivered);
    assert_eq!(report.statuses(), [Some(500), Some(503), Some(200)]);
    match &report.attempts[1].result {
        AttemptResult::Response { retry_after, .. } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(5)));
        }
        other => panic!("{other:?}"),
    }
    assert_follows_schedule(
        &report,
        &RetrySchedule::platform(),
        42,
        amps_webhooks::sender::DEFAULT_MAX_RETRY_AFTER,
    );

    // After the restart, a new event and a duplicate of the outage's event.
    let quiet = TestSleeper::new(&clock, &probe);
    let after = sender(&clock, quiet, 43, PATIENT);
    for (id, event) in [
        ("msg_after", "evt_after"),
        ("msg_outage_again", "evt_outage"),
    ] {
        let report = after
            .send(&running.url, id, event_body(event))
            .await
            .unwrap();
        assert_eq!(report.statuses(), [Some(200)], "{id}");
    }
    assert_eq!(
        probe.all_effects(),
        HashMap::from([
            ("evt_before".to_owned(), 1),
            ("evt_outage".to_owned(), 1),
            ("evt_after".to_owned(), 1),
        ])
    );
    drop(running);
}

#[macro_export]
macro_rules! e2e_suite {
    () => {
        $crate::e2e_suite!(@stores
            failing_handler_is_retried,
            schedule_runs_out,
            slow_handler_times_out_then_is_acknowledged,
            receiver_down_then_up,
            too_many_requests_honours_retry_after,
            duplicates_are_processed_once,
            batch_with_faults_loses_nothing,
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs redis-server on the PATH"]
        async fn redis_restarted_mid_run() {
            e2e_common::redis_restarted_mid_run(|setup| Box::pin(start(setup))).await;
        }
    };
    (@stores $($name:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::e2e_common::$name(
                        |setup| Box::pin($crate::start(setup)),
                        $crate::e2e_common::StoreKind::Memory,
                    )
                    .await;
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs Redis at 127.0.0.1:6379"]
                async fn $name() {
                    $crate::e2e_common::$name(
                        |setup| Box::pin($crate::start(setup)),
                        $crate::e2e_common::StoreKind::Redis,
                    )
                    .await;
                }
            )+
        }
    };
}
