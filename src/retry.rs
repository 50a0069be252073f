//! When to try again: the [`RetrySchedule`] (the delay before each attempt, and its jitter)
//! and the [`JitterSource`] the jitter is drawn from ([`SeededJitter`]).
//!
//! Shared by the reference sender (`sender::Sender`) and the queue's workers (`queue::Worker`): both
//! retry along the same schedule. This module knows nothing of HTTP or of the sender; its
//! errors are its own ([`ScheduleError`]).
//!
//! ```
//! use std::time::Duration;
//! use amps_webhooks::retry::{JitterSource as _, RetrySchedule, SeededJitter};
//!
//! let schedule = RetrySchedule::fixed([Duration::ZERO, Duration::from_secs(10)])?;
//! let jitter = SeededJitter::new(7);
//! let wait = schedule.jittered(schedule.delays()[1], jitter.next_unit());
//! assert!(wait >= Duration::from_secs(8) && wait <= Duration::from_secs(12));
//! # Ok::<(), amps_webhooks::retry::ScheduleError>(())
//! ```

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The jitter by default: each retry delay is drawn within plus or minus 20 % of its nominal
/// value.
pub const DEFAULT_JITTER: f64 = 0.2;
/// The longest delay a schedule may hold: 30 days.
pub const MAX_SCHEDULE_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most attempts a schedule may hold.
pub const MAX_ATTEMPTS: usize = 100;

/// Why a retry schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScheduleError {
    /// No delay was given: a schedule needs at least one attempt.
    NoAttempt,
    /// More attempts than a schedule may hold.
    TooManyAttempts {
        /// The most attempts allowed ([`MAX_ATTEMPTS`]).
        max: usize,
    },
    /// A delay longer than a schedule may hold.
    DelayTooLong {
        /// The longest delay allowed ([`MAX_SCHEDULE_DELAY`]).
        max: Duration,
    },
    /// The growth factor of an exponential schedule is below 1 or not finite.
    InvalidFactor,
    /// The jitter fraction is outside `[0, 1)`.
    InvalidJitter,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid retry schedule: ")?;
        match self {
            Self::NoAttempt => f.write_str("give at least one delay (0s for an immediate attempt)"),
            Self::TooManyAttempts { max } => write!(f, "at most {max} attempts"),
            Self::DelayTooLong { max } => {
                write!(
                    f,
                    "each delay must be at most {} days",
                    max.as_secs() / 86_400
                )
            }
            Self::InvalidFactor => f.write_str("the factor must be a finite number of at least 1"),
            Self::InvalidJitter => f.write_str("the jitter must be a fraction in [0, 1)"),
        }
    }
}

impl std::error::Error for ScheduleError {}

/// A source of uniform random numbers in `[0, 1)` for the jitter.
pub trait JitterSource: Send + Sync + fmt::Debug {
    /// The next number, uniform in `[0, 1)`.
    fn next_unit(&self) -> f64;
}

/// A small deterministic generator (SplitMix64): seeded in tests, so a run's jitter is known;
/// seeded from the operating system's randomness by [`SeededJitter::from_entropy`] (the
/// default). Not for cryptography: jitter only spreads retries out.
#[derive(Debug)]
pub struct SeededJitter {
    state: Mutex<u64>,
}

impl SeededJitter {
    /// A generator whose sequence is fixed by `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            state: Mutex::new(seed),
        }
    }

    /// A generator seeded from the standard library's per-process random keys.
    #[must_use]
    pub fn from_entropy() -> Self {
        let mut hasher = std::hash::RandomState::new().build_hasher();
        hasher.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos()),
        );
        Self::new(hasher.finish())
    }
}

impl JitterSource for SeededJitter {
    fn next_unit(&self) -> f64 {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits, as a double in [0, 1).
        #[allow(clippy::cast_precision_loss)]
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }
}

/// When the attempts happen: the delay before each (the first usually 0), and the jitter.
///
/// ```
/// use std::time::Duration;
/// use amps_webhooks::retry::RetrySchedule;
///
/// let platform = RetrySchedule::platform();
/// assert_eq!(platform.attempts(), 8);
/// assert_eq!(platform.delays()[2], Duration::from_secs(300));
///
/// let exponential = RetrySchedule::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(60), 4)?;
/// let secs: Vec<u64> = exponential.delays().iter().map(Duration::as_secs).collect();
/// assert_eq!(secs, [0, 1, 2, 4, 8]);
/// # Ok::<(), amps_webhooks::retry::ScheduleError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
    jitter: f64,
}

