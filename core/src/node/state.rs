//! The shared map on the node (extension `state1`, docs/state.md): local writes, writes
//! received by gossip, anti-entropy rounds with the `state1` peers, tombstone expiry, and
//! what the runtime persists.

use alloc::string::String;
use alloc::vec::Vec;

use micelio_proto::{Envelope, StateSync};

use super::{CommandError, Node, NodeEvent, Output};
use crate::connection::{PeerIdentity, announces};
use crate::envelope::{self, msg_type};
use crate::identity::NodeId;
use crate::state::{Entry, STATE_CAPABILITY, StateMap, StateStats};
use crate::time::Instant;

impl Node {
    /// The map (read only).
    pub fn state(&self) -> &StateMap {
        self.state.map()
    }

    /// The live value of `key`.
    pub fn state_get(&self, key: &str) -> Option<&[u8]> {
        self.state.map().get(key)
    }

    /// Counters of the extension.
    pub fn state_stats(&self) -> StateStats {
        self.state.stats
    }

    /// Number of `state1` peers (those anti-entropy runs with).
    pub fn state_links(&self) -> usize {
        self.state.links().count()
    }

    /// The Lamport clock's time.
    pub fn lamport_time(&self) -> u64 {
        self.state.lamport_time()
    }

    /// Writes `value` under `key`, for every node; returns the write's message id.
    pub fn state_set(
        &mut self,
        now: Instant,
        key: &str,
        value: Vec<u8>,
    ) -> Result<String, CommandError> {
        self.write_state(now, key, Some(value))
    }

    /// Deletes `key` for every node (a tombstone); returns the write's message id.
    pub fn state_delete(&mut self, now: Instant, key: &str) -> Result<String, CommandError> {
        self.write_state(now, key, None)
    }

    /// Loads the persisted clock and entries at start (before any input): each entry is
    /// verified and checked again; expired tombstones and invalid entries are dropped (and
    /// forgotten by the store). Returns how many were loaded.
    pub fn load_state(&mut self, clock: u64, entries: impl IntoIterator<Item = Vec<u8>>) -> usize {
        self.state.restore_clock(clock);
        let unix_now = self.unix_secs(self.clock_origin);
        let suite = self.identity.suite();
        let mut loaded = 0;
        for bytes in entries {
            let Ok(envelope) = micelio_proto::decode::<Envelope>(&bytes) else {
                tracing::warn!("skipping stored state entry: not an envelope");
                continue;
            };
            match self
                .state
                .receive_envelope(suite, envelope.clone(), unix_now)
            {
                Ok(_) => loaded += 1,
                Err(error) => {
                    tracing::warn!(%error, "skipping stored state entry");
                    if let Ok(write) =
                        micelio_proto::decode::<micelio_proto::StateWrite>(&envelope.payload)
                    {
                        self.outputs.push_back(Output::ForgetState(write.key));
                    }
                }
            }
        }
        if loaded > 0 {
            tracing::info!(
                count = loaded,
                clock = self.state.lamport_time(),
                "loaded state"
            );
        }
        loaded
    }

    fn write_state(
        &mut self,
        now: Instant,
        key: &str,
        value: Option<Vec<u8>>,
    ) -> Result<String, CommandError> {
        if self.shut_down {
            return Err(CommandError::ShutDown);
        }
        let id = envelope::new_message_id(&mut self.rng);
        let unix_now = self.unix_secs(now);
        let entry = self
            .state
            .write(&self.identity, id.clone(), key, value, unix_now)
            .map_err(CommandError::State)?;
        self.outputs
            .push_back(Output::PersistClock(self.state.lamport_time()));
        self.state_changed(&entry);
        let mut gossip = entry.envelope().clone();
        gossip.hop_count = self.config.origin_hop_count;
        self.gossip.seen.insert(&id, now);
        self.relay(now, None, false, gossip);
        self.run_timers(now);
        Ok(id)
    }

    /// A state write that passed the gossip checks, from `sender`: taken into the map if the
    /// entry rules hold. False when they do not (the write is then not relayed either).
    pub(super) fn on_state_write(&mut self, now: Instant, sender: NodeId, env: &Envelope) -> bool {
        let Some((public_key, _)) = self.gossip.keys.get(&sender) else {
            return false;
        };
        let time = self.state.check_time(self.unix_secs(now));
        match Entry::verified(env.clone(), &public_key, time) {
            Ok(entry) => {
                if let crate::state::Applied::Changed { .. } = self.state.receive(entry.clone()) {
                    self.state_changed(&entry);
                }
                true
            }
            Err(error) => {
                self.state.stats.refused += 1;
                tracing::debug!(%sender, %error, "state write refused");
                false
            }
        }
    }

