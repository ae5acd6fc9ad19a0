//! Reassembly of length-prefixed Noise messages: 2-byte prefixes during the handshake, 4-byte
//! prefixes afterwards.

use alloc::vec::Vec;

use super::{HANDSHAKE_PREFIX_LEN, MAX_TRANSPORT_MESSAGE, NoiseError, TRANSPORT_PREFIX_LEN};
use crate::codec::PrefixedReader;

/// Incremental decoder of length-prefixed Noise messages.
///
/// Starts in handshake mode (2-byte prefix); [`RecordDecoder::enter_transport`] switches to
/// 4-byte prefixes bounded by [`MAX_TRANSPORT_MESSAGE`], checked before any byte of the body
/// is buffered.
#[derive(Debug)]
pub struct RecordDecoder {
    reader: PrefixedReader,
    transport: bool,
}

impl Default for RecordDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordDecoder {
    /// A decoder for the start of a connection (handshake messages).
    pub fn new() -> Self {
        RecordDecoder {
            reader: PrefixedReader::new(HANDSHAKE_PREFIX_LEN),
            transport: false,
        }
    }

    /// Switches to transport messages; call right after the last handshake message.
    pub fn enter_transport(&mut self) {
        self.reader.set_header_len(TRANSPORT_PREFIX_LEN);
        self.transport = true;
    }

    /// Consumes bytes from the front of `input` and returns the next complete message body.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, NoiseError> {
        let transport = self.transport;
        self.reader.read(input, |prefix| {
            let len = prefix
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            if transport && len > MAX_TRANSPORT_MESSAGE {
                Err(NoiseError::MessageTooLarge(len))
            } else {
                Ok(len)
            }
        })
    }

    /// Bytes held for the incomplete current message.
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }
}
