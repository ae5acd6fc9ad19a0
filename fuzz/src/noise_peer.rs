//! The harness side of a connection, at the Noise level: it completes a real XX handshake
//! with a `Connection`, then seals any plaintext the fuzzer chooses (so that arbitrary bytes
//! pass authentication and reach the frame and envelope code), and opens and checks every
//! record the connection sends back.

use micelio_core::frame::FrameDecoder;
use micelio_core::identity::Identity;
use micelio_core::noise::{Handshake, RecordDecoder, Transport};

/// A Noise peer driven by the harness.
pub struct NoisePeer {
    handshake: Handshake,
    transport: Option<Transport>,
    records: RecordDecoder,
    frames: FrameDecoder,
    outbox: Vec<u8>,
}

impl NoisePeer {
    /// A peer with `identity`'s static key; as initiator its first message is queued at once.
    pub fn new(initiator: bool, identity: &Identity, ephemeral: [u8; 32]) -> Self {
        let handshake = Handshake::new(initiator, identity.x25519_private(), ephemeral)
            .expect("handshake state builds");
        let mut peer = NoisePeer {
            handshake,
            transport: None,
            records: RecordDecoder::new(),
            frames: FrameDecoder::new(),
            outbox: Vec::new(),
        };
        if initiator {
            peer.write_handshake();
        }
        peer
    }

    /// True once the handshake finished.
    pub fn is_transport(&self) -> bool {
        self.transport.is_some()
    }

    /// Bytes this peer wants to send (handshake messages), emptied.
    pub fn take_outbox(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.outbox)
    }

    fn write_handshake(&mut self) {
        self.handshake
            .write_message(&mut self.outbox)
            .expect("harness handshake message");
    }

    /// Processes bytes the connection under test sent and returns the payloads of the frames
    /// they completed. Panics when the connection sent anything an honest peer would refuse.
    pub fn receive(&mut self, mut data: &[u8]) -> Vec<Vec<u8>> {
        let mut payloads = Vec::new();
        while !data.is_empty() {
            let record = match self.records.decode(&mut data) {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(error) => panic!("connection sent a bad record prefix: {error}"),
            };
            match self.transport.as_mut() {
                None => {
                    self.handshake
                        .read_message(&record)
                        .expect("connection sent a bad handshake message");
                    if self.handshake.is_my_turn() && !self.handshake.is_finished() {
                        self.write_handshake();
                    }
                    if self.handshake.is_finished() {
                        let outcome = self.handshake.finish().expect("handshake finishes");
                        self.transport = Some(outcome.transport);
                        self.records.enter_transport();
                    }
                }
                Some(transport) => {
                    let mut message = record;
                    transport
                        .open(&mut message)
                        .expect("connection sent a record that does not decrypt");
                    let mut plaintext = message.as_slice();
                    while !plaintext.is_empty() {
                        match self.frames.decode(&mut plaintext) {
                            Ok(Some(payload)) => payloads.push(payload),
                            Ok(None) => break,
                            Err(error) => panic!("connection sent a bad frame: {error}"),
                        }
                    }
                }
            }
        }
        payloads
    }

    /// Seals `plaintext` as one transport record (length prefix included).
    pub fn seal(&mut self, plaintext: &[u8]) -> Vec<u8> {
        self.transport
            .as_mut()
            .expect("sealing needs a finished handshake")
            .encrypt_record(plaintext)
            .expect("plaintext fits one record")
    }

    /// Frames `payload` and seals the frame as one record.
    pub fn seal_frame(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut plaintext = Vec::new();
        micelio_core::frame::encode(payload, &mut plaintext).expect("payload fits a frame");
        self.seal(&plaintext)
    }
}
