//! Timing and queue limits of one connection, with the reference's defaults.

use core::time::Duration;

/// Limits and timers of a connection. [`Default`] gives the values of spec §2 and §9.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Deadline for the three Noise handshake messages (the reference has none; ours is 10 s).
    pub handshake_timeout: Duration,
    /// Deadline for the whole hello exchange (10 s).
    pub hello_timeout: Duration,
    /// Close after this long without receiving a frame in steady state (60 s).
    pub idle_timeout: Duration,
    /// Send a keepalive after this long without sending anything (20 s).
    pub keepalive_interval: Duration,
    /// Close when the runtime reports a write blocked for this long (10 s).
    pub write_timeout: Duration,
    /// Outbound frames queued before [`super::SendError::QueueFull`] (64, as the reference).
    pub max_queued_frames: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            handshake_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(20),
            write_timeout: Duration::from_secs(10),
            max_queued_frames: 64,
        }
    }
}
