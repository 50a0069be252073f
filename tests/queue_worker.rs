//! The worker on the in-memory backend, time paused: tokio's clock drives the worker's sleeps,
//! and the backend's clock follows it (so that a lease runs out when tokio's time says so).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use amps_webhooks::queue::{
    AttemptOutcome, Enqueue, Job, JobRecord, MemoryQueue, Queue, QueueBackend, QueueStats, Redrive,
    WorkerReport,
};
use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::store::{StoreError, StoreFuture};
use amps_webhooks::{Clock, WebhookTimestamp};

/// The backend's clock: a fixed start plus tokio's (paused) time since the test began.
#[derive(Debug)]
struct TokioClock {
    base: SystemTime,
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.base + self.start.elapsed()
    }
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock {
        base: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        start: tokio::time::Instant::now(),
    })
}

fn queue_over(backend: Arc<dyn QueueBackend>, clock: Arc<dyn Clock>) -> Queue {
    Queue::new(backend, "worker-tests")
        .unwrap()
        .with_clock(clock)
}

fn memory() -> (Queue, Arc<MemoryQueue>) {
    let clock = clock();
    let backend = Arc::new(
        MemoryQueue::builder()
            .shared_clock(Arc::clone(&clock))
            .build(),
    );
    (queue_over(Arc::clone(&backend) as _, clock), backend)
}

