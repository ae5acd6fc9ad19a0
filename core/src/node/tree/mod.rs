//! Eager/lazy dissemination between nodes that announced the `tree1` extension (Plumtree
//! style): full pushes along a spanning tree, digests on the other links, grafts to repair.
//!
//! The engine only decides; [`crate::node::Node`] sends. Reference peers never appear here:
//! they keep the reference's random fan-out.

mod missing;
mod store;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::time::Duration;

use micelio_proto::TreeControl;

pub use missing::MissingTable;
pub use store::MessageStore;

use super::seen_cache::SeenId;
use crate::identity::NodeId;
use crate::time::Instant;

/// The token a node puts in its PeerHello `version` (as semver build metadata, after `+`)
/// to announce the extension; reference nodes ignore the version.
pub const TREE_CAPABILITY: &str = "tree1";

/// Bytes of one message digest on the wire.
pub const DIGEST_LEN: usize = 16;

/// Bit of a tree push's hop count that marks a *detour* copy: one whose path left the
/// originator over a link outside the originator's eager set (the originator also pushes its
/// own messages to lazy peers, see [`TreeConfig::origin_burst`]). Copies meeting from
/// different entry points are then expected, not a sign of a redundant tree link: a duplicate
/// prunes only when neither copy took a detour.
pub const DETOUR_FLAG: u32 = 1 << 8;

/// Largest hop count a tree push carries (the bits below [`DETOUR_FLAG`]).
pub const MAX_TREE_HOP: u32 = DETOUR_FLAG - 1;

/// The hop count field of a tree push: `hop` (at most [`MAX_TREE_HOP`]) and the detour mark.
pub fn tree_hop_count(hop: u32, detour: bool) -> u32 {
    hop.min(MAX_TREE_HOP) | if detour { DETOUR_FLAG } else { 0 }
}

/// Splits the hop count field of a tree push from an extension peer into the hop count and
/// the detour mark (higher bits are ignored).
pub fn split_tree_hop_count(field: u32) -> (u32, bool) {
    (field & MAX_TREE_HOP, field & DETOUR_FLAG != 0)
}

/// True when a peer's hello `version` announces the extension: `tree1` among the
/// dot-separated build metadata (`0.1.0+tree1`, `0.2.0+foo.tree1`).
pub fn announces_tree(version: &str) -> bool {
    crate::connection::announces(version, TREE_CAPABILITY)
}

/// Settings and bounds of the extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeConfig {
    /// Off: the node announces nothing and behaves exactly like the reference.
    pub enabled: bool,
    /// Announcements to a lazy peer are batched this long (50 ms).
    pub announce_interval: Duration,
    /// Wait after the first announcement of a missing message before grafting (250 ms: the
    /// eager copy normally arrives first; shorter timers repaired the tail faster in the
    /// 1,000-node runs for the same control bytes).
    pub graft_timeout: Duration,
    /// Wait before asking the next announcer when a graft brought nothing (250 ms).
    pub graft_retry: Duration,
    /// Bound: envelopes kept to serve grafts (4,096).
    pub max_stored_messages: usize,
    /// Bound: bytes of stored (encoded) envelopes (16 MiB).
    pub max_stored_bytes: usize,
    /// Bound: announced but missing messages tracked (4,096).
    pub max_missing: usize,
    /// Bound: announcers remembered per missing message (4).
    pub max_announcers: usize,
    /// Bound: digests per control message, sent or read (512; the rest of a received list is
    /// ignored).
    pub max_control_ids: usize,
    /// Bound: announcements waiting for one peer; a full batch is sent at once (2,048).
    pub max_pending_announcements: usize,
    /// The originator pushes its own messages to lazy peers too, so that they enter the
    /// tree at many points, which shortens their paths (on). See
    /// [`TreeConfig::nodes_per_entry_point`].
    pub origin_burst: bool,
    /// How many entry points a message gets: one per this many nodes of the network (16),
    /// as the node estimates its size (a sketch of the node ids it heard of, at least its
    /// known-peer records, + 1). The originator pushes to its
    /// eager peers and to enough lazy ones; when that is not enough, each node that got the
    /// burst pushes on to lazy peers of its own. Each entry point costs about three copies
    /// per message (its own and the meeting of two flows), so this bounds the extra copies
    /// near 0.2 per node; at 1,000 nodes p99 latency went from 1.45x push only (burst to
    /// every peer, no spread) to 1.19-1.35x for 1.2 -> 1.3 copies per node.
    pub nodes_per_entry_point: usize,
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            enabled: true,
            announce_interval: Duration::from_millis(50),
            graft_timeout: Duration::from_millis(250),
            graft_retry: Duration::from_millis(250),
            max_stored_messages: 4_096,
            max_stored_bytes: 16 << 20,
            max_missing: 4_096,
            max_announcers: 4,
            max_control_ids: 512,
            max_pending_announcements: 2_048,
            origin_burst: true,
            nodes_per_entry_point: 16,
        }
    }
}

