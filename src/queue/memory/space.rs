//! The jobs of one namespace in memory: a map from key to entry, and the ordered indexes that
//! take, purge and the dead-letter list read (each entry is in the one its state uses). Every
//! transition here is a plain function of the state and the time it is given.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::queue::{Enqueue, Job, JobRecord, JobState, Lease, QueueStats};
use crate::store::{ClaimToken, StoreError};

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Due at the record's `next_run_at` (in `due` under it).
    Pending,
    /// Held under `token` until the record's `next_run_at` (in `due` under it: a lease that
    /// runs out makes the job due again).
    Running { token: ClaimToken },
    /// Done under `token`, kept until `until` (in `done` under it).
    Done {
        token: ClaimToken,
        until: SystemTime,
    },
    /// Dead since `at` (in `dead` under it and `order`).
    Dead { at: SystemTime, order: u64 },
}

#[derive(Debug)]
struct Entry {
    record: JobRecord,
    slot: Slot,
    /// Fixed at enqueue: ties between equal times go in enqueue order.
    seq: u64,
    /// The backend's handle of the job (its sequence number, as text).
    handle: Arc<str>,
}

/// The jobs of one namespace.
#[derive(Debug, Default)]
pub(super) struct Space {
    jobs: HashMap<String, Entry>,
    /// Pending and running jobs by their next run time (a lease's end for a running one).
    due: BTreeMap<(SystemTime, u64), String>,
    /// Done jobs by the end of their retention.
    done: BTreeMap<(SystemTime, u64), String>,
    /// Dead jobs by when they died, and the order of their deaths.
    dead: BTreeMap<(SystemTime, u64), String>,
}

