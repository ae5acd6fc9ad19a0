//! One node's replica of the map: the map, its clock, the `state1` peers it reconciles with
//! and what each may still send this interval. No I/O: the node feeds it and sends for it.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use micelio_proto::{Envelope, StateSync, StateWrite};

use super::clock::{ClockExhausted, LamportClock};
use super::entry::{CheckTime, Entry, EntryError};
use super::map::{Applied, StateMap};
use super::sync::{self, SyncError};
use crate::identity::{Identity, NodeId};
use crate::suite::Suite;
use core::time::Duration;

/// The token a node announces in its hello version when the extension is on.
pub const STATE_CAPABILITY: &str = "state1";

/// Settings and bounds of the extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateConfig {
    /// Off: the node announces nothing, keeps no map, and delivers writes as plain messages.
    pub enabled: bool,
    /// Bound: keys held, tombstones included (65,536).
    pub max_entries: usize,
    /// How long a tombstone lives after it was written (7 days).
    pub tombstone_horizon: Duration,
    /// A reconciliation round with one random `state1` peer starts this often (10 s).
    pub sync_interval: Duration,
    /// Bound: `StateSync` messages handled per peer and interval (64; a round takes about
    /// twice log4 of the map's size); the rest are dropped.
    pub max_syncs_per_interval: u32,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            enabled: true,
            max_entries: 65_536,
            tombstone_horizon: Duration::from_secs(7 * 24 * 3_600),
            sync_interval: Duration::from_secs(10),
            max_syncs_per_interval: 64,
        }
    }
}

/// Why a local write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateError {
    /// The extension is off.
    Disabled,
    /// The write breaks a rule every node checks (key, value, ownership).
    Entry(EntryError),
    /// The key's version is at the Lamport ceiling.
    Clock(ClockExhausted),
    /// The key is new and the map is at `max_entries`.
    Full,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled => f.write_str("the state map is disabled"),
            Self::Entry(e) => write!(f, "{e}"),
            Self::Clock(e) => write!(f, "{e}"),
            Self::Full => f.write_str("the state map is full"),
        }
    }
}

impl core::error::Error for StateError {}

/// Counters of the extension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateStats {
    /// Writes taken into the map (local, gossip or anti-entropy).
    pub applied: u64,
    /// Writes older than what the map holds, or already held.
    pub stale: u64,
    /// Writes refused by the entry rules.
    pub refused: u64,
    /// New keys refused because the map was full.
    pub full: u64,
    /// Writes that came by anti-entropy and changed the map.
    pub synced: u64,
    /// `StateSync` messages handled.
    pub syncs_handled: u64,
    /// `StateSync` messages dropped (malformed, or over a peer's budget).
    pub syncs_dropped: u64,
    /// Bytes of `StateSync` payloads sent.
    pub sync_bytes_sent: u64,
    /// Bytes of `StateSync` payloads received.
    pub sync_bytes_received: u64,
}

/// The replica: see the module documentation.
#[derive(Clone, Debug)]
pub struct Replica {
    config: StateConfig,
    map: StateMap,
    clock: LamportClock,
    /// `state1` peers and the messages each sent this interval.
    links: BTreeMap<NodeId, u32>,
    /// Counters.
    pub stats: StateStats,
}