/// Why a received control message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// A digest list is not a whole number of digests.
    TruncatedDigest,
}

impl core::fmt::Display for ControlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("tree control digest list is not a multiple of 16 bytes")
    }
}

impl core::error::Error for ControlError {}

/// The digests of a control list, at most `max` of them.
fn digests(bytes: &[u8], max: usize) -> Result<impl Iterator<Item = SeenId> + '_, ControlError> {
    if bytes.len() % DIGEST_LEN != 0 {
        return Err(ControlError::TruncatedDigest);
    }
    Ok(bytes.chunks_exact(DIGEST_LEN).take(max).map(|chunk| {
        let mut id = [0u8; DIGEST_LEN];
        id.copy_from_slice(chunk);
        SeenId::from_bytes(id)
    }))
}

/// A digest list for the wire.
fn digest_list(ids: &[SeenId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * DIGEST_LEN);
    for id in ids {
        out.extend_from_slice(id.as_bytes());
    }
    out
}

/// How a message that passed every check reached this node: what [`Tree::on_message`]
/// decides its pushes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival<'a> {
    /// The peer the copy came from; `None` when this node originated the message.
    pub from: Option<&'a NodeId>,
    /// The copy carried the detour mark ([`DETOUR_FLAG`]).
    pub detour: bool,
    /// The copy came straight from its originator's burst, so lazy peers may get it too
    /// ([`TreeConfig::nodes_per_entry_point`]).
    pub from_burst: bool,
    /// This node's estimate of the network's size, which scales the entry points.
    pub network_size: usize,
}

impl<'a> Arrival<'a> {
    /// A message this node originated, in a network of about `network_size` nodes.
    pub fn originated(network_size: usize) -> Self {
        Arrival {
            from: None,
            detour: false,
            from_burst: false,
            network_size,
        }
    }

    /// An unmarked copy from `from`, in a network of about `network_size` nodes.
    pub fn relayed(from: &'a NodeId, network_size: usize) -> Self {
        Arrival {
            from: Some(from),
            ..Self::originated(network_size)
        }
    }

    /// The same copy with the detour mark; `from_burst` as on [`Arrival::from_burst`].
    pub fn marked(self, from_burst: bool) -> Self {
        Arrival {
            detour: true,
            from_burst,
            ..self
        }
    }
}

/// One extension peer: whether it gets full pushes, and the digests waiting for it.
#[derive(Debug)]
struct Link {
    eager: bool,
    /// Digests to announce.
    pending: Vec<SeenId>,
}

/// Which lazy links (other than the sender) a burst receiver pushes to: `spread` consecutive
/// ones in link order, starting at a position drawn from the message digest (random and the
/// same on every run).
struct SpreadWindow {
    lazy: usize,
    first: usize,
    spread: usize,
    seen: usize,
}

impl SpreadWindow {
    fn new(tree: &Tree, from: Option<&NodeId>, id: &SeenId, spread: usize) -> Self {
        let lazy = if spread == 0 {
            0
        } else {
            tree.links
                .iter()
                .filter(|(peer, link)| !link.eager && Some(*peer) != from)
                .count()
        };
        let mut word = [0u8; 8];
        word.copy_from_slice(&id.as_bytes()[..8]);
        let first = (u64::from_le_bytes(word) % lazy.max(1) as u64) as usize;
        SpreadWindow {
            lazy,
            first,
            spread,
            seen: 0,
        }
    }

    /// Called once per lazy link in order: whether this one gets a push.
    fn next_lazy(&mut self) -> bool {
        if self.lazy == 0 {
            return false;
        }
        let index = self.seen;
        self.seen += 1;
        (index + self.lazy - self.first) % self.lazy < self.spread
    }
}

/// An announcement of `ids`.
fn announcement(ids: &[SeenId]) -> TreeControl {
    TreeControl {
        ihave: digest_list(ids),
        ..TreeControl::default()
    }
}

/// Counters of the extension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Digests announced to lazy peers.
    pub announced: u64,
    /// Grafts sent (digests asked for).
    pub grafts_sent: u64,
    /// Envelopes served to grafting peers.
    pub served: u64,
    /// Prunes sent.
    pub prunes_sent: u64,
    /// Control messages refused (malformed).
    pub bad_controls: u64,
}

/// The eager/lazy dissemination state of one node.
#[derive(Debug)]
pub struct Tree {
    config: TreeConfig,
    links: BTreeMap<NodeId, Link>,
    store: MessageStore,
    missing: MissingTable,
    /// When the batched announcements go out.
    next_flush: Option<Instant>,
    /// Control messages decided, waiting for the node to send them.
    outbox: VecDeque<(NodeId, TreeControl)>,
    /// Counters.
    pub stats: TreeStats,
}

