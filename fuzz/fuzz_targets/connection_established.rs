//! A connection that completed a real Noise handshake with the harness (deterministic keys),
//! then fed the fuzzer's script: arbitrary plaintext sealed as transport records, frames,
//! signed envelopes of any type, hellos (valid or forged), raw injected bytes, sends,
//! blocked writes and time steps. See `micelio_fuzz::established` for the exact model the
//! connection is checked against, and `micelio_fuzz::connection_ops` for the script format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micelio_fuzz::connection_ops::Op;
use micelio_fuzz::cursor::Cursor;
use micelio_fuzz::established::Pair;

fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    let flags = cursor.u8();
    let mut pair = Pair::new(flags & 1 == 1, flags & 2 == 0);
    while let Some(op) = Op::parse(&mut cursor) {
        pair.apply(&op);
    }
});
