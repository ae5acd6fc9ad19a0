//! A peer that can break every rule: raw bytes, a partial Noise handshake, hand-built frames and
//! envelopes, for the hostile-peer tests. It speaks the wire protocol from the core's building
//! blocks (`noise`, `frame`, `envelope`) without the `Connection` state machine's checks.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use micelio_core::envelope::{self, HelloKind};
use micelio_core::frame::{self, FrameDecoder};
use micelio_core::identity::Identity;
use micelio_core::noise::{Handshake, RecordDecoder, Transport};
use micelio_core::proto::{self, Envelope, PeerHello};
use rand_core::{OsRng, RngCore};

/// A TCP connection to a node under the test's full control.
pub struct RawPeer {
    /// The identity the handshake and signatures use.
    pub identity: Identity,
    stream: TcpStream,
    transport: Option<Transport>,
    records: RecordDecoder,
    /// Complete records read ahead of the one asked for.
    queued: VecDeque<Vec<u8>>,
    frames: FrameDecoder,
}

/// A fresh random identity.
pub fn random_identity() -> Identity {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    Identity::from_seed(&seed)
}

/// A fresh random message id (UUID v4 text).
pub fn message_id() -> String {
    envelope::new_message_id(&mut OsRng)
}

impl RawPeer {
    /// Opens a TCP connection to `addr` with a fresh identity.
    pub fn connect(addr: &str) -> std::io::Result<RawPeer> {
        Self::connect_as(addr, random_identity())
    }

    /// Opens a TCP connection to `addr` that will use `identity`.
    pub fn connect_as(addr: &str, identity: Identity) -> std::io::Result<RawPeer> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(RawPeer {
            identity,
            stream,
            transport: None,
            records: RecordDecoder::new(),
            queued: VecDeque::new(),
            frames: FrameDecoder::new(),
        })
    }

    /// Writes `bytes` as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends Noise message 1 and nothing more (the start of a slow handshake).
    pub fn send_handshake_message_1(&mut self) -> Result<Handshake, String> {
        let mut ephemeral = [0u8; 32];
        OsRng.fill_bytes(&mut ephemeral);
        let mut handshake = Handshake::new(true, self.identity.x25519_private(), ephemeral)
            .map_err(|e| format!("handshake init: {e}"))?;
        let mut out = Vec::new();
        handshake
            .write_message(&mut out)
            .map_err(|e| format!("message 1: {e}"))?;
        self.send_raw(&out).map_err(|e| format!("write: {e}"))?;
        Ok(handshake)
    }

    /// Runs the whole Noise XX handshake as initiator; no hello yet.
    pub fn handshake(&mut self, timeout: Duration) -> Result<(), String> {
        let mut handshake = self.send_handshake_message_1()?;
        let message_2 = self.read_record(timeout)?;
        handshake
            .read_message(&message_2)
            .map_err(|e| format!("message 2: {e}"))?;
        let mut out = Vec::new();
        handshake
            .write_message(&mut out)
            .map_err(|e| format!("message 3: {e}"))?;
        self.send_raw(&out).map_err(|e| format!("write: {e}"))?;
        let outcome = handshake.finish().map_err(|e| format!("finish: {e}"))?;
        self.transport = Some(outcome.transport);
        self.records.enter_transport();
        Ok(())
    }

    /// Handshake, then our hello (as `hello` says) and the node's ack.
    pub fn join_with(&mut self, hello: &PeerHello, timeout: Duration) -> Result<Envelope, String> {
        self.handshake(timeout)?;
        let envelope = envelope::hello(&self.identity, message_id(), HelloKind::Hello, hello);
        self.send_envelope(&envelope)?;
        self.read_envelope(timeout)
    }

    /// Handshake and an honest hello (not listening); returns the node's ack.
    pub fn join(&mut self, timeout: Duration) -> Result<Envelope, String> {
        let hello = envelope::local_hello(&self.identity, Vec::new(), String::new());
        self.join_with(&hello, timeout)
    }

    /// Encrypts `plaintext` as one transport message (the caller builds the frame bytes).
    pub fn send_transport(&mut self, plaintext: &[u8]) -> Result<(), String> {
        let transport = self.transport.as_mut().ok_or("no transport yet")?;
        let record = transport
            .encrypt_record(plaintext)
            .map_err(|e| format!("encrypt: {e}"))?;
        self.send_raw(&record).map_err(|e| format!("write: {e}"))
    }

    /// Frames, encrypts and sends an envelope.
    pub fn send_envelope(&mut self, envelope: &Envelope) -> Result<(), String> {
        let payload = proto::encode(envelope);
        let mut framed = Vec::with_capacity(frame::HEADER_LEN + payload.len());
        frame::encode(&payload, &mut framed).map_err(|e| format!("frame: {e}"))?;
        self.send_transport(&framed)
    }

    /// The next envelope from the node (keepalives included).
    pub fn read_envelope(&mut self, timeout: Duration) -> Result<Envelope, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err("no envelope before the deadline".into());
            }
            let mut message = self.read_record(remaining)?;
            let transport = self.transport.as_mut().ok_or("no transport yet")?;
            transport
                .open(&mut message)
                .map_err(|e| format!("decrypt: {e}"))?;
            let mut input: &[u8] = &message;
            while !input.is_empty() {
                if let Some(payload) = self
                    .frames
                    .decode(&mut input)
                    .map_err(|e| format!("frame: {e}"))?
                {
                    return proto::decode::<Envelope>(&payload)
                        .map_err(|e| format!("decode: {e:?}"));
                }
            }
        }
    }

    /// Envelopes received within `period`, until the period ends or the node closes.
    pub fn read_envelopes_for(&mut self, period: Duration) -> Vec<Envelope> {
        let deadline = Instant::now() + period;
        let mut envelopes = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return envelopes;
            }
            match self.read_envelope(remaining) {
                Ok(envelope) => envelopes.push(envelope),
                Err(_) => return envelopes,
            }
        }
    }

    /// True when the node closes the connection (EOF or reset) within `timeout`; whatever it
    /// sends before is read and discarded.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 64 * 1024];
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return false;
            }
            let _ = self
                .stream
                .set_read_timeout(Some(remaining.min(Duration::from_millis(200))));
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
    }

    /// Reads one length-prefixed Noise record body.
    fn read_record(&mut self, timeout: Duration) -> Result<Vec<u8>, String> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 64 * 1024];
        loop {
            if let Some(record) = self.queued.pop_front() {
                return Ok(record);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err("no record before the deadline".into());
            }
            self.stream
                .set_read_timeout(Some(remaining))
                .map_err(|e| e.to_string())?;
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Err("closed by the node".into()),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue;
                }
                Err(e) => return Err(format!("read: {e}")),
            };
            let mut input: &[u8] = &buf[..n];
            while !input.is_empty() {
                match self
                    .records
                    .decode(&mut input)
                    .map_err(|e| format!("record: {e}"))?
                {
                    Some(record) => self.queued.push_back(record),
                    None => break,
                }
            }
        }
    }
}
