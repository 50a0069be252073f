//! Time as an injected dependency: the verifier's tolerance check and the stores' lease and
//! retention expiry read the same [`Clock`], so tests drive them with a [`MockClock`] instead of
//! sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
///
/// Implement it to drive time yourself; the crate ships [`SystemClock`] and [`MockClock`].
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time as whole seconds since the Unix epoch (0 for any time before it).
    fn unix_seconds(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The operating system's clock, read coarsely (`CLOCK_REALTIME_COARSE` on Linux: the time at
/// the kernel's last tick, a few milliseconds behind at most), for about half the cost of
/// [`SystemClock`] (21 against 48 ns on the development VM). The memory store's default: its
/// leases and retentions are seconds to days. Elsewhere than Linux it is [`SystemClock`].
#[cfg(feature = "memory")]
#[derive(Debug, Clone, Copy, Default)]
pub struct CoarseClock;

#[cfg(feature = "memory")]
impl Clock for CoarseClock {
    #[cfg(target_os = "linux")]
    fn now(&self) -> SystemTime {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        match (u64::try_from(now.tv_sec), u32::try_from(now.tv_nsec)) {
            (Ok(secs), Ok(nanos)) => UNIX_EPOCH + Duration::new(secs, nanos),
            _ => UNIX_EPOCH,
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until a test moves it.
///
/// Clones share one time, so a test keeps a clone and advances the clock that a verifier or a
/// store holds.
///
/// ```
/// use amps_webhooks::{Clock, MockClock};
/// use std::time::Duration;
///
/// let clock = MockClock::at_unix(1_700_000_000);
/// let shared = clock.clone();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(shared.unix_seconds(), 1_700_000_090);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MockClock {
    /// Nanoseconds since the Unix epoch.
    nanos: Arc<AtomicU64>,
}

impl MockClock {
    /// A clock reading `seconds` after the Unix epoch.
    #[must_use]
    pub fn at_unix(seconds: u64) -> Self {
        let clock = Self::default();
        clock.set_unix(seconds);
        clock
    }

    /// A clock reading `time` (the Unix epoch for anything earlier, saturating past year 2554).
    #[must_use]
    pub fn at(time: SystemTime) -> Self {
        let clock = Self::default();
        clock.set(time);
        clock
    }

    /// Moves the clock forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update never fails when the closure always returns Some.
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by))
            });
    }

    /// Moves the clock back by `by` (saturating at the epoch), to test future timestamps.
    pub fn rewind(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_sub(by))
            });
    }

    /// Sets the clock to `seconds` after the Unix epoch.
    pub fn set_unix(&self, seconds: u64) {
        self.nanos
            .store(seconds.saturating_mul(1_000_000_000), Ordering::SeqCst);
    }

    /// Sets the clock to `time`.
    pub fn set(&self, time: SystemTime) {
        let nanos = time.duration_since(UNIX_EPOCH).map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        });
        self.nanos.store(nanos, Ordering::SeqCst);
    }
}

impl Clock for MockClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_clock_moves_only_when_told() {
        let clock = MockClock::at_unix(100);
        let other = clock.clone();
        assert_eq!(other.unix_seconds(), 100);
        clock.advance(Duration::from_millis(2_500));
        assert_eq!(other.unix_seconds(), 102);
        other.rewind(Duration::from_secs(1_000));
        assert_eq!(clock.unix_seconds(), 0);
        clock.advance(Duration::MAX);
        assert_eq!(clock.unix_seconds(), u64::MAX / 1_000_000_000);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.unix_seconds() > 1_577_836_800);
    }

    #[cfg(feature = "memory")]
    #[test]
    fn coarse_clock_reads_the_system_time_within_its_tick() {
        let coarse = CoarseClock.now();
        let system = SystemTime::now();
        // At most one kernel tick behind (a few milliseconds); never after the precise time.
        let behind = system.duration_since(coarse).unwrap_or_default();
        assert!(behind < Duration::from_secs(1), "{behind:?}");
        assert!(coarse.duration_since(system).unwrap_or_default() < Duration::from_millis(1));
    }
}