fn record(key: &str) -> JobRecord {
    JobRecord {
        webhook_id: format!("msg_{key}"),
        key: key.to_owned(),
        event_type: Some("push.completed".to_owned()),
        timestamp: WebhookTimestamp::from_unix(1_700_000_000),
        received_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        body: format!(r#"{{"eventId":"{key}"}}"#).into_bytes(),
        headers: Vec::new(),
        attempts: 0,
        last_error: None,
        next_run_at: SystemTime::UNIX_EPOCH,
    }
}

async fn enqueue(queue: &Queue, keys: &[&str]) {
    for key in keys {
        assert_eq!(
            queue.enqueue_record(&record(key)).await.unwrap(),
            Enqueue::Enqueued
        );
    }
}

fn no_jitter(delays: &[u64]) -> RetrySchedule {
    RetrySchedule::fixed(delays.iter().copied().map(Duration::from_secs))
        .unwrap()
        .with_jitter(0.0)
        .unwrap()
}

fn counts(stats: QueueStats) -> [u64; 4] {
    [stats.pending, stats.running, stats.dead, stats.done]
}

type Seen = Arc<Mutex<Vec<(String, u32, AttemptOutcome, Option<String>)>>>;

/// A hook that records each attempt's key, number, outcome and failure text.
fn recorder<O>() -> (
    Seen,
    impl Fn(&amps_webhooks::queue::Attempt<'_, O, String>) + Send + Sync,
) {
    let seen: Seen = Arc::default();
    let hook = {
        let seen = Arc::clone(&seen);
        move |attempt: &amps_webhooks::queue::Attempt<'_, O, String>| {
            let failure = attempt.result.as_ref().err().map(ToString::to_string);
            seen.lock().unwrap().push((
                attempt.job.key().to_owned(),
                attempt.job.attempt(),
                attempt.outcome,
                failure,
            ));
        }
    };
    (seen, hook)
}

#[tokio::test(start_paused = true)]
async fn an_always_failing_job_is_dead_after_its_attempts_then_redrive_completes_it() {
    let (queue, _) = memory();
    enqueue(&queue, &["evt_fail"]).await;
    let failing = Arc::new(AtomicBool::new(true));
    let handler = {
        let failing = Arc::clone(&failing);
        move |job: Job| {
            let failing = failing.load(Ordering::SeqCst);
            async move {
                if failing {
                    Err(format!("failure {}", job.attempt()))
                } else {
                    Ok(())
                }
            }
        }
    };
    let (seen, hook) = recorder();
    let report = queue
        .worker()
        .schedule(no_jitter(&[0, 10, 20]))
        .on_attempt(hook)
        .drain(true)
        .build()
        .run(handler.clone(), std::future::pending())
        .await
        .unwrap();
    assert_eq!(
        report,
        WorkerReport {
            retried: 2,
            dead: 1,
            ..WorkerReport::default()
        }
    );
    let fail = |n: u32| Some(format!("failure {n}"));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (
                "evt_fail".to_owned(),
                1,
                AttemptOutcome::Retry {
                    after: Duration::from_secs(10)
                },
                fail(1)
            ),
            (
                "evt_fail".to_owned(),
                2,
                AttemptOutcome::Retry {
                    after: Duration::from_secs(20)
                },
                fail(2)
            ),
            ("evt_fail".to_owned(), 3, AttemptOutcome::Dead, fail(3)),
        ]
    );
    let dead = queue.dead(10).await.unwrap();
    assert_eq!(
        dead.iter()
            .map(|job| (job.key.as_str(), job.attempts, job.last_error.as_deref()))
            .collect::<Vec<_>>(),
        [("evt_fail", 3, Some("failure 3"))]
    );
    assert_eq!(counts(queue.stats().await.unwrap()), [0, 0, 1, 0]);

    failing.store(false, Ordering::SeqCst);
    assert_eq!(queue.redrive(Redrive::Key("evt_fail")).await.unwrap(), 1);
    let report = queue
        .worker()
        .schedule(no_jitter(&[0, 10, 20]))
        .drain(true)
        .build()
        .run(handler, std::future::pending())
        .await
        .unwrap();
    assert_eq!(
        report,
        WorkerReport {
            done: 1,
            ..WorkerReport::default()
        }
    );
    assert_eq!(counts(queue.stats().await.unwrap()), [0, 0, 0, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_handler_slower_than_the_lease_keeps_its_job_through_renewal() {
    let (queue, _) = memory();
    enqueue(&queue, &["evt_slow"]).await;
    let runs = Arc::new(AtomicU32::new(0));
    let handler = {
        let runs = Arc::clone(&runs);
        move |_job: Job| {
            runs.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok::<_, String>(())
            }
        }
    };
    // Two workers on the queue: the second would take the job over if its lease ran out.
    let worker = |queue: &Queue| {
        queue
            .worker()
            .lease(Duration::from_secs(3))
            .poll(Duration::from_millis(500))
            .drain(true)
            .build()
    };
    let (first, second) = tokio::join!(
        worker(&queue).run(handler.clone(), std::future::pending()),
        worker(&queue).run(handler, std::future::pending()),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the job ran once");
    assert_eq!(first.done + second.done, 1);
    assert_eq!(first.attempts() + second.attempts(), 1);
    assert_eq!(counts(queue.stats().await.unwrap()), [0, 0, 0, 1]);
}

/// A backend whose renewals never arrive (as a worker cut off from its store would see):
/// everything else goes to the memory backend.
#[derive(Debug)]
struct RenewalsLost(Arc<MemoryQueue>);

fn lost(detail: &'static str) -> StoreError {
    StoreError::Unavailable {
        store: "test",
        source: detail.into(),
    }
}

macro_rules! delegate_except_renew_and_take {
    () => {
        fn enqueue<'a>(
            &'a self,
            namespace: &'a str,
            job: &'a JobRecord,
        ) -> StoreFuture<'a, Result<Enqueue, StoreError>> {
            self.inner().enqueue(namespace, job)
        }
        fn complete<'a>(
            &'a self,
            namespace: &'a str,
            job: &'a Job,
            retention: Duration,
        ) -> StoreFuture<'a, Result<(), StoreError>> {
            match self.refuse() {
                Some(error) => StoreFuture::ready(Err(error)),
                None => self.inner().complete(namespace, job, retention),
            }
        }
        fn fail<'a>(
            &'a self,
            namespace: &'a str,
            job: &'a Job,
            error: &'a str,
            retry_in: Option<Duration>,
        ) -> StoreFuture<'a, Result<(), StoreError>> {
            match self.refuse() {
                Some(refused) => StoreFuture::ready(Err(refused)),
                None => self.inner().fail(namespace, job, error, retry_in),
            }
        }
        fn release<'a>(
            &'a self,
            namespace: &'a str,
            job: &'a Job,
        ) -> StoreFuture<'a, Result<(), StoreError>> {
            match self.refuse() {
                Some(error) => StoreFuture::ready(Err(error)),
                None => self.inner().release(namespace, job),
            }
        }
        fn redrive<'a>(
            &'a self,
            namespace: &'a str,
            which: Redrive<'a>,
        ) -> StoreFuture<'a, Result<u64, StoreError>> {
            self.inner().redrive(namespace, which)
        }
        fn dead<'a>(
            &'a self,
            namespace: &'a str,
            limit: usize,
        ) -> StoreFuture<'a, Result<Vec<JobRecord>, StoreError>> {
            self.inner().dead(namespace, limit)
        }
        fn stats<'a>(
            &'a self,
            namespace: &'a str,
        ) -> StoreFuture<'a, Result<QueueStats, StoreError>> {
            match self.refuse() {
                Some(error) => StoreFuture::ready(Err(error)),
                None => self.inner().stats(namespace),
            }
        }
        fn purge<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
            self.inner().purge(namespace)
        }
    };
}

