//! The in-memory queue backend: [`MemoryQueue`] and its builder. The embedded default, for
//! tests and one-process apps.
//!
//! **Jobs do not survive a restart**: they live in this process's memory only, so a process
//! that exits (or crashes) loses every pending, running and dead job, and with them the
//! deliveries it acknowledged. Use a durable backend (PostgreSQL, Redis) when the process
//! may stop with work left.
//!
//! The jobs of each namespace are kept by `space`, behind one mutex that no await crosses;
//! a take that finds nothing due waits for an enqueue (a [`Notify`]) or the first job's due
//! time, by the tokio timer. Job times (due, lease, retention) come from the injected
//! [`Clock`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::{Clock, SystemClock};
use crate::queue::{Enqueue, Job, JobRecord, QueueBackend, QueueStats, Redrive};
use crate::store::{StoreError, StoreFuture};

mod space;

use space::Space;

/// A queue backend in this process's memory. **Jobs do not survive a restart.**
///
/// Cheap operations under one mutex (no await while it is held); a take with nothing due
/// waits, woken at once by an enqueue, a release, a failure due at once, or a redrive.
/// Times are read from the injected [`Clock`] (by default [`SystemClock`], a
/// [`MockClock`](crate::MockClock) in tests). Unbounded: a job is never dropped to make room.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use amps_webhooks::MockClock;
/// use amps_webhooks::queue::{Enqueue, JobRecord, MemoryQueue, QueueBackend};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let clock = MockClock::at_unix(1_700_000_000);
/// let backend = MemoryQueue::builder().clock(clock.clone()).build();
/// # let record = JobRecord {
/// #     webhook_id: "msg_1".into(), key: "evt_1".into(), event_type: None,
/// #     timestamp: amps_webhooks::WebhookTimestamp::from_unix(1_700_000_000),
/// #     received_at: std::time::UNIX_EPOCH, body: b"{}".to_vec(), headers: vec![],
/// #     attempts: 0, last_error: None, next_run_at: std::time::UNIX_EPOCH,
/// # };
/// assert_eq!(backend.enqueue("orders", &record).await?, Enqueue::Enqueued);
/// let jobs = backend.take("orders", 10, Duration::from_secs(60), Duration::ZERO).await?;
/// assert_eq!((jobs.len(), jobs[0].attempt()), (1, 1));
/// backend.complete("orders", &jobs[0], Duration::from_secs(3600)).await?;
/// assert_eq!(backend.stats("orders").await?.done, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryQueue {
    state: Mutex<State>,
    woken: Notify,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default)]
struct State {
    spaces: HashMap<String, Space>,
    /// The order of enqueues and deaths: ties between equal times go in this order.
    seq: u64,
}

