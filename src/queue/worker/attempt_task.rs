//! One attempt of one job, on its own task: the handler spawned on a task of its own (so that
//! a panic is caught as a failure), the lease renewed every third of it meanwhile, then the
//! outcome recorded in the backend (retried while the store is away), the hook called; all in
//! the attempt's `amps_webhooks.job` span, its attempt and a dead letter counted in metrics.

use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinError;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::{Attempt, AttemptOutcome, HandlerFailure, OnAttempt, Settings};
use crate::metrics;
use crate::queue::Job;
use crate::store::StoreError;

/// What every attempt of one run shares.
pub(super) struct Shared<F, O, E> {
    pub(super) settings: Settings,
    pub(super) on_attempt: Option<OnAttempt<O, E>>,
    pub(super) handler: F,
    /// Turns `true` when the shutdown deadline passes: unfinished handlers are cancelled.
    pub(super) cutoff: watch::Receiver<bool>,
}

/// The wait between two tries of a store operation that failed: doubling from 50 ms to 5 s.
#[derive(Debug)]
pub(super) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(5);

    pub(super) fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// The wait before the next try, and the one after it doubled.
    pub(super) fn next(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }

    pub(super) fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// True for a store error that no retry can cure: the worker's configuration is refused.
pub(super) fn is_fatal(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Configuration { .. } | StoreError::InvalidNamespace { .. }
    )
}

/// Resolves once the cutoff is set (or its sender is gone, which only a finished run does).
async fn cut_off(cutoff: &mut watch::Receiver<bool>) {
    let _ = cutoff.wait_for(|cut| *cut).await;
}

/// How the handler ended.
enum Ended<O, E> {
    Returned(Result<O, E>),
    Panicked(String),
    Cancelled,
}

impl<O, E> Ended<O, E> {
    fn of(joined: Result<Result<O, E>, JoinError>) -> Self {
        match joined {
            Ok(result) => Self::Returned(result),
            Err(error) if error.is_panic() => {
                let payload = error.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                Self::Panicked(message)
            }
            Err(_) => Self::Cancelled,
        }
    }
}

/// What an attempt's end asks of the backend.
enum Action {
    /// Nothing: the job was taken over (fenced off).
    Nothing,
    Complete,
    Fail(String),
    Release,
}

/// The `tracing` span of one attempt of `job`, `amps_webhooks.job`: its `webhook-id`
/// (`messaging.message.id`), the type its body names (`amps_webhooks.event.type`) and the
/// attempt's number (`amps_webhooks.job.attempt`). Never the body nor the idempotency key.
fn job_span(job: &Job) -> tracing::Span {
    tracing::info_span!(
        "amps_webhooks.job",
        "messaging.message.id" = job.webhook_id(),
        "amps_webhooks.event.type" = job.event_type(),
        "amps_webhooks.job.attempt" = job.attempt(),
    )
}

/// Runs one attempt of `job` and records its outcome, in the attempt's span (the handler
/// too).
pub(super) async fn attempt<F, Fut, O, E>(shared: Arc<Shared<F, O, E>>, job: Job) -> AttemptOutcome
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: Send + 'static,
    E: Display + Send + 'static,
{
    let span = job_span(&job);
    run_attempt(shared, job, span.clone())
        .instrument(span)
        .await
}

