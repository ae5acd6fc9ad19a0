//! The node's Lamport clock: advanced by every write it signs and by every write it accepts.

use core::fmt;

use super::entry::LAMPORT_CEILING;

/// Largest step one received envelope may move the clock forward (2^20). A write from a
/// writer whose clock jumped far ahead is still accepted and ordered by its own time, but it
/// drags every other node's clock only this far, so the honest writers' times stay small:
/// pushing a clock to the ceiling takes 2^42 accepted envelopes.
pub const MAX_CLOCK_STEP: u64 = 1 << 20;

/// The clock cannot give a time below [`LAMPORT_CEILING`] any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockExhausted;

impl fmt::Display for ClockExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lamport clock at its ceiling: the key cannot be written over")
    }
}

impl core::error::Error for ClockExhausted {}

/// A Lamport clock (Lamport, 1978), starting at 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LamportClock {
    time: u64,
}

impl LamportClock {
    /// A clock at `time` (as persisted), kept below [`LAMPORT_CEILING`].
    pub fn at(time: u64) -> Self {
        Self {
            time: time.min(LAMPORT_CEILING - 1),
        }
    }

    /// The latest time given or seen.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// An envelope at `lamport` was received: the clock moves past it (Lamport's rule IR2),
    /// at most [`MAX_CLOCK_STEP`] ahead of where it was.
    pub fn observe(&mut self, lamport: u64) {
        let reachable = self.time.saturating_add(MAX_CLOCK_STEP);
        self.time = self
            .time
            .max(lamport.saturating_add(1).min(reachable))
            .min(LAMPORT_CEILING - 1);
    }

    /// The time of a new write over a key whose current version is at `current` (0 if the
    /// key is new): after everything this node has seen, and after `current`, so a node's
    /// own write always wins over what it holds.
    pub fn next_after(&mut self, current: u64) -> Result<u64, ClockExhausted> {
        let next = self
            .time
            .max(current)
            .checked_add(1)
            .ok_or(ClockExhausted)?;
        if next >= LAMPORT_CEILING {
            return Err(ClockExhausted);
        }
        self.time = next;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_tick_and_follow_what_was_seen() {
        let mut clock = LamportClock::default();
        assert_eq!(clock.next_after(0), Ok(1));
        assert_eq!(clock.next_after(0), Ok(2));
        clock.observe(40);
        assert_eq!(clock.time(), 41, "past what it received");
        assert_eq!(clock.next_after(0), Ok(42));
        // A key whose version is ahead of the clock is written over after it.
        assert_eq!(clock.next_after(100), Ok(101));
        clock.observe(5);
        assert_eq!(
            clock.time(),
            101,
            "an older time never moves the clock back"
        );
    }

    #[test]
    fn one_received_write_moves_the_clock_by_a_bounded_step() {
        let mut clock = LamportClock::at(10);
        clock.observe(u64::MAX);
        assert_eq!(clock.time(), 10 + MAX_CLOCK_STEP);
        clock.observe(LAMPORT_CEILING - 2);
        assert_eq!(clock.time(), 10 + 2 * MAX_CLOCK_STEP);
    }

    #[test]
    fn the_ceiling_is_never_given() {
        let mut clock = LamportClock::at(u64::MAX);
        assert_eq!(clock.time(), LAMPORT_CEILING - 1);
        assert_eq!(clock.next_after(0), Err(ClockExhausted));
        let mut clock = LamportClock::default();
        assert_eq!(
            clock.next_after(LAMPORT_CEILING - 2),
            Ok(LAMPORT_CEILING - 1)
        );
        assert_eq!(clock.next_after(0), Err(ClockExhausted));
        assert_eq!(clock.next_after(u64::MAX), Err(ClockExhausted));
    }
}
