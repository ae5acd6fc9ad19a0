//! The discovery tick (spec §12.5): candidates, back-off, jitter, and no more dials than
//! free slots (less the ones kept for nodes that dial in).

use alloc::vec::Vec;
use core::time::Duration;

use rand_core::RngCore;

use super::{Node, ScheduledDial, peers, shuffle_prefix};
use crate::identity::NodeId;
use crate::time::Instant;

impl Node {
    /// The admitted peers discovery dials towards: `max_peers` less the slots kept for nodes
    /// that dial in ([`super::NodeConfig::inbound_reserve`]), unless that would leave fewer
    /// slots to dial than to keep.
    fn discovery_target(&self) -> usize {
        let max = self.config.max_peers;
        let reserve = self.config.inbound_reserve;
        if max > reserve.saturating_mul(2) {
            max - reserve
        } else {
            max
        }
    }

    /// One discovery tick (spec §12.5), dialing no more peers than there are free slots.
    pub(super) fn discover(&mut self, now: Instant) {
        // A discovery mark stays set for the whole life of the connection it opened (spec
        // §12.5 step 4): only the dials not admitted yet are in flight. Counting the admitted
        // ones twice (they are in `admitted` too) left nodes short of `max_peers` for good.
        let in_flight = self
            .discovery_dialing
            .iter()
            .filter(|id| !self.admitted.contains_key(*id))
            .count();
        let budget = if self.config.max_peers == 0 {
            self.config.discovery_dials_per_tick
        } else {
            self.discovery_target()
                .saturating_sub(self.admitted.len() + in_flight)
                .min(self.config.discovery_dials_per_tick)
        };
        if budget == 0 {
            return;
        }
        let unix = self.unix_now(now);
        let own = self.node_id();
        let mut candidates: Vec<NodeId> = self
            .peers
            .iter_dialable()
            .filter(|r| {
                r.node_id != own
                    && !self.admitted.contains_key(&r.node_id)
                    && !self.handovers.contains_key(&r.node_id)
                    && !self.discovery_dialing.contains(&r.node_id)
                    && !self.config.bootstrap.contains(&r.addr)
                    && r.addr != self.config.advertised_addr
                    && !self.self_addrs.contains(&r.addr)
                    && (r.fail_count == 0
                        || unix
                            >= r.last_fail
                                .saturating_add(peers::backoff_secs(r.fail_count.into())))
            })
            .map(|r| r.node_id)
            .collect();
        let chosen = shuffle_prefix(&mut self.rng, &mut candidates, budget).to_vec();
        for node_id in chosen {
            let Some(addr) = self.peers.get(&node_id).map(|r| r.addr.clone()) else {
                continue;
            };
            self.discovery_dialing.insert(node_id);
            let jitter_nanos = u64::try_from(self.config.discovery_jitter.as_nanos()).unwrap_or(0);
            let jitter = if jitter_nanos == 0 {
                0
            } else {
                self.rng.next_u64() % jitter_nanos
            };
            self.scheduled.push(ScheduledDial {
                at: now + Duration::from_nanos(jitter),
                node_id,
                addr,
            });
        }
    }
}
