//! The [`Worker`] that drains a [`Queue`], and its [`WorkerBuilder`]: how many handlers run at
//! once, the lease, the retry schedule and its jitter, how long one take waits, the shutdown
//! deadline, drain mode, and the per-attempt hook. The loop itself is in `run` (taking jobs,
//! shutting down) and `attempt_task` (one job: the handler, its lease renewals, the record of
//! its outcome); what it tells is in `attempt`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::queue::Queue;
use crate::retry::{JitterSource, RetrySchedule, SeededJitter};
use crate::store::DEFAULT_LEASE;

mod attempt;
mod attempt_task;
mod run;

pub use attempt::{Attempt, AttemptOutcome, HandlerFailure, WorkerReport};

/// How many handlers a worker runs at once, unless configured.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// The longest one take waits for a job, unless configured: a backend that can be woken
/// answers as soon as a job is enqueued; one that polls looks again this often.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);
/// How long a worker shutting down lets its running handlers finish, unless configured.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

/// The hook called after each attempt.
type OnAttempt<O, E> = Arc<dyn Fn(&Attempt<'_, O, E>) + Send + Sync>;

/// Configures a [`Worker`]; made by [`Queue::worker`]. `O` and `E` are the output and error
/// of the handler it will run (inferred from [`Worker::run`] or
/// [`on_attempt`](Self::on_attempt)).
pub struct WorkerBuilder<O, E> {
    settings: Settings,
    on_attempt: Option<OnAttempt<O, E>>,
}

/// What a worker runs by, shared by its attempts.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) queue: Queue,
    pub(super) concurrency: usize,
    pub(super) lease: Duration,
    pub(super) schedule: RetrySchedule,
    pub(super) jitter: Arc<dyn JitterSource>,
    pub(super) poll: Duration,
    pub(super) shutdown_deadline: Duration,
    pub(super) drain: bool,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("queue", &self.queue)
            .field("concurrency", &self.concurrency)
            .field("lease", &self.lease)
            .field("schedule", &self.schedule)
            .field("poll", &self.poll)
            .field("shutdown_deadline", &self.shutdown_deadline)
            .field("drain", &self.drain)
            .finish_non_exhaustive()
    }
}

impl<O, E> fmt::Debug for WorkerBuilder<O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.fmt(f)
    }
}

impl<O, E> WorkerBuilder<O, E> {
    pub(in crate::queue) fn new(queue: Queue) -> Self {
        Self {
            settings: Settings {
                queue,
                concurrency: DEFAULT_CONCURRENCY,
                lease: DEFAULT_LEASE,
                schedule: RetrySchedule::platform(),
                jitter: Arc::new(SeededJitter::from_entropy()),
                poll: DEFAULT_POLL,
                shutdown_deadline: DEFAULT_SHUTDOWN_DEADLINE,
                drain: false,
            },
            on_attempt: None,
        }
    }

    /// How many handlers run at once (default 8; at least 1).
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.settings.concurrency = concurrency.max(1);
        self
    }

    /// How long a job is held before another worker may take it over (default 60 s; at least
    /// 3 ms). Renewed every third of it while the handler runs, so a handler may run longer
    /// than the lease; a worker that dies leaves its jobs to be taken again once it runs out.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.settings.lease = lease.max(Duration::from_millis(3));
        self
    }

    /// The retry schedule (default [`RetrySchedule::platform`]): its
    /// [`attempts`](RetrySchedule::attempts) is the most attempts a job gets, its
    /// `delays()[n]` the wait before attempt `n + 1`, jittered by its
    /// [`jitter`](RetrySchedule::jitter).
    #[must_use]
    pub fn schedule(mut self, schedule: RetrySchedule) -> Self {
        self.settings.schedule = schedule;
        self
    }

    /// Where the jitter is drawn from (default [`SeededJitter::from_entropy`]; seed one in
    /// tests).
    #[must_use]
    pub fn jitter(mut self, jitter: impl JitterSource + 'static) -> Self {
        self.settings.jitter = Arc::new(jitter);
        self
    }

    /// The longest one take waits for a job (default 1 s; at least 1 ms): how often a backend
    /// that cannot be woken is polled, and how long a shutdown may wait for the take in
    /// progress.
    #[must_use]
    pub fn poll(mut self, poll: Duration) -> Self {
        self.settings.poll = poll.max(Duration::from_millis(1));
        self
    }

    /// How long a worker shutting down lets its running handlers finish (default 30 s); the
    /// jobs of those still running then are cancelled and released.
    #[must_use]
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.settings.shutdown_deadline = deadline;
        self
    }

    /// In drain mode the worker stops by itself once the queue has nothing pending or running
    /// (default off: it runs until its shutdown future completes).
    #[must_use]
    pub fn drain(mut self, drain: bool) -> Self {
        self.settings.drain = drain;
        self
    }

    /// Calls `hook` after each attempt, once the job's new state is recorded (or found
    /// fenced): for logs, metrics, or a command-line tool's line per attempt. Keep it quick:
    /// it runs on the attempt's task.
    #[must_use]
    pub fn on_attempt(mut self, hook: impl Fn(&Attempt<'_, O, E>) + Send + Sync + 'static) -> Self {
        self.on_attempt = Some(Arc::new(hook));
        self
    }

    /// The worker.
    #[must_use]
    pub fn build(self) -> Worker<O, E> {
        Worker {
            settings: self.settings,
            on_attempt: self.on_attempt,
            _handler: PhantomData,
        }
    }
}

/// Runs a handler on the jobs of a [`Queue`]: takes them under a lease with a fencing token,
/// renews the lease while the handler runs, completes a job whose handler succeeded, retries
/// one that failed (or panicked) along the schedule, with jitter, and dead-letters it after
/// the last attempt. Made by [`Queue::worker`]; started by [`run`](Self::run).
///
/// The store being down never stops it: every store error is logged and the operation tried
/// again after a backoff (doubling from 50 ms to 5 s), so the worker waits, then resumes, and
/// nothing is lost. A job whose lease ran out while the store was away may be taken by another
/// worker: this one's record of it is then refused ([`AttemptOutcome::Fenced`]).
pub struct Worker<O, E> {
    settings: Settings,
    on_attempt: Option<OnAttempt<O, E>>,
    _handler: PhantomData<fn() -> (O, E)>,
}

impl<O, E> fmt::Debug for Worker<O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.fmt(f)
    }
}

impl<O, E> Worker<O, E> {
    /// The queue it drains.
    #[must_use]
    pub fn queue(&self) -> &Queue {
        &self.settings.queue
    }

    /// How many handlers it runs at once.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.settings.concurrency
    }

    /// The lease of each job it takes.
    #[must_use]
    pub fn lease(&self) -> Duration {
        self.settings.lease
    }
}
