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

/// Gives back the room of a map that emptied out (a hash map never shrinks by itself): past
/// four times the room its entries need, it keeps twice that.
pub fn shrink_if_sparse<V>(map: &mut IdMap<V>) {
    let len = map.len();
    if map.capacity() > 4 * len + 64 {
        map.shrink_to(2 * len);
    }
}