impl Tree {
    /// An engine with `config`'s bounds and no peers; delivered envelopes stay servable for
    /// `store_ttl` (the node passes its seen-cache window: what it still deduplicates).
    pub fn new(config: TreeConfig, store_ttl: Duration) -> Self {
        Tree {
            store: MessageStore::new(
                config.max_stored_messages,
                config.max_stored_bytes,
                store_ttl,
            ),
            missing: MissingTable::new(config.max_missing, config.max_announcers),
            config,
            links: BTreeMap::new(),
            next_flush: None,
            outbox: VecDeque::new(),
            stats: TreeStats::default(),
        }
    }

    /// Whether the extension is on.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// True when `peer` is an extension peer.
    pub fn is_link(&self, peer: &NodeId) -> bool {
        self.links.contains_key(peer)
    }

    /// Number of extension peers taking full pushes.
    pub fn eager_count(&self) -> usize {
        self.links.values().filter(|l| l.eager).count()
    }

    /// Number of extension peers.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// Number of messages announced but not received.
    pub fn missing_count(&self) -> usize {
        self.missing.len()
    }

    /// An extension peer was admitted: it starts eager, and hears of every stored message
    /// (so a link formed after a partition repairs what either side missed).
    pub fn add_link(&mut self, peer: NodeId) {
        if !self.config.enabled {
            return;
        }
        self.links.insert(
            peer,
            Link {
                eager: true,
                pending: Vec::new(),
            },
        );
        let ids: Vec<SeenId> = self.store.ids().collect();
        for chunk in ids.chunks(self.config.max_control_ids.max(1)) {
            self.stats.announced += chunk.len() as u64;
            self.outbox.push_back((peer, announcement(chunk)));
        }
    }

    /// An extension peer left.
    pub fn remove_link(&mut self, peer: &NodeId) {
        if self.links.remove(peer).is_some() {
            self.missing.forget_peer(peer);
            self.outbox.retain(|(to, _)| to != peer);
        }
    }

    /// A gossip envelope passed every check (or was originated here): its bytes (as this
    /// node pushes them to eager peers) are stored while the node has extension peers, it is
    /// announced to the lazy peers, and the peers to push it to are returned with whether
    /// their copy is marked as a detour ([`DETOUR_FLAG`]); never the peer it came from, which
    /// becomes eager unless the copy took a detour.
    pub fn on_message(
        &mut self,
        now: Instant,
        arrival: Arrival<'_>,
        id: SeenId,
        envelope: &[u8],
    ) -> Vec<(NodeId, bool)> {
        let Arrival { from, detour, .. } = arrival;
        if !self.config.enabled {
            return Vec::new();
        }
        self.missing.remove(&id);
        if self.links.is_empty() {
            // Nobody to serve: a node among reference peers only keeps nothing.
            return Vec::new();
        }
        self.store.insert(id, envelope, detour, now);
        if !detour {
            if let Some(link) = from.and_then(|f| self.links.get_mut(f)) {
                link.eager = true;
            }
        }
        let mut spread_window = SpreadWindow::new(self, from, &id, self.lazy_pushes(arrival));
        let mut pushes = Vec::new();
        let mut full_batches = Vec::new();
        for (peer, link) in &mut self.links {
            if Some(peer) == from {
                continue;
            }
            if link.eager {
                pushes.push((*peer, detour));
            } else if spread_window.next_lazy() {
                pushes.push((*peer, true));
            } else {
                link.pending.push(id);
                if link.pending.len() >= self.config.max_pending_announcements {
                    full_batches.push(*peer);
                }
            }
        }
        for peer in full_batches {
            self.flush_link(&peer);
        }
        if self.next_flush.is_none() && self.links.values().any(|l| !l.pending.is_empty()) {
            self.next_flush = Some(now + self.config.announce_interval);
        }
        pushes
    }

    /// How many lazy peers get a full (detour) push of a message: from its originator,
    /// enough to reach the entry-point target with the eager ones; from a node that got the
    /// originator's burst, its share of what the burst could not cover.
    fn lazy_pushes(&self, arrival: Arrival<'_>) -> usize {
        let per_entry = self.config.nodes_per_entry_point.max(1);
        let target = (arrival.network_size / per_entry).max(1);
        if arrival.from.is_none() && self.config.origin_burst {
            target.saturating_sub(self.eager_count())
        } else if arrival.from_burst {
            (target / self.links.len().max(1)).saturating_sub(1)
        } else {
            0
        }
    }

