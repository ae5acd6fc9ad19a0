//! One wire connection to a node: the core's sans-IO `Connection` over a non-blocking mio socket.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use micelio_core::connection::{
    CloseReason, Connection, ConnectionConfig, Event, LocalHello, Role, SendError,
};
use micelio_core::identity::Identity;
use micelio_core::proto::Envelope;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rand_core::CryptoRngCore;

use crate::clock::Clock;

/// Why a link stopped.
#[derive(Debug)]
pub enum LinkError {
    /// A socket error (connect refused, reset, ...).
    Io(io::Error),
    /// The node closed the TCP connection.
    Eof,
    /// The protocol state machine closed (handshake, hello, timeout, ...).
    Closed(CloseReason),
    /// The connection refused an envelope.
    Send(SendError),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "io: {}", e.kind()),
            Self::Eof => f.write_str("closed by the node"),
            Self::Closed(reason) => write!(f, "closed: {reason}"),
            Self::Send(e) => write!(f, "send: {e:?}"),
        }
    }
}

impl From<io::Error> for LinkError {
    fn from(e: io::Error) -> Self {
        LinkError::Io(e)
    }
}

/// A dialed connection: as initiator, with an unreachable hello (no listen address), so the
/// node never dials it back.
pub struct Link {
    stream: TcpStream,
    connection: Connection,
    /// Records not yet written, from `written` on.
    out: Vec<u8>,
    written: usize,
    connected: bool,
    clock: Clock,
}

impl Link {
    /// Starts a non-blocking connect to `addr` as `identity`; the first Noise message is queued.
    pub fn dial(
        addr: SocketAddr,
        identity: &Identity,
        clock: Clock,
        rng: &mut impl CryptoRngCore,
    ) -> io::Result<Link> {
        let stream = TcpStream::connect(addr)?;
        let _ = stream.set_nodelay(true);
        let connection = Connection::new(
            Role::Initiator,
            ConnectionConfig::default(),
            identity,
            LocalHello::default(),
            clock.now(),
            rng,
        );
        let mut link = Link {
            stream,
            connection,
            out: Vec::new(),
            written: 0,
            connected: false,
            clock,
        };
        link.collect_transmits();
        Ok(link)
    }

    /// Registers the socket for read and write readiness (edge-triggered) under `token`.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut self.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// Removes the socket from `registry`.
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }

    /// True once the hello exchange succeeded.
    pub fn is_established(&self) -> bool {
        self.connection.is_established()
    }

    /// Bytes queued but not yet written to the socket.
    pub fn unsent(&self) -> usize {
        self.out.len() - self.written
    }

    /// Handles readiness: completes the connect, reads everything available (each envelope
    /// goes to `on_envelope`), then writes what is queued.
    pub fn ready(
        &mut self,
        buf: &mut [u8],
        mut on_envelope: impl FnMut(Envelope),
    ) -> Result<(), LinkError> {
        if !self.connected && !self.check_connected()? {
            return Ok(());
        }
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Err(LinkError::Eof),
                Ok(n) => {
                    self.connection.handle_input(self.clock.now(), &buf[..n]);
                    self.drain_events(&mut on_envelope)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.flush().map(|_| ())
    }

    /// Queues a serialized envelope (not written until [`Link::flush`]).
    pub fn send(&mut self, envelope: &[u8]) -> Result<(), LinkError> {
        self.connection
            .send(self.clock.now(), envelope)
            .map_err(LinkError::Send)?;
        self.collect_transmits();
        Ok(())
    }

    /// Writes queued bytes until done or the socket would block; true when nothing is left.
    pub fn flush(&mut self) -> Result<bool, LinkError> {
        self.collect_transmits();
        if !self.connected {
            return Ok(self.unsent() == 0);
        }
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(LinkError::Eof),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let done = self.written == self.out.len();
        if done {
            self.out.clear();
            self.written = 0;
        } else if self.written > 1 << 20 {
            self.out.drain(..self.written);
            self.written = 0;
        }
        self.connection
            .set_write_blocked((!done).then(|| self.clock.now()));
        Ok(done)
    }

    /// Fires the connection's timers (handshake and hello deadlines, keepalive, idle close)
    /// and writes what they queued.
    pub fn tick(&mut self) -> Result<(), LinkError> {
        self.connection.handle_timeout(self.clock.now());
        self.drain_events(&mut |_| {})?;
        self.flush().map(|_| ())
    }

    fn check_connected(&mut self) -> Result<bool, LinkError> {
        if let Some(error) = self.stream.take_error()? {
            return Err(error.into());
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                self.connected = true;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn drain_events(&mut self, on_envelope: &mut impl FnMut(Envelope)) -> Result<(), LinkError> {
        while let Some(event) = self.connection.poll_event() {
            match event {
                Event::Envelope(envelope) => on_envelope(envelope),
                Event::Closed(reason) => return Err(LinkError::Closed(reason)),
                _ => {}
            }
        }
        self.collect_transmits();
        Ok(())
    }

    fn collect_transmits(&mut self) {
        while let Some(record) = self.connection.poll_transmit() {
            self.out.extend_from_slice(&record);
        }
    }
}
