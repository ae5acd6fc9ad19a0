//! Shared harness of the micelio-core fuzz targets: input formats, known identities, a
//! scripted RNG, a raw Noise peer, a checked connection and the node driver with its
//! invariant checks.
//!
//! Every input format is hand-written ([`cursor`]) rather than derived with `arbitrary`, so
//! that `examples/seeds.rs` can write seed files byte for byte from the golden vectors, and
//! every byte string is a valid input (a short input simply ends the script).

#![warn(missing_docs)]

pub mod connection_ops;
pub mod cursor;
pub mod established;
pub mod identities;
pub mod node;
pub mod noise_peer;
pub mod rng;
pub mod splits;
pub mod victim;
