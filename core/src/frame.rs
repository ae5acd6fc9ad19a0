//! The frame layer (spec §6): an 8-byte header (magic, version, length) before each envelope,
//! and an incremental decoder that accepts input split at any byte boundary.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

use crate::codec::PrefixedReader;

/// Frame magic, ASCII "MI".
pub const MAGIC: u16 = 0x4D49;
/// The only frame version.
pub const VERSION: u16 = 0x0001;
/// Size of the frame header in bytes.
pub const HEADER_LEN: usize = 8;
/// Largest frame payload in bytes (1 MiB, inclusive).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// A frame that cannot be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The header's magic is not `0x4D49`.
    BadMagic(u16),
    /// The header's version is not 1.
    BadVersion(u16),
    /// The header announces a payload over 1 MiB.
    Oversize(u32),
    /// A payload over 1 MiB was given to the writer.
    PayloadTooLarge(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic(m) => write!(f, "invalid frame magic {m:#06x}"),
            Self::BadVersion(v) => write!(f, "unsupported frame version {v:#06x}"),
            Self::Oversize(n) => write!(f, "frame announces {n} bytes, limit is {MAX_PAYLOAD}"),
            Self::PayloadTooLarge(n) => write!(f, "payload of {n} bytes exceeds {MAX_PAYLOAD}"),
        }
    }
}

impl core::error::Error for FrameError {}

/// The 8-byte header of a frame carrying `payload_len` bytes.
pub fn header(payload_len: usize) -> Result<[u8; HEADER_LEN], FrameError> {
    if payload_len > MAX_PAYLOAD {
        return Err(FrameError::PayloadTooLarge(payload_len));
    }
    let mut header = [0u8; HEADER_LEN];
    header[0..2].copy_from_slice(&MAGIC.to_be_bytes());
    header[2..4].copy_from_slice(&VERSION.to_be_bytes());
    // payload_len <= 2^20, so it fits in a u32.
    header[4..8].copy_from_slice(&(payload_len as u32).to_be_bytes());
    Ok(header)
}

/// Appends one frame (header and payload) to `out`; nothing is written on error.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let header = header(payload.len())?;
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    Ok(())
}

/// Validates a complete header and returns the payload length it announces.
pub fn parse_header(header: &[u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let magic = u16::from_be_bytes([header[0], header[1]]);
    if magic != MAGIC {
        return Err(FrameError::BadMagic(magic));
    }
    let version = u16::from_be_bytes([header[2], header[3]]);
    if version != VERSION {
        return Err(FrameError::BadVersion(version));
    }
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len as usize > MAX_PAYLOAD {
        return Err(FrameError::Oversize(len));
    }
    Ok(len as usize)
}

/// Incremental frame decoder.
///
/// Feed it any slice of the byte stream; it consumes bytes only up to the end of the current
/// frame, so it never holds more than one header and one payload (at most 8 + 1 MiB bytes).
/// After an error the stream is unusable and the decoder keeps returning that error.
///
/// # Example
///
/// ```
/// use micelio_core::frame::{self, FrameDecoder, FrameError};
///
/// let mut stream = Vec::new();
/// frame::encode(b"first", &mut stream).unwrap();
/// frame::encode(b"second", &mut stream).unwrap();
/// assert_eq!(stream.len(), 2 * frame::HEADER_LEN + 11);
///
/// // The bytes arrive in two chunks, split inside the first header.
/// let (mut one, mut two) = stream.split_at(5);
/// let mut decoder = FrameDecoder::new();
/// assert_eq!(decoder.decode(&mut one), Ok(None));
/// assert_eq!(decoder.buffered(), 5);
/// assert_eq!(decoder.decode(&mut two), Ok(Some(b"first".to_vec())));
/// assert_eq!(decoder.decode(&mut two), Ok(Some(b"second".to_vec())));
/// assert!(two.is_empty());
///
/// // A bad header ends the stream for good.
/// let mut garbage: &[u8] = b"XX\x00\x01\x00\x00\x00\x00";
/// let mut decoder = FrameDecoder::new();
/// assert_eq!(decoder.decode(&mut garbage), Err(FrameError::BadMagic(0x5858)));
/// assert_eq!(decoder.decode(&mut &stream[..]), Err(FrameError::BadMagic(0x5858)));
/// ```
#[derive(Debug)]
pub struct FrameDecoder {
    reader: PrefixedReader,
    failed: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        FrameDecoder {
            reader: PrefixedReader::new(HEADER_LEN),
            failed: None,
        }
    }

    /// Consumes bytes from the front of `input` and returns the next complete payload, or
    /// `Ok(None)` when `input` is exhausted before a frame completes.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, FrameError> {
        self.decode_borrowed(input)
            .map(|payload| payload.map(Cow::into_owned))
    }

    /// Like [`FrameDecoder::decode`], but a frame that lies whole in `input` (nothing buffered
    /// before it) is returned as a slice of `input`, without a copy or an allocation.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use micelio_core::frame::{self, FrameDecoder};
    ///
    /// let mut stream = Vec::new();
    /// frame::encode(b"whole", &mut stream).unwrap();
    /// frame::encode(b"split", &mut stream).unwrap();
    /// let (mut one, mut two) = stream.split_at(stream.len() - 2);
    /// let mut decoder = FrameDecoder::new();
    /// assert_eq!(decoder.decode_borrowed(&mut one), Ok(Some(Cow::Borrowed(&b"whole"[..]))));
    /// assert_eq!(decoder.decode_borrowed(&mut one), Ok(None));
    /// let second = decoder.decode_borrowed(&mut two).unwrap().unwrap();
    /// assert!(matches!(second, Cow::Owned(_)) && *second == b"split"[..]);
    /// ```
    pub fn decode_borrowed<'a>(
        &mut self,
        input: &mut &'a [u8],
    ) -> Result<Option<Cow<'a, [u8]>>, FrameError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let result = self.reader.read_borrowed(input, |bytes| {
            let mut header = [0u8; HEADER_LEN];
            header.copy_from_slice(bytes);
            parse_header(&header)
        });
        if let Err(error) = result {
            self.failed = Some(error);
        }
        result
    }

    /// Bytes currently held for an incomplete frame (header included).
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }
}
