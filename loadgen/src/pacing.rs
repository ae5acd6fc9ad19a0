//! Rate pacing: how many messages should have been sent a given time after the start.

use std::time::Duration;

/// A constant-rate schedule: message `n` (from 0) is due `n / rate` seconds after the start.
/// Integer arithmetic, so the schedule never drifts.
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    /// Messages per 1,000 seconds.
    per_kilosecond: u128,
}

const NANOS_PER_KILOSECOND: u128 = 1_000_000_000_000;

impl Pacer {
    /// A schedule of `rate` messages per second (at least one per 1,000 s).
    pub fn new(rate: f64) -> Pacer {
        Pacer {
            per_kilosecond: ((rate * 1000.0).round() as u128).max(1),
        }
    }

    /// Messages due `elapsed` after the start: the first one at once.
    pub fn due(&self, elapsed: Duration) -> u64 {
        let due = elapsed.as_nanos() * self.per_kilosecond / NANOS_PER_KILOSECOND + 1;
        u64::try_from(due).unwrap_or(u64::MAX)
    }

    /// When message `n` is due, after the start.
    pub fn due_at(&self, n: u64) -> Duration {
        let nanos = (u128::from(n) * NANOS_PER_KILOSECOND).div_ceil(self.per_kilosecond);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hundred_per_second_is_one_every_ten_milliseconds() {
        let pacer = Pacer::new(100.0);
        assert_eq!(pacer.due(Duration::ZERO), 1);
        assert_eq!(pacer.due(Duration::from_micros(9_999)), 1);
        assert_eq!(pacer.due(Duration::from_millis(10)), 2);
        assert_eq!(pacer.due(Duration::from_secs(1)), 101);
        assert_eq!(pacer.due_at(1), Duration::from_millis(10));
        assert_eq!(pacer.due_at(100), Duration::from_secs(1));
    }

    #[test]
    fn due_at_is_the_first_instant_a_message_becomes_due() {
        for rate in [3.0, 9.5, 1234.5, 50_000.0] {
            let pacer = Pacer::new(rate);
            for n in [1u64, 7, 1000, 123_457] {
                let at = pacer.due_at(n);
                assert_eq!(pacer.due(at), n + 1, "rate {rate} n {n}");
                assert_eq!(
                    pacer.due(at - Duration::from_nanos(1)),
                    n,
                    "rate {rate} n {n}"
                );
            }
        }
    }
}
