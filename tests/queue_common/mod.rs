//! The queue conformance suite: every [`QueueBackend`] must pass it. A backend's test file
//! builds a [`Harness`] (a fresh namespace each time) and expands [`queue_conformance_tests!`]
//! with it; each case is also a `pub async fn` taking the harness, to call on its own.
#![allow(dead_code, unreachable_pub, missing_docs)]
// Helpers of tests, not tests themselves: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amps_webhooks::queue::{
    Enqueue, Job, JobRecord, JobState, QueueBackend, QueueStats, Redrive, storage_key,
};
use amps_webhooks::store::StoreError;
use amps_webhooks::{Clock, WebhookTimestamp};

pub type Advance = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A backend under test, with its clock, a way to move that time forward, and the durations
/// to use.
#[derive(Clone)]
pub struct Harness {
    pub backend: Arc<dyn QueueBackend>,
    /// The backend's clock (a `MockClock` where the backend takes one, else the system's):
    /// what the records' times are made from.
    pub clock: Arc<dyn Clock>,
    /// Moves the backend's time forward (advances a `MockClock`, or sleeps).
    pub advance: Advance,
    /// A lease long enough for a step of a test, short enough to wait out.
    pub lease: Duration,
    /// A retention likewise.
    pub retention: Duration,
    /// A namespace of this test alone.
    pub namespace: String,
}