impl RenewalsLost {
    fn inner(&self) -> &MemoryQueue {
        &self.0
    }
    fn refuse(&self) -> Option<StoreError> {
        None
    }
}

impl QueueBackend for RenewalsLost {
    delegate_except_renew_and_take!();

    fn take<'a>(
        &'a self,
        namespace: &'a str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> StoreFuture<'a, Result<Vec<Job>, StoreError>> {
        self.0.take(namespace, max, lease, wait)
    }

    fn renew<'a>(
        &'a self,
        _namespace: &'a str,
        _job: &'a Job,
        _lease: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::ready(Err(lost("the renewal was lost")))
    }
}

#[tokio::test(start_paused = true)]
async fn a_worker_whose_job_was_taken_over_cannot_complete_it() {
    let clock = clock();
    let memory = Arc::new(
        MemoryQueue::builder()
            .shared_clock(Arc::clone(&clock))
            .build(),
    );
    let queue = queue_over(Arc::new(RenewalsLost(Arc::clone(&memory))), clock);
    enqueue(&queue, &["evt_taken"]).await;
    let (seen, hook) = recorder();
    let worker = queue
        .worker()
        .lease(Duration::from_secs(3))
        // One slot, busy: the worker cannot take the lapsed job back itself.
        .concurrency(1)
        .on_attempt(hook)
        .drain(true)
        .build();
    let running = tokio::spawn(worker.run(
        |_job: Job| async {
            tokio::time::sleep(Duration::from_secs(6)).await;
            Ok::<_, String>(())
        },
        std::future::pending(),
    ));
    // The first worker's lease runs out at 3 s (its renewals lost): another holder takes the
    // job over and completes it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let taken = memory
        .take(
            queue.namespace(),
            1,
            Duration::from_secs(60),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(taken.iter().map(Job::attempt).collect::<Vec<_>>(), [2]);
    memory
        .complete(queue.namespace(), &taken[0], queue.retention())
        .await
        .unwrap();
    let report = running.await.unwrap().unwrap();
    assert_eq!(
        report,
        WorkerReport {
            fenced: 1,
            ..WorkerReport::default()
        }
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [("evt_taken".to_owned(), 1, AttemptOutcome::Fenced, None)]
    );
    // The new holder's completion stands.
    assert_eq!(counts(queue.stats().await.unwrap()), [0, 0, 0, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_graceful_shutdown_releases_the_unfinished_jobs_without_counting_them() {
    let (queue, _) = memory();
    enqueue(&queue, &["evt_quick", "evt_slow"]).await;
    let slow_finished = Arc::new(AtomicBool::new(false));
    let handler = {
        let slow_finished = Arc::clone(&slow_finished);
        move |job: Job| {
            let slow_finished = Arc::clone(&slow_finished);
            async move {
                if job.key() == "evt_slow" {
                    tokio::time::sleep(Duration::from_secs(1000)).await;
                    slow_finished.store(true, Ordering::SeqCst);
                } else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok::<_, String>(())
            }
        }
    };
    let (seen, hook) = recorder();
    let report = queue
        .worker()
        .concurrency(2)
        .shutdown_deadline(Duration::from_secs(5))
        .on_attempt(hook)
        .build()
        .run(handler, tokio::time::sleep(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(
        report,
        WorkerReport {
            done: 1,
            released: 1,
            ..WorkerReport::default()
        }
    );
    assert!(
        !slow_finished.load(Ordering::SeqCst),
        "cancelled at the deadline"
    );
    assert_eq!(
        seen.lock().unwrap().last().cloned(),
        Some((
            "evt_slow".to_owned(),
            1,
            AttemptOutcome::Released,
            Some("the handler was cancelled at the worker's shutdown".to_owned())
        ))
    );
    assert_eq!(counts(queue.stats().await.unwrap()), [1, 0, 0, 1]);
    // Released: pending at once, and its next attempt is still its first.
    let again = queue
        .backend()
        .take(
            queue.namespace(),
            5,
            Duration::from_secs(60),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(
        again
            .iter()
            .map(|job| (job.key(), job.attempt()))
            .collect::<Vec<_>>(),
        [("evt_slow", 1)]
    );
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_is_respected() {
    let (queue, _) = memory();
    let keys: Vec<String> = (0..10).map(|n| format!("evt_{n}")).collect();
    enqueue(&queue, &keys.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (running, most) = (Arc::clone(&running), Arc::clone(&most));
        move |_job: Job| {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, String>(())
            }
        }
    };
    let report = queue
        .worker()
        .concurrency(3)
        .drain(true)
        .build()
        .run(handler, std::future::pending())
        .await
        .unwrap();
    assert_eq!(report.done, 10);
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert_eq!(counts(queue.stats().await.unwrap()), [0, 0, 0, 10]);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_is_a_failed_attempt_and_is_retried() {
    let (queue, _) = memory();
    enqueue(&queue, &["evt_panic"]).await;
    let (seen, hook) = recorder();
    let report = queue
        .worker()
        .schedule(no_jitter(&[0, 5]))
        .on_attempt(hook)
        .drain(true)
        .build()
        .run(
            |job: Job| async move {
                assert!(job.attempt() > 1, "boom on attempt {}", job.attempt());
                Ok::<_, String>(())
            },
            std::future::pending(),
        )
        .await
        .unwrap();
    assert_eq!(
        report,
        WorkerReport {
            done: 1,
            retried: 1,
            ..WorkerReport::default()
        }
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0],
        (
            "evt_panic".to_owned(),
            1,
            AttemptOutcome::Retry {
                after: Duration::from_secs(5)
            },
            Some("the handler panicked: boom on attempt 1".to_owned())
        )
    );
    assert_eq!(
        seen[1],
        ("evt_panic".to_owned(), 2, AttemptOutcome::Done, None)
    );
}

/// A backend that can be taken down: while down, every call of the worker's fails.
#[derive(Debug)]
struct Switchable {
    inner: Arc<MemoryQueue>,
    down: AtomicBool,
}

impl Switchable {
    fn inner(&self) -> &MemoryQueue {
        &self.inner
    }
    fn refuse(&self) -> Option<StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Some(lost("the store is down"))
        } else {
            None
        }
    }
}

impl QueueBackend for Switchable {
    delegate_except_renew_and_take!();

    fn take<'a>(
        &'a self,
        namespace: &'a str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> StoreFuture<'a, Result<Vec<Job>, StoreError>> {
        match self.refuse() {
            Some(error) => StoreFuture::ready(Err(error)),
            None => self.inner.take(namespace, max, lease, wait),
        }
    }

    fn renew<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
        lease: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        match self.refuse() {
            Some(error) => StoreFuture::ready(Err(error)),
            None => self.inner.renew(namespace, job, lease),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn with_the_store_down_the_worker_waits_then_resumes_and_nothing_is_lost() {
    let clock = clock();
    let memory = Arc::new(
        MemoryQueue::builder()
            .shared_clock(Arc::clone(&clock))
            .build(),
    );
    let backend = Arc::new(Switchable {
        inner: memory,
        down: AtomicBool::new(false),
    });
    let queue = queue_over(Arc::clone(&backend) as _, clock);
    let keys: Vec<String> = (0..6).map(|n| format!("evt_{n}")).collect();
    enqueue(&queue, &keys.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let runs = Arc::new(AtomicU32::new(0));
    let handler = {
        let runs = Arc::clone(&runs);
        move |_job: Job| {
            runs.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Ok::<_, String>(())
            }
        }
    };
    let worker = queue.worker().concurrency(2).drain(true).build();
    let running = tokio::spawn(worker.run(handler, std::future::pending()));
    // Down while the first two handlers run (their completions fail), and for 30 s.
    tokio::time::sleep(Duration::from_secs(1)).await;
    backend.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2, "nothing taken while down");
    backend.down.store(false, Ordering::SeqCst);
    let report = running.await.unwrap().unwrap();
    assert_eq!(
        report,
        WorkerReport {
            done: 6,
            ..WorkerReport::default()
        }
    );
    assert_eq!(runs.load(Ordering::SeqCst), 6, "each job ran once");
    assert_eq!(counts(queue.stats().await.unwrap()), [0, 0, 0, 6]);
}