impl Replica {
    /// An empty replica.
    pub fn new(config: StateConfig) -> Self {
        Self {
            map: StateMap::new(config.max_entries),
            clock: LamportClock::default(),
            links: BTreeMap::new(),
            config,
            stats: StateStats::default(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &StateConfig {
        &self.config
    }

    /// The map.
    pub fn map(&self) -> &StateMap {
        &self.map
    }

    /// The Lamport clock's time.
    pub fn lamport_time(&self) -> u64 {
        self.clock.time()
    }

    /// The check time at `unix_now`.
    pub fn check_time(&self, unix_now: u64) -> CheckTime {
        CheckTime {
            unix_now,
            tombstone_horizon: self.config.tombstone_horizon.as_secs(),
        }
    }

    /// The Lamport time of a new envelope this node signs: the clock ticks (0, as the
    /// reference, with the extension off; saturated below the ceiling).
    pub fn tick(&mut self) -> u64 {
        if !self.config.enabled {
            return 0;
        }
        self.clock
            .next_after(0)
            .unwrap_or(super::entry::LAMPORT_CEILING - 1)
    }

    /// A verified envelope from elsewhere carried `lamport`: the clock follows (bounded).
    pub fn observe(&mut self, lamport: u64) {
        if self.config.enabled {
            self.clock.observe(lamport);
        }
    }

    /// Restores the clock as persisted (before loading entries).
    pub fn restore_clock(&mut self, time: u64) {
        self.clock = LamportClock::at(time.max(self.clock.time()));
    }

    /// A write by this node (`value`: `None` deletes): signed, applied, returned to be
    /// gossiped and persisted.
    pub fn write(
        &mut self,
        identity: &Identity,
        message_id: String,
        key: &str,
        value: Option<Vec<u8>>,
        unix_now: u64,
    ) -> Result<Entry, StateError> {
        if !self.config.enabled {
            return Err(StateError::Disabled);
        }
        let current = self.map.entry(key).map_or(0, |e| e.version().lamport);
        let write = StateWrite {
            key: String::from(key),
            deleted: value.is_none(),
            value: value.unwrap_or_default(),
            written_at: unix_now,
        };
        // The rules first, so that a refused write does not move the clock.
        let mut probe = self.clock;
        let lamport = probe.next_after(current).map_err(StateError::Clock)?;
        let entry =
            Entry::sign(identity, message_id, lamport, &write).map_err(StateError::Entry)?;
        match self.map.apply(entry.clone()) {
            Applied::Changed { .. } => {
                self.clock = probe;
                self.stats.applied += 1;
                Ok(entry)
            }
            // A write after the key's version always wins: only a full map refuses it.
            _ => {
                self.stats.full += 1;
                Err(StateError::Full)
            }
        }
    }

    /// A checked entry from elsewhere: applied by the last-writer rule; the clock follows.
    pub fn receive(&mut self, entry: Entry) -> Applied {
        let lamport = entry.version().lamport;
        let applied = self.map.apply(entry);
        match applied {
            Applied::Changed { .. } => {
                self.clock.observe(lamport);
                self.stats.applied += 1;
            }
            Applied::Duplicate | Applied::Stale => self.stats.stale += 1,
            Applied::Full => self.stats.full += 1,
        }
        applied
    }

    /// An envelope from anywhere but verified gossip (a peer's anti-entropy, the store):
    /// verified and checked, then applied. `Ok(None)` when it changed nothing.
    pub fn receive_envelope(
        &mut self,
        suite: Suite,
        envelope: Envelope,
        unix_now: u64,
    ) -> Result<Option<Entry>, EntryError> {
        let entry =
            Entry::verify(suite, envelope, self.check_time(unix_now)).inspect_err(|_| {
                self.stats.refused += 1;
            })?;
        match self.receive(entry.clone()) {
            Applied::Changed { .. } => Ok(Some(entry)),
            _ => Ok(None),
        }
    }

    /// Removes the tombstones past their horizon; returns their keys.
    pub fn expire(&mut self, unix_now: u64) -> Vec<String> {
        let horizon = self.config.tombstone_horizon.as_secs();
        self.map
            .expire(unix_now, horizon)
            .into_iter()
            .map(|e| String::from(e.key()))
            .collect()
    }

    // ----- anti-entropy -----

    /// A peer that announced `state1` was admitted.
    pub fn add_link(&mut self, peer: NodeId) {
        if self.config.enabled {
            self.links.insert(peer, 0);
        }
    }

    /// A peer left (or its new connection does not announce `state1`).
    pub fn remove_link(&mut self, peer: &NodeId) {
        self.links.remove(peer);
    }

    /// True for a `state1` peer.
    pub fn is_link(&self, peer: &NodeId) -> bool {
        self.links.contains_key(peer)
    }

    /// The `state1` peers, in node-id order.
    pub fn links(&self) -> impl Iterator<Item = &NodeId> {
        self.links.keys()
    }

    /// A new interval: every peer's budget is full again.
    pub fn new_interval(&mut self) {
        for used in self.links.values_mut() {
            *used = 0;
        }
    }

    /// The message that opens a round.
    pub fn opening(&self) -> StateSync {
        sync::opening(&self.map)
    }

    /// A `StateSync` payload from `peer`: checked, its entries applied, answered. Returns
    /// the entries that changed the map and the answer to send, if any.
    pub fn on_sync(
        &mut self,
        suite: Suite,
        peer: &NodeId,
        payload: &[u8],
        unix_now: u64,
    ) -> Result<(Vec<Entry>, Option<StateSync>), SyncError> {
        self.stats.sync_bytes_received += payload.len() as u64;
        let budget = self.config.max_syncs_per_interval;
        let Some(used) = self.links.get_mut(peer) else {
            self.stats.syncs_dropped += 1;
            return Err(SyncError::NotALink);
        };
        if *used >= budget {
            self.stats.syncs_dropped += 1;
            return Err(SyncError::OverBudget);
        }
        *used += 1;
        let message = sync::decode(payload).inspect_err(|_| self.stats.syncs_dropped += 1)?;
        self.stats.syncs_handled += 1;
        let mut changed = Vec::new();
        for bytes in &message.entries {
            let Ok(envelope) = micelio_proto::decode::<Envelope>(bytes) else {
                self.stats.refused += 1;
                continue;
            };
            match self.receive_envelope(suite, envelope, unix_now) {
                Ok(Some(entry)) => {
                    self.stats.synced += 1;
                    changed.push(entry);
                }
                Ok(None) => {}
                Err(error) => tracing::debug!(peer = %peer, %error, "state entry refused"),
            }
        }
        Ok((changed, sync::answer(&self.map, &message)))
    }
}
