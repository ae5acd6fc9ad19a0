//! The `connection_established` harness: a connection under test and a harness peer that
//! completed a real handshake with it, so that scripted bytes pass Noise.
//!
//! Beyond the checks of [`Victim`], it models exactly what the connection must do while the
//! stream is in sync (no partial record or frame held): a frame carrying an envelope of a
//! steady-state type is delivered as that envelope, any other frame is ignored, and a valid
//! hello from the handshake's own key establishes the connection. Everything the connection
//! sends must decrypt, and be its own hello (first), a keepalive, or the next envelope it was
//! asked to send, in order.

use std::collections::VecDeque;

use micelio_core::connection::{CloseReason, ConnectionConfig, Role, SendError};
use micelio_core::envelope::{self, HelloKind, msg_type};
use micelio_core::frame;
use micelio_core::identity::Identity;
use micelio_core::proto::{self, Envelope, PeerHello};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::connection_ops::Op;
use crate::identities;
use crate::noise_peer::NoisePeer;
use crate::victim::Victim;

/// The serialized keepalive envelope.
const KEEPALIVE: [u8; 2] = [0x28, 0x05];

/// A connection under test and its harness peer.
pub struct Pair {
    victim: Victim,
    peer: NoisePeer,
    role: Role,
    identity: &'static Identity,
    /// Payloads the connection accepted to send and has not sent yet.
    sends: VecDeque<Vec<u8>>,
    hello_seen: bool,
    next_id: u32,
}

impl Pair {
    /// Builds the pair and runs the Noise handshake; with `hello`, the harness's valid hello
    /// (or ack) follows and the connection must be established.
    pub fn new(victim_initiates: bool, hello: bool) -> Self {
        let role = if victim_initiates {
            Role::Initiator
        } else {
            Role::Responder
        };
        let identity = identities::peer(1);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let config = ConnectionConfig::default();
        let victim = Victim::new(role, config, identity, Default::default(), &mut rng);
        let peer = NoisePeer::new(!victim_initiates, identities::peer(0), [0x42; 32]);
        let mut pair = Pair {
            victim,
            peer,
            role,
            identity,
            sends: VecDeque::new(),
            hello_seen: false,
            next_id: 0,
        };
        pair.exchange();
        assert!(pair.peer.is_transport(), "handshake did not complete");
        if hello {
            pair.apply(&Op::Hello {
                signer: 0,
                kind: 0,
                mutation: 0,
            });
            assert!(
                pair.victim.conn.is_established(),
                "a valid hello was refused"
            );
        }
        pair
    }

    /// Carries bytes both ways until both sides are quiet, checking all the connection sends.
    fn exchange(&mut self) -> Vec<Envelope> {
        let mut delivered = Vec::new();
        loop {
            let outbox = self.peer.take_outbox();
            if !outbox.is_empty() {
                self.victim.conn.handle_input(self.victim.now, &outbox);
            }
            let step = self.victim.step();
            delivered.extend(step.envelopes);
            if self.victim.closed().is_some() {
                self.sends.clear();
            }
            if step.transmitted.is_empty() && outbox.is_empty() {
                return delivered;
            }
            for payload in self.peer.receive(&step.transmitted) {
                self.check_sent(&payload);
            }
        }
    }

    fn check_sent(&mut self, payload: &[u8]) {
        if !self.hello_seen {
            self.hello_seen = true;
            let kind = match self.role {
                Role::Initiator => msg_type::PEER_HELLO,
                Role::Responder => msg_type::PEER_HELLO_ACK,
            };
            let hello: Envelope = proto::decode(payload).expect("its hello decodes");
            assert_eq!(hello.msg_type, kind, "wrong hello type");
            assert!(
                identities::signed_by_sender(&hello),
                "its hello is not self-signed"
            );
            let body: PeerHello = proto::decode(&hello.payload).expect("its PeerHello decodes");
            assert_eq!(body.node_id, self.identity.node_id().as_str());
            assert_eq!(body.ed25519_pubkey, self.identity.public_key().to_vec());
        } else if self.sends.front().is_some_and(|next| next == payload) {
            self.sends.pop_front();
        } else {
            assert_eq!(payload, KEEPALIVE, "sent a frame nobody asked for");
        }
    }

    /// The envelope a steady-state connection must deliver for a frame carrying `payload`.
    fn model(payload: &[u8]) -> Option<Envelope> {
        let envelope: Envelope = proto::decode(payload).ok()?;
        let point_to_point = matches!(
            envelope.msg_type,
            msg_type::KEEPALIVE | msg_type::PEER_HELLO | msg_type::PEER_HELLO_ACK
        );
        (!point_to_point).then_some(envelope)
    }

    fn hello_envelope(&mut self, signer: u8, kind: u8, mutation: u8) -> Envelope {
        let id = identities::any(usize::from(signer));
        let other = identities::any(usize::from(signer) + 1);
        let expected = match self.role {
            Role::Initiator => HelloKind::Ack,
            Role::Responder => HelloKind::Hello,
        };
        let kind = match kind % 3 {
            0 => expected.msg_type(),
            1 => 3 - expected.msg_type(),
            _ => msg_type::CHAT,
        };
        let mut hello = envelope::local_hello(id, vec!["EU".into()], "10.0.0.2:4000".into());
        match mutation % 8 {
            1 => hello.node_id = other.node_id().as_str().into(),
            2 => hello.ed25519_pubkey = other.public_key().to_vec(),
            3 => hello.ed25519_pubkey.truncate(31),
            4 => {
                hello.listen_addr = "\u{1b}[31m:99999".into();
                hello.tags = vec![String::new(); 40];
            }
            _ => {}
        }
        let mut e = envelope::originate(id, "hello".into(), kind, 1, proto::encode(&hello), false);
        match mutation % 8 {
            5 => e.sender_id = other.node_id().as_str().into(),
            6 => e.signature.truncate(10),
            7 => e.payload.push(0),
            _ => {}
        }
        e
    }

