//! One peer TCP socket: non-blocking reads, and a write queue that reports blockage.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use mio::net::TcpStream;

/// Bytes read per `read` call; a connection's input is handed to the core in chunks this big.
pub const READ_CHUNK: usize = 64 * 1024;
/// Records of room a drained write queue keeps.
const SPARE_QUEUE: usize = 16;

/// What a read pass produced.
pub enum ReadOutcome {
    /// Bytes arrived (possibly several chunks concatenated, at most the caller's limit).
    Data(Vec<u8>),
    /// Nothing more to read now.
    WouldBlock,
    /// The peer closed the stream or it failed.
    Closed,
}

/// A connected peer socket with its pending output.
pub struct PeerSocket {
    /// The mio stream.
    pub stream: TcpStream,
    /// Records waiting to be written, in order, with the offset already written of the first.
    queue: VecDeque<Vec<u8>>,
    offset: usize,
}

impl PeerSocket {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Self {
        PeerSocket {
            stream,
            queue: VecDeque::new(),
            offset: 0,
        }
    }

    /// Reads what is available now, at most `limit` bytes.
    pub fn read_some(&mut self, buf: &mut [u8], limit: usize) -> ReadOutcome {
        let mut data = Vec::new();
        loop {
            match self.stream.read(buf) {
                Ok(0) => {
                    return if data.is_empty() {
                        ReadOutcome::Closed
                    } else {
                        ReadOutcome::Data(data)
                    };
                }
                Ok(n) => {
                    data.extend_from_slice(&buf[..n]);
                    if data.len() >= limit {
                        return ReadOutcome::Data(data);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if data.is_empty() {
                        ReadOutcome::WouldBlock
                    } else {
                        ReadOutcome::Data(data)
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    return if data.is_empty() {
                        ReadOutcome::Closed
                    } else {
                        ReadOutcome::Data(data)
                    };
                }
            }
        }
    }

    /// Queues a record for writing.
    pub fn push(&mut self, record: Vec<u8>) {
        self.queue.push_back(record);
    }

    /// Writes as much as the socket takes. `Ok(true)`: everything written; `Ok(false)`: the
    /// socket is full; `Err`: the connection failed.
    pub fn flush(&mut self) -> io::Result<bool> {
        while let Some(front) = self.queue.front() {
            match self.stream.write(&front[self.offset..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    self.offset += n;
                    if self.offset == front.len() {
                        self.queue.pop_front();
                        self.offset = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        // Drained: give back the room a burst made the queue grow to.
        if self.queue.capacity() > SPARE_QUEUE {
            self.queue.shrink_to(SPARE_QUEUE);
        }
        Ok(true)
    }
}
