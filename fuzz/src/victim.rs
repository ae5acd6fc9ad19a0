//! A `Connection` under test, driven like a runtime drives it, with the invariants checked
//! after every step.

use micelio_core::connection::{
    CloseReason, Connection, ConnectionConfig, Event, LocalHello, Role,
};
use micelio_core::envelope::msg_type;
use micelio_core::frame::{HEADER_LEN, MAX_PAYLOAD};
use micelio_core::identity::Identity;
use micelio_core::noise::{MAX_TRANSPORT_MESSAGE, TRANSPORT_PREFIX_LEN};
use micelio_core::proto::Envelope;
use micelio_core::time::Instant;
use rand_core::CryptoRngCore;

/// Most bytes the record and frame decoders may hold together.
pub const MAX_BUFFERED: usize =
    TRANSPORT_PREFIX_LEN + MAX_TRANSPORT_MESSAGE + HEADER_LEN + MAX_PAYLOAD;

/// What one step of the connection produced.
#[derive(Debug, Default)]
pub struct Step {
    /// Bytes it wrote to the socket, in order.
    pub transmitted: Vec<u8>,
    /// Envelopes it delivered.
    pub envelopes: Vec<Envelope>,
}

/// The connection, the virtual clock and what the checks remember.
pub struct Victim {
    /// The connection under test.
    pub conn: Connection,
    /// The current instant.
    pub now: Instant,
    /// While true, transmits stay queued (the socket is write-blocked).
    pub blocked: bool,
    config: ConnectionConfig,
    handshake_done: bool,
    established: bool,
    closed: Option<CloseReason>,
}

impl Victim {
    /// A connection in `role` started at `now`.
    pub fn new(
        role: Role,
        config: ConnectionConfig,
        identity: &Identity,
        now: Instant,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let local = LocalHello {
            tags: vec!["fuzz".into()],
            listen_addr: "10.0.0.1:4000".into(),
            capabilities: String::new(),
            lamport: 0,
        };
        let conn = Connection::new(role, config.clone(), identity, local, now, rng);
        Victim {
            conn,
            now,
            blocked: false,
            config,
            handshake_done: false,
            established: false,
            closed: None,
        }
    }

    /// The close reason reported by the `Closed` event, if it came.
    pub fn closed(&self) -> Option<CloseReason> {
        self.closed
    }

    /// Blocks or unblocks the socket, telling the connection as a runtime would.
    pub fn set_blocked(&mut self, blocked: bool) {
        self.blocked = blocked;
        self.conn.set_write_blocked(blocked.then_some(self.now));
    }

    /// Moves the clock forward by `nanos`.
    pub fn advance(&mut self, nanos: u64) {
        self.now = Instant::from_nanos(self.now.as_nanos().saturating_add(nanos));
    }

    /// Fires the timers due, drains events and (unless blocked) transmits, and checks every
    /// invariant of the connection.
    pub fn step(&mut self) -> Step {
        if self.conn.poll_timeout().is_some_and(|at| at <= self.now) {
            self.conn.handle_timeout(self.now);
        }
        let mut step = Step::default();
        while let Some(event) = self.conn.poll_event() {
            assert!(self.closed.is_none(), "event after Closed: {event:?}");
            match event {
                Event::HandshakeComplete { .. } => {
                    assert!(!self.handshake_done, "second HandshakeComplete");
                    self.handshake_done = true;
                }
                Event::Established(_) => {
                    assert!(
                        self.handshake_done && !self.established,
                        "Established twice or early"
                    );
                    self.established = true;
                }
                Event::Envelope(envelope) => {
                    assert!(self.established, "envelope before the hello exchange");
                    assert!(
                        !matches!(
                            envelope.msg_type,
                            msg_type::KEEPALIVE | msg_type::PEER_HELLO | msg_type::PEER_HELLO_ACK
                        ),
                        "connection-level type delivered: {}",
                        envelope.msg_type
                    );
                    step.envelopes.push(envelope);
                }
                Event::Closed(reason) => self.closed = Some(reason),
            }
        }
        if !self.blocked {
            while let Some(record) = self.conn.poll_transmit() {
                step.transmitted.extend_from_slice(&record);
            }
        }
        self.check();
        step
    }

    fn check(&self) {
        let conn = &self.conn;
        assert_eq!(
            conn.close_reason(),
            self.closed,
            "close reason and Closed event differ"
        );
        assert_eq!(conn.is_closed(), self.closed.is_some());
        assert_eq!(
            conn.is_established(),
            self.established && self.closed.is_none()
        );
        assert!(
            conn.buffered_input() <= MAX_BUFFERED,
            "decoders hold too much"
        );
        // Two frames bypass the bound: the hello (or ack) and a keepalive.
        assert!(conn.queued_transmits() <= self.config.max_queued_frames + 2);
        match conn.poll_timeout() {
            None => assert!(conn.is_closed(), "an open connection without a deadline"),
            Some(at) => {
                assert!(!conn.is_closed(), "a closed connection with a deadline");
                // After its timers ran, nothing may be due: a runtime would spin.
                assert!(
                    at > self.now,
                    "deadline {at:?} not after now {:?}",
                    self.now
                );
            }
        }
        if conn.is_closed() {
            assert_eq!(conn.queued_transmits(), 0, "closed with queued records");
        }
    }
}
