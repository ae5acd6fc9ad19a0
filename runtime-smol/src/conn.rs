//! The driver's record of one connection: its reader and writer tasks, and the frames held back
//! while the writer's queue is full.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_channel::{Sender, TrySendError};
use futures_lite::future;
use micelio_core::node::ConnId;
use micelio_core::time::Instant;
use smol::net::TcpStream;
use smol::{Task, Timer};

use crate::net::{self, NetEvent, WRITER_CAPACITY, WriterLink};

/// What became of a frame handed to [`Conn::transmit`] or of a [`Conn::refill`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteState {
    /// Everything is in the writer's queue.
    Flowing,
    /// Frames are held back: the writer's queue is full.
    Blocked,
}

/// One established socket as the driver sees it.
pub(crate) struct Conn {
    frames: Sender<Vec<u8>>,
    waiting: Arc<AtomicBool>,
    /// Frames the writer's queue had no room for, in order.
    overflow: VecDeque<Vec<u8>>,
    /// Since when the core was told the connection is write-blocked.
    pub(crate) blocked_since: Option<Instant>,
    reader: Task<()>,
    writer: Task<()>,
}

impl Conn {
    /// Spawns the reader and writer tasks of `stream` on smol's global executor.
    pub(crate) fn spawn(conn: ConnId, stream: TcpStream, events: &Sender<NetEvent>) -> Conn {
        let _ = stream.set_nodelay(true);
        let (frames, rx) = async_channel::bounded(WRITER_CAPACITY);
        let waiting = Arc::new(AtomicBool::new(false));
        let link = WriterLink {
            frames: rx,
            waiting: waiting.clone(),
        };
        let reader = smol::spawn(net::read_loop(conn, stream.clone(), events.clone()));
        let writer = smol::spawn(net::write_loop(conn, stream, link, events.clone()));
        Conn {
            frames,
            waiting,
            overflow: VecDeque::new(),
            blocked_since: None,
            reader,
            writer,
        }
    }

    /// Queues a frame for writing, after every frame queued before.
    pub(crate) fn transmit(&mut self, frame: Vec<u8>) -> WriteState {
        self.overflow.push_back(frame);
        self.refill()
    }

    /// Moves held-back frames into the writer's queue while it has room.
    pub(crate) fn refill(&mut self) -> WriteState {
        if self.move_overflow() {
            return WriteState::Flowing;
        }
        // Ask the writer to report when it has room, then look again: the writer may have
        // emptied its queue before it could see the request.
        self.waiting.store(true, Ordering::SeqCst);
        if self.move_overflow() {
            self.waiting.store(false, Ordering::SeqCst);
            return WriteState::Flowing;
        }
        WriteState::Blocked
    }

    /// True when nothing is held back any more.
    fn move_overflow(&mut self) -> bool {
        while let Some(frame) = self.overflow.pop_front() {
            match self.frames.try_send(frame) {
                Ok(()) => {}
                Err(TrySendError::Full(frame)) => {
                    self.overflow.push_front(frame);
                    return false;
                }
                // The writer failed; its reader or writer reports the connection closed.
                Err(TrySendError::Closed(_)) => {
                    self.overflow.clear();
                    return true;
                }
            }
        }
        true
    }

    /// Stops reading, writes every queued and held-back frame, then closes the socket; gives
    /// up after `limit`. The returned task can be awaited or detached.
    pub(crate) fn close(self, limit: Duration) -> Task<()> {
        let Conn {
            frames,
            overflow,
            reader,
            writer,
            ..
        } = self;
        drop(reader);
        let finish = async move {
            for frame in overflow {
                if frames.send(frame).await.is_err() {
                    break;
                }
            }
            // Closing the queue lets the writer finish and shut the socket down.
            drop(frames);
            writer.await;
        };
        smol::spawn(future::or(finish, async move {
            Timer::after(limit).await;
            tracing::debug!("connection close timed out");
        }))
    }
}