/// A namespace no other test (nor another run) uses: `prefix`, the process id, a counter.
pub fn fresh_namespace(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The backend's now, to whole seconds (what every backend keeps exactly).
fn whole_seconds(time: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(time.duration_since(UNIX_EPOCH).unwrap().as_secs())
}

impl Harness {
    pub async fn advance(&self, by: Duration) {
        (self.advance)(by).await;
    }

    /// Past the lease by half of it.
    pub async fn outlive_lease(&self) {
        self.advance(self.lease + self.lease / 2).await;
    }

    /// A record of `key` as a receiver would enqueue it, received now (to the second).
    pub fn record(&self, key: &str) -> JobRecord {
        let received_at = whole_seconds(self.clock.now());
        let timestamp =
            WebhookTimestamp::from_unix(received_at.duration_since(UNIX_EPOCH).unwrap().as_secs());
        JobRecord {
            webhook_id: format!("msg_{}", key.len()),
            key: key.to_owned(),
            event_type: Some("push.completed".to_owned()),
            timestamp,
            received_at,
            body: format!(r#"{{"eventId":{key:?},"type":"push.completed"}}"#).into_bytes(),
            headers: vec![
                ("webhook-id".to_owned(), format!("msg_{}", key.len())),
                (
                    "webhook-timestamp".to_owned(),
                    timestamp.as_unix().to_string(),
                ),
                (
                    "webhook-signature".to_owned(),
                    "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=".to_owned(),
                ),
            ],
            attempts: 0,
            last_error: None,
            next_run_at: received_at,
        }
    }

    pub async fn enqueue_record(&self, record: &JobRecord) -> Enqueue {
        self.backend.enqueue(&self.namespace, record).await.unwrap()
    }

    pub async fn enqueue(&self, key: &str) -> Enqueue {
        self.enqueue_record(&self.record(key)).await
    }

    /// Enqueues `key`, which must be new.
    pub async fn enqueued(&self, key: &str) {
        assert_eq!(self.enqueue(key).await, Enqueue::Enqueued, "{key}");
    }

    /// Takes up to `max` due jobs without waiting.
    pub async fn take(&self, max: usize) -> Vec<Job> {
        self.backend
            .take(&self.namespace, max, self.lease, Duration::ZERO)
            .await
            .unwrap()
    }

    /// Takes the one due job, which must be `key`'s.
    pub async fn take_one(&self, key: &str) -> Job {
        let mut jobs = self.take(10).await;
        assert_eq!(keys(&jobs), [key]);
        jobs.pop().unwrap()
    }

    pub async fn stats(&self) -> QueueStats {
        self.backend.stats(&self.namespace).await.unwrap()
    }

    /// The stats' counts, without the age.
    pub async fn counts(&self) -> [u64; 4] {
        let stats = self.stats().await;
        [stats.pending, stats.running, stats.dead, stats.done]
    }

    pub async fn complete(&self, job: &Job) -> Result<(), StoreError> {
        self.backend
            .complete(&self.namespace, job, self.retention)
            .await
    }

    pub async fn fail(
        &self,
        job: &Job,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.backend
            .fail(&self.namespace, job, error, retry_in)
            .await
    }

    /// Takes `key`'s job (the one due) and fails it for good with `error`.
    pub async fn kill(&self, key: &str, error: &str) {
        let job = self.take_one(key).await;
        self.fail(&job, error, None).await.unwrap();
    }
}

/// The keys of `jobs`, in order.
pub fn keys(jobs: &[Job]) -> Vec<&str> {
    jobs.iter().map(Job::key).collect()
}

fn assert_stale(answer: Result<(), StoreError>, what: &str) {
    assert!(
        matches!(answer, Err(StoreError::StaleToken)),
        "{what}: expected StaleToken, got {answer:?}"
    );
}

/// Expands to one `#[tokio::test]` per conformance case. `$harness` is an async expression
/// giving a fresh [`Harness`] (it panics, saying why, when its backend cannot be reached);
/// the attributes after it go on every test (`#[ignore = "needs Redis at 127.0.0.1:6379"]`).
#[macro_export]
macro_rules! queue_conformance_tests {
    ($harness:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::queue_conformance_tests!(@each [$(#[$attr])*] $harness;
            enqueue_then_duplicate_in_each_state,
            take_order_and_attempt_counting,
            take_keeps_the_record,
            lease_expiry_takeover,
            stale_token_is_refused_and_changes_nothing,
            lapsed_lease_still_completes_when_nobody_took_it,
            renew_extends_the_lease,
            retry_after_its_delay,
            dead_after_fail_without_retry,
            dead_lists_newest_first_up_to_the_limit,
            redrive_key_and_all,
            release_gives_back_without_counting,
            stats_counts_each_state_and_the_oldest_age,
            purge_after_retention,
            complete_twice_under_the_same_token,
            concurrent_enqueues_of_one_key_store_one_job,
            concurrent_takes_never_share_a_job,
            any_bytes_body_round_trip,
            long_and_non_ascii_keys,
            namespaces_isolate,
            a_waiting_take_is_woken_by_an_enqueue,
        );
    };
    (@each $attrs:tt $harness:expr; $($name:ident),+ $(,)?) => {
        $( $crate::queue_conformance_tests!(@one $attrs $harness; $name); )+
    };
    (@one [$($attr:tt)*] $harness:expr; $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        $($attr)*
        async fn $name() {
            common::$name($harness.await).await;
        }
    };
}

pub async fn enqueue_then_duplicate_in_each_state(h: Harness) {
    let duplicate = |state| Enqueue::Duplicate { state };
    h.enqueued("a").await;
    assert_eq!(h.enqueue("a").await, duplicate(JobState::Pending));
    let job = h.take_one("a").await;
    assert_eq!(h.enqueue("a").await, duplicate(JobState::Running));
    h.complete(&job).await.unwrap();
    assert_eq!(h.enqueue("a").await, duplicate(JobState::Done));

    h.enqueued("b").await;
    h.kill("b", "gone").await;
    assert_eq!(h.enqueue("b").await, duplicate(JobState::Dead));
    // A duplicate stored nothing.
    assert_eq!(h.counts().await, [0, 0, 1, 1]);
}

pub async fn take_order_and_attempt_counting(h: Harness) {
    for key in ["a", "b", "c"] {
        h.enqueued(key).await;
        // Apart in time, for backends that order by a clock of their own.
        h.advance(Duration::from_millis(20)).await;
    }
    let first = h.take(2).await;
    assert_eq!(keys(&first), ["a", "b"]);
    assert_eq!(first.iter().map(Job::attempt).collect::<Vec<_>>(), [1, 1]);
    let rest = h.take(5).await;
    assert_eq!(keys(&rest), ["c"]);
    assert!(h.take(5).await.is_empty());
    assert_eq!(h.counts().await, [0, 3, 0, 0]);

    // A retry counts the next attempt, and keeps the error.
    h.fail(&first[0], "first try", Some(Duration::ZERO))
        .await
        .unwrap();
    let again = h.take_one("a").await;
    assert_eq!(
        (again.attempt(), again.last_error()),
        (2, Some("first try"))
    );
    assert_ne!(again.lease().token, first[0].lease().token);
}

pub async fn take_keeps_the_record(h: Harness) {
    let record = h.record("evt_keep");
    assert_eq!(h.enqueue_record(&record).await, Enqueue::Enqueued);
    let job = h.take_one("evt_keep").await;
    let taken = job.record();
    assert_eq!(
        (
            &taken.webhook_id,
            &taken.key,
            &taken.event_type,
            taken.timestamp,
            taken.received_at,
            &taken.body,
            &taken.headers,
            taken.attempts,
            &taken.last_error,
        ),
        (
            &record.webhook_id,
            &record.key,
            &record.event_type,
            record.timestamp,
            record.received_at,
            &record.body,
            &record.headers,
            1,
            &None,
        )
    );
    // A running job's next run time is its lease's end.
    assert_eq!(taken.next_run_at, job.lease().until);
    assert!(job.lease().until > record.received_at);
    assert_eq!(
        taken.header("webhook-signature"),
        record.header("webhook-signature")
    );
}

pub async fn lease_expiry_takeover(h: Harness) {
    h.enqueued("a").await;
    let first = h.take_one("a").await;
    assert!(h.take(5).await.is_empty(), "a live lease is not taken");
    h.outlive_lease().await;
    let second = h.take_one("a").await;
    assert_eq!(second.attempt(), 2);
    assert_ne!(second.lease().token, first.lease().token);
    assert_stale(h.complete(&first).await, "complete");
    h.complete(&second).await.unwrap();
    assert_eq!(h.counts().await, [0, 0, 0, 1]);
}

pub async fn stale_token_is_refused_and_changes_nothing(h: Harness) {
    h.enqueued("a").await;
    let old = h.take_one("a").await;
    h.outlive_lease().await;
    let new = h.take_one("a").await;
    let ns = &h.namespace;
    assert_stale(h.backend.renew(ns, &old, h.lease).await, "renew");
    assert_stale(h.complete(&old).await, "complete");
    assert_stale(h.fail(&old, "late", None).await, "fail");
    assert_stale(
        h.fail(&old, "late", Some(Duration::ZERO)).await,
        "fail with a retry",
    );
    assert_stale(h.backend.release(ns, &old).await, "release");
    // Untouched: still running under the new token, which renews, then completes.
    assert_eq!(h.counts().await, [0, 1, 0, 0]);
    assert!(h.take(5).await.is_empty());
    h.backend.renew(ns, &new, h.lease).await.unwrap();
    h.complete(&new).await.unwrap();
    assert_eq!(h.counts().await, [0, 0, 0, 1]);
    // A done job fences every token but its own.
    assert_stale(
        h.backend.renew(ns, &new, h.lease).await,
        "renew of a done job",
    );
    assert_stale(h.backend.release(ns, &new).await, "release of a done job");
}

pub async fn lapsed_lease_still_completes_when_nobody_took_it(h: Harness) {
    h.enqueued("a").await;
    let job = h.take_one("a").await;
    h.outlive_lease().await;
    h.complete(&job).await.unwrap();
    assert_eq!(h.counts().await, [0, 0, 0, 1]);
    assert!(h.take(5).await.is_empty());
}

pub async fn renew_extends_the_lease(h: Harness) {
    h.enqueued("a").await;
    let job = h.take_one("a").await;
    let step = h.lease * 6 / 10;
    h.advance(step).await;
    h.backend.renew(&h.namespace, &job, h.lease).await.unwrap();
    h.advance(step).await;
    // 1.2 leases after the take, 0.6 after the renewal: still held.
    assert!(h.take(5).await.is_empty());
    h.advance(step).await;
    let taken_over = h.take_one("a").await;
    assert_eq!(taken_over.attempt(), 2);
}

pub async fn retry_after_its_delay(h: Harness) {
    h.enqueued("a").await;
    let job = h.take_one("a").await;
    h.fail(&job, "boom", Some(h.lease)).await.unwrap();
    assert_eq!(h.counts().await, [1, 0, 0, 0]);
    assert!(h.take(5).await.is_empty(), "not due before its delay");
    h.outlive_lease().await;
    let retry = h.take_one("a").await;
    assert_eq!((retry.attempt(), retry.last_error()), (2, Some("boom")));
}

pub async fn dead_after_fail_without_retry(h: Harness) {
    h.enqueued("a").await;
    let job = h.take_one("a").await;
    h.fail(&job, "the last error", None).await.unwrap();
    assert_eq!(h.counts().await, [0, 0, 1, 0]);
    assert!(h.take(5).await.is_empty());
    h.outlive_lease().await;
    assert!(h.take(5).await.is_empty(), "a dead job is never taken");
    let dead = h.backend.dead(&h.namespace, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].key.as_str(),
            dead[0].attempts,
            dead[0].last_error.as_deref()
        ),
        ("a", 1, Some("the last error"))
    );
    assert_eq!(dead[0].body, h.record("a").body);
}

pub async fn dead_lists_newest_first_up_to_the_limit(h: Harness) {
    for key in ["b", "a", "c"] {
        h.enqueued(key).await;
        h.kill(key, &format!("error of {key}")).await;
        h.advance(Duration::from_millis(20)).await;
    }
    let dead = h.backend.dead(&h.namespace, 2).await.unwrap();
    let listed: Vec<_> = dead
        .iter()
        .map(|record| (record.key.as_str(), record.last_error.as_deref()))
        .collect();
    assert_eq!(
        listed,
        [("c", Some("error of c")), ("a", Some("error of a"))]
    );
    assert_eq!(h.backend.dead(&h.namespace, 10).await.unwrap().len(), 3);
    assert!(h.backend.dead(&h.namespace, 0).await.unwrap().is_empty());
}

pub async fn redrive_key_and_all(h: Harness) {
    for key in ["a", "b", "c"] {
        h.enqueued(key).await;
        h.kill(key, &format!("error of {key}")).await;
    }
    h.enqueued("done").await;
    let done = h.take_one("done").await;
    h.complete(&done).await.unwrap();
    h.enqueued("pending").await;
    let ns = &h.namespace;
    assert_eq!(h.backend.redrive(ns, Redrive::Key("b")).await.unwrap(), 1);
    assert_eq!(h.backend.redrive(ns, Redrive::Key("b")).await.unwrap(), 0);
    assert_eq!(
        h.backend
            .redrive(ns, Redrive::Key("missing"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        h.backend
            .redrive(ns, Redrive::Key("pending"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        h.backend.redrive(ns, Redrive::Key("done")).await.unwrap(),
        0
    );
    assert_eq!(h.counts().await, [2, 0, 2, 1]);
    let mut jobs = h.take(10).await;
    jobs.sort_by(|x, y| x.key().cmp(y.key()));
    assert_eq!(keys(&jobs), ["b", "pending"]);
    // Attempts reset to 0, so this is attempt 1; the last error is kept until it ends.
    assert_eq!(
        (jobs[0].attempt(), jobs[0].last_error()),
        (1, Some("error of b"))
    );
    h.complete(&jobs[0]).await.unwrap();

    assert_eq!(h.backend.redrive(ns, Redrive::All).await.unwrap(), 2);
    assert_eq!(h.backend.redrive(ns, Redrive::All).await.unwrap(), 0);
    assert!(h.backend.dead(ns, 10).await.unwrap().is_empty());
    let mut back = h.take(10).await;
    back.sort_by(|x, y| x.key().cmp(y.key()));
    assert_eq!(keys(&back), ["a", "c"]);
    assert_eq!(back.iter().map(Job::attempt).collect::<Vec<_>>(), [1, 1]);
}

pub async fn release_gives_back_without_counting(h: Harness) {
    h.enqueued("a").await;
    let first = h.take_one("a").await;
    h.backend.release(&h.namespace, &first).await.unwrap();
    assert_eq!(h.counts().await, [1, 0, 0, 0]);
    let second = h.take_one("a").await;
    assert_eq!(second.attempt(), 1, "a release does not count the attempt");
    assert_ne!(second.lease().token, first.lease().token);
    assert_stale(
        h.backend.release(&h.namespace, &first).await,
        "second release",
    );
    assert_eq!(h.counts().await, [0, 1, 0, 0]);
}

pub async fn stats_counts_each_state_and_the_oldest_age(h: Harness) {
    assert_eq!(h.stats().await, QueueStats::default());
    for key in ["run", "done", "dead"] {
        h.enqueued(key).await;
        h.advance(Duration::from_millis(20)).await;
    }
    let taken = h.take(3).await;
    assert_eq!(keys(&taken), ["run", "done", "dead"]);
    h.complete(&taken[1]).await.unwrap();
    h.fail(&taken[2], "x", None).await.unwrap();
    let now = whole_seconds(h.clock.now());
    let mut old = h.record("old");
    old.received_at = now - Duration::from_secs(30);
    let mut young = h.record("young");
    young.received_at = now - Duration::from_secs(5);
    assert_eq!(h.enqueue_record(&young).await, Enqueue::Enqueued);
    assert_eq!(h.enqueue_record(&old).await, Enqueue::Enqueued);
    let stats = h.stats().await;
    assert_eq!(
        (stats.pending, stats.running, stats.dead, stats.done),
        (2, 1, 1, 1)
    );
    // The age of the oldest by when it was received (not enqueued), to the second.
    assert_eq!(stats.oldest_pending_age.map(|age| age.as_secs()), Some(30));
}

pub async fn purge_after_retention(h: Harness) {
    h.enqueued("short").await;
    h.enqueued("long").await;
    let jobs = h.take(2).await;
    h.complete(&jobs[0]).await.unwrap();
    h.backend
        .complete(&h.namespace, &jobs[1], h.retention * 10)
        .await
        .unwrap();
    assert_eq!(h.backend.purge(&h.namespace).await.unwrap(), 0);
    assert_eq!(h.counts().await, [0, 0, 0, 2]);
    h.advance(h.retention + h.retention / 2).await;
    // Past its retention a done job no longer counts, and its key is free again.
    assert_eq!(h.counts().await, [0, 0, 0, 1]);
    assert_eq!(h.backend.purge(&h.namespace).await.unwrap(), 1);
    assert_eq!(h.backend.purge(&h.namespace).await.unwrap(), 0);
    assert_eq!(h.counts().await, [0, 0, 0, 1]);
    assert_eq!(
        h.enqueue("long").await,
        Enqueue::Duplicate {
            state: JobState::Done
        }
    );
    h.enqueued("short").await;
    assert_eq!(h.take_one("short").await.attempt(), 1);
}

pub async fn complete_twice_under_the_same_token(h: Harness) {
    h.enqueued("a").await;
    let job = h.take_one("a").await;
    h.complete(&job).await.unwrap();
    h.complete(&job).await.unwrap();
    assert_eq!(h.counts().await, [0, 0, 0, 1]);
    assert_stale(
        h.fail(&job, "after done", Some(Duration::ZERO)).await,
        "fail after done",
    );
    assert_eq!(h.counts().await, [0, 0, 0, 1]);
}

pub async fn concurrent_enqueues_of_one_key_store_one_job(h: Harness) {
    let record = Arc::new(h.record("race"));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (backend, namespace, record) = (
                Arc::clone(&h.backend),
                h.namespace.clone(),
                Arc::clone(&record),
            );
            tokio::spawn(async move { backend.enqueue(&namespace, &record).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let enqueued = answers.iter().filter(|a| **a == Enqueue::Enqueued).count();
    let duplicates = answers
        .iter()
        .filter(|a| {
            **a == Enqueue::Duplicate {
                state: JobState::Pending,
            }
        })
        .count();
    assert_eq!((enqueued, duplicates), (1, 15), "{answers:?}");
    assert_eq!(h.counts().await, [1, 0, 0, 0]);
}

pub async fn concurrent_takes_never_share_a_job(h: Harness) {
    for n in 0..60 {
        h.enqueued(&format!("job-{n:02}")).await;
    }
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let jobs = h.take(4).await;
                    if jobs.is_empty() {
                        return mine;
                    }
                    mine.extend(jobs.iter().map(|job| job.key().to_owned()));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!((all.len(), distinct.len()), (60, 60));
    assert_eq!(h.counts().await, [0, 60, 0, 0]);
}

pub async fn any_bytes_body_round_trip(h: Harness) {
    let mut record = h.record("bytes");
    record.body = (0..=255u8).chain([0, 0xff, 0xc3, 0x28, b'\n', 0]).collect();
    record.event_type = None;
    assert_eq!(h.enqueue_record(&record).await, Enqueue::Enqueued);
    let job = h.take_one("bytes").await;
    assert_eq!((job.body(), job.event_type()), (&record.body[..], None));
    h.fail(&job, "x", None).await.unwrap();
    let dead = h.backend.dead(&h.namespace, 1).await.unwrap();
    assert_eq!(dead[0].body, record.body);
}

pub async fn long_and_non_ascii_keys(h: Harness) {
    let long = "k".repeat(1000);
    // The stored form of the long key, as a plain key of its own: a different job.
    let lookalike = storage_key(&long);
    let keys_given = [
        long.as_str(),
        "événement ✓",
        "with space",
        lookalike.as_str(),
        "k:with-tag",
        "with-tag",
    ];
    for key in keys_given {
        h.enqueued(key).await;
    }
    for key in keys_given {
        assert_eq!(
            h.enqueue(key).await,
            Enqueue::Duplicate {
                state: JobState::Pending
            },
            "{key}"
        );
    }
    let jobs = h.take(10).await;
    let mut taken: Vec<&str> = keys(&jobs);
    let mut expected = keys_given.to_vec();
    taken.sort_unstable();
    expected.sort_unstable();
    assert_eq!(taken, expected, "keys come back as given, never hashed");
    for job in &jobs {
        h.complete(job).await.unwrap();
    }
    assert_eq!(h.counts().await, [0, 0, 0, 6]);
}

pub async fn namespaces_isolate(h: Harness) {
    let other = Harness {
        namespace: format!("{}-other", h.namespace),
        ..h.clone()
    };
    h.enqueued("a").await;
    other.enqueued("a").await;
    let mine = h.take_one("a").await;
    h.complete(&mine).await.unwrap();
    assert_eq!(other.counts().await, [1, 0, 0, 0]);
    assert_stale(
        other
            .backend
            .complete(&other.namespace, &mine, h.retention)
            .await,
        "a token of another namespace",
    );
    assert_eq!(other.take_one("a").await.attempt(), 1);
    assert_eq!(h.counts().await, [0, 0, 0, 1]);
}

pub async fn a_waiting_take_is_woken_by_an_enqueue(h: Harness) {
    // Nothing due: a short wait answers nothing.
    let empty = h
        .backend
        .take(&h.namespace, 1, h.lease, Duration::from_millis(50))
        .await
        .unwrap();
    assert!(empty.is_empty());
    let waiting = {
        let h = h.clone();
        tokio::spawn(async move {
            h.backend
                .take(&h.namespace, 1, h.lease, Duration::from_secs(30))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.enqueued("late").await;
    let jobs = waiting.await.unwrap();
    assert_eq!(keys(&jobs), ["late"]);
}
