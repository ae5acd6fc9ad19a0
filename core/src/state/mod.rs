//! The shared state map (extension `state1`, docs/state.md): a last-writer-wins map of
//! entries that are their writers' signed envelopes, the Lamport clock that versions them,
//! and the anti-entropy that reconciles two maps.
//!
//! - [`entry`]: one checked write, its [`Version`] and the rules every node applies alike.
//! - [`map`]: the map, bounded, ordered by key hash, with range summaries and a state hash.
//! - [`clock`]: the Lamport clock, with a bounded step per received write.
//! - [`sync`]: range-based reconciliation (`StateSync`, msg_type 12).
//! - [`replica`]: one node's map, clock, `state1` peers and their budgets.

pub mod clock;
pub mod entry;
pub mod map;
pub mod replica;
pub mod sync;

pub use clock::{ClockExhausted, LamportClock};
pub use entry::{CheckTime, Entry, EntryError, KeyHash, Leaf, Version, key_hash};
pub use map::{Applied, RangeSummary, StateMap};
pub use replica::{Replica, STATE_CAPABILITY, StateConfig, StateError, StateStats};

#[cfg(test)]
mod tests;
