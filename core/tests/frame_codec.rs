//! Tests of the frame layer (PROTOCOL.md §6, TESTS.md §6): `frame::encode`/`header` and the
//! incremental `FrameDecoder`, as unit tests and as property tests over arbitrary chunkings,
//! garbage input, maximum-size frames and buffer bounds.

use micelio_core::frame::{
    self, FrameDecoder, FrameError, HEADER_LEN, MAGIC, MAX_PAYLOAD, VERSION,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// The most a decoder may ever hold: one header and one maximum payload.
const MAX_BUFFERED: usize = HEADER_LEN + MAX_PAYLOAD;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One encoded frame.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode(payload, &mut out).expect("payload within limit");
    out
}

/// A raw 8-byte header with arbitrary field values.
fn raw_header(magic: u16, version: u16, len: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..2].copy_from_slice(&magic.to_be_bytes());
    h[2..4].copy_from_slice(&version.to_be_bytes());
    h[4..8].copy_from_slice(&len.to_be_bytes());
    h
}

/// `len` deterministic, non-constant bytes (cheap even in debug builds).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(0x9E37_79B1).wrapping_add(seed) >> 24) as u8)
        .collect()
}

/// Splits `stream` at the given cut points (mapped onto its length; duplicates give empty
/// chunks, which the decoder must also accept).
fn chunks<'a>(stream: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for p in points {
        out.push(&stream[start..p]);
        start = p;
    }
    out.push(&stream[start..]);
    out
}

/// What a straightforward, non-incremental reader makes of a whole stream.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The stream ends inside (or at the start of) a frame holding this many bytes.
    Pending(usize),
    /// The stream fails with this error after the complete payloads.
    Failed(FrameError),
}

/// The reference model of §6 "Reader, in this order", applied to a complete stream.
fn model(stream: &[u8]) -> (Vec<Vec<u8>>, End) {
    let mut payloads = Vec::new();
    let mut rest = stream;
    loop {
        if rest.len() < HEADER_LEN {
            return (payloads, End::Pending(rest.len()));
        }
        let magic = u16::from_be_bytes([rest[0], rest[1]]);
        if magic != MAGIC {
            return (payloads, End::Failed(FrameError::BadMagic(magic)));
        }
        let version = u16::from_be_bytes([rest[2], rest[3]]);
        if version != VERSION {
            return (payloads, End::Failed(FrameError::BadVersion(version)));
        }
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len as usize > MAX_PAYLOAD {
            return (payloads, End::Failed(FrameError::Oversize(len)));
        }
        let len = len as usize;
        if rest.len() < HEADER_LEN + len {
            return (payloads, End::Pending(rest.len()));
        }
        payloads.push(rest[HEADER_LEN..HEADER_LEN + len].to_vec());
        rest = &rest[HEADER_LEN + len..];
    }
}

/// Everything observed while feeding a stream to one decoder chunk by chunk.
struct Run {
    payloads: Vec<Vec<u8>>,
    /// Absolute stream offset right after each returned payload.
    ends: Vec<usize>,
    error: Option<FrameError>,
    /// `buffered()` after the last call.
    buffered: usize,
}