async fn run_attempt<F, Fut, O, E>(
    shared: Arc<Shared<F, O, E>>,
    job: Job,
    span: tracing::Span,
) -> AttemptOutcome
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: Send + 'static,
    E: Display + Send + 'static,
{
    let settings = &shared.settings;
    let backend = settings.queue.backend().name();
    let started = Instant::now();
    let timer = metrics::Timer::start();
    let mut handler = tokio::spawn((shared.handler)(job.clone()).instrument(span));
    let period = (settings.lease / 3).max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(started + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut cutoff = shared.cutoff.clone();
    let mut fenced = false;
    let joined = loop {
        tokio::select! {
            biased;
            joined = &mut handler => break Some(joined),
            () = cut_off(&mut cutoff) => break None,
            _ = ticks.tick(), if !fenced => {
                fenced = renew(settings, &job).await;
            }
        }
    };
    let ended = match joined {
        Some(joined) => Ended::of(joined),
        None => {
            handler.abort();
            // A handler that finished as it was aborted keeps its answer.
            Ended::of(handler.await)
        }
    };
    let elapsed = started.elapsed();
    // A handler cancelled at the shutdown made no attempt that counts (its job is released).
    if !matches!(ended, Ended::Cancelled) {
        metrics::queue_attempt(backend, timer, matches!(ended, Ended::Returned(Ok(_))));
    }
    // What to record is decided first, so that no reference into the handler's answer is
    // held across an await (the answer need only be `Send`).
    let action = match &ended {
        Ended::Cancelled => Action::Release,
        _ if fenced => Action::Nothing,
        Ended::Returned(Ok(_)) => Action::Complete,
        Ended::Returned(Err(error)) => Action::Fail(error.to_string()),
        Ended::Panicked(message) => {
            tracing::error!(namespace = settings.queue.namespace(), key = job.key(), attempt = job.attempt(), panic = %message, "job handler panicked; counted as a failed attempt");
            Action::Fail(HandlerFailure::<E>::Panicked(message).to_string())
        }
    };
    let outcome = match action {
        Action::Nothing => AttemptOutcome::Fenced,
        Action::Complete => complete(settings, &job, &mut cutoff).await,
        Action::Fail(error) => fail(settings, &job, &error, &mut cutoff).await,
        Action::Release => release(settings, &job).await,
    };
    if outcome == AttemptOutcome::Dead {
        metrics::queue_dead_lettered(backend);
    }
    let result = match &ended {
        Ended::Returned(Ok(output)) => Ok(output),
        Ended::Returned(Err(error)) => Err(HandlerFailure::Error(error)),
        Ended::Panicked(message) => Err(HandlerFailure::Panicked(message.as_str())),
        Ended::Cancelled => Err(HandlerFailure::Cancelled),
    };
    if let Some(hook) = &shared.on_attempt {
        let attempt = Attempt {
            job: &job,
            result,
            outcome,
            elapsed,
        };
        // The outcome is recorded already; a hook that panics loses only its own report.
        if std::panic::catch_unwind(AssertUnwindSafe(|| hook(&attempt))).is_err() {
            tracing::error!(
                namespace = settings.queue.namespace(),
                key = job.key(),
                "the worker's on_attempt hook panicked"
            );
        }
    }
    outcome
}

/// Renews the lease of `job`; true when it was taken over (fenced off).
async fn renew(settings: &Settings, job: &Job) -> bool {
    let queue = &settings.queue;
    match queue
        .backend()
        .renew(queue.namespace(), job, settings.lease)
        .await
    {
        Ok(()) => false,
        Err(StoreError::StaleToken) => {
            tracing::warn!(
                namespace = queue.namespace(),
                key = job.key(),
                attempt = job.attempt(),
                "job was taken over by another worker (its lease ran out); its outcome will not be recorded here"
            );
            true
        }
        Err(error) => {
            tracing::warn!(namespace = queue.namespace(), key = job.key(), error = %error, "could not renew a job's lease; trying again at the next renewal");
            false
        }
    }
}

/// Tries `operation` until the backend answers: its answer, or `None` when the store stayed
/// away until the shutdown deadline or refused the operation for good (the job is then left to
/// its lease, and taken again once it runs out).
async fn settle<Op, Fut>(
    settings: &Settings,
    job: &Job,
    what: &str,
    cutoff: &mut watch::Receiver<bool>,
    mut operation: Op,
) -> Option<Result<(), StoreError>>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    let namespace = settings.queue.namespace();
    let mut backoff = Backoff::new();
    loop {
        match operation().await {
            Err(error) if error.is_unavailable() => {
                let wait = backoff.next();
                tracing::warn!(namespace, key = job.key(), error = %error, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "queue backend failed to record that a job is {what}; trying again");
                tokio::select! {
                    biased;
                    () = cut_off(cutoff) => {
                        tracing::error!(namespace, key = job.key(), "shutdown deadline passed before the backend recorded that a job is {what}; it is left to its lease");
                        return None;
                    }
                    () = tokio::time::sleep(wait) => {}
                }
            }
            Err(error) if is_fatal(&error) => {
                tracing::error!(namespace, key = job.key(), error = %error, "queue backend refused to record that a job is {what}; it is left to its lease");
                return None;
            }
            answer => return Some(answer),
        }
    }
}

