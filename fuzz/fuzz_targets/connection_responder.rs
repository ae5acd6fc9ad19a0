//! A `Connection` fed raw bytes from the wire, chunked by the fuzzer, with time steps.
//!
//! The connection's ephemeral key is the one of a golden Noise transcript, so the seeds (the
//! transcript's own messages) complete the handshake and the hello for real and the fuzzer
//! mutates from there. Variant (first byte, modulo 3): 0, the responder of the reference
//! transcript (node B); 1, the responder of Appendix A's transcript; 2, the initiator of the
//! reference transcript (node A), fed the responder's side.
//!
//! Script: operations until the input ends, tag modulo 5: 0 feed a chunk, 1 time passes
//! (`unit: u8` 0 ms / 1 s / 2 to the deadline, `amount: u16`), 2 block or unblock the socket,
//! 3 EOF, 4 local close.
//!
//! Invariants (besides those `Victim` checks after every step: event order, one typed close
//! reason, bounded decoders and queue, a deadline after now while open): no panic, and at
//! most 1 KiB written per step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micelio_core::connection::{ConnectionConfig, Role};
use micelio_core::time::Instant;
use micelio_fuzz::cursor::Cursor;
use micelio_fuzz::identities;
use micelio_fuzz::rng::ScriptedRng;
use micelio_fuzz::victim::Victim;

fn run(of: u8) -> [u8; 32] {
    core::array::from_fn(|i| of + i as u8)
}

fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    let (role, identity, ephemeral) = match cursor.u8() % 3 {
        0 => (Role::Responder, identities::peer(1), run(0x61)),
        1 => (Role::Responder, identities::peer(3), run(0x60)),
        _ => (Role::Initiator, identities::peer(0), run(0x41)),
    };
    let mut rng = ScriptedRng::new(&ephemeral, 0);
    let config = ConnectionConfig::default();
    let mut victim = Victim::new(role, config, identity, Instant::ZERO, &mut rng);
    victim.step();
    while !cursor.is_empty() {
        match cursor.u8() % 5 {
            0 => {
                let chunk = cursor.chunk();
                victim.conn.handle_input(victim.now, chunk);
            }
            1 => {
                let (unit, amount) = (cursor.u8() % 3, u64::from(cursor.u16()));
                match unit {
                    0 => victim.advance(amount * 1_000_000),
                    1 => victim.advance(amount * 1_000_000_000),
                    _ => {
                        if let Some(at) = victim.conn.poll_timeout() {
                            victim.now = victim.now.max(at);
                        }
                    }
                }
            }
            2 => victim.set_blocked(!victim.blocked),
            3 => victim.conn.handle_transport_closed(),
            _ => victim.conn.close(),
        }
        let step = victim.step();
        assert!(
            step.transmitted.len() <= 1024,
            "{} bytes in one step",
            step.transmitted.len()
        );
    }
});
