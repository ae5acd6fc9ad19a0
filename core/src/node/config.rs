//! Settings of a node: the reference's network options, its fixed constants, and our bounds.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use super::tree::TreeConfig;
use crate::connection::ConnectionConfig;
use crate::state::StateConfig;

/// Everything a [`super::Node`] needs to know before it starts. [`Default`] gives the
/// reference's values (spec §2) and our bounds for every table the reference leaves unbounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// Admitted connections at most; 0 means unlimited (reference default 15).
    pub max_peers: usize,
    /// Bootstrap addresses, dialed permanently with back-off (spec §12.8).
    pub bootstrap: Vec<String>,
    /// The address announced in hellos and exchanges, already resolved by the runtime as in
    /// spec §12.6; empty for a node that is not reachable.
    pub advertised_addr: String,
    /// Whether the runtime accepts inbound connections (a listener exists).
    pub listening: bool,
    /// `node.tags`, sent in the hello.
    pub tags: Vec<String>,
    /// Period of PeerExchange to every peer (30 s).
    pub exchange_interval: Duration,
    /// Period of the discovery loop (10 s).
    pub discovery_interval: Duration,
    /// Discovery dials started per tick at most (3).
    pub discovery_dials_per_tick: usize,
    /// Peer slots discovery leaves to nodes that dial in (1): it stops dialing at
    /// `max_peers - inbound_reserve` admitted peers (when that is more than it leaves), while
    /// inbound connections are admitted up to `max_peers`. A mesh whose nodes all dial into
    /// every free slot saturates, and a newcomer then finds no node with room (at 10,000
    /// nodes one stayed alone for good); the reference has no reserve (0).
    pub inbound_reserve: usize,
    /// Upper bound (exclusive) of the random delay before a discovery dial (2 s).
    pub discovery_jitter: Duration,
    /// Largest back-off between bootstrap dials (30 s), starting at 1 s.
    pub bootstrap_max_backoff: Duration,
    /// Relay fan-out (3).
    pub fanout: usize,
    /// Hop count of originated messages (10).
    pub origin_hop_count: u32,
    /// Largest accepted gossip payload (64 KiB).
    pub max_gossip_payload: usize,
    /// Longest accepted `message_id` or `sender_id` (128 bytes).
    pub max_gossip_id_len: usize,
    /// Seen-cache time to live (5 min) and sweep period of every cache (1 min).
    pub seen_ttl: Duration,
    /// Bound rule: a full seen cache forgets an id only if it is at least this old; younger ids
    /// are kept and the new message is refused (10 s: a message crosses the mesh, 10 hops at
    /// most, in well under a second). With `max_seen` this caps sustained distinct traffic at
    /// `max_seen / seen_min_age` (13,107 messages/s).
    pub seen_min_age: Duration,
    /// Period of the cache sweeps (1 min).
    pub sweep_interval: Duration,
    /// Per-sender rate (10 messages/s) and burst (20).
    pub rate_per_sec: u32,
    /// Per-sender bucket capacity.
    pub rate_burst: u32,
    /// Rate-limiter buckets idle this long are dropped (5 min).
    pub rate_idle_ttl: Duration,
    /// Gossip-learned keys unused this long are dropped (5 min; a later envelope carries the
    /// key again). Directly verified keys never expire.
    pub key_idle_ttl: Duration,
    /// Per-connection timers and outbound queue.
    pub connection: ConnectionConfig,
    /// Bound: message ids remembered by the seen cache (oldest evicted first).
    pub max_seen: usize,
    /// Bound: keys in the key ring (least recently used gossip-learned key evicted first).
    pub max_keys: usize,
    /// Bound: rate-limiter buckets (idle-longest evicted first).
    pub max_rate_buckets: usize,
    /// Bound: known-peer records (least recently seen, not connected, evicted first).
    pub max_known_peers: usize,
    /// Bound: entries put into one outgoing PeerExchange.
    pub max_exchange_entries: usize,
    /// Bound: entries read from one received PeerExchange; the rest are ignored.
    pub max_exchange_entries_read: usize,
    /// Bound: PeerExchange message ids remembered per connection.
    pub max_exchange_seen: usize,
    /// The eager/lazy dissemination extension (on by default; off behaves like the
    /// reference).
    pub tree: TreeConfig,
    /// The shared state map (extension `state1`; on by default; off keeps no map and
    /// delivers writes as plain messages, like the reference).
    pub state: StateConfig,
    /// Bound: connections still in handshake or hello at once; more are closed on accept.
    pub max_pending_connections: usize,
    /// At capacity, one inbound connection per this interval is still taken through the
    /// hello, sent a short PeerExchange (a referral) and closed, so that a newcomer whose
    /// bootstrap nodes are all full learns other addresses (the reference closes every one
    /// before any Noise byte, which can leave a newcomer without peers for ever). 5 s; zero:
    /// never.
    pub referral_interval: Duration,
    /// Bound: entries in a referral's PeerExchange (16: about 2 KB; with the dialer's own
    /// exchange and the handshake, a referral costs a full node about 12 KB, so at most
    /// about 2.5 KB/s).
    pub referral_entries: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            max_peers: 15,
            bootstrap: Vec::new(),
            advertised_addr: String::new(),
            listening: false,
            tags: Vec::new(),
            exchange_interval: Duration::from_secs(30),
            discovery_interval: Duration::from_secs(10),
            discovery_dials_per_tick: 3,
            inbound_reserve: 1,
            discovery_jitter: Duration::from_secs(2),
            bootstrap_max_backoff: Duration::from_secs(30),
            fanout: 3,
            origin_hop_count: 10,
            max_gossip_payload: 65_536,
            max_gossip_id_len: 128,
            seen_ttl: Duration::from_secs(300),
            seen_min_age: Duration::from_secs(10),
            sweep_interval: Duration::from_secs(60),
            rate_per_sec: 10,
            rate_burst: 20,
            rate_idle_ttl: Duration::from_secs(300),
            key_idle_ttl: Duration::from_secs(300),
            connection: ConnectionConfig::default(),
            max_seen: 131_072,
            max_keys: 8_192,
            max_rate_buckets: 8_192,
            max_known_peers: 4_096,
            max_exchange_entries: 64,
            max_exchange_entries_read: 1_024,
            max_exchange_seen: 256,
            max_pending_connections: 64,
            referral_interval: Duration::from_secs(5),
            referral_entries: 16,
            tree: TreeConfig::default(),
            state: StateConfig::default(),
        }
    }
}
