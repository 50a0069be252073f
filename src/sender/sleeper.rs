//! How the sender waits between attempts: the [`Sleeper`] trait, the real [`TokioSleeper`],
//! and the [`InstantSleeper`] of tests, which moves a [`MockClock`] forward at once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::MockClock;

/// Waits. The sender sleeps between attempts through this, so tests can make time pass
/// instantly.
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Resolves once `duration` has passed (in whatever time the sleeper keeps).
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Sleeps for real, on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// For tests: "sleeps" by moving a [`MockClock`] forward at once, and records each sleep.
///
/// Give the sender the same clock (its timestamps then follow the schedule) and give it to the
/// receiver's verifier and store too, so they judge the signatures at the same virtual time.
#[derive(Debug, Clone)]
pub struct InstantSleeper {
    clock: MockClock,
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl InstantSleeper {
    /// A sleeper advancing `clock` (clones share the time).
    #[must_use]
    pub fn new(clock: MockClock) -> Self {
        Self {
            clock,
            slept: Arc::default(),
        }
    }

    /// The clock it advances.
    #[must_use]
    pub fn clock(&self) -> &MockClock {
        &self.clock
    }

    /// Every sleep so far, in order.
    #[must_use]
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Sleeper for InstantSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.clock.advance(duration);
        if let Ok(mut slept) = self.slept.lock() {
            slept.push(duration);
        }
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::clock::Clock as _;

    #[test]
    fn instant_sleeper_advances_the_clock() {
        let clock = MockClock::at_unix(100);
        let sleeper = InstantSleeper::new(clock.clone());
        drop(sleeper.sleep(Duration::from_secs(5)));
        drop(sleeper.sleep(Duration::from_millis(1500)));
        assert_eq!(
            sleeper.slept(),
            [Duration::from_secs(5), Duration::from_millis(1500)]
        );
        assert_eq!(
            clock.now(),
            SystemTime::UNIX_EPOCH + Duration::from_millis(106_500)
        );
    }
}