impl RetrySchedule {
    /// The platform's schedule: at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
    /// (8 attempts over about 27.6 hours), with plus or minus 20 % jitter.
    #[must_use]
    pub fn platform() -> Self {
        let secs = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000];
        Self {
            delays: secs.into_iter().map(Duration::from_secs).collect(),
            jitter: DEFAULT_JITTER,
        }
    }

    /// Attempts after these delays, each counted from the previous attempt's end (the first
    /// from the start of the delivery), with plus or minus 20 % jitter.
    ///
    /// # Errors
    /// [`ScheduleError::NoAttempt`] for no delay, [`ScheduleError::TooManyAttempts`] for more
    /// than [`MAX_ATTEMPTS`], [`ScheduleError::DelayTooLong`] for a delay over
    /// [`MAX_SCHEDULE_DELAY`].
    pub fn fixed(delays: impl IntoIterator<Item = Duration>) -> Result<Self, ScheduleError> {
        let delays: Vec<Duration> = delays.into_iter().collect();
        if delays.is_empty() {
            return Err(ScheduleError::NoAttempt);
        }
        if delays.len() > MAX_ATTEMPTS {
            return Err(ScheduleError::TooManyAttempts { max: MAX_ATTEMPTS });
        }
        if delays.iter().any(|delay| *delay > MAX_SCHEDULE_DELAY) {
            return Err(ScheduleError::DelayTooLong {
                max: MAX_SCHEDULE_DELAY,
            });
        }
        Ok(Self {
            delays,
            jitter: DEFAULT_JITTER,
        })
    }

    /// An attempt at once, then `retries` retries, the first after `first_retry`, each next
    /// one `factor` times longer, none longer than `max_delay`; plus or minus 20 % jitter.
    ///
    /// # Errors
    /// [`ScheduleError::InvalidFactor`] for a factor below 1 or not finite,
    /// [`ScheduleError::TooManyAttempts`] for more than [`MAX_ATTEMPTS`] attempts,
    /// [`ScheduleError::DelayTooLong`] for a `max_delay` over [`MAX_SCHEDULE_DELAY`] that the
    /// delays reach.
    pub fn exponential(
        first_retry: Duration,
        factor: f64,
        max_delay: Duration,
        retries: usize,
    ) -> Result<Self, ScheduleError> {
        if !factor.is_finite() || factor < 1.0 {
            return Err(ScheduleError::InvalidFactor);
        }
        if retries >= MAX_ATTEMPTS {
            return Err(ScheduleError::TooManyAttempts { max: MAX_ATTEMPTS });
        }
        let mut delays = Vec::with_capacity(retries + 1);
        delays.push(Duration::ZERO);
        let mut next = first_retry.min(max_delay);
        for _ in 0..retries {
            delays.push(next);
            next = Duration::try_from_secs_f64(next.as_secs_f64() * factor)
                .unwrap_or(max_delay)
                .min(max_delay);
        }
        Self::fixed(delays)
    }

    /// The same delays with another jitter: each delay is drawn uniformly within plus or minus
    /// `fraction` of its nominal value (0 for none).
    ///
    /// # Errors
    /// [`ScheduleError::InvalidJitter`] for a fraction outside `[0, 1)`.
    pub fn with_jitter(mut self, fraction: f64) -> Result<Self, ScheduleError> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(ScheduleError::InvalidJitter);
        }
        self.jitter = fraction;
        Ok(self)
    }

    /// The nominal delay before each attempt.
    #[must_use]
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// How many attempts the schedule allows.
    #[must_use]
    pub fn attempts(&self) -> usize {
        self.delays.len()
    }

    /// The jitter fraction.
    #[must_use]
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// `nominal` with jitter drawn from `unit` (uniform in `[0, 1)`): within plus or minus
    /// the jitter fraction of `nominal`.
    #[must_use]
    pub fn jittered(&self, nominal: Duration, unit: f64) -> Duration {
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::try_from_secs_f64(nominal.as_secs_f64() * factor).unwrap_or(nominal)
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::platform()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_schedule_is_the_documented_one() {
        let schedule = RetrySchedule::platform();
        let secs: Vec<u64> = schedule.delays().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
        assert!((schedule.jitter() - 0.2).abs() < f64::EPSILON);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let schedule = RetrySchedule::platform();
        let nominal = Duration::from_secs(300);
        assert_eq!(schedule.jittered(nominal, 0.0), Duration::from_secs(240));
        assert_eq!(schedule.jittered(nominal, 0.5), nominal);
        let source = SeededJitter::new(7);
        for _ in 0..10_000 {
            let unit = source.next_unit();
            assert!((0.0..1.0).contains(&unit), "{unit}");
            let delay = schedule.jittered(nominal, unit);
            assert!(delay >= Duration::from_secs(240) && delay <= Duration::from_secs(360));
        }
        // Seeded: the same sequence every time.
        let (a, b) = (SeededJitter::new(42), SeededJitter::new(42));
        for _ in 0..100 {
            assert_eq!(a.next_unit().to_bits(), b.next_unit().to_bits());
        }
    }

    #[test]
    fn schedules_refuse_bad_input() {
        assert_eq!(RetrySchedule::fixed([]), Err(ScheduleError::NoAttempt));
        assert_eq!(
            ScheduleError::NoAttempt.to_string(),
            "invalid retry schedule: give at least one delay (0s for an immediate attempt)"
        );
        assert_eq!(
            RetrySchedule::fixed(vec![Duration::ZERO; 101]),
            Err(ScheduleError::TooManyAttempts { max: 100 })
        );
        assert_eq!(
            RetrySchedule::fixed([Duration::from_secs(31 * 24 * 3600)]),
            Err(ScheduleError::DelayTooLong {
                max: Duration::from_secs(30 * 24 * 3600)
            })
        );
        assert_eq!(
            ScheduleError::DelayTooLong {
                max: MAX_SCHEDULE_DELAY
            }
            .to_string(),
            "invalid retry schedule: each delay must be at most 30 days"
        );
        assert_eq!(
            RetrySchedule::exponential(Duration::from_secs(1), 0.5, Duration::from_secs(9), 3),
            Err(ScheduleError::InvalidFactor)
        );
        assert_eq!(
            RetrySchedule::exponential(Duration::from_secs(1), f64::NAN, Duration::from_secs(9), 3),
            Err(ScheduleError::InvalidFactor)
        );
        assert_eq!(
            RetrySchedule::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(9), 100),
            Err(ScheduleError::TooManyAttempts { max: 100 })
        );
        assert_eq!(
            RetrySchedule::platform().with_jitter(1.0),
            Err(ScheduleError::InvalidJitter)
        );
        let capped =
            RetrySchedule::exponential(Duration::from_secs(10), 10.0, Duration::from_secs(500), 4)
                .unwrap();
        let secs: Vec<u64> = capped.delays().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [0, 10, 100, 500, 500]);
    }
}
