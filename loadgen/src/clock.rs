//! One monotonic clock for the whole run, readable as the core's `Instant` and as nanoseconds.

use std::time::Instant as StdInstant;

use micelio_core::time::Instant;

/// The run's clock: every instant is measured from one origin, so send and receive times taken
/// on different threads compare directly.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: StdInstant,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Self {
        Clock {
            origin: StdInstant::now(),
        }
    }

    /// Nanoseconds since the origin.
    pub fn nanos(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Now, as the core's instant.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.nanos())
    }
}