async fn complete(
    settings: &Settings,
    job: &Job,
    cutoff: &mut watch::Receiver<bool>,
) -> AttemptOutcome {
    let queue = &settings.queue;
    let answer = settle(settings, job, "done", cutoff, || {
        queue
            .backend()
            .complete(queue.namespace(), job, queue.retention())
    })
    .await;
    match answer {
        Some(Ok(())) => AttemptOutcome::Done,
        Some(Err(_)) => {
            tracing::warn!(
                namespace = queue.namespace(),
                key = job.key(),
                "job succeeded but was taken over meanwhile (its lease ran out); the new holder's outcome stands"
            );
            AttemptOutcome::Fenced
        }
        None => AttemptOutcome::Released,
    }
}

async fn fail(
    settings: &Settings,
    job: &Job,
    error: &str,
    cutoff: &mut watch::Receiver<bool>,
) -> AttemptOutcome {
    let queue = &settings.queue;
    let schedule = &settings.schedule;
    let attempt = usize::try_from(job.attempt()).unwrap_or(usize::MAX);
    let retry_in = schedule
        .delays()
        .get(attempt)
        .map(|nominal| schedule.jittered(*nominal, settings.jitter.next_unit()));
    let answer = settle(settings, job, "failed", cutoff, || {
        queue
            .backend()
            .fail(queue.namespace(), job, error, retry_in)
    })
    .await;
    match (answer, retry_in) {
        (Some(Ok(())), Some(after)) => {
            tracing::warn!(
                namespace = queue.namespace(),
                key = job.key(),
                attempt = job.attempt(),
                error,
                retry_in_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                "job failed; retrying later"
            );
            AttemptOutcome::Retry { after }
        }
        (Some(Ok(())), None) => {
            tracing::error!(
                namespace = queue.namespace(),
                key = job.key(),
                attempt = job.attempt(),
                error,
                "job failed its last attempt; it is dead until redriven"
            );
            AttemptOutcome::Dead
        }
        (Some(Err(_)), _) => AttemptOutcome::Fenced,
        (None, _) => AttemptOutcome::Released,
    }
}

/// Gives `job` back unfinished, pending at once and its attempt not counted; a few tries only,
/// as this is the shutdown's last step (a job not given back is taken again after its lease).
pub(super) async fn release(settings: &Settings, job: &Job) -> AttemptOutcome {
    let queue = &settings.queue;
    let mut backoff = Backoff::new();
    for _ in 0..3 {
        match queue.backend().release(queue.namespace(), job).await {
            Ok(()) => {
                tracing::info!(
                    namespace = queue.namespace(),
                    key = job.key(),
                    "unfinished job released at shutdown"
                );
                return AttemptOutcome::Released;
            }
            Err(StoreError::StaleToken) => return AttemptOutcome::Fenced,
            Err(error) => {
                tracing::warn!(namespace = queue.namespace(), key = job.key(), error = %error, "could not release an unfinished job");
                tokio::time::sleep(backoff.next()).await;
            }
        }
    }
    tracing::error!(
        namespace = queue.namespace(),
        key = job.key(),
        "unfinished job not released; it is left to its lease"
    );
    AttemptOutcome::Released
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new();
        let waits: Vec<u64> = (0..9)
            .map(|_| u64::try_from(backoff.next().as_millis()).unwrap())
            .collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(50));
    }

    #[test]
    fn only_a_refused_configuration_is_fatal() {
        assert!(is_fatal(&StoreError::InvalidNamespace { len: 0 }));
        assert!(is_fatal(&StoreError::Configuration {
            store: "memory",
            detail: String::new()
        }));
        assert!(!is_fatal(&StoreError::StaleToken));
        assert!(!is_fatal(&StoreError::Timeout {
            store: "memory",
            after: Duration::from_secs(1)
        }));
    }
}
