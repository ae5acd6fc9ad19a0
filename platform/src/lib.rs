//! What every Micelio runtime needs from its host, written once: the TOML configuration and
//! its validation, the identity files, and the SQLite store of the known-peer table.

pub mod config;
pub mod identity_files;
pub mod store;
