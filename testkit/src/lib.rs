//! Test harness shared by the workspace's integration tests: real `micelio` processes on
//! 127.0.0.1 ([`process`]), an SSH partyline client ([`ssh`]) and a bare wire-protocol peer
//! ([`peer`]).

pub mod partyline;
pub mod peer;
pub mod process;
pub mod raw;
pub mod ssh;

pub use process::{NodeProcess, NodeSettings, binary, eventually, free_port, temp_dir};
