//! The Noise `RecordDecoder` (2-byte handshake prefixes, then 4-byte transport prefixes) on
//! arbitrary bytes split at arbitrary points.
//!
//! Invariants: no panic; buffered bytes never exceed a prefix plus the largest message of the
//! current mode; every record re-encodes (prefix and body) to the bytes it came from; a
//! transport prefix over `MAX_TRANSPORT_MESSAGE` is refused before any body byte is held;
//! the split points change nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micelio_core::noise::{
    HANDSHAKE_PREFIX_LEN, MAX_HANDSHAKE_MESSAGE, MAX_TRANSPORT_MESSAGE, NoiseError, RecordDecoder,
    TRANSPORT_PREFIX_LEN,
};
use micelio_fuzz::cursor::Cursor;
use micelio_fuzz::splits::Split;

type Outcome = (Vec<Vec<u8>>, Option<NoiseError>);

/// Decodes `chunks`, switching to transport prefixes after `handshake_records` records.
fn decode(stream: &[u8], chunks: &[&[u8]], handshake_records: usize) -> Outcome {
    let mut decoder = RecordDecoder::new();
    let mut transport = handshake_records == 0;
    if transport {
        decoder.enter_transport();
    }
    let mut records = Vec::new();
    let (mut start, mut offset) = (0, 0);
    for chunk in chunks {
        let mut input = *chunk;
        loop {
            let before = input.len();
            let result = decoder.decode(&mut input);
            offset += before - input.len();
            let (prefix, max) = if transport {
                (TRANSPORT_PREFIX_LEN, MAX_TRANSPORT_MESSAGE)
            } else {
                (HANDSHAKE_PREFIX_LEN, MAX_HANDSHAKE_MESSAGE)
            };
            assert!(decoder.buffered() <= prefix + max);
            match result {
                Ok(Some(body)) => {
                    let len = stream[start..start + prefix]
                        .iter()
                        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                    assert_eq!(len, body.len());
                    assert_eq!(body, stream[start + prefix..offset]);
                    start = offset;
                    records.push(body);
                    if records.len() == handshake_records {
                        decoder.enter_transport();
                        transport = true;
                    }
                }
                Ok(None) => {
                    assert!(input.is_empty());
                    assert_eq!(decoder.buffered(), offset - start);
                    break;
                }
                Err(error) => {
                    assert!(transport, "handshake prefixes cannot be too large");
                    let len = stream[start..start + prefix]
                        .iter()
                        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                    assert_eq!(error, NoiseError::MessageTooLarge(len));
                    assert!(len > MAX_TRANSPORT_MESSAGE);
                    assert_eq!(
                        offset,
                        start + prefix,
                        "held body bytes of a refused record"
                    );
                    return (records, Some(error));
                }
            }
        }
    }
    (records, None)
}

fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    // Handshake records before the switch to transport prefixes; 255 never switches.
    let handshake_records = match cursor.u8() {
        255 => usize::MAX,
        n => usize::from(n),
    };
    let split = Split::parse(&mut cursor);
    let chunked = decode(split.stream, &split.chunks(), handshake_records);
    let whole = decode(split.stream, &[split.stream], handshake_records);
    assert_eq!(chunked, whole, "split points changed the result");
});
