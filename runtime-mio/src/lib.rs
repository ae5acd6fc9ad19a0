//! The micelio node daemon (`micelio`, NODE.md) as a library: the mio event loop that drives the
//! sans-IO node, the SSH partyline server on its own thread, and the partyline between them.
//!
//! A chat line typed by an SSH user travels: [`ssh::session`] (line editor) → [`ssh::link`] →
//! [`partyline::service`] in the loop ([`partyline::Hub`]) → the other local sessions and, as
//! outgoing chat, [`net::EventLoop`] → the mesh. Chat from the mesh comes back the same way
//! through [`net::Application::on_event`].

pub mod app;
pub mod logging;
pub mod net;
pub mod partyline;
pub mod ssh;
pub mod stats;
