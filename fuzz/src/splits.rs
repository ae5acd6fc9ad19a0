//! The input format of the decoder targets: a byte stream and the chunk sizes it arrives in.
//!
//! Layout: `count: u8`, `count` chunk sizes (one byte each, used in a cycle; 0 feeds an empty
//! slice), then the stream. No sizes (or only zeros) feed the whole stream at once.

use crate::cursor::{Cursor, Script};

/// A stream cut into chunks at fuzzer-chosen points.
#[derive(Debug)]
pub struct Split<'a> {
    /// The whole stream.
    pub stream: &'a [u8],
    sizes: &'a [u8],
}

impl<'a> Split<'a> {
    /// Reads a split plan and the stream from the rest of `cursor`.
    pub fn parse(cursor: &mut Cursor<'a>) -> Self {
        let count = usize::from(cursor.u8());
        let sizes = cursor.take(count);
        Split {
            stream: cursor.rest(),
            sizes,
        }
    }

    /// The chunks in order; their concatenation is the stream.
    pub fn chunks(&self) -> Vec<&'a [u8]> {
        if self.sizes.iter().all(|s| *s == 0) {
            return vec![self.stream];
        }
        let mut chunks = Vec::new();
        let mut rest = self.stream;
        for size in self.sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at(usize::from(*size).min(rest.len()));
            chunks.push(head);
            rest = tail;
        }
        chunks
    }

    /// Writes a split plan and its stream.
    pub fn write(script: &mut Script, sizes: &[u8], stream: &[u8]) {
        let sizes = &sizes[..sizes.len().min(255)];
        script.u8(sizes.len() as u8).raw(sizes).raw(stream);
    }
}
