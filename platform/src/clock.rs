//! The host clock for a runtime: the OS monotonic clock mapped onto the core's `Instant`, and
//! Unix time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use micelio_core::time::Instant;

/// Converts between the OS monotonic clock and the core's virtual instants.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock whose instant zero is now.
    pub fn start() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The current instant for the core.
    pub fn now(&self) -> Instant {
        let nanos = self.origin.elapsed().as_nanos();
        Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// How long from now until `at` (zero if it has passed).
    pub fn until(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.now())
    }

    /// The OS instant corresponding to the core's `at` (for timers such as `Timer::at`).
    pub fn to_std(&self, at: Instant) -> std::time::Instant {
        let offset = Duration::from_nanos(at.as_nanos());
        self.origin
            .checked_add(offset)
            .unwrap_or_else(|| self.origin + Duration::from_secs(365 * 24 * 3600))
    }

    /// Seconds since the Unix epoch, now.
    pub fn unix_now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_std_round_trips_through_now() {
        let clock = Clock::start();
        let at = clock.now() + Duration::from_millis(250);
        let std_at = clock.to_std(at);
        let back = std_at.duration_since(clock.origin);
        assert_eq!(back, Duration::from_nanos(at.as_nanos()));
    }
}
