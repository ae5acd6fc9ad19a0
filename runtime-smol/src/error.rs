//! The errors of the public API.

use std::fmt;

use micelio_platform::startup::StartupError;

/// Why [`crate::SmolNode::start`] failed.
#[derive(Debug)]
pub enum StartError {
    /// The shared start-up sequence failed (configuration, data directory, identity, store or
    /// binding the listener).
    Startup(StartupError),
    /// The bound listener could not be registered with smol's reactor.
    Reactor(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Startup(e) => e.fmt(f),
            Self::Reactor(e) => write!(f, "fatal: transport: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Startup(e) => Some(e),
            Self::Reactor(e) => Some(e),
        }
    }
}

impl From<StartupError> for StartError {
    fn from(error: StartupError) -> Self {
        StartError::Startup(error)
    }
}

/// [`crate::NodeHandle::shutdown`] gave up waiting: the driver had not finished within its
/// limit (5 s). The driver goes on closing in the background.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownTimedOut;

impl fmt::Display for ShutdownTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("node shutdown did not finish within 5 s")
    }
}

impl std::error::Error for ShutdownTimedOut {}
