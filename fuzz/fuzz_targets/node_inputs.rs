//! A `Node` (fixed identity and seed) fed a scripted sequence of network inputs, harness peers'
//! envelopes (genuine, forged, replayed, malformed) and application commands, with every
//! output drained after each operation.
//!
//! Invariants (`micelio_fuzz::node::oracle`): no panic; each drain ends in `Output::Timeout`
//! with a deadline after now (none after shutdown); every table within its configured bound;
//! every open connection accounted for; no `Chat` or `Message` event for an envelope its
//! sender did not sign, and never the node's own; `PeerUp`/`PeerDown` alternate per peer;
//! everything the node sends is accepted by an honest peer, and every envelope it sends or
//! relays is genuinely signed; persisted records and shared exchange entries pass the
//! loader's own validation. The script format is in `micelio_fuzz::node::ops`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micelio_fuzz::cursor::Cursor;
use micelio_fuzz::node::ops::Op;
use micelio_fuzz::node::world::World;

fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    let mut world = World::new(cursor.u8());
    while let Some(op) = Op::parse(&mut cursor) {
        world.apply(&op);
    }
});
