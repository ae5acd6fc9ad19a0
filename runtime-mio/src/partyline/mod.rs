//! The SSH partyline (NODE.md §5), without SSH: the chat room and the terminal of each member.
//!
//! Nothing here does I/O or starts threads. The daemon owns one [`Hub`] (in the mio loop) and,
//! per session channel, one [`LineEditor`] (with the SSH session), and moves bytes and lines
//! between them:
//!
//! 1. On `shell`: `let id = hub.join(user)`, `let mut editor = LineEditor::new(&prompt)` with
//!    `hub.prompt(id)`.
//! 2. Channel data: `editor.handle_input(bytes)`, then `editor.poll_event()` until `None`. For
//!    each [`EditorEvent::Line`], `hub.handle_line(id, &line)` and `editor.set_prompt(..)` with
//!    the (maybe renamed) prompt before polling on; on [`LineOutcome::Quit`] or
//!    [`EditorEvent::End`] the session ends.
//! 3. After anything changed the hub: for every session, `editor.print_above(&line)` for each
//!    `hub.pop_output(id)`, then `editor.poll_event()` (the first poll after a line shows the
//!    prompt again), then send `editor.take_output()` to the channel. Chat lines for the mesh
//!    come from `hub.poll_network()`; chat from the mesh goes in with `hub.remote_chat(..)`.
//! 4. Session end: print what is still queued, `hub.leave(id)`, close the channel.
//!
//! Untrusted text is cleaned by [`sanitize`](sanitize::sanitize) before any terminal sees it.
//!
//! [`service`] is the loop-side half of the daemon's wiring: it owns the hub inside the mio loop
//! and exchanges joins, lines and output with the SSH thread (`crate::ssh`) over channels, the
//! editors living with the SSH sessions.

pub mod hub;
pub mod line_editor;
pub mod sanitize;
pub mod service;
pub mod state_commands;

pub use hub::{
    CommandHandler, Hub, LineOutcome, NETWORK_QUEUE_LINES, NodeRequest, OUTPUT_QUEUE_LINES,
    REQUEST_QUEUE_LEN, RegisterError, SessionId,
};
pub use line_editor::{EditorEvent, LineEditor};
pub use sanitize::sanitize;
