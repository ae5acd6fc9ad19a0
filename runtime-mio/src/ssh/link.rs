//! What crosses between the SSH thread and the mio loop: the messages and the two ends.
//!
//! * SSH thread → loop: [`SshEvent`]s on one bounded tokio channel. The loop only ever calls
//!   `try_recv` on it; every send is followed by a wake of the loop's [`mio::Waker`]
//!   ([`LoopLink::send`]).
//! * loop → one session: [`SessionOutput`]s on a small bounded channel per session, filled by
//!   the loop with `try_reserve` only (it never blocks). When that channel is full the loop stops
//!   taking lines out of the hub's queue for that session and raises the session's
//!   [`ResumeFlag`]; the session task, once it has taken something out, sees the flag and sends
//!   [`SshEvent::Resume`] so the loop goes on. The hub's own bounded queue is thus the bound on
//!   what a slow reader can pile up.
//! * loop → SSH thread: the server [`Phase`] on a watch channel (shutdown).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

/// Lines (and prompt changes) a session task holds before the loop stops handing it more.
pub const SESSION_OUTPUT_SLOTS: usize = 16;

/// Events the SSH thread can have in flight towards the loop before its tasks wait.
pub const EVENT_SLOTS: usize = 1024;

/// Names one partyline session as the SSH thread knows it (one `shell` on one session channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey(pub u64);

/// Something the SSH side tells the loop.
#[derive(Debug)]
pub enum SshEvent {
    /// A `shell` request started a session for SSH user `user`. Its output goes to `output`;
    /// dropping that sender ends the session (after what is queued has been shown).
    Join {
        /// The session.
        key: SessionKey,
        /// The SSH user name (the initial nick, unsanitised).
        user: String,
        /// Where its lines go.
        output: mpsc::Sender<SessionOutput>,
        /// Raised by the loop when `output` was full.
        resume: ResumeFlag,
    },
    /// The user typed a line.
    Line {
        /// The session.
        key: SessionKey,
        /// The line as typed (untrimmed).
        line: String,
    },
    /// The session ended on the SSH side (Ctrl-C, Ctrl-D, EOF, channel or connection closed).
    Leave {
        /// The session.
        key: SessionKey,
    },
    /// The session took output after the loop found its channel full: send more.
    Resume {
        /// The session.
        key: SessionKey,
    },
    /// The SSH server has stopped (after a shutdown, or because it failed).
    Stopped,
}

/// Something the loop tells one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionOutput {
    /// Use this prompt from now on (sent once the join banner is queued, and after every nick
    /// change). Input is only handled once the first prompt has arrived.
    Prompt(String),
    /// Print this line above the prompt.
    Line(String),
}

/// The server's phase, set by the loop, watched by the SSH thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Accepting connections.
    Running,
    /// Shutting down: stop accepting, let the sessions finish, close the connections.
    Draining,
}

/// Shared between the loop and one session task: "the loop has lines waiting for you".
#[derive(Clone, Debug, Default)]
pub struct ResumeFlag(Arc<AtomicBool>);

impl ResumeFlag {
    /// Raised by the loop when the session's output channel was full.
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Lowers the flag; returns whether it was raised.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// The SSH thread's sending end towards the loop.
#[derive(Clone, Debug)]
pub struct LoopLink {
    events: mpsc::Sender<SshEvent>,
    waker: Arc<mio::Waker>,
}

impl LoopLink {
    /// A link over `events` that wakes the loop with `waker`.
    pub fn new(events: mpsc::Sender<SshEvent>, waker: Arc<mio::Waker>) -> Self {
        LoopLink { events, waker }
    }

    /// Hands `event` to the loop (waiting while its queue is full) and wakes it. Returns false
    /// once the loop has gone away.
    pub async fn send(&self, event: SshEvent) -> bool {
        if self.events.send(event).await.is_err() {
            return false;
        }
        self.wake();
        true
    }

    fn wake(&self) {
        if let Err(error) = self.waker.wake() {
            tracing::debug!(%error, component = "ssh", "waking the event loop");
        }
    }
}