    /// Persists a change and tells the application.
    fn state_changed(&mut self, entry: &Entry) {
        self.outputs.push_back(Output::PersistState {
            key: String::from(entry.key()),
            envelope: micelio_proto::encode(entry.envelope()),
        });
        self.outputs
            .push_back(Output::Event(NodeEvent::StateChanged {
                key: String::from(entry.key()),
                value: entry.value().map(<[u8]>::to_vec),
                writer: entry.writer(),
                lamport: entry.version().lamport,
            }));
    }

    /// An admitted peer: a `state1` link if its hello announced the extension (and ours is
    /// on); otherwise not (or no longer) one. The first link of a node that had none (it
    /// just started, or was cut off) starts a round at once; later ones wait for their turn,
    /// so that a returning node does not fetch what it missed from every peer at once.
    pub(super) fn state_peer_up(&mut self, now: Instant, peer: &PeerIdentity) {
        if self.state.config().enabled && announces(&peer.version, STATE_CAPABILITY) {
            let isolated = self.state.links().next().is_none();
            self.state.add_link(peer.node_id);
            if isolated {
                let opening = self.state.opening();
                self.send_state_sync(now, peer.node_id, &opening);
            }
        } else {
            self.state.remove_link(&peer.node_id);
        }
    }

    /// An admitted peer left.
    pub(super) fn state_peer_down(&mut self, id: &NodeId) {
        self.state.remove_link(id);
    }

    /// True when an envelope from `from` is anti-entropy of the extension.
    pub(super) fn is_state_sync(&self, from: &NodeId, envelope: &Envelope) -> bool {
        envelope.msg_type == msg_type::STATE_SYNC && self.state.is_link(from)
    }

    /// A `StateSync` from `state1` peer `from`.
    pub(super) fn on_state_sync(&mut self, now: Instant, from: NodeId, envelope: &Envelope) {
        let suite = self.identity.suite();
        let unix_now = self.unix_secs(now);
        match self
            .state
            .on_sync(suite, &from, &envelope.payload, unix_now)
        {
            Ok((changed, answer)) => {
                for entry in &changed {
                    self.state_changed(entry);
                }
                if let Some(answer) = answer {
                    self.send_state_sync(now, from, &answer);
                }
            }
            Err(error) => tracing::debug!(peer = %from, %error, "state sync dropped"),
        }
    }

    fn send_state_sync(&mut self, now: Instant, to: NodeId, message: &StateSync) {
        let Some(&conn) = self.admitted.get(&to) else {
            return;
        };
        let envelope = Envelope {
            msg_type: msg_type::STATE_SYNC,
            payload: micelio_proto::encode(message),
            ..Envelope::default()
        };
        let bytes = micelio_proto::encode(&envelope);
        if self.send_to(now, conn, &bytes) {
            self.state.stats.sync_bytes_sent += envelope.payload.len() as u64;
        }
    }

    /// Every sync interval: budgets renewed, expired tombstones forgotten, and a round with
    /// the next `state1` peer in turn (round robin: no draw from the node's RNG).
    pub(super) fn state_timers(&mut self, now: Instant) {
        if !self.state.config().enabled || now < self.next_state_sync {
            return;
        }
        self.next_state_sync = now + self.state.config().sync_interval;
        self.state.new_interval();
        for key in self.state.expire(self.unix_secs(now)) {
            self.outputs.push_back(Output::ForgetState(key));
        }
        let links: Vec<NodeId> = self.state.links().copied().collect();
        if links.is_empty() {
            return;
        }
        let peer = links[self.state_turn % links.len()];
        self.state_turn = self.state_turn.wrapping_add(1);
        let opening = self.state.opening();
        self.send_state_sync(now, peer, &opening);
    }

    /// When the extension next has timer work.
    pub(super) fn state_timeout(&self) -> Option<Instant> {
        self.state.config().enabled.then_some(self.next_state_sync)
    }

    /// The wall clock at `now`, Unix seconds (0 before 1970).
    pub(super) fn unix_secs(&self, now: Instant) -> u64 {
        u64::try_from(self.unix_now(now)).unwrap_or(0)
    }
}
