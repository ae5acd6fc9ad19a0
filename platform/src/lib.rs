//! What every Micelio runtime needs from its host, written once: the TOML configuration and
//! its validation, the identity files, the SQLite store of the known-peer table, the clock, the
//! batched persistence of peer records and the shared start-up sequence.

pub mod clock;
pub mod config;
pub mod identity_files;
pub mod memory;
pub mod persist;
pub mod startup;
pub mod store;