impl State {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// Configures a [`MemoryQueue`].
#[derive(Debug, Clone)]
pub struct MemoryQueueBuilder {
    clock: Arc<dyn Clock>,
}

impl MemoryQueueBuilder {
    /// The clock that due times, leases and retentions are read by (default
    /// [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// [`clock`](Self::clock), shared with a verifier or a [`Queue`](crate::queue::Queue).
    #[must_use]
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The backend.
    #[must_use]
    pub fn build(self) -> MemoryQueue {
        MemoryQueue {
            state: Mutex::default(),
            woken: Notify::new(),
            clock: self.clock,
        }
    }
}

impl Default for MemoryQueueBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
        }
    }
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryQueue {
    /// An empty queue on the system clock.
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, to inject the clock.
    #[must_use]
    pub fn builder() -> MemoryQueueBuilder {
        MemoryQueueBuilder::default()
    }

    /// How many jobs it holds in `namespace`, in any state (done ones until purged).
    #[must_use]
    pub fn len(&self, namespace: &str) -> usize {
        self.lock().spaces.get(namespace).map_or(0, Space::len)
    }

    /// True when it holds no job in `namespace`.
    #[must_use]
    pub fn is_empty(&self, namespace: &str) -> bool {
        self.len(namespace) == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No transition panics half-way, so a poisoned state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `step` on `namespace`'s jobs (an empty set when it has none).
    fn with_space<T>(&self, namespace: &str, step: impl FnOnce(&mut Space) -> T) -> T {
        let mut state = self.lock();
        let Some(space) = state.spaces.get_mut(namespace) else {
            return step(&mut Space::default());
        };
        let answer = step(space);
        if space.is_empty() {
            state.spaces.remove(namespace);
        }
        answer
    }

    /// Takes what is due now; else when the first job falls due, if any.
    fn take_now(
        &self,
        namespace: &str,
        max: usize,
        lease: Duration,
    ) -> (Vec<Job>, Option<std::time::SystemTime>) {
        let now = self.clock.now();
        let mut state = self.lock();
        let Some(space) = state.spaces.get_mut(namespace) else {
            return (Vec::new(), None);
        };
        let jobs = space.take(max, now, now + lease);
        let next = if jobs.is_empty() {
            space.next_due()
        } else {
            None
        };
        (jobs, next)
    }
}

impl QueueBackend for MemoryQueue {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn enqueue<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a JobRecord,
    ) -> StoreFuture<'a, Result<Enqueue, StoreError>> {
        self.enqueue_owned(namespace, job.clone())
    }

    fn enqueue_owned<'a>(
        &'a self,
        namespace: &'a str,
        job: JobRecord,
    ) -> StoreFuture<'a, Result<Enqueue, StoreError>> {
        let now = self.clock.now();
        let answer = {
            let mut state = self.lock();
            let seq = state.next_seq();
            // The namespace is copied only the first time it is seen.
            match state.spaces.get_mut(namespace) {
                Some(space) => space.enqueue(job, now, seq),
                None => state
                    .spaces
                    .entry(namespace.to_owned())
                    .or_default()
                    .enqueue(job, now, seq),
            }
        };
        if answer == Enqueue::Enqueued {
            self.woken.notify_waiters();
        }
        StoreFuture::ready(Ok(answer))
    }

    fn take<'a>(
        &'a self,
        namespace: &'a str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> StoreFuture<'a, Result<Vec<Job>, StoreError>> {
        if max == 0 {
            return StoreFuture::ready(Ok(Vec::new()));
        }
        let (jobs, _) = self.take_now(namespace, max, lease);
        if !jobs.is_empty() || wait.is_zero() {
            return StoreFuture::ready(Ok(jobs));
        }
        StoreFuture::new(async move {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                // Registered before looking, so that an enqueue in between wakes it.
                let woken = self.woken.notified();
                let mut woken = std::pin::pin!(woken);
                woken.as_mut().enable();
                let (jobs, next_due) = self.take_now(namespace, max, lease);
                if !jobs.is_empty() {
                    return Ok(jobs);
                }
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Ok(jobs);
                }
                let mut until = deadline;
                if let Some(due) = next_due {
                    let in_ = due
                        .duration_since(self.clock.now())
                        .unwrap_or(Duration::ZERO)
                        .max(Duration::from_millis(1));
                    until = until.min(now + in_);
                }
                tokio::select! {
                    () = woken => {}
                    () = tokio::time::sleep_until(until) => {}
                }
            }
        })
    }

    fn renew<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
        lease: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        let until = self.clock.now() + lease;
        let answer = match self.lock().spaces.get_mut(namespace) {
            Some(space) => space.renew(job, until),
            None => Err(StoreError::StaleToken),
        };
        StoreFuture::ready(answer)
    }

    fn complete<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
        retention: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        let until = self.clock.now() + retention;
        let answer = match self.lock().spaces.get_mut(namespace) {
            Some(space) => space.complete(job, until),
            None => Err(StoreError::StaleToken),
        };
        StoreFuture::ready(answer)
    }

    fn fail<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
        error: &'a str,
        retry_in: Option<Duration>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        let now = self.clock.now();
        let answer = {
            let mut state = self.lock();
            let order = state.next_seq();
            match state.spaces.get_mut(namespace) {
                Some(space) => space.fail(job, error, retry_in.map(|wait| now + wait), now, order),
                None => Err(StoreError::StaleToken),
            }
        };
        if answer.is_ok() && retry_in.is_some_and(|wait| wait.is_zero()) {
            self.woken.notify_waiters();
        }
        StoreFuture::ready(answer)
    }

    fn release<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        let now = self.clock.now();
        let answer = match self.lock().spaces.get_mut(namespace) {
            Some(space) => space.release(job, now),
            None => Err(StoreError::StaleToken),
        };
        if answer.is_ok() {
            self.woken.notify_waiters();
        }
        StoreFuture::ready(answer)
    }

    fn redrive<'a>(
        &'a self,
        namespace: &'a str,
        which: Redrive<'a>,
    ) -> StoreFuture<'a, Result<u64, StoreError>> {
        let now = self.clock.now();
        let key = match which {
            Redrive::Key(key) => Some(key),
            Redrive::All => None,
        };
        let moved = match self.lock().spaces.get_mut(namespace) {
            Some(space) => space.redrive(key, now),
            None => 0,
        };
        if moved > 0 {
            self.woken.notify_waiters();
        }
        StoreFuture::ready(Ok(moved))
    }

    fn dead<'a>(
        &'a self,
        namespace: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Result<Vec<JobRecord>, StoreError>> {
        let dead = self
            .lock()
            .spaces
            .get(namespace)
            .map_or_else(Vec::new, |space| space.dead(limit));
        StoreFuture::ready(Ok(dead))
    }

    fn stats<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, Result<QueueStats, StoreError>> {
        let now = self.clock.now();
        let stats = self
            .lock()
            .spaces
            .get(namespace)
            .map_or_else(QueueStats::default, |space| space.stats(now));
        StoreFuture::ready(Ok(stats))
    }

    fn purge<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
        let now = self.clock.now();
        let purged = self.with_space(namespace, |space| space.purge(now));
        StoreFuture::ready(Ok(purged))
    }
}
