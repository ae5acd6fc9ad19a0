//! The `node_inputs` harness: a [`micelio_core::node::Node`] driven like a runtime drives it,
//! with honest (or not) harness peers on real connections, and the invariants checked after
//! every operation.

pub mod forge;
pub mod ops;
pub mod oracle;
pub mod world;