/// Feeds `chunks` to a fresh decoder, calling `decode` until each chunk is used up, and checks
/// the invariants that hold after every single call:
/// - `buffered()` never exceeds one header plus one maximum payload;
/// - `Ok(None)` only once the input is exhausted;
/// - while no error has occurred, `buffered()` equals the bytes consumed since the end of the
///   last returned frame (nothing is consumed past the end of a frame, nothing is lost);
/// - once an error is returned, every later call (with more input or none) returns it again.
fn run(chunks: &[&[u8]]) -> Result<Run, TestCaseError> {
    let mut decoder = FrameDecoder::new();
    prop_assert_eq!(decoder.buffered(), 0);
    let mut result = Run {
        payloads: Vec::new(),
        ends: Vec::new(),
        error: None,
        buffered: 0,
    };
    let mut fed = 0usize; // absolute offset of the start of the current chunk
    let mut last_end = 0usize;
    for chunk in chunks {
        let mut input: &[u8] = chunk;
        loop {
            let before = input.len();
            let outcome = decoder.decode(&mut input);
            let buffered = decoder.buffered();
            prop_assert!(
                buffered <= MAX_BUFFERED,
                "buffered {} > {}",
                buffered,
                MAX_BUFFERED
            );
            prop_assert!(input.len() <= before, "decode grew its input");
            let offset = fed + (chunk.len() - input.len());
            if let Some(error) = result.error {
                prop_assert_eq!(outcome, Err(error), "error is not sticky");
                break;
            }
            match outcome {
                Ok(Some(payload)) => {
                    prop_assert_eq!(buffered, 0, "bytes held after a complete frame");
                    prop_assert_eq!(offset - last_end, HEADER_LEN + payload.len());
                    last_end = offset;
                    result.ends.push(offset);
                    result.payloads.push(payload);
                }
                Ok(None) => {
                    prop_assert!(
                        input.is_empty(),
                        "Ok(None) with {} bytes unread",
                        input.len()
                    );
                    prop_assert_eq!(buffered, offset - last_end);
                    break;
                }
                Err(error) => {
                    match error {
                        FrameError::BadMagic(m) => prop_assert_ne!(m, MAGIC),
                        FrameError::BadVersion(v) => prop_assert_ne!(v, VERSION),
                        FrameError::Oversize(n) => prop_assert!(n as usize > MAX_PAYLOAD),
                        FrameError::PayloadTooLarge(_) => {
                            prop_assert!(false, "reader returned a writer error: {:?}", error)
                        }
                    }
                    result.error = Some(error);
                    // Keep calling with whatever is left: it must keep failing the same way.
                }
            }
        }
        fed += chunk.len();
        result.buffered = decoder.buffered();
    }
    if let Some(error) = result.error {
        let mut empty: &[u8] = &[];
        prop_assert_eq!(decoder.decode(&mut empty), Err(error));
        let good = framed(b"after the error");
        prop_assert_eq!(decoder.decode(&mut good.as_slice()), Err(error));
    }
    Ok(result)
}

