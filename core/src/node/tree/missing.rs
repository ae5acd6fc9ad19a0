//! Messages announced by peers but not received yet: who announced them and when to graft.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::identity::NodeId;
use crate::node::seen_cache::SeenId;
use crate::time::Instant;

/// One missing message: the peers that announced it (first announcer first) and the time
/// the next graft is due.
#[derive(Debug)]
struct Missing {
    announcers: Vec<NodeId>,
    due: Instant,
}

/// Announced, not yet received messages, bounded in ids and in announcers per id.
#[derive(Debug)]
pub struct MissingTable {
    by_id: BTreeMap<SeenId, Missing>,
    /// `(due, id)` of every entry, earliest first.
    by_due: BTreeSet<(Instant, SeenId)>,
    max_ids: usize,
    max_announcers: usize,
}

impl MissingTable {
    /// An empty table of at most `max_ids` messages with `max_announcers` announcers each.
    pub fn new(max_ids: usize, max_announcers: usize) -> Self {
        MissingTable {
            by_id: BTreeMap::new(),
            by_due: BTreeSet::new(),
            max_ids,
            max_announcers,
        }
    }

    /// Records that `from` announced `id`. A new id is graftable at `due`; a known one gains
    /// an announcer (if there is room). A full table refuses new ids: false.
    pub fn announce(&mut self, id: SeenId, from: NodeId, due: Instant) -> bool {
        if let Some(missing) = self.by_id.get_mut(&id) {
            if missing.announcers.len() < self.max_announcers && !missing.announcers.contains(&from)
            {
                missing.announcers.push(from);
            }
            return true;
        }
        if self.by_id.len() >= self.max_ids || self.max_announcers == 0 {
            return false;
        }
        self.by_id.insert(
            id,
            Missing {
                announcers: alloc::vec![from],
                due,
            },
        );
        self.by_due.insert((due, id));
        true
    }

    /// Forgets `id` (it arrived).
    pub fn remove(&mut self, id: &SeenId) {
        if let Some(missing) = self.by_id.remove(id) {
            self.by_due.remove(&(missing.due, *id));
        }
    }

    /// Forgets `peer` as an announcer (it disconnected); ids nobody else announced go.
    pub fn forget_peer(&mut self, peer: &NodeId) {
        let mut emptied = Vec::new();
        for (id, missing) in &mut self.by_id {
            missing.announcers.retain(|a| a != peer);
            if missing.announcers.is_empty() {
                emptied.push((missing.due, *id));
            }
        }
        for (due, id) in emptied {
            self.by_id.remove(&id);
            self.by_due.remove(&(due, id));
        }
    }

    /// The earliest graft due time.
    pub fn next_due(&self) -> Option<Instant> {
        self.by_due.first().map(|(due, _)| *due)
    }

    /// Takes the next graft due by `now`: the id and the announcer to ask. The entry moves on
    /// to its next announcer, due again at `retry`; an entry whose announcers are all asked
    /// is dropped.
    pub fn pop_due(&mut self, now: Instant, retry: Instant) -> Option<(SeenId, NodeId)> {
        loop {
            let &(due, id) = self.by_due.first()?;
            if due > now {
                return None;
            }
            self.by_due.remove(&(due, id));
            let Some(missing) = self.by_id.get_mut(&id) else {
                continue;
            };
            if missing.announcers.is_empty() {
                self.by_id.remove(&id);
                continue;
            }
            let ask = missing.announcers.remove(0);
            if missing.announcers.is_empty() {
                self.by_id.remove(&id);
            } else {
                missing.due = retry;
                self.by_due.insert((retry, id));
            }
            return Some((id, ask));
        }
    }

    /// Number of missing messages.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when nothing is missing.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn peer(n: u8) -> NodeId {
        Identity::from_seed(&[n; 32]).node_id()
    }

    fn id(n: u8) -> SeenId {
        SeenId::from_bytes([n; 16])
    }

    #[test]
    fn grafts_each_announcer_in_turn_then_gives_up() {
        let mut table = MissingTable::new(10, 2);
        let t = Instant::from_secs;
        assert!(table.announce(id(1), peer(1), t(1)));
        assert!(table.announce(id(1), peer(2), t(5)));
        // Third announcer: no room, ignored.
        assert!(table.announce(id(1), peer(3), t(5)));
        assert_eq!(table.next_due(), Some(t(1)));
        assert_eq!(table.pop_due(t(0), t(2)), None);
        assert_eq!(table.pop_due(t(1), t(2)), Some((id(1), peer(1))));
        assert_eq!(table.next_due(), Some(t(2)));
        assert_eq!(table.pop_due(t(2), t(3)), Some((id(1), peer(2))));
        assert!(table.is_empty());
        assert_eq!(table.next_due(), None);
    }

    #[test]
    fn bounded_and_cleared_by_arrival_or_disconnect() {
        let mut table = MissingTable::new(2, 4);
        let t = Instant::from_secs;
        assert!(table.announce(id(1), peer(1), t(1)));
        assert!(table.announce(id(2), peer(2), t(1)));
        assert!(!table.announce(id(3), peer(1), t(1)));
        table.remove(&id(1));
        assert_eq!(table.len(), 1);
        table.forget_peer(&peer(2));
        assert!(table.is_empty());
        assert_eq!(table.next_due(), None);
    }
}
