//! [`Worker::run`]: the loop that takes jobs while slots are free, spawns an attempt for each,
//! waits out the store's outages, stops in drain mode once the queue is empty, and shuts down
//! gracefully.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use super::attempt_task::{self, Backoff, Shared, is_fatal};
use super::{AttemptOutcome, Worker, WorkerReport};
use crate::queue::Job;
use crate::store::StoreError;

/// Why the loop stopped taking jobs.
enum Stop {
    Shutdown,
    Drained,
    Fatal(StoreError),
}

impl<O, E> Worker<O, E>
where
    O: Send + 'static,
    E: Display + Send + 'static,
{
    /// Runs `handler` on the queue's jobs until `shutdown` completes (or, in drain mode, until
    /// nothing is pending or running), then shuts down gracefully: it stops taking jobs, lets
    /// the running handlers finish within the shutdown deadline, and cancels and releases the
    /// rest (their attempts not counted). Answers how many attempts ended each way.
    ///
    /// Each job's handler runs on a task of its own: `Ok` completes the job; `Err`, or a
    /// panic, fails the attempt, retried after the schedule's jittered delay or dead after the
    /// last one. The store's outages are waited out (logged, tried again with a backoff).
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] or [`StoreError::InvalidNamespace`] when the backend
    /// refuses this worker's configuration, which no retry can cure (after the running
    /// handlers were let finish). Outages are never returned: they are waited out.
    pub async fn run<F, Fut>(
        self,
        handler: F,
        shutdown: impl Future<Output = ()>,
    ) -> Result<WorkerReport, StoreError>
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
    {
        let (cut, cutoff) = watch::channel(false);
        let shared = Arc::new(Shared {
            settings: self.settings,
            on_attempt: self.on_attempt,
            handler,
            cutoff,
        });
        let mut shutdown = std::pin::pin!(shutdown);
        let mut tasks = JoinSet::new();
        let mut report = WorkerReport::default();
        let stop = take_loop(&shared, &mut shutdown, &mut tasks, &mut report).await;
        let settings = &shared.settings;
        let namespace = settings.queue.namespace();
        match &stop {
            Stop::Shutdown => {
                tracing::info!(
                    namespace,
                    running = tasks.len(),
                    "worker shutting down; letting running jobs finish"
                );
            }
            Stop::Drained => tracing::info!(namespace, "queue drained; worker stopping"),
            Stop::Fatal(error) => {
                tracing::error!(namespace, error = %error, "queue backend refused the worker's configuration; stopping");
            }
        }
        let finished = tokio::time::timeout(settings.shutdown_deadline, async {
            while let Some(joined) = tasks.join_next().await {
                tally(&mut report, joined);
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                namespace,
                unfinished = tasks.len(),
                "shutdown deadline passed; cancelling and releasing the unfinished jobs"
            );
            let _ = cut.send(true);
            while let Some(joined) = tasks.join_next().await {
                tally(&mut report, joined);
            }
        }
        match stop {
            Stop::Fatal(error) => Err(error),
            Stop::Shutdown | Stop::Drained => Ok(report),
        }
    }
}

fn tally(report: &mut WorkerReport, joined: Result<AttemptOutcome, JoinError>) {
    match joined {
        Ok(outcome) => report.count(outcome),
        // The attempt task catches the handler's and the hook's panics: this is the runtime
        // shutting down under the worker.
        Err(error) => {
            tracing::error!(error = %error, "a job's attempt task ended without an outcome");
        }
    }
}

/// Takes and spawns jobs until told to stop.
async fn take_loop<F, Fut, O, E>(
    shared: &Arc<Shared<F, O, E>>,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    tasks: &mut JoinSet<AttemptOutcome>,
    report: &mut WorkerReport,
) -> Stop
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: Send + 'static,
    E: Display + Send + 'static,
{
    let settings = &shared.settings;
    let queue = &settings.queue;
    let namespace = queue.namespace();
    let mut backoff = Backoff::new();
    loop {
        while let Some(joined) = tasks.try_join_next() {
            tally(report, joined);
        }
        let free = settings.concurrency.saturating_sub(tasks.len());
        if free == 0 {
            tokio::select! {
                biased;
                () = shutdown.as_mut() => return Stop::Shutdown,
                Some(joined) = tasks.join_next() => tally(report, joined),
            }
            continue;
        }
        // A take in progress is not cancelled (it may hold jobs already): a shutdown meanwhile
        // waits for it, at most the poll, and releases what it brought. In drain mode a take
        // does not wait for jobs (the loop waits instead, for a running one to end or for the
        // poll), so that the run ends as soon as the last job does.
        let wait = if settings.drain {
            Duration::ZERO
        } else {
            settings.poll
        };
        let mut stopping = false;
        let taken = {
            let mut take = queue.backend().take(namespace, free, settings.lease, wait);
            loop {
                tokio::select! {
                    biased;
                    taken = &mut take => break taken,
                    () = shutdown.as_mut(), if !stopping => stopping = true,
                }
            }
        };
        match taken {
            Ok(jobs) => {
                backoff.reset();
                if stopping {
                    for job in jobs {
                        report.count(attempt_task::release(settings, &job).await);
                    }
                    return Stop::Shutdown;
                }
                let empty = jobs.is_empty();
                for job in jobs {
                    tasks.spawn(attempt_task::attempt(Arc::clone(shared), job));
                }
                if empty && settings.drain {
                    if tasks.is_empty() {
                        match queue.stats().await {
                            Ok(stats) if stats.pending == 0 && stats.running == 0 => {
                                return Stop::Drained;
                            }
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(namespace, error = %error, "queue backend failed on stats; trying again");
                            }
                        }
                    }
                    // Nothing due: wait for a running job to end (it may leave a retry, or
                    // the queue empty) or for the poll, whichever comes first.
                    tokio::select! {
                        biased;
                        () = shutdown.as_mut() => return Stop::Shutdown,
                        Some(joined) = tasks.join_next() => tally(report, joined),
                        () = tokio::time::sleep(settings.poll) => {}
                    }
                }
            }
            Err(error) if is_fatal(&error) => return Stop::Fatal(error),
            Err(error) => {
                if stopping {
                    return Stop::Shutdown;
                }
                let wait = backoff.next();
                tracing::warn!(namespace, error = %error, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "queue backend failed on take; waiting before the next");
                tokio::select! {
                    biased;
                    () = shutdown.as_mut() => return Stop::Shutdown,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}
