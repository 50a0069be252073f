//! The [`ClaimGuard`] of an acquired claim, and the release of a claim dropped unsettled (its
//! handler panicked or was cancelled), where nothing can be awaited.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::{ClaimToken, IdempotencyStore, StoreError, store_event};
use crate::metrics::{self, Timer};

/// A held claim. [`complete`](Self::complete) it after the handler succeeded,
/// [`release`](Self::release) it after it failed; dropped without either, it releases the claim:
/// at once when the store's `release` answers ready, else on the current tokio runtime.
#[must_use = "a claim guard dropped at once releases the claim"]
pub struct ClaimGuard {
    store: Arc<dyn IdempotencyStore>,
    key: String,
    token: ClaimToken,
    retention: Duration,
    settled: bool,
}

impl fmt::Debug for ClaimGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimGuard")
            .field("key", &self.key)
            .field("token", &self.token)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl ClaimGuard {
    /// The guard of `token`'s claim on the stored key `key`.
    pub(super) fn new(
        store: Arc<dyn IdempotencyStore>,
        key: String,
        token: ClaimToken,
        retention: Duration,
    ) -> Self {
        Self {
            store,
            key,
            token,
            retention,
            settled: false,
        }
    }

    /// The stored (namespaced) key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The claim's token.
    #[must_use]
    pub fn token(&self) -> ClaimToken {
        self.token
    }

    /// Records the event as completed for the retention.
    ///
    /// After an error the claim is not released: the handler's effect happened, so the claim is
    /// left to its lease rather than handed to a retry at once.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the lease ran out and another worker claimed the event
    /// (the handler ran twice: raise the lease); another [`StoreError`] when the store cannot
    /// answer.
    pub async fn complete(mut self) -> Result<(), StoreError> {
        let timer = Timer::store(self.store.name());
        // A ready answer is taken as it is, without a poll.
        let result = match self
            .store
            .complete(&self.key, self.token, self.retention)
            .into_ready()
        {
            Ok(result) => result,
            Err(waiting) => waiting.await,
        };
        metrics::store_operation(self.store.name(), "complete", timer, result.as_ref().err());
        self.settled = true;
        if let Err(_error) = &result {
            store_event!(error, key = %self.key, error = %_error, "could not record a processed event as completed");
        }
        result
    }

    /// Removes the claim so that the sender's retry runs the handler.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when another worker claimed the event since; another
    /// [`StoreError`] when the store cannot answer (the claim then stays until its lease runs
    /// out).
    pub async fn release(mut self) -> Result<(), StoreError> {
        let timer = Timer::store(self.store.name());
        let result = match self.store.release(&self.key, self.token).into_ready() {
            Ok(result) => result,
            Err(waiting) => waiting.await,
        };
        metrics::store_operation(self.store.name(), "release", timer, result.as_ref().err());
        self.settled = true;
        if let Err(_error) = &result {
            store_event!(warn, key = %self.key, error = %_error, "could not release a failed event's claim; it stays until its lease runs out");
        }
        result
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if !self.settled {
            store_event!(warn, key = %self.key, "claim dropped without complete or release (handler panicked or was cancelled); releasing it");
            release_dropped(
                Arc::clone(&self.store),
                std::mem::take(&mut self.key),
                self.token,
            );
        }
    }
}

/// Releases a dropped claim without awaiting: the store's answer when its `release` is ready at
/// once (the memory store: no allocation); else the release, made owned (the store and the
/// key moved in), spawned on the current tokio runtime; else that future polled once. A release
/// that cannot finish leaves the claim to its lease.
fn release_dropped(store: Arc<dyn IdempotencyStore>, key: String, token: ClaimToken) {
    let timer = Timer::store(store.name());
    match store.release(&key, token).into_ready() {
        Ok(answer) => return report(&*store, &key, timer, answer),
        // Not polled, so it did nothing; it borrows what the owned release below takes.
        Err(waiting) => drop(waiting),
    }
    // Every feature that compiles tokio in; the verifier-only and memory-only builds have none.
    #[cfg(any(
        feature = "redis",
        feature = "postgres",
        feature = "sqlite",
        feature = "queue",
        feature = "sender"
    ))]
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let answer = store.release(&key, token).await;
            report(&*store, &key, timer, answer);
        });
        return;
    }
    let mut release = store.release(&key, token);
    match std::pin::Pin::new(&mut release).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(answer) => report(&*store, &key, timer, answer),
        Poll::Pending => {
            store_event!(warn, key = %key, "no tokio runtime to finish the release of a dropped claim on; it stays until its lease runs out");
        }
    }
}

/// Records and logs the release of a dropped claim, started at `timer`.
fn report(store: &dyn IdempotencyStore, _key: &str, timer: Timer, answer: Result<(), StoreError>) {
    metrics::store_operation(store.name(), "release", timer, answer.as_ref().err());
    if let Err(_error) = answer {
        store_event!(warn, key = %_key, error = %_error, "could not release a dropped claim; it stays until its lease runs out");
    }
}

#[cfg(test)]
mod tests;
