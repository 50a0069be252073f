//! A dropped guard releases its claim: through a ready answer, a spawned release, or one poll.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use super::*;
use crate::store::{Admission, Claim, Deduplicator, StoreFuture};

/// How a [`Counting`] store's `release` answers.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// `StoreFuture::ready`.
    Ready,
    /// A boxed future that finishes at its first poll.
    Boxed,
    /// A boxed future that finishes after yielding once (waits for a waker).
    Yielding,
    /// A boxed future that never finishes.
    Never,
}

/// A store whose claims are acquired at once, whose completions never finish, and which counts
/// its releases, answered as told.
#[derive(Debug)]
struct Counting {
    release: Answer,
    releases: AtomicUsize,
}

impl Counting {
    fn new(release: Answer) -> Arc<Self> {
        Arc::new(Self {
            release,
            releases: AtomicUsize::new(0),
        })
    }

    fn released(&self) -> usize {
        self.releases.load(Ordering::SeqCst)
    }
}

/// Yields once, waking its task, then finishes.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

impl IdempotencyStore for Counting {
    fn claim<'a>(
        &'a self,
        _key: &'a str,
        _lease: Duration,
    ) -> StoreFuture<'a, Result<Claim, StoreError>> {
        StoreFuture::ready(Ok(Claim::Acquired(ClaimToken::random())))
    }

    fn complete<'a>(
        &'a self,
        _key: &'a str,
        _token: ClaimToken,
        _retention: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::new(std::future::pending())
    }

    fn release<'a>(
        &'a self,
        _key: &'a str,
        _token: ClaimToken,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        match self.release {
            Answer::Ready => {
                self.releases.fetch_add(1, Ordering::SeqCst);
                StoreFuture::ready(Ok(()))
            }
            Answer::Boxed => StoreFuture::new(async move {
                self.releases.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }),
            Answer::Yielding => StoreFuture::new(async move {
                yield_once().await;
                self.releases.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }),
            Answer::Never => StoreFuture::new(std::future::pending()),
        }
    }
}

/// A guard from `store`'s claim of `evt_1`, which must not wait.
fn acquire(store: &Arc<Counting>) -> ClaimGuard {
    let dedup = Deduplicator::new(store.clone(), "test").unwrap();
    let claimed = dedup.claim("evt_1");
    let mut claimed = std::pin::pin!(claimed);
    let outcome = match claimed
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(outcome) => outcome,
        Poll::Pending => panic!("a ready store's claim does not wait"),
    };
    let Admission::Acquired(guard) = outcome else {
        panic!("the claim is acquired");
    };
    guard
}

#[test]
fn a_dropped_claim_is_released_through_a_ready_future() {
    let store = Counting::new(Answer::Ready);
    let guard = acquire(&store);
    assert_eq!(store.released(), 0);
    drop(guard);
    assert_eq!(store.released(), 1);
}

#[test]
fn without_a_runtime_a_dropped_claim_is_released_by_one_poll() {
    let store = Counting::new(Answer::Boxed);
    drop(acquire(&store));
    assert_eq!(store.released(), 1);
    // A release that needs more than one poll cannot finish here: the claim stays to its lease.
    for answer in [Answer::Yielding, Answer::Never] {
        let store = Counting::new(answer);
        drop(acquire(&store));
        assert_eq!(store.released(), 0, "{answer:?}");
    }
}

#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "sqlite",
    feature = "queue",
    feature = "sender"
))]
#[test]
fn on_a_runtime_a_dropped_claim_is_released_by_a_spawned_task() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = Counting::new(Answer::Yielding);
    let guard = acquire(&store);
    runtime.block_on(async {
        drop(guard);
        // Spawned, not run yet: the task runs while this one waits.
        assert_eq!(store.released(), 0);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(store.released(), 1);
    });
    // A ready release needs no runtime even inside one: it is done by the drop itself.
    let store = Counting::new(Answer::Ready);
    let guard = acquire(&store);
    runtime.block_on(async move { drop(guard) });
    assert_eq!(store.released(), 1);
}