    /// Delivers `records` (sealed by the harness) and checks the frames' exact effect when
    /// the stream was in sync: `frames` are the payloads of every frame they carry.
    fn deliver(&mut self, records: &[&[u8]], frames: &[&[u8]]) {
        let in_sync = self.victim.conn.buffered_input() == 0 && !self.victim.conn.is_closed();
        let established = self.victim.conn.is_established();
        for record in records {
            self.victim.conn.handle_input(self.victim.now, record);
        }
        let delivered = self.exchange();
        if !in_sync {
            return;
        }
        if established {
            let expected: Vec<Envelope> = frames.iter().filter_map(|f| Self::model(f)).collect();
            assert_eq!(
                delivered, expected,
                "steady-state frames not delivered as modelled"
            );
            assert!(
                self.victim.conn.is_established(),
                "a well-formed frame closed it"
            );
        } else if !frames.is_empty() {
            let closed = self.victim.closed();
            assert!(
                self.victim.conn.is_established() || matches!(closed, Some(CloseReason::Hello(_))),
                "a whole frame in the hello phase must establish or fail the hello: {closed:?}"
            );
        }
    }

    /// Applies one scripted operation, then carries bytes until both sides are quiet.
    pub fn apply(&mut self, op: &Op<'_>) {
        let now = self.victim.now;
        if self.victim.conn.is_closed() {
            // Nothing reaches a closed connection; the script goes on for the checks.
            self.victim.step();
            return;
        }
        match *op {
            Op::Sealed(plaintext) => {
                let record = self.peer.seal(plaintext);
                self.victim.conn.handle_input(now, &record);
                self.exchange();
            }
            Op::Frame(payload) => {
                let record = self.peer.seal_frame(payload);
                self.deliver(&[&record], &[payload]);
            }
            Op::Raw(bytes) => {
                self.victim.conn.handle_input(now, bytes);
                self.exchange();
            }
            Op::Signed {
                signer,
                msg_type,
                hop,
                payload,
            } => {
                let id = format!("fz-{}", self.next_id);
                self.next_id += 1;
                let identity = identities::any(usize::from(signer));
                let e =
                    envelope::originate(identity, id, msg_type, hop.into(), payload.to_vec(), true);
                let bytes = proto::encode(&e);
                let record = self.peer.seal_frame(&bytes);
                self.deliver(&[&record], &[&bytes]);
            }
            Op::Tick { unit, amount } => {
                let amount = u64::from(amount);
                match unit % 3 {
                    0 => self.victim.advance(amount * 1_000_000),
                    1 => self.victim.advance(amount * 1_000_000_000),
                    _ => {
                        if let Some(at) = self.victim.conn.poll_timeout() {
                            self.victim.now = self.victim.now.max(at);
                        }
                    }
                }
                self.exchange();
            }
            Op::Send(bytes) => self.send(bytes),
            Op::Block => {
                let blocked = !self.victim.blocked;
                self.victim.set_blocked(blocked);
                self.exchange();
            }
            Op::TransportClosed => {
                self.victim.conn.handle_transport_closed();
                self.exchange();
                assert_eq!(self.victim.closed(), Some(CloseReason::TransportClosed));
            }
            Op::SplitFrame { at, payload } => {
                let record = self.peer.seal_frame(payload);
                let (head, tail) = record.split_at(usize::from(at) % (record.len() + 1));
                self.deliver(&[head, tail], &[payload]);
            }
            Op::Hello {
                signer,
                kind,
                mutation,
            } => {
                let hello = proto::encode(&self.hello_envelope(signer, kind, mutation));
                let record = self.peer.seal_frame(&hello);
                self.deliver(&[&record], &[&hello]);
            }
            Op::Frames { count, payload } => {
                let mut plaintext = Vec::new();
                for _ in 0..count {
                    frame::encode(payload, &mut plaintext).expect("payload fits a frame");
                }
                frame::encode(&KEEPALIVE, &mut plaintext).expect("keepalive frame");
                let record = self.peer.seal(&plaintext);
                let mut frames = vec![payload; usize::from(count)];
                frames.push(&KEEPALIVE);
                self.deliver(&[&record], &frames);
            }
            Op::Close => {
                self.victim.conn.close();
                self.exchange();
                assert_eq!(self.victim.closed(), Some(CloseReason::Local));
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let conn = &mut self.victim.conn;
        let expected = if conn.is_closed() {
            Err(SendError::Closed)
        } else if !conn.is_established() {
            Err(SendError::NotEstablished)
        } else if conn.queued_transmits() >= 64 {
            Err(SendError::QueueFull)
        } else {
            Ok(())
        };
        let result = conn.send(self.victim.now, bytes);
        assert_eq!(result, expected, "send result differs from the model");
        if result.is_ok() {
            self.sends.push_back(bytes.to_vec());
        }
        self.exchange();
    }
}
