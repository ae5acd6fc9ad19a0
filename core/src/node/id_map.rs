//! Hash maps keyed by node id: seeded per node, so ids chosen by peers cannot be ground into
//! collisions, and deterministic for a given seed.

use foldhash::quality::FixedState;

use crate::identity::NodeId;

/// A map from node id to `V`, in no particular (but reproducible) order.
pub type IdMap<V> = hashbrown::HashMap<NodeId, V, FixedState>;

/// An empty [`IdMap`] hashing with `seed`.
pub fn id_map<V>(seed: u64) -> IdMap<V> {
    IdMap::with_hasher(FixedState::with_seed(seed))
}