/// Feeds a whole stream in one slice and decodes everything it holds.
fn decode_all(stream: &[u8]) -> (Vec<Vec<u8>>, Result<(), FrameError>, usize) {
    let mut decoder = FrameDecoder::new();
    let mut input = stream;
    let mut payloads = Vec::new();
    loop {
        match decoder.decode(&mut input) {
            Ok(Some(p)) => payloads.push(p),
            Ok(None) => return (payloads, Ok(()), decoder.buffered()),
            Err(e) => return (payloads, Err(e), decoder.buffered()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Unit tests (TESTS.md §6)
// ---------------------------------------------------------------------------------------------

#[test]
fn header_layout() {
    assert_eq!(
        frame::header(0).unwrap(),
        [0x4d, 0x49, 0x00, 0x01, 0, 0, 0, 0]
    );
    assert_eq!(
        frame::header(0x0102_0304 & 0xf_ffff).unwrap(),
        raw_header(MAGIC, VERSION, 0x0002_0304)
    );
    assert_eq!(
        frame::header(MAX_PAYLOAD).unwrap(),
        [0x4d, 0x49, 0x00, 0x01, 0x00, 0x10, 0x00, 0x00]
    );
    assert_eq!(frame::parse_header(&raw_header(MAGIC, VERSION, 5)), Ok(5));
}

#[test]
fn round_trip() {
    // TestFrameRoundTrip
    let payload = b"hello, micelio".to_vec();
    let bytes = framed(&payload);
    assert_eq!(bytes.len(), HEADER_LEN + payload.len());
    assert_eq!(bytes[..HEADER_LEN], frame::header(payload.len()).unwrap());
    assert_eq!(bytes[HEADER_LEN..], payload[..]);

    let mut decoder = FrameDecoder::new();
    let mut input = bytes.as_slice();
    assert_eq!(decoder.decode(&mut input), Ok(Some(payload)));
    assert!(input.is_empty());
    assert_eq!(decoder.buffered(), 0);
    assert_eq!(decoder.decode(&mut input), Ok(None));
}

#[test]
fn encode_appends_to_existing_output() {
    let mut out = vec![0xaa, 0xbb];
    frame::encode(b"xy", &mut out).unwrap();
    assert_eq!(
        out,
        [0xaa, 0xbb, 0x4d, 0x49, 0x00, 0x01, 0, 0, 0, 2, b'x', b'y']
    );
}

#[test]
fn empty_payload() {
    // TestFrameEmptyPayload
    let bytes = framed(&[]);
    assert_eq!(bytes, [0x4d, 0x49, 0x00, 0x01, 0, 0, 0, 0]);
    let mut decoder = FrameDecoder::new();
    let mut input = bytes.as_slice();
    assert_eq!(decoder.decode(&mut input), Ok(Some(Vec::new())));
    assert!(input.is_empty());
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn bad_magic_rejected() {
    // TestFrameInvalidMagic
    let mut bytes = raw_header(0xffff, VERSION, 3).to_vec();
    bytes.extend_from_slice(b"abc");
    let mut decoder = FrameDecoder::new();
    let mut input = bytes.as_slice();
    assert_eq!(
        decoder.decode(&mut input),
        Err(FrameError::BadMagic(0xffff))
    );
    assert_eq!(
        frame::parse_header(&raw_header(0xffff, VERSION, 3)),
        Err(FrameError::BadMagic(0xffff))
    );
}

#[test]
fn bad_magic_detected_before_version() {
    // §6 reader order: magic is checked before version and length.
    let header = raw_header(0x1234, 0x9999, u32::MAX);
    assert_eq!(
        frame::parse_header(&header),
        Err(FrameError::BadMagic(0x1234))
    );
    let header = raw_header(MAGIC, 0x9999, u32::MAX);
    assert_eq!(
        frame::parse_header(&header),
        Err(FrameError::BadVersion(0x9999))
    );
}

#[test]
fn oversize_header_rejected_before_payload() {
    // TestFramePayloadTooLarge: only the 8 header bytes are supplied.
    let header = raw_header(MAGIC, VERSION, 1_048_577);
    let mut decoder = FrameDecoder::new();
    let mut input = &header[..];
    assert_eq!(
        decoder.decode(&mut input),
        Err(FrameError::Oversize(1_048_577))
    );
    assert!(
        decoder.buffered() <= HEADER_LEN,
        "payload buffered: {}",
        decoder.buffered()
    );

    // Same header split across calls: the error comes with the 8th byte.
    let mut decoder = FrameDecoder::new();
    for (i, byte) in header.iter().enumerate() {
        let mut input = std::slice::from_ref(byte);
        let outcome = decoder.decode(&mut input);
        if i + 1 < HEADER_LEN {
            assert_eq!(outcome, Ok(None));
            assert_eq!(decoder.buffered(), i + 1);
        } else {
            assert_eq!(outcome, Err(FrameError::Oversize(1_048_577)));
        }
    }

    // With payload bytes following the header, none of them is consumed.
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(&[0u8; 100]);
    let mut decoder = FrameDecoder::new();
    let mut input = bytes.as_slice();
    assert_eq!(
        decoder.decode(&mut input),
        Err(FrameError::Oversize(1_048_577))
    );
    assert_eq!(input.len(), 100);
    assert!(decoder.buffered() <= HEADER_LEN);

    // The largest value the field can hold is reported as is.
    assert_eq!(
        frame::parse_header(&raw_header(MAGIC, VERSION, u32::MAX)),
        Err(FrameError::Oversize(u32::MAX))
    );
}

#[test]
fn writer_refuses_oversize_payload() {
    // TestFrameWriteTooLarge
    let payload = vec![0x5a; MAX_PAYLOAD + 1];
    let mut out = vec![1, 2, 3];
    assert_eq!(
        frame::encode(&payload, &mut out),
        Err(FrameError::PayloadTooLarge(1_048_577))
    );
    assert_eq!(out, [1, 2, 3], "nothing may be appended on error");
    let mut empty = Vec::new();
    assert_eq!(
        frame::encode(&payload, &mut empty),
        Err(FrameError::PayloadTooLarge(1_048_577))
    );
    assert!(empty.is_empty());
    assert_eq!(
        frame::header(MAX_PAYLOAD + 1),
        Err(FrameError::PayloadTooLarge(1_048_577))
    );
    assert_eq!(
        frame::header(usize::MAX),
        Err(FrameError::PayloadTooLarge(usize::MAX))
    );
}

#[test]
fn bad_version_rejected() {
    // TestFrameInvalidVersion
    let mut bytes = raw_header(MAGIC, 0x9999, 1).to_vec();
    bytes.push(0);
    let mut decoder = FrameDecoder::new();
    let mut input = bytes.as_slice();
    assert_eq!(
        decoder.decode(&mut input),
        Err(FrameError::BadVersion(0x9999))
    );
    for version in [0x0000, 0x0002, 0x0100, 0xffff] {
        assert_eq!(
            frame::parse_header(&raw_header(MAGIC, version, 0)),
            Err(FrameError::BadVersion(version))
        );
    }
}

#[test]
fn three_frames_back_to_back() {
    // TestFrameMultipleRoundTrips
    let payloads: [&[u8]; 3] = [b"first", b"", b"third frame"];
    let mut stream = Vec::new();
    for p in payloads {
        frame::encode(p, &mut stream).unwrap();
    }
    let mut decoder = FrameDecoder::new();
    let mut input = stream.as_slice();
    for p in payloads {
        assert_eq!(decoder.decode(&mut input), Ok(Some(p.to_vec())));
    }
    assert!(input.is_empty());
    assert_eq!(decoder.decode(&mut input), Ok(None));
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn truncated_header_needs_more() {
    // TestFrameTruncatedHeader: at the frame layer a short header is "need more bytes"; the
    // connection turns EOF in this state into an error.
    let bytes = framed(b"payload");
    let mut decoder = FrameDecoder::new();
    let mut input = &bytes[..4];
    assert_eq!(decoder.decode(&mut input), Ok(None));
    assert!(input.is_empty());
    assert_eq!(decoder.buffered(), 4);
    // An empty call changes nothing.
    assert_eq!(decoder.decode(&mut &[][..]), Ok(None));
    assert_eq!(decoder.buffered(), 4);
    // The rest completes the frame.
    let mut input = &bytes[4..];
    assert_eq!(decoder.decode(&mut input), Ok(Some(b"payload".to_vec())));
    assert!(input.is_empty());
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn truncated_payload_needs_more() {
    let bytes = framed(b"0123456789");
    let mut decoder = FrameDecoder::new();
    let mut input = &bytes[..HEADER_LEN + 3];
    assert_eq!(decoder.decode(&mut input), Ok(None));
    assert_eq!(decoder.buffered(), HEADER_LEN + 3);
    let mut input = &bytes[HEADER_LEN + 3..];
    assert_eq!(decoder.decode(&mut input), Ok(Some(b"0123456789".to_vec())));
}

#[test]
fn max_payload_exact() {
    // TestFrameMaxPayloadExact
    let payload = pattern(MAX_PAYLOAD, 7);
    let bytes = framed(&payload);
    assert_eq!(bytes.len(), HEADER_LEN + MAX_PAYLOAD);
    assert_eq!(bytes[4..8], [0x00, 0x10, 0x00, 0x00]);

    let mut decoder = FrameDecoder::new();
    let mut input = bytes.as_slice();
    let decoded = decoder.decode(&mut input).unwrap().expect("complete frame");
    assert!(decoded == payload, "max payload altered");
    assert!(input.is_empty());
    assert_eq!(decoder.buffered(), 0);

    // Fed in 64 KiB pieces, the decoder holds at most one header plus the payload.
    let mut decoder = FrameDecoder::new();
    let mut out = None;
    for piece in bytes.chunks(65_536) {
        let mut input = piece;
        if let Some(p) = decoder.decode(&mut input).unwrap() {
            out = Some(p);
        }
        assert!(input.is_empty());
        assert!(decoder.buffered() <= MAX_BUFFERED);
    }
    assert!(out.as_deref() == Some(&payload[..]));
}

#[test]
fn error_is_sticky() {
    let cases = [
        (raw_header(0xffff, VERSION, 0), FrameError::BadMagic(0xffff)),
        (raw_header(MAGIC, 0x9999, 0), FrameError::BadVersion(0x9999)),
        (
            raw_header(MAGIC, VERSION, 1_048_577),
            FrameError::Oversize(1_048_577),
        ),
    ];
    let good = framed(b"valid");
    for (header, error) in cases {
        let mut decoder = FrameDecoder::new();
        assert_eq!(decoder.decode(&mut &header[..]), Err(error));
        for _ in 0..3 {
            assert_eq!(decoder.decode(&mut good.as_slice()), Err(error));
            assert_eq!(decoder.decode(&mut &[][..]), Err(error));
            assert_eq!(decoder.decode(&mut &header[..]), Err(error));
        }
    }
}

#[test]
fn error_after_good_frames() {
    let mut stream = framed(b"one");
    frame::encode(b"two", &mut stream).unwrap();
    stream.extend_from_slice(&raw_header(MAGIC, 2, 0));
    frame::encode(b"never", &mut stream).unwrap();
    let (payloads, end, _) = decode_all(&stream);
    assert_eq!(payloads, [b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(end, Err(FrameError::BadVersion(2)));
}

#[test]
fn decode_stops_at_frame_end() {
    let first = framed(b"abc");
    let second = framed(b"defgh");
    let stream = [first.clone(), second.clone()].concat();
    let mut decoder = FrameDecoder::new();
    let mut input = stream.as_slice();
    assert_eq!(decoder.decode(&mut input), Ok(Some(b"abc".to_vec())));
    assert_eq!(input, &second[..]);
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn error_display_mentions_values() {
    assert!(FrameError::BadMagic(0xffff).to_string().contains("0xffff"));
    assert!(
        FrameError::BadVersion(0x9999)
            .to_string()
            .contains("0x9999")
    );
    assert!(
        FrameError::Oversize(1_048_577)
            .to_string()
            .contains("1048577")
    );
    assert!(
        FrameError::PayloadTooLarge(1_048_577)
            .to_string()
            .contains("1048577")
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// Small payloads (0..2048 bytes).
fn small_payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..2048), 0..8)
}

/// Small payloads with, sometimes, one large payload (64 KiB ..= 1 MiB, including both
/// limits) inserted at an arbitrary position.
fn payloads_with_large() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let large_len = prop_oneof![
        Just(MAX_PAYLOAD),
        Just(MAX_PAYLOAD - 1),
        Just(65_536usize),
        65_536usize..=MAX_PAYLOAD,
    ];
    (
        small_payloads(),
        prop::option::weighted(0.25, (large_len, any::<u32>(), any::<Index>())),
    )
        .prop_map(|(mut payloads, large)| {
            if let Some((len, seed, at)) = large {
                let at = at.index(payloads.len() + 1);
                payloads.insert(at, pattern(len, seed));
            }
            payloads
        })
}

/// Pieces of hostile input: random bytes, valid frames and headers with chosen or arbitrary
/// fields, so that the decoder reaches every state.
fn hostile_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|p| framed(&p)),
        (0u32..256).prop_map(|len| raw_header(MAGIC, VERSION, len).to_vec()),
        any::<u32>().prop_map(|len| raw_header(MAGIC, VERSION, len).to_vec()),
        (any::<u16>(), any::<u32>()).prop_map(|(v, len)| raw_header(MAGIC, v, len).to_vec()),
        (any::<u16>(), any::<u16>(), any::<u32>())
            .prop_map(|(m, v, len)| raw_header(m, v, len).to_vec()),
        (MAX_PAYLOAD as u32 - 2..=MAX_PAYLOAD as u32 + 2)
            .prop_map(|len| raw_header(MAGIC, VERSION, len).to_vec()),
    ]
}

fn hostile_stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..4096),
        prop::collection::vec(hostile_piece(), 0..12).prop_map(|pieces| pieces.concat()),
    ]
}

fn cuts(max: usize) -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (a) Frames encoded back to back and fed in arbitrary chunks decode to the same payloads,
    /// in order, with nothing left over.
    #[test]
    fn prop_frames_survive_any_chunking(payloads in small_payloads(), cut_points in cuts(48)) {
        let stream: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
        let result = run(&chunks(&stream, &cut_points))?;
        prop_assert_eq!(result.error, None);
        prop_assert_eq!(result.payloads, payloads);
        prop_assert_eq!(result.buffered, 0);
    }

    /// (a) Byte-granular splitting: every chunk is 1..=9 bytes, so every header and payload
    /// boundary falls inside a chunk somewhere.
    #[test]
    fn prop_frames_survive_tiny_chunks(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..6),
        sizes in prop::collection::vec(1usize..=9, 1..16),
    ) {
        let stream: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
        let mut pieces = Vec::new();
        let mut start = 0;
        for size in sizes.iter().cycle() {
            if start >= stream.len() {
                break;
            }
            let end = (start + size).min(stream.len());
            pieces.push(&stream[start..end]);
            start = end;
        }
        let result = run(&pieces)?;
        prop_assert_eq!(result.error, None);
        prop_assert_eq!(result.payloads, payloads);
        prop_assert_eq!(result.buffered, 0);
    }

    /// (b) Garbage in arbitrary chunks never panics, only yields payloads, "need more" or a
    /// reader error, agrees with a whole-stream model of §6, and errors are sticky (checked
    /// inside `run`).
    #[test]
    fn prop_garbage_never_panics(stream in hostile_stream(), cut_points in cuts(32)) {
        let result = run(&chunks(&stream, &cut_points))?;
        let (payloads, end) = model(&stream);
        prop_assert_eq!(&result.payloads, &payloads);
        match end {
            End::Failed(error) => prop_assert_eq!(result.error, Some(error)),
            End::Pending(held) => {
                prop_assert_eq!(result.error, None);
                prop_assert_eq!(result.buffered, held);
            }
        }
        // Fed as one slice, the decoder reaches the same verdict.
        let (whole, verdict, _) = decode_all(&stream);
        prop_assert_eq!(&whole, &payloads);
        prop_assert_eq!(verdict.err(), result.error);
    }

    /// (d) After a payload is returned, the input slice starts exactly at the next frame.
    #[test]
    fn prop_decode_stops_at_frame_end(payloads in small_payloads(), cut_points in cuts(16)) {
        let stream: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
        let mut ends = Vec::new();
        let mut offset = 0;
        for p in &payloads {
            offset += HEADER_LEN + p.len();
            ends.push(offset);
        }
        // Whole stream in one slice: after the k-th payload the rest is `stream[end_k..]`.
        let mut decoder = FrameDecoder::new();
        let mut input = stream.as_slice();
        for (p, &end) in payloads.iter().zip(&ends) {
            prop_assert_eq!(decoder.decode(&mut input), Ok(Some(p.clone())));
            prop_assert_eq!(input, &stream[end..]);
            prop_assert_eq!(decoder.buffered(), 0);
        }
        prop_assert_eq!(decoder.decode(&mut input), Ok(None));
        // Chunked: the absolute offsets after each payload are the frame ends.
        let result = run(&chunks(&stream, &cut_points))?;
        prop_assert_eq!(result.ends, ends);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// (a) with large payloads, up to and including the 1 MiB maximum.
    #[test]
    fn prop_large_frames_survive_any_chunking(
        payloads in payloads_with_large(),
        cut_points in cuts(24),
    ) {
        let stream: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
        let result = run(&chunks(&stream, &cut_points))?;
        prop_assert_eq!(result.error, None);
        prop_assert_eq!(result.payloads.len(), payloads.len());
        for (i, (got, want)) in result.payloads.iter().zip(&payloads).enumerate() {
            let (got_len, want_len) = (got.len(), want.len());
            prop_assert!(got == want, "payload {} differs ({} vs {} bytes)", i, got_len, want_len);
        }
        prop_assert_eq!(result.buffered, 0);
    }

    /// (c) Headers announcing up to the maximum length, bodies complete or cut short, never make
    /// the decoder hold more than 8 + 1 MiB (checked after every call inside `run`), and the
    /// amount held is exactly the incomplete frame.
    #[test]
    fn prop_buffer_is_bounded(
        frames in prop::collection::vec(
            (
                prop_oneof![
                    Just(MAX_PAYLOAD),
                    MAX_PAYLOAD - 16..=MAX_PAYLOAD,
                    0usize..=MAX_PAYLOAD,
                    0usize..4096,
                ],
                any::<Index>(),
            ),
            1..3,
        ),
        tail in prop::option::of(any::<u32>()),
        cut_points in cuts(24),
    ) {
        // Every frame but the last is complete; the last is cut at an arbitrary point.
        let mut stream = Vec::new();
        let last = frames.len() - 1;
        for (i, (len, cut)) in frames.iter().enumerate() {
            stream.extend_from_slice(&raw_header(MAGIC, VERSION, *len as u32));
            let body = if i == last { cut.index(*len + 1) } else { *len };
            stream.resize(stream.len() + body, 0xa5);
        }
        // Optionally a header announcing an arbitrary (often oversize) length afterwards.
        if let Some(len) = tail {
            stream.extend_from_slice(&raw_header(MAGIC, VERSION, len));
            stream.resize(stream.len() + 4096, 0x5a);
        }
        let result = run(&chunks(&stream, &cut_points))?;
        prop_assert!(result.buffered <= MAX_BUFFERED);
        let (payloads, end) = model(&stream);
        prop_assert_eq!(result.payloads.len(), payloads.len());
        match end {
            End::Failed(error) => prop_assert_eq!(result.error, Some(error)),
            End::Pending(held) => prop_assert_eq!(result.buffered, held),
        }
    }
}

/// Feeds the same chunks to a decoder called with `decode` and one called with
/// `decode_borrowed`, and checks that every call agrees: same outcome and payload bytes, same
/// input consumed, same bytes held; a borrowed payload only when the frame lay whole in the
/// chunk with nothing held before it.
fn borrowed_agrees(chunks: &[&[u8]]) -> Result<(), TestCaseError> {
    let (mut owned, mut borrowed) = (FrameDecoder::new(), FrameDecoder::new());
    for chunk in chunks {
        let (mut a, mut b): (&[u8], &[u8]) = (chunk, chunk);
        for _ in 0..=chunk.len() + 1 {
            let held_before = borrowed.buffered();
            let expected = owned.decode(&mut a);
            let got = borrowed.decode_borrowed(&mut b);
            prop_assert_eq!(a.len(), b.len(), "different input consumed");
            prop_assert_eq!(owned.buffered(), borrowed.buffered());
            match (&expected, &got) {
                (Ok(Some(want)), Ok(Some(payload))) => {
                    prop_assert_eq!(&want[..], &payload[..]);
                    if let std::borrow::Cow::Borrowed(_) = payload {
                        prop_assert_eq!(held_before, 0, "borrowed a frame that was buffered");
                    }
                }
                (Ok(None), Ok(None)) => break,
                (Err(want), Err(error)) => {
                    prop_assert_eq!(want, error);
                    break;
                }
                _ => prop_assert!(false, "{:?} vs {:?}", expected, got),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `decode_borrowed` is `decode` without the copy, for well-formed streams in any chunking.
    #[test]
    fn prop_borrowed_decode_agrees_on_frames(payloads in small_payloads(), cut_points in cuts(16)) {
        let stream: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
        borrowed_agrees(&chunks(&stream, &cut_points))?;
        borrowed_agrees(&[&stream])?;
    }

    /// ... and for garbage, including its errors and the bytes it holds after them.
    #[test]
    fn prop_borrowed_decode_agrees_on_garbage(stream in hostile_stream(), cut_points in cuts(16)) {
        borrowed_agrees(&chunks(&stream, &cut_points))?;
        borrowed_agrees(&[&stream])?;
    }
}
