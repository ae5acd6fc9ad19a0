//! A bare mesh peer for the integration tests: the core's sans-IO [`Connection`] over a blocking
//! std `TcpStream`, so a test can send a node hand-made envelopes.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant as StdInstant};

use micelio_core::connection::{Connection, ConnectionConfig, Event, LocalHello, Role};
use micelio_core::identity::Identity;
use micelio_core::proto::Envelope;
use micelio_core::time::Instant;
use rand_core::{OsRng, RngCore};

/// An established connection to a node, as the dialing side.
pub struct WirePeer {
    /// Our identity.
    pub identity: Identity,
    stream: TcpStream,
    connection: Connection,
    origin: StdInstant,
}

impl WirePeer {
    /// Dials `addr`, runs the Noise handshake and the hello exchange; `Err` if that does not
    /// complete within `timeout`.
    pub fn connect(addr: &str, timeout: Duration) -> Result<WirePeer, String> {
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let identity = Identity::from_seed(&seed);
        let stream = TcpStream::connect(addr).map_err(|e| format!("dial {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        let origin = StdInstant::now();
        let connection = Connection::new(
            Role::Initiator,
            ConnectionConfig::default(),
            &identity,
            LocalHello::default(),
            Instant::ZERO,
            &mut OsRng,
        );
        let mut peer = WirePeer {
            identity,
            stream,
            connection,
            origin,
        };
        let deadline = StdInstant::now() + timeout;
        while !peer.connection.is_established() {
            if StdInstant::now() >= deadline {
                return Err("handshake and hello did not complete".into());
            }
            peer.pump()?;
        }
        Ok(peer)
    }

    /// Sends one envelope.
    pub fn send(&mut self, envelope: &Envelope) -> Result<(), String> {
        let now = self.now();
        self.connection
            .send_envelope(now, envelope)
            .map_err(|e| format!("send: {e:?}"))?;
        self.flush()
    }

    /// Reads what has arrived (waiting briefly), feeds it to the connection and writes its
    /// answers.
    pub fn pump(&mut self) -> Result<(), String> {
        self.flush()?;
        let mut buf = [0u8; 16 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => return Err("connection closed by the node".into()),
            Ok(n) => {
                let now = self.now();
                self.connection.handle_input(now, &buf[..n]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        self.connection.handle_timeout(self.now());
        while let Some(event) = self.connection.poll_event() {
            if let Event::Closed(reason) = event {
                return Err(format!("connection closed: {reason:?}"));
            }
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<(), String> {
        while let Some(bytes) = self.connection.poll_transmit() {
            self.stream
                .write_all(&bytes)
                .map_err(|e| format!("write: {e}"))?;
        }
        Ok(())
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}
