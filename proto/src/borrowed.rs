//! `PeerInfo` and `PeerExchange` borrowing their strings and bytes: an exchange of many
//! entries is decoded and encoded without an allocation per entry, byte-identical to the
//! generated types.

use alloc::vec::Vec;

use quick_protobuf::sizeofs::{sizeof_len, sizeof_varint};
use quick_protobuf::{BytesReader, MessageRead, MessageWrite, Result, Writer, WriterBackend};

use crate::{DecodeError, PeerExchange, PeerInfo};

/// A [`PeerInfo`] whose strings and key borrow from elsewhere (the received bytes, or the
/// sender's own table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerInfoRef<'a> {
    /// Field 1.
    pub node_id: &'a str,
    /// Field 2.
    pub addr: &'a str,
    /// Field 3.
    pub reachable: bool,
    /// Field 4.
    pub ed25519_pubkey: &'a [u8],
    /// Field 5.
    pub last_seen: u64,
}

impl<'a> From<&'a PeerInfo> for PeerInfoRef<'a> {
    fn from(info: &'a PeerInfo) -> Self {
        PeerInfoRef {
            node_id: &info.node_id,
            addr: &info.addr,
            reachable: info.reachable,
            ed25519_pubkey: &info.ed25519_pubkey,
            last_seen: info.last_seen,
        }
    }
}

impl<'a> MessageRead<'a> for PeerInfoRef<'a> {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes)? {
                10 => msg.node_id = r.read_string(bytes)?,
                18 => msg.addr = r.read_string(bytes)?,
                24 => msg.reachable = r.read_bool(bytes)?,
                34 => msg.ed25519_pubkey = r.read_bytes(bytes)?,
                40 => msg.last_seen = r.read_uint64(bytes)?,
                tag => r.read_unknown(bytes, tag)?,
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for PeerInfoRef<'_> {
    fn get_size(&self) -> usize {
        let string = |s: &str| {
            if s.is_empty() {
                0
            } else {
                1 + sizeof_len(s.len())
            }
        };
        string(self.node_id)
            + string(self.addr)
            + if self.reachable { 2 } else { 0 }
            + if self.ed25519_pubkey.is_empty() {
                0
            } else {
                1 + sizeof_len(self.ed25519_pubkey.len())
            }
            + if self.last_seen == 0 {
                0
            } else {
                1 + sizeof_varint(self.last_seen)
            }
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        if !self.node_id.is_empty() {
            w.write_with_tag(10, |w| w.write_string(self.node_id))?;
        }
        if !self.addr.is_empty() {
            w.write_with_tag(18, |w| w.write_string(self.addr))?;
        }
        if self.reachable {
            w.write_with_tag(24, |w| w.write_bool(true))?;
        }
        if !self.ed25519_pubkey.is_empty() {
            w.write_with_tag(34, |w| w.write_bytes(self.ed25519_pubkey))?;
        }
        if self.last_seen != 0 {
            w.write_with_tag(40, |w| w.write_uint64(self.last_seen))?;
        }
        Ok(())
    }
}

/// A [`PeerExchange`] of borrowed entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerExchangeRef<'a> {
    /// Field 1, repeated.
    pub peers: Vec<PeerInfoRef<'a>>,
}

impl<'a> PeerExchangeRef<'a> {
    /// Decodes an exchange from untrusted bytes, keeping at most `keep` entries (the rest are
    /// still checked: a malformed entry anywhere fails the whole message, as with
    /// [`crate::decode`]). Each entry is decoded from its own slice (see [`crate::Decode`] for
    /// [`PeerExchange`]).
    pub fn decode(bytes: &'a [u8], keep: usize) -> core::result::Result<Self, DecodeError> {
        let mut reader = BytesReader::from_bytes(bytes);
        let mut peers = Vec::new();
        while !reader.is_eof() {
            match reader.next_tag(bytes)? {
                10 => {
                    let entry = reader.read_bytes(bytes)?;
                    let mut entry_reader = BytesReader::from_bytes(entry);
                    let info = PeerInfoRef::from_reader(&mut entry_reader, entry)?;
                    if peers.len() < keep {
                        peers.push(info);
                    }
                }
                tag => reader.read_unknown(bytes, tag)?,
            }
        }
        Ok(PeerExchangeRef { peers })
    }
}

impl<'a> From<&'a PeerExchange> for PeerExchangeRef<'a> {
    fn from(exchange: &'a PeerExchange) -> Self {
        PeerExchangeRef {
            peers: exchange.peers.iter().map(PeerInfoRef::from).collect(),
        }
    }
}

impl MessageWrite for PeerExchangeRef<'_> {
    fn get_size(&self) -> usize {
        self.peers
            .iter()
            .map(|p| 1 + sizeof_len(p.get_size()))
            .sum()
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        for p in &self.peers {
            w.write_with_tag(10, |w| w.write_message(p))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use alloc::vec;

    use super::*;
    use crate::{decode, encode};

    fn sample() -> PeerExchange {
        PeerExchange {
            peers: vec![
                PeerInfo {
                    node_id: String::from("ab"),
                    addr: String::from("10.0.0.1:4000"),
                    reachable: true,
                    ed25519_pubkey: vec![7; 32],
                    last_seen: 1_700_000_000,
                },
                PeerInfo::default(),
                PeerInfo {
                    node_id: String::new(),
                    addr: String::from("x"),
                    reachable: false,
                    ed25519_pubkey: vec![],
                    last_seen: u64::MAX,
                },
            ],
        }
    }

    #[test]
    fn encodes_like_the_generated_type() {
        let owned = sample();
        assert_eq!(encode(&PeerExchangeRef::from(&owned)), encode(&owned));
    }

    #[test]
    fn decodes_like_the_generated_type() {
        let owned = sample();
        let bytes = encode(&owned);
        let borrowed = PeerExchangeRef::decode(&bytes, usize::MAX).unwrap();
        assert_eq!(
            borrowed,
            PeerExchangeRef::from(&decode::<PeerExchange>(&bytes).unwrap())
        );
        assert_eq!(PeerExchangeRef::decode(&bytes, 1).unwrap().peers.len(), 1);
    }

    #[test]
    fn a_bad_entry_past_the_kept_ones_fails_the_message() {
        let mut bytes = encode(&sample());
        // An entry whose single field is a varint cut short.
        bytes.extend_from_slice(&[10, 2, 40, 0xff]);
        assert!(decode::<PeerExchange>(&bytes).is_err());
        assert!(PeerExchangeRef::decode(&bytes, 1).is_err());
    }
}
