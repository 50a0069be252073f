//! [`StoreFuture`]: what the [`IdempotencyStore`](super::IdempotencyStore) methods return,
//! either an answer ready at once (no allocation) or a boxed future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A boxed, `Send` future, as [`StoreFuture::new`] holds one (and [`StoreFuture::from`] takes).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The future an [`IdempotencyStore`](super::IdempotencyStore) method returns: an answer
/// ready at once ([`ready`](Self::ready)), from a store that never waits (no allocation, and
/// the [`ClaimGuard`](super::ClaimGuard) of a dropped claim releases it on the spot), or a
/// boxed future ([`new`](Self::new)), from a store that does I/O. Await it as any future.
///
/// A store's boxed future should do its work when polled, not when made (as `async` blocks
/// do): a claim dropped without an answer is released by a second call of `release`, made
/// owned and spawned.
#[must_use = "futures do nothing unless awaited"]
pub struct StoreFuture<'a, T> {
    state: State<'a, T>,
}

enum State<'a, T> {
    /// The answer, until the first poll takes it.
    Ready(Option<T>),
    Boxed(BoxFuture<'a, T>),
}

impl<'a, T> StoreFuture<'a, T> {
    /// A future that answers `value` at its first poll, without an allocation.
    #[inline]
    pub const fn ready(value: T) -> Self {
        Self {
            state: State::Ready(Some(value)),
        }
    }

    /// A future that waits: `future`, boxed.
    pub fn new(future: impl Future<Output = T> + Send + 'a) -> Self {
        Self::from(Box::pin(future) as BoxFuture<'a, T>)
    }

    /// The answer when the store gave it at once ([`ready`](Self::ready) and not yet polled),
    /// else the future itself, to await. What the [`Deduplicator`](super::Deduplicator) does
    /// first: a ready answer is taken without a poll.
    ///
    /// # Errors
    ///
    /// The future itself (`Err`) when the answer is not ready at once.
    #[inline]
    pub fn into_ready(self) -> Result<T, Self> {
        match self.state {
            State::Ready(Some(value)) => Ok(value),
            state => Err(Self { state }),
        }
    }
}

impl<'a, T> From<BoxFuture<'a, T>> for StoreFuture<'a, T> {
    fn from(future: BoxFuture<'a, T>) -> Self {
        Self {
            state: State::Boxed(future),
        }
    }
}

// The answer is moved out, never pinned; the boxed future is pinned in its box.
impl<T> Unpin for StoreFuture<'_, T> {}

impl<T> Future for StoreFuture<'_, T> {
    type Output = T;

    // As `std::future::Ready`: a poll after the answer is a misuse, not a state to report.
    #[allow(clippy::expect_used)]
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.get_mut().state {
            State::Ready(value) => {
                Poll::Ready(value.take().expect("StoreFuture polled after it answered"))
            }
            State::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for StoreFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Ready(value) => f.debug_tuple("StoreFuture::Ready").field(value).finish(),
            State::Boxed(_) => f.write_str("StoreFuture::Boxed(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn poll_once<T>(future: &mut StoreFuture<'_, T>) -> Poll<T> {
        Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_ready_future_answers_at_once_and_gives_its_answer_back() {
        assert!(matches!(StoreFuture::ready(7).into_ready(), Ok(7)));
        assert_eq!(poll_once(&mut StoreFuture::ready(7)), Poll::Ready(7));
        assert_eq!(
            format!("{:?}", StoreFuture::ready(7)),
            "StoreFuture::Ready(Some(7))"
        );
    }

    #[test]
    fn a_boxed_future_is_polled_through() {
        let mut answered = StoreFuture::new(async { 3 });
        assert_eq!(format!("{answered:?}"), "StoreFuture::Boxed(..)");
        assert_eq!(poll_once(&mut answered), Poll::Ready(3));
        let Err(mut waiting) = StoreFuture::<()>::new(std::future::pending()).into_ready() else {
            panic!("a boxed future is not ready at once");
        };
        assert_eq!(poll_once(&mut waiting), Poll::Pending);
        let from: BoxFuture<'_, u8> = Box::pin(async { 5 });
        assert_eq!(poll_once(&mut StoreFuture::from(from)), Poll::Ready(5));
    }
}
