//! Permanent dialing of the configured bootstrap addresses with back-off (spec §12.8).

use alloc::string::String;
use core::time::Duration;

use super::io::{ConnId, DialId};
use crate::identity::NodeId;
use crate::time::Instant;

/// Where one bootstrap address stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootstrapState {
    /// Dial at this instant.
    Waiting(Instant),
    /// A dial is in flight.
    Dialing(DialId),
    /// Connected (maybe not yet admitted) on this connection.
    Connected(ConnId),
    /// Not dialed while the node behind the address is connected by another connection.
    Parked,
    /// Never dialed again (it is this node's own address).
    Disabled,
}

/// One bootstrap address and its back-off.
#[derive(Clone, Debug)]
pub struct BootstrapDialer {
    /// The address, compared by exact string.
    pub addr: String,
    /// Current state.
    pub state: BootstrapState,
    /// The node that answered at this address last time.
    pub node: Option<NodeId>,
    delay: Duration,
    max_delay: Duration,
}

/// The first back-off delay.
const INITIAL_DELAY: Duration = Duration::from_secs(1);

impl BootstrapDialer {
    /// A dialer that dials `addr` at `now`.
    pub fn new(addr: String, now: Instant, max_delay: Duration) -> Self {
        BootstrapDialer {
            addr,
            state: BootstrapState::Waiting(now),
            node: None,
            delay: INITIAL_DELAY,
            max_delay,
        }
    }

    /// The attempt failed (connect, Noise, hello or admission): wait, then double the delay.
    pub fn failed(&mut self, now: Instant) {
        self.state = BootstrapState::Waiting(now + self.delay);
        self.delay = core::cmp::min(self.delay * 2, self.max_delay);
    }

    /// An admitted connection ended: reset the back-off and re-dial after the first delay
    /// (the reference re-dials at once; one second avoids a tight loop against a peer that
    /// rejects right after the hello).
    pub fn ended(&mut self, now: Instant) {
        self.delay = INITIAL_DELAY;
        self.state = BootstrapState::Waiting(now + INITIAL_DELAY);
    }

    /// The node at this address is already connected through another connection: stop
    /// dialing until [`BootstrapDialer::unpark`].
    pub fn park(&mut self, node: NodeId) {
        self.node = Some(node);
        self.delay = INITIAL_DELAY;
        self.state = BootstrapState::Parked;
    }

    /// The parked node disconnected: dial again after the first delay.
    pub fn unpark(&mut self, now: Instant) {
        if self.state == BootstrapState::Parked {
            self.state = BootstrapState::Waiting(now + INITIAL_DELAY);
        }
    }

    /// The instant of the next dial, if one is waiting.
    pub fn due(&self) -> Option<Instant> {
        match self.state {
            BootstrapState::Waiting(at) => Some(at),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_exponentially_to_the_cap_and_reset_after_a_session() {
        let t0 = Instant::from_secs(100);
        let mut d = BootstrapDialer::new(String::from("h:1"), t0, Duration::from_secs(30));
        assert_eq!(d.due(), Some(t0));
        let mut waits = alloc::vec::Vec::new();
        for _ in 0..8 {
            d.failed(t0);
            waits.push(d.due().unwrap().saturating_duration_since(t0).as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        d.ended(t0);
        assert_eq!(d.due(), Some(t0 + Duration::from_secs(1)));
        d.failed(t0);
        assert_eq!(d.due(), Some(t0 + Duration::from_secs(1)));
    }
}
