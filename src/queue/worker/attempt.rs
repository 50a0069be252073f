//! What a worker tells of each attempt: the [`Attempt`] given to
//! [`on_attempt`](super::WorkerBuilder::on_attempt), its [`AttemptOutcome`], the
//! [`HandlerFailure`] of a handler that did not return `Ok`, and the [`WorkerReport`] of a run.

use std::fmt;
use std::time::Duration;

use crate::queue::Job;

/// What became of one attempt of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The handler succeeded and the job is done.
    Done,
    /// The handler failed (or panicked); the job is pending again, due `after` from now.
    Retry {
        /// The (jittered) wait before the next attempt.
        after: Duration,
    },
    /// The handler failed on the last attempt of the schedule: the job is dead, with this
    /// attempt's error, until redriven.
    Dead,
    /// The job was taken over by another worker (its lease ran out): this worker's token no
    /// longer held it, so nothing was recorded, and the new holder's answer stands.
    Fenced,
    /// The worker shut down before the handler finished: the job was given back, pending,
    /// its attempt not counted.
    Released,
}

impl AttemptOutcome {
    /// The outcome's name: `done`, `retry`, `dead`, `fenced` or `released`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry { .. } => "retry",
            Self::Dead => "dead",
            Self::Fenced => "fenced",
            Self::Released => "released",
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt's handler did not give an `Ok`.
#[derive(Debug)]
pub enum HandlerFailure<'a, E> {
    /// The handler returned this error.
    Error(&'a E),
    /// The handler panicked, with this message (when the panic carried a string).
    Panicked(&'a str),
    /// The handler had not finished when the worker's shutdown deadline passed: it was
    /// cancelled (and the job released).
    Cancelled,
}

impl<E: fmt::Display> fmt::Display for HandlerFailure<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(error) => error.fmt(f),
            Self::Panicked(message) => write!(f, "the handler panicked: {message}"),
            Self::Cancelled => f.write_str("the handler was cancelled at the worker's shutdown"),
        }
    }
}

/// One attempt of a job, as [`on_attempt`](super::WorkerBuilder::on_attempt) sees it once
/// the job's new state is recorded.
#[derive(Debug)]
#[non_exhaustive]
pub struct Attempt<'a, O, E> {
    /// The job, as taken (its [`attempt`](Job::attempt) is this attempt's number).
    pub job: &'a Job,
    /// What the handler gave: its output, or why there is none.
    pub result: Result<&'a O, HandlerFailure<'a, E>>,
    /// What became of the job.
    pub outcome: AttemptOutcome,
    /// How long the handler ran.
    pub elapsed: Duration,
}

/// How many attempts of each outcome a [`Worker::run`](super::Worker::run) made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Attempts that completed their job.
    pub done: u64,
    /// Attempts that failed with attempts left (the job is pending again).
    pub retried: u64,
    /// Attempts that failed last (the job is dead).
    pub dead: u64,
    /// Attempts whose job was taken over meanwhile (nothing recorded).
    pub fenced: u64,
    /// Jobs given back at the shutdown, unfinished.
    pub released: u64,
}

impl WorkerReport {
    /// Counts one attempt of `outcome`.
    pub(super) fn count(&mut self, outcome: AttemptOutcome) {
        let counter = match outcome {
            AttemptOutcome::Done => &mut self.done,
            AttemptOutcome::Retry { .. } => &mut self.retried,
            AttemptOutcome::Dead => &mut self.dead,
            AttemptOutcome::Fenced => &mut self.fenced,
            AttemptOutcome::Released => &mut self.released,
        };
        *counter += 1;
    }

    /// Every attempt counted.
    #[must_use]
    pub fn attempts(&self) -> u64 {
        self.done + self.retried + self.dead + self.fenced + self.released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_names_and_counts() {
        let mut report = WorkerReport::default();
        for (outcome, name) in [
            (AttemptOutcome::Done, "done"),
            (
                AttemptOutcome::Retry {
                    after: Duration::from_secs(1),
                },
                "retry",
            ),
            (AttemptOutcome::Dead, "dead"),
            (AttemptOutcome::Fenced, "fenced"),
            (AttemptOutcome::Released, "released"),
        ] {
            assert_eq!((outcome.as_str(), outcome.to_string()), (name, name.into()));
            report.count(outcome);
        }
        report.count(AttemptOutcome::Done);
        assert_eq!(
            report,
            WorkerReport {
                done: 2,
                retried: 1,
                dead: 1,
                fenced: 1,
                released: 1
            }
        );
        assert_eq!(report.attempts(), 6);
    }

    #[test]
    fn failures_say_what_happened() {
        let error = "upstream said 502";
        assert_eq!(
            HandlerFailure::Error(&error).to_string(),
            "upstream said 502"
        );
        assert_eq!(
            HandlerFailure::<&str>::Panicked("boom").to_string(),
            "the handler panicked: boom"
        );
        assert_eq!(
            HandlerFailure::<&str>::Cancelled.to_string(),
            "the handler was cancelled at the worker's shutdown"
        );
    }
}
