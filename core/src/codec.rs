//! A reader of length-prefixed messages split at arbitrary byte boundaries, shared by the frame
//! decoder and the Noise record decoder.

use alloc::borrow::Cow;
use alloc::vec::Vec;

/// Longest header any user of [`PrefixedReader`] needs (the frame header).
const MAX_HEADER: usize = 8;

/// Reassembles one `header || body` message at a time from a byte stream.
///
/// Consumes input only up to the end of the current message, so it never holds more than one
/// header and one body, whose length the header parser has already bounded.
#[derive(Debug)]
pub(crate) struct PrefixedReader {
    header: [u8; MAX_HEADER],
    header_len: usize,
    header_filled: usize,
    body_len: Option<usize>,
    body: Vec<u8>,
}

impl PrefixedReader {
    /// A reader whose messages start with a `header_len`-byte header (at most 8).
    pub(crate) fn new(header_len: usize) -> Self {
        PrefixedReader {
            header: [0; MAX_HEADER],
            header_len: header_len.min(MAX_HEADER),
            header_filled: 0,
            body_len: None,
            body: Vec::new(),
        }
    }

    /// Changes the header size for the following messages; call only between messages.
    pub(crate) fn set_header_len(&mut self, header_len: usize) {
        debug_assert_eq!(self.buffered(), 0);
        self.header_len = header_len.min(MAX_HEADER);
    }

    /// Consumes bytes from the front of `input`; returns the next complete body, or `Ok(None)`
    /// when `input` runs out first. `parse` turns a complete header into the body length.
    pub(crate) fn read<E>(
        &mut self,
        input: &mut &[u8],
        parse: impl FnOnce(&[u8]) -> Result<usize, E>,
    ) -> Result<Option<Vec<u8>>, E> {
        let body_len = match self.body_len {
            Some(len) => len,
            None => {
                let take = (self.header_len - self.header_filled).min(input.len());
                self.header[self.header_filled..self.header_filled + take]
                    .copy_from_slice(&input[..take]);
                self.header_filled += take;
                *input = &input[take..];
                if self.header_filled < self.header_len {
                    return Ok(None);
                }
                let len = parse(&self.header[..self.header_len])?;
                self.body_len = Some(len);
                len
            }
        };
        let take = (body_len - self.body.len()).min(input.len());
        self.body.extend_from_slice(&input[..take]);
        *input = &input[take..];
        if self.body.len() < body_len {
            return Ok(None);
        }
        self.header_filled = 0;
        self.body_len = None;
        Ok(Some(core::mem::take(&mut self.body)))
    }

    /// Like [`PrefixedReader::read`], but when nothing is buffered and `input` holds the whole
    /// next message, its body is returned as a slice of `input`, without a copy or an
    /// allocation. Otherwise the bytes are buffered as by `read`.
    pub(crate) fn read_borrowed<'a, E>(
        &mut self,
        input: &mut &'a [u8],
        parse: impl FnOnce(&[u8]) -> Result<usize, E>,
    ) -> Result<Option<Cow<'a, [u8]>>, E> {
        let data: &'a [u8] = input;
        let header_len = self.header_len;
        if self.buffered() > 0 || self.body_len.is_some() || data.len() < header_len {
            return Ok(self.read(input, parse)?.map(Cow::Owned));
        }
        // The header is kept and consumed exactly as `read` would, so the state after an error
        // or an incomplete body is the same.
        self.header[..header_len].copy_from_slice(&data[..header_len]);
        self.header_filled = header_len;
        *input = &data[header_len..];
        let body_len = parse(&data[..header_len])?;
        let rest = &data[header_len..];
        if rest.len() >= body_len {
            self.header_filled = 0;
            *input = &rest[body_len..];
            return Ok(Some(Cow::Borrowed(&rest[..body_len])));
        }
        self.body_len = Some(body_len);
        Ok(self.read(input, |_| Ok(body_len))?.map(Cow::Owned))
    }

    /// Bytes held for the incomplete current message (header included).
    pub(crate) fn buffered(&self) -> usize {
        self.header_filled + self.body.len()
    }
}
