//! The daemon's clock: the monotonic clock mapped onto the core's `Instant`, and Unix time.

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

    /// Seconds since the Unix epoch, now.
    pub fn unix_now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}
