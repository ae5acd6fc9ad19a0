//! The borrowed PeerExchange decoder (`PeerExchangeRef::decode`, used on every received
//! exchange) against the generated one, on arbitrary bytes.
//!
//! Invariants: no panic; both accept exactly the same inputs and read the same entries; the
//! `keep` bound limits the entries kept and nothing else; whatever decodes re-encodes to bytes
//! that decode to the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micelio_core::proto::{self, PeerExchange, PeerExchangeRef};

fuzz_target!(|data: &[u8]| {
    let (keep, bytes) = match data.split_first() {
        Some((&keep, rest)) => (usize::from(keep % 8), rest),
        None => (0, data),
    };
    let generated = proto::decode::<PeerExchange>(bytes);
    let borrowed = PeerExchangeRef::decode(bytes, usize::MAX);
    match (&generated, &borrowed) {
        (Ok(g), Ok(b)) => {
            assert_eq!(&PeerExchangeRef::from(g), b);
            let kept = PeerExchangeRef::decode(bytes, keep).expect("same bytes decode");
            assert_eq!(kept.peers.len(), b.peers.len().min(keep));
            assert_eq!(kept.peers[..], b.peers[..kept.peers.len()]);
            let again = proto::encode(b);
            assert_eq!(again, proto::encode(g));
            let reread = PeerExchangeRef::decode(&again, usize::MAX).expect("re-encoded decodes");
            assert_eq!(&reread, b);
        }
        (Err(_), Err(_)) => {
            assert!(PeerExchangeRef::decode(bytes, keep).is_err());
        }
        _ => panic!("decoders disagree: generated {generated:?}, borrowed {borrowed:?}"),
    }
});