    /// A copy of already seen message `id` came from `from`, marked `detour` or not: an
    /// eager extension peer becomes lazy and is told so (prune), unless this copy or the
    /// first one took a detour (copies from different entry points meet; that says nothing
    /// about the tree).
    pub fn on_duplicate(&mut self, from: &NodeId, id: &SeenId, detour: bool) {
        if detour || self.store.detour(id).unwrap_or(false) {
            return;
        }
        let Some(link) = self.links.get_mut(from) else {
            return;
        };
        if link.eager {
            link.eager = false;
            self.stats.prunes_sent += 1;
            self.outbox.push_back((
                *from,
                TreeControl {
                    prune: true,
                    ..TreeControl::default()
                },
            ));
        }
    }

    /// A control message from extension peer `from`. `have` tells whether a digest's message
    /// was already processed. Returns the stored envelopes (encoded) `from` grafted: send
    /// them to it.
    pub fn on_control(
        &mut self,
        now: Instant,
        from: &NodeId,
        control: &TreeControl,
        have: impl Fn(&SeenId) -> bool,
    ) -> Result<Vec<Vec<u8>>, ControlError> {
        if !self.links.contains_key(from) {
            return Ok(Vec::new());
        }
        let max = self.config.max_control_ids;
        let (grafts, announced) = match (digests(&control.graft, max), digests(&control.ihave, max))
        {
            (Ok(g), Ok(a)) => (g, a),
            _ => {
                self.stats.bad_controls += 1;
                return Err(ControlError::TruncatedDigest);
            }
        };
        let mut served = Vec::new();
        let mut grafted = false;
        for id in grafts {
            grafted = true;
            if let Some(envelope) = self.store.get(&id) {
                served.push(envelope.to_vec());
            }
        }
        self.stats.served += served.len() as u64;
        let due = now + self.config.graft_timeout;
        for id in announced {
            if !have(&id) && self.store.get(&id).is_none() {
                self.missing.announce(id, *from, due);
            }
        }
        if let Some(link) = self.links.get_mut(from) {
            if control.prune {
                link.eager = false;
            }
            if grafted || control.eager {
                link.eager = true;
            }
        }
        if control.prune && self.eager_count() == 0 {
            // Pruned by every eager peer (concurrent messages can cut a node off the tree
            // this way): ask the last pruner to push to us again. A node with one eager link
            // is a leaf and cannot close a cycle.
            if let Some(link) = self.links.get_mut(from) {
                link.eager = true;
            }
            self.outbox.push_back((
                *from,
                TreeControl {
                    eager: true,
                    ..TreeControl::default()
                },
            ));
        }
        Ok(served)
    }

    /// When [`Tree::on_timeout`] has work: the next announcement batch or graft.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_flush, self.missing.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends the due announcement batches and grafts; `have` as in [`Tree::on_control`].
    pub fn on_timeout(&mut self, now: Instant, have: impl Fn(&SeenId) -> bool) {
        if !self.config.enabled {
            return;
        }
        if self.next_flush.is_some_and(|at| at <= now) {
            self.next_flush = None;
            let peers: Vec<NodeId> = self.links.keys().copied().collect();
            for peer in peers {
                self.flush_link(&peer);
            }
        }
        let retry = now + self.config.graft_retry;
        let mut grafts: BTreeMap<NodeId, Vec<SeenId>> = BTreeMap::new();
        while let Some((id, peer)) = self.missing.pop_due(now, retry) {
            if have(&id) || !self.links.contains_key(&peer) {
                continue;
            }
            grafts.entry(peer).or_default().push(id);
        }
        for (peer, ids) in grafts {
            if let Some(link) = self.links.get_mut(&peer) {
                link.eager = true;
            }
            for chunk in ids.chunks(self.config.max_control_ids.max(1)) {
                self.stats.grafts_sent += chunk.len() as u64;
                self.outbox.push_back((
                    peer,
                    TreeControl {
                        graft: digest_list(chunk),
                        ..TreeControl::default()
                    },
                ));
            }
        }
        self.store.expire(now);
    }

    /// Drops the stored envelopes past their time to live (the node's periodic sweep).
    pub fn sweep(&mut self, now: Instant) {
        self.store.expire(now);
    }

    /// Number of stored envelopes.
    pub fn stored_count(&self) -> usize {
        self.store.len()
    }

    /// The next control message to send, with its recipient.
    pub fn poll_control(&mut self) -> Option<(NodeId, TreeControl)> {
        self.outbox.pop_front()
    }

    /// Turns the digests waiting for `peer` into announcement messages.
    fn flush_link(&mut self, peer: &NodeId) {
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        if link.pending.is_empty() {
            return;
        }
        let pending = core::mem::take(&mut link.pending);
        for chunk in pending.chunks(self.config.max_control_ids.max(1)) {
            self.stats.announced += chunk.len() as u64;
            self.outbox.push_back((*peer, announcement(chunk)));
        }
    }
}

#[cfg(test)]
mod tests;
