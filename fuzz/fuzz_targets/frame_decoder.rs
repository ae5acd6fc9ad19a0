//! `FrameDecoder` on arbitrary bytes split at arbitrary points.
//!
//! Invariants: no panic; never more than one header and one maximum payload buffered; every
//! decoded payload re-encodes to exactly the bytes it was decoded from; bytes are consumed
//! only up to the end of the current frame; an error is final and names the bad header; the
//! split points change nothing (same payloads and same error as the whole stream at once).
#![no_main]

use libfuzzer_sys::fuzz_target;
use micelio_core::frame::{self, FrameDecoder, FrameError, HEADER_LEN, MAX_PAYLOAD};
use micelio_fuzz::cursor::Cursor;
use micelio_fuzz::splits::Split;

/// What decoding a stream produced: the payloads and the error that stopped it, if any.
type Outcome = (Vec<Vec<u8>>, Option<FrameError>);

fn decode(stream: &[u8], chunks: &[&[u8]]) -> Outcome {
    let mut decoder = FrameDecoder::new();
    let mut payloads = Vec::new();
    // Offset in the stream where the current frame started.
    let mut frame_start = 0;
    let mut offset = 0;
    for chunk in chunks {
        let mut input = *chunk;
        loop {
            let before = input.len();
            let result = decoder.decode(&mut input);
            offset += before - input.len();
            assert!(decoder.buffered() <= HEADER_LEN + MAX_PAYLOAD);
            match result {
                Ok(Some(payload)) => {
                    let mut encoded = Vec::new();
                    frame::encode(&payload, &mut encoded).expect("decoded payload re-encodes");
                    assert_eq!(encoded, stream[frame_start..offset], "re-encoding differs");
                    assert_eq!(decoder.buffered(), 0);
                    frame_start = offset;
                    payloads.push(payload);
                }
                Ok(None) => {
                    assert!(input.is_empty(), "stopped before the end of its input");
                    assert_eq!(decoder.buffered(), offset - frame_start);
                    break;
                }
                Err(error) => {
                    let header: [u8; HEADER_LEN] = stream[frame_start..frame_start + HEADER_LEN]
                        .try_into()
                        .expect("an error needs a whole header");
                    assert_eq!(frame::parse_header(&header), Err(error));
                    assert_eq!(
                        offset,
                        frame_start + HEADER_LEN,
                        "consumed past a bad header"
                    );
                    let mut more: &[u8] = stream;
                    assert_eq!(decoder.decode(&mut more), Err(error), "errors are final");
                    return (payloads, Some(error));
                }
            }
        }
    }
    (payloads, None)
}

fuzz_target!(|data: &[u8]| {
    let split = Split::parse(&mut Cursor::new(data));
    let chunked = decode(split.stream, &split.chunks());
    let whole = decode(split.stream, &[split.stream]);
    assert_eq!(chunked, whole, "split points changed the result");
});
