//! The open simulated TCP connections, one entry per direction, found by connection id in
//! one step (ids are handed out in sequence, so a vector indexed by id holds them).

use micelio_core::node::ConnId;
use micelio_core::time::Instant;

use crate::sim::HostId;

/// One direction of a simulated TCP connection.
pub struct Endpoint {
    /// The host owning this side.
    pub host: HostId,
    /// The host at the other side.
    pub peer_host: HostId,
    /// The other side's connection id.
    pub peer_conn: ConnId,
    /// When the last byte sent on this direction arrives (keeps the stream in order).
    pub last_arrival: Instant,
}

/// Open endpoints by connection id.
#[derive(Default)]
pub struct Endpoints {
    /// Slot `i` holds connection `ConnId(i)` while it is open.
    slots: Vec<Option<Endpoint>>,
}

impl Endpoints {
    fn index(conn: ConnId) -> usize {
        usize::try_from(conn.0).unwrap_or(usize::MAX)
    }

    /// The open endpoint `conn`.
    pub fn get(&self, conn: &ConnId) -> Option<&Endpoint> {
        self.slots.get(Self::index(*conn))?.as_ref()
    }

    /// The open endpoint `conn`, mutable.
    pub fn get_mut(&mut self, conn: &ConnId) -> Option<&mut Endpoint> {
        self.slots.get_mut(Self::index(*conn))?.as_mut()
    }

    /// True while `conn` is open.
    pub fn contains_key(&self, conn: &ConnId) -> bool {
        self.get(conn).is_some()
    }

    /// Opens `conn`.
    pub fn insert(&mut self, conn: ConnId, endpoint: Endpoint) {
        let index = Self::index(conn);
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some(endpoint);
    }

    /// Closes `conn`; returns its endpoint if it was open.
    pub fn remove(&mut self, conn: &ConnId) -> Option<Endpoint> {
        self.slots.get_mut(Self::index(*conn))?.take()
    }

    /// Every open endpoint with its id, by ascending id.
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, &Endpoint)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| Some((ConnId(i as u64), slot.as_ref()?)))
    }

    /// Closes every endpoint for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(&Endpoint) -> bool) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|e| !keep(e)) {
                *slot = None;
            }
        }
    }
}
