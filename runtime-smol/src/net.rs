//! The socket side: the listener, dials and per-connection reader and writer tasks. Every
//! result reaches the driver as a [`NetEvent`] on one bounded channel; readers wait when it is
//! full, so a busy driver slows the sockets down (TCP flow control) instead of buffering.

use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use micelio_core::node::{ConnId, DialId};
use smol::Timer;
use smol::net::{TcpListener, TcpStream};

/// Capacity of the channel from the socket tasks to the driver.
pub(crate) const NET_CAPACITY: usize = 256;
/// Frames queued per connection writer before the connection counts as write-blocked.
pub(crate) const WRITER_CAPACITY: usize = 128;
/// TCP connect timeout (spec §9.1).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Pause after a failed `accept` (out of descriptors...), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the socket tasks tell the driver.
pub(crate) enum NetEvent {
    /// The listener accepted a connection.
    Accepted {
        stream: TcpStream,
        remote: SocketAddr,
    },
    /// A dial ended: connected, or failed (refused, unresolvable, timed out).
    Dialed {
        dial: DialId,
        stream: Option<TcpStream>,
    },
    /// Bytes arrived on a connection.
    Data { conn: ConnId, data: Vec<u8> },
    /// A connection's socket reached EOF or failed.
    Closed { conn: ConnId },
    /// A write-blocked connection's writer queue has room again.
    Drained { conn: ConnId },
}

/// Accepts connections until the task is dropped or the driver is gone.
pub(crate) async fn accept_loop(listener: TcpListener, net: Sender<NetEvent>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                if net
                    .send(NetEvent::Accepted { stream, remote })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "accept error");
                Timer::after(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Connects to `addr` (resolving it first) within [`CONNECT_TIMEOUT`] and reports the result.
pub(crate) async fn dial(dial: DialId, addr: String, net: Sender<NetEvent>) {
    let connect = async {
        match TcpStream::connect(addr.as_str()).await {
            Ok(stream) => Some(stream),
            Err(error) => {
                tracing::debug!(%addr, %error, "dial failed");
                None
            }
        }
    };
    let timeout = async {
        Timer::after(CONNECT_TIMEOUT).await;
        tracing::debug!(%addr, "dial timed out");
        None
    };
    let stream = future::or(connect, timeout).await;
    let _ = net.send(NetEvent::Dialed { dial, stream }).await;
}

/// Reads the socket into [`NetEvent::Data`] until EOF or an error, then reports
/// [`NetEvent::Closed`].
pub(crate) async fn read_loop(conn: ConnId, mut stream: TcpStream, net: Sender<NetEvent>) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let data = buf[..n].to_vec();
                if net.send(NetEvent::Data { conn, data }).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = net.send(NetEvent::Closed { conn }).await;
}

/// The writer's end of a connection.
pub(crate) struct WriterLink {
    /// Frames to write, in order.
    pub(crate) frames: Receiver<Vec<u8>>,
    /// Set by the driver when it holds frames back: the writer then reports
    /// [`NetEvent::Drained`] once its queue is at most half full.
    pub(crate) waiting: Arc<AtomicBool>,
}

/// Writes frames in order until the driver closes the queue, then flushes and shuts the socket
/// down. A write error reports [`NetEvent::Closed`].
pub(crate) async fn write_loop(
    conn: ConnId,
    mut stream: TcpStream,
    link: WriterLink,
    net: Sender<NetEvent>,
) {
    let low_water = WRITER_CAPACITY / 2;
    while let Ok(frame) = link.frames.recv().await {
        if stream.write_all(&frame).await.is_err() {
            let _ = net.send(NetEvent::Closed { conn }).await;
            return;
        }
        if link.frames.len() <= low_water && link.waiting.swap(false, Ordering::SeqCst) {
            // A closed channel means the driver is shutting down: nothing to tell.
            let _ = net.send(NetEvent::Drained { conn }).await;
        }
    }
    let _ = stream.flush().await;
    let _ = stream.shutdown(Shutdown::Both);
}