impl Space {
    pub(super) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.jobs.len()
    }

    /// The first time a job becomes due, if any is pending or running.
    pub(super) fn next_due(&self) -> Option<SystemTime> {
        self.due.keys().next().map(|(at, _)| *at)
    }

    pub(super) fn enqueue(&mut self, mut record: JobRecord, now: SystemTime, seq: u64) -> Enqueue {
        if let Some(entry) = self.jobs.get(&record.key) {
            match entry.slot {
                Slot::Done { until, .. } if until <= now => {
                    // Its retention is over: as good as absent.
                    self.remove(&record.key);
                }
                slot => {
                    return Enqueue::Duplicate {
                        state: state_of(slot),
                    };
                }
            }
        }
        record.attempts = 0;
        record.last_error = None;
        record.next_run_at = now;
        self.due.insert((now, seq), record.key.clone());
        self.jobs.insert(
            record.key.clone(),
            Entry {
                record,
                slot: Slot::Pending,
                seq,
                handle: seq.to_string().into(),
            },
        );
        Enqueue::Enqueued
    }

    /// Takes up to `max` due jobs, oldest first, each under a new lease until `until`.
    pub(super) fn take(&mut self, max: usize, now: SystemTime, until: SystemTime) -> Vec<Job> {
        let mut taken = Vec::new();
        while taken.len() < max {
            let Some(entry) = self.due.first_entry() else {
                break;
            };
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            let Some(job) = self.jobs.get_mut(&key) else {
                continue;
            };
            let token = ClaimToken::random();
            job.slot = Slot::Running { token };
            job.record.attempts = job.record.attempts.saturating_add(1);
            job.record.next_run_at = until;
            self.due.insert((until, job.seq), key);
            taken.push(Job::new(
                job.record.clone(),
                Lease {
                    token,
                    until,
                    handle: Arc::clone(&job.handle),
                },
            ));
        }
        taken
    }

    /// The entry of `job` when its token still holds it (running under that token).
    fn held(&mut self, job: &Job) -> Result<&mut Entry, StoreError> {
        match self.jobs.get_mut(job.key()) {
            Some(entry)
                if entry.slot
                    == (Slot::Running {
                        token: job.lease().token,
                    }) =>
            {
                Ok(entry)
            }
            _ => Err(StoreError::StaleToken),
        }
    }

    /// Moves `key`'s entry in the due index from `from` to `to`.
    fn reindex_due(&mut self, key: &str, seq: u64, from: SystemTime, to: Option<SystemTime>) {
        if let Some(key) = self.due.remove(&(from, seq)) {
            if let Some(to) = to {
                self.due.insert((to, seq), key);
            }
        } else if let Some(to) = to {
            self.due.insert((to, seq), key.to_owned());
        }
    }

    pub(super) fn renew(&mut self, job: &Job, until: SystemTime) -> Result<(), StoreError> {
        let entry = self.held(job)?;
        let (seq, from) = (entry.seq, entry.record.next_run_at);
        entry.record.next_run_at = until;
        self.reindex_due(job.key(), seq, from, Some(until));
        Ok(())
    }

    pub(super) fn complete(&mut self, job: &Job, until: SystemTime) -> Result<(), StoreError> {
        let token = job.lease().token;
        if let Some(Entry {
            slot: Slot::Done { token: done, .. },
            ..
        }) = self.jobs.get(job.key())
            && *done == token
        {
            return Ok(());
        }
        let entry = self.held(job)?;
        let (seq, from) = (entry.seq, entry.record.next_run_at);
        entry.slot = Slot::Done { token, until };
        self.reindex_due(job.key(), seq, from, None);
        self.done.insert((until, seq), job.key().to_owned());
        Ok(())
    }

    pub(super) fn fail(
        &mut self,
        job: &Job,
        error: &str,
        retry_at: Option<SystemTime>,
        now: SystemTime,
        order: u64,
    ) -> Result<(), StoreError> {
        let entry = self.held(job)?;
        let (seq, from) = (entry.seq, entry.record.next_run_at);
        entry.record.last_error = Some(error.to_owned());
        match retry_at {
            Some(at) => {
                entry.slot = Slot::Pending;
                entry.record.next_run_at = at;
                self.reindex_due(job.key(), seq, from, Some(at));
            }
            None => {
                entry.slot = Slot::Dead { at: now, order };
                entry.record.next_run_at = now;
                self.reindex_due(job.key(), seq, from, None);
                self.dead.insert((now, order), job.key().to_owned());
            }
        }
        Ok(())
    }

    pub(super) fn release(&mut self, job: &Job, now: SystemTime) -> Result<(), StoreError> {
        let entry = self.held(job)?;
        let (seq, from) = (entry.seq, entry.record.next_run_at);
        entry.slot = Slot::Pending;
        entry.record.attempts = entry.record.attempts.saturating_sub(1);
        entry.record.next_run_at = now;
        self.reindex_due(job.key(), seq, from, Some(now));
        Ok(())
    }

    /// Puts the dead job of `key` (or every dead job) back, pending at `now`.
    pub(super) fn redrive(&mut self, key: Option<&str>, now: SystemTime) -> u64 {
        let keys: Vec<String> = match key {
            Some(key) => match self.jobs.get(key) {
                Some(Entry {
                    slot: Slot::Dead { .. },
                    ..
                }) => vec![key.to_owned()],
                _ => Vec::new(),
            },
            None => self.dead.values().cloned().collect(),
        };
        let mut moved = 0;
        for key in keys {
            let Some(entry) = self.jobs.get_mut(&key) else {
                continue;
            };
            let Slot::Dead { at, order } = entry.slot else {
                continue;
            };
            self.dead.remove(&(at, order));
            entry.slot = Slot::Pending;
            entry.record.attempts = 0;
            entry.record.next_run_at = now;
            self.due.insert((now, entry.seq), key);
            moved += 1;
        }
        moved
    }

    /// Up to `limit` dead jobs, the most recently dead first.
    pub(super) fn dead(&self, limit: usize) -> Vec<JobRecord> {
        self.dead
            .values()
            .rev()
            .take(limit)
            .filter_map(|key| self.jobs.get(key).map(|entry| entry.record.clone()))
            .collect()
    }

    pub(super) fn stats(&self, now: SystemTime) -> QueueStats {
        let mut stats = QueueStats::default();
        let mut oldest: Option<SystemTime> = None;
        for entry in self.jobs.values() {
            match entry.slot {
                Slot::Pending => {
                    stats.pending += 1;
                    let received = entry.record.received_at;
                    oldest = Some(oldest.map_or(received, |seen| seen.min(received)));
                }
                Slot::Running { .. } => stats.running += 1,
                Slot::Done { until, .. } if until > now => stats.done += 1,
                Slot::Done { .. } => {}
                Slot::Dead { .. } => stats.dead += 1,
            }
        }
        stats.oldest_pending_age =
            oldest.map(|received| now.duration_since(received).unwrap_or(Duration::ZERO));
        stats
    }

    /// Removes the done jobs whose retention ended by `now`.
    pub(super) fn purge(&mut self, now: SystemTime) -> u64 {
        let mut purged = 0;
        while let Some(entry) = self.done.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.jobs.remove(&key);
            purged += 1;
        }
        purged
    }

    /// Removes `key`'s entry and its index place.
    fn remove(&mut self, key: &str) {
        let Some(entry) = self.jobs.remove(key) else {
            return;
        };
        match entry.slot {
            Slot::Pending | Slot::Running { .. } => {
                self.due.remove(&(entry.record.next_run_at, entry.seq));
            }
            Slot::Done { until, .. } => {
                self.done.remove(&(until, entry.seq));
            }
            Slot::Dead { at, order } => {
                self.dead.remove(&(at, order));
            }
        }
    }
}

fn state_of(slot: Slot) -> JobState {
    match slot {
        Slot::Pending => JobState::Pending,
        Slot::Running { .. } => JobState::Running,
        Slot::Done { .. } => JobState::Done,
        Slot::Dead { .. } => JobState::Dead,
    }
}
