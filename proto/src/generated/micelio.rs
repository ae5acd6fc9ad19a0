
use alloc::vec::Vec;
use alloc::borrow::ToOwned;
use quick_protobuf::{MessageInfo, MessageRead, MessageWrite, BytesReader, Writer, WriterBackend, Result};
use quick_protobuf::sizeofs::*;
use super::*;

#[allow(clippy::derive_partial_eq_without_eq)]
#[derive(Debug, Default, PartialEq, Clone)]
pub struct Envelope {
    pub message_id: String,
    pub sender_id: String,
    pub lamport_ts: u64,
    pub hop_count: u32,
    pub msg_type: u32,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    pub sender_pubkey: Vec<u8>,
}

impl<'a> MessageRead<'a> for Envelope {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes) {
                Ok(10) => msg.message_id = r.read_string(bytes)?.to_owned(),
                Ok(18) => msg.sender_id = r.read_string(bytes)?.to_owned(),
                Ok(24) => msg.lamport_ts = r.read_uint64(bytes)?,
                Ok(32) => msg.hop_count = r.read_uint32(bytes)?,
                Ok(40) => msg.msg_type = r.read_uint32(bytes)?,
                Ok(50) => msg.payload = r.read_bytes(bytes)?.to_owned(),
                Ok(58) => msg.signature = r.read_bytes(bytes)?.to_owned(),
                Ok(66) => msg.sender_pubkey = r.read_bytes(bytes)?.to_owned(),
                Ok(t) => { r.read_unknown(bytes, t)?; }
                Err(e) => return Err(e),
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for Envelope {
    fn get_size(&self) -> usize {
        0
        + if self.message_id == String::default() { 0 } else { 1 + sizeof_len((&self.message_id).len()) }
        + if self.sender_id == String::default() { 0 } else { 1 + sizeof_len((&self.sender_id).len()) }
        + if self.lamport_ts == 0u64 { 0 } else { 1 + sizeof_varint(*(&self.lamport_ts) as u64) }
        + if self.hop_count == 0u32 { 0 } else { 1 + sizeof_varint(*(&self.hop_count) as u64) }
        + if self.msg_type == 0u32 { 0 } else { 1 + sizeof_varint(*(&self.msg_type) as u64) }
        + if self.payload.is_empty() { 0 } else { 1 + sizeof_len((&self.payload).len()) }
        + if self.signature.is_empty() { 0 } else { 1 + sizeof_len((&self.signature).len()) }
        + if self.sender_pubkey.is_empty() { 0 } else { 1 + sizeof_len((&self.sender_pubkey).len()) }
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        if self.message_id != String::default() { w.write_with_tag(10, |w| w.write_string(&**&self.message_id))?; }
        if self.sender_id != String::default() { w.write_with_tag(18, |w| w.write_string(&**&self.sender_id))?; }
        if self.lamport_ts != 0u64 { w.write_with_tag(24, |w| w.write_uint64(*&self.lamport_ts))?; }
        if self.hop_count != 0u32 { w.write_with_tag(32, |w| w.write_uint32(*&self.hop_count))?; }
        if self.msg_type != 0u32 { w.write_with_tag(40, |w| w.write_uint32(*&self.msg_type))?; }
        if !self.payload.is_empty() { w.write_with_tag(50, |w| w.write_bytes(&**&self.payload))?; }
        if !self.signature.is_empty() { w.write_with_tag(58, |w| w.write_bytes(&**&self.signature))?; }
        if !self.sender_pubkey.is_empty() { w.write_with_tag(66, |w| w.write_bytes(&**&self.sender_pubkey))?; }
        Ok(())
    }
}

#[allow(clippy::derive_partial_eq_without_eq)]
#[derive(Debug, Default, PartialEq, Clone)]
pub struct PeerHello {
    pub node_id: String,
    pub version: String,
    pub tags: Vec<String>,
    pub reachable: bool,
    pub listen_addr: String,
    pub ed25519_pubkey: Vec<u8>,
}

impl<'a> MessageRead<'a> for PeerHello {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes) {
                Ok(10) => msg.node_id = r.read_string(bytes)?.to_owned(),
                Ok(18) => msg.version = r.read_string(bytes)?.to_owned(),
                Ok(26) => msg.tags.push(r.read_string(bytes)?.to_owned()),
                Ok(32) => msg.reachable = r.read_bool(bytes)?,
                Ok(42) => msg.listen_addr = r.read_string(bytes)?.to_owned(),
                Ok(50) => msg.ed25519_pubkey = r.read_bytes(bytes)?.to_owned(),
                Ok(t) => { r.read_unknown(bytes, t)?; }
                Err(e) => return Err(e),
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for PeerHello {
    fn get_size(&self) -> usize {
        0
        + if self.node_id == String::default() { 0 } else { 1 + sizeof_len((&self.node_id).len()) }
        + if self.version == String::default() { 0 } else { 1 + sizeof_len((&self.version).len()) }
        + self.tags.iter().map(|s| 1 + sizeof_len((s).len())).sum::<usize>()
        + if self.reachable == false { 0 } else { 1 + sizeof_varint(*(&self.reachable) as u64) }
        + if self.listen_addr == String::default() { 0 } else { 1 + sizeof_len((&self.listen_addr).len()) }
        + if self.ed25519_pubkey.is_empty() { 0 } else { 1 + sizeof_len((&self.ed25519_pubkey).len()) }
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        if self.node_id != String::default() { w.write_with_tag(10, |w| w.write_string(&**&self.node_id))?; }
        if self.version != String::default() { w.write_with_tag(18, |w| w.write_string(&**&self.version))?; }
        for s in &self.tags { w.write_with_tag(26, |w| w.write_string(&**s))?; }
        if self.reachable != false { w.write_with_tag(32, |w| w.write_bool(*&self.reachable))?; }
        if self.listen_addr != String::default() { w.write_with_tag(42, |w| w.write_string(&**&self.listen_addr))?; }
        if !self.ed25519_pubkey.is_empty() { w.write_with_tag(50, |w| w.write_bytes(&**&self.ed25519_pubkey))?; }
        Ok(())
    }
}

#[allow(clippy::derive_partial_eq_without_eq)]
#[derive(Debug, Default, PartialEq, Clone)]
pub struct PeerHelloAck {
    pub node_id: String,
    pub version: String,
    pub tags: Vec<String>,
    pub reachable: bool,
    pub listen_addr: String,
    pub ed25519_pubkey: Vec<u8>,
}

impl<'a> MessageRead<'a> for PeerHelloAck {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes) {
                Ok(10) => msg.node_id = r.read_string(bytes)?.to_owned(),
                Ok(18) => msg.version = r.read_string(bytes)?.to_owned(),
                Ok(26) => msg.tags.push(r.read_string(bytes)?.to_owned()),
                Ok(32) => msg.reachable = r.read_bool(bytes)?,
                Ok(42) => msg.listen_addr = r.read_string(bytes)?.to_owned(),
                Ok(50) => msg.ed25519_pubkey = r.read_bytes(bytes)?.to_owned(),
                Ok(t) => { r.read_unknown(bytes, t)?; }
                Err(e) => return Err(e),
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for PeerHelloAck {
    fn get_size(&self) -> usize {
        0
        + if self.node_id == String::default() { 0 } else { 1 + sizeof_len((&self.node_id).len()) }
        + if self.version == String::default() { 0 } else { 1 + sizeof_len((&self.version).len()) }
        + self.tags.iter().map(|s| 1 + sizeof_len((s).len())).sum::<usize>()
        + if self.reachable == false { 0 } else { 1 + sizeof_varint(*(&self.reachable) as u64) }
        + if self.listen_addr == String::default() { 0 } else { 1 + sizeof_len((&self.listen_addr).len()) }
        + if self.ed25519_pubkey.is_empty() { 0 } else { 1 + sizeof_len((&self.ed25519_pubkey).len()) }
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        if self.node_id != String::default() { w.write_with_tag(10, |w| w.write_string(&**&self.node_id))?; }
        if self.version != String::default() { w.write_with_tag(18, |w| w.write_string(&**&self.version))?; }
        for s in &self.tags { w.write_with_tag(26, |w| w.write_string(&**s))?; }
        if self.reachable != false { w.write_with_tag(32, |w| w.write_bool(*&self.reachable))?; }
        if self.listen_addr != String::default() { w.write_with_tag(42, |w| w.write_string(&**&self.listen_addr))?; }
        if !self.ed25519_pubkey.is_empty() { w.write_with_tag(50, |w| w.write_bytes(&**&self.ed25519_pubkey))?; }
        Ok(())
    }
}

#[allow(clippy::derive_partial_eq_without_eq)]
#[derive(Debug, Default, PartialEq, Clone)]
pub struct ChatMessage {
    pub nick: String,
    pub text: String,
    pub timestamp: u64,
}

impl<'a> MessageRead<'a> for ChatMessage {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes) {
                Ok(10) => msg.nick = r.read_string(bytes)?.to_owned(),
                Ok(18) => msg.text = r.read_string(bytes)?.to_owned(),
                Ok(24) => msg.timestamp = r.read_uint64(bytes)?,
                Ok(t) => { r.read_unknown(bytes, t)?; }
                Err(e) => return Err(e),
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for ChatMessage {
    fn get_size(&self) -> usize {
        0
        + if self.nick == String::default() { 0 } else { 1 + sizeof_len((&self.nick).len()) }
        + if self.text == String::default() { 0 } else { 1 + sizeof_len((&self.text).len()) }
        + if self.timestamp == 0u64 { 0 } else { 1 + sizeof_varint(*(&self.timestamp) as u64) }
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        if self.nick != String::default() { w.write_with_tag(10, |w| w.write_string(&**&self.nick))?; }
        if self.text != String::default() { w.write_with_tag(18, |w| w.write_string(&**&self.text))?; }
        if self.timestamp != 0u64 { w.write_with_tag(24, |w| w.write_uint64(*&self.timestamp))?; }
        Ok(())
    }
}

#[allow(clippy::derive_partial_eq_without_eq)]
#[derive(Debug, Default, PartialEq, Clone)]
pub struct PeerInfo {
    pub node_id: String,
    pub addr: String,
    pub reachable: bool,
    pub ed25519_pubkey: Vec<u8>,
    pub last_seen: u64,
}

impl<'a> MessageRead<'a> for PeerInfo {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes) {
                Ok(10) => msg.node_id = r.read_string(bytes)?.to_owned(),
                Ok(18) => msg.addr = r.read_string(bytes)?.to_owned(),
                Ok(24) => msg.reachable = r.read_bool(bytes)?,
                Ok(34) => msg.ed25519_pubkey = r.read_bytes(bytes)?.to_owned(),
                Ok(40) => msg.last_seen = r.read_uint64(bytes)?,
                Ok(t) => { r.read_unknown(bytes, t)?; }
                Err(e) => return Err(e),
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for PeerInfo {
    fn get_size(&self) -> usize {
        0
        + if self.node_id == String::default() { 0 } else { 1 + sizeof_len((&self.node_id).len()) }
        + if self.addr == String::default() { 0 } else { 1 + sizeof_len((&self.addr).len()) }
        + if self.reachable == false { 0 } else { 1 + sizeof_varint(*(&self.reachable) as u64) }
        + if self.ed25519_pubkey.is_empty() { 0 } else { 1 + sizeof_len((&self.ed25519_pubkey).len()) }
        + if self.last_seen == 0u64 { 0 } else { 1 + sizeof_varint(*(&self.last_seen) as u64) }
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        if self.node_id != String::default() { w.write_with_tag(10, |w| w.write_string(&**&self.node_id))?; }
        if self.addr != String::default() { w.write_with_tag(18, |w| w.write_string(&**&self.addr))?; }
        if self.reachable != false { w.write_with_tag(24, |w| w.write_bool(*&self.reachable))?; }
        if !self.ed25519_pubkey.is_empty() { w.write_with_tag(34, |w| w.write_bytes(&**&self.ed25519_pubkey))?; }
        if self.last_seen != 0u64 { w.write_with_tag(40, |w| w.write_uint64(*&self.last_seen))?; }
        Ok(())
    }
}

#[allow(clippy::derive_partial_eq_without_eq)]
#[derive(Debug, Default, PartialEq, Clone)]
pub struct PeerExchange {
    pub peers: Vec<PeerInfo>,
}

impl<'a> MessageRead<'a> for PeerExchange {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes) {
                Ok(10) => msg.peers.push(r.read_message::<PeerInfo>(bytes)?),
                Ok(t) => { r.read_unknown(bytes, t)?; }
                Err(e) => return Err(e),
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for PeerExchange {
    fn get_size(&self) -> usize {
        0
        + self.peers.iter().map(|s| 1 + sizeof_len((s).get_size())).sum::<usize>()
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        for s in &self.peers { w.write_with_tag(10, |w| w.write_message(s))?; }
        Ok(())
    }
}

#[allow(clippy::derive_partial_eq_without_eq)]
#[derive(Debug, Default, PartialEq, Clone)]
pub struct TreeControl {
    pub ihave: Vec<u8>,
    pub graft: Vec<u8>,
    pub prune: bool,
    pub eager: bool,
}

impl<'a> MessageRead<'a> for TreeControl {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes) {
                Ok(10) => msg.ihave = r.read_bytes(bytes)?.to_owned(),
                Ok(18) => msg.graft = r.read_bytes(bytes)?.to_owned(),
                Ok(24) => msg.prune = r.read_bool(bytes)?,
                Ok(32) => msg.eager = r.read_bool(bytes)?,
                Ok(t) => { r.read_unknown(bytes, t)?; }
                Err(e) => return Err(e),
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for TreeControl {
    fn get_size(&self) -> usize {
        0
        + if self.ihave.is_empty() { 0 } else { 1 + sizeof_len((&self.ihave).len()) }
        + if self.graft.is_empty() { 0 } else { 1 + sizeof_len((&self.graft).len()) }
        + if self.prune == false { 0 } else { 1 + sizeof_varint(*(&self.prune) as u64) }
        + if self.eager == false { 0 } else { 1 + sizeof_varint(*(&self.eager) as u64) }
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        if !self.ihave.is_empty() { w.write_with_tag(10, |w| w.write_bytes(&**&self.ihave))?; }
        if !self.graft.is_empty() { w.write_with_tag(18, |w| w.write_bytes(&**&self.graft))?; }
        if self.prune != false { w.write_with_tag(24, |w| w.write_bool(*&self.prune))?; }
        if self.eager != false { w.write_with_tag(32, |w| w.write_bool(*&self.eager))?; }
        Ok(())
    }
}

#[allow(clippy::derive_partial_eq_without_eq)]
#[derive(Debug, Default, PartialEq, Clone)]
pub struct StateWrite {
    pub key: String,
    pub value: Vec<u8>,
    pub deleted: bool,
    pub written_at: u64,
}

impl<'a> MessageRead<'a> for StateWrite {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes) {
                Ok(10) => msg.key = r.read_string(bytes)?.to_owned(),
                Ok(18) => msg.value = r.read_bytes(bytes)?.to_owned(),
                Ok(24) => msg.deleted = r.read_bool(bytes)?,
                Ok(32) => msg.written_at = r.read_uint64(bytes)?,
                Ok(t) => { r.read_unknown(bytes, t)?; }
                Err(e) => return Err(e),
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for StateWrite {
    fn get_size(&self) -> usize {
        0
        + if self.key == String::default() { 0 } else { 1 + sizeof_len((&self.key).len()) }
        + if self.value.is_empty() { 0 } else { 1 + sizeof_len((&self.value).len()) }
        + if self.deleted == false { 0 } else { 1 + sizeof_varint(*(&self.deleted) as u64) }
        + if self.written_at == 0u64 { 0 } else { 1 + sizeof_varint(*(&self.written_at) as u64) }
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        if self.key != String::default() { w.write_with_tag(10, |w| w.write_string(&**&self.key))?; }
        if !self.value.is_empty() { w.write_with_tag(18, |w| w.write_bytes(&**&self.value))?; }
        if self.deleted != false { w.write_with_tag(24, |w| w.write_bool(*&self.deleted))?; }
        if self.written_at != 0u64 { w.write_with_tag(32, |w| w.write_uint64(*&self.written_at))?; }
        Ok(())
    }
}

#[allow(clippy::derive_partial_eq_without_eq)]
#[derive(Debug, Default, PartialEq, Clone)]
pub struct StateSync {
    pub ranges: Vec<StateRange>,
    pub want: Vec<u8>,
    pub entries: Vec<Vec<u8>>,
}

impl<'a> MessageRead<'a> for StateSync {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes) {
                Ok(10) => msg.ranges.push(r.read_message::<StateRange>(bytes)?),
                Ok(18) => msg.want = r.read_bytes(bytes)?.to_owned(),
                Ok(26) => msg.entries.push(r.read_bytes(bytes)?.to_owned()),
                Ok(t) => { r.read_unknown(bytes, t)?; }
                Err(e) => return Err(e),
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for StateSync {
    fn get_size(&self) -> usize {
        0
        + self.ranges.iter().map(|s| 1 + sizeof_len((s).get_size())).sum::<usize>()
        + if self.want.is_empty() { 0 } else { 1 + sizeof_len((&self.want).len()) }
        + self.entries.iter().map(|s| 1 + sizeof_len((s).len())).sum::<usize>()
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        for s in &self.ranges { w.write_with_tag(10, |w| w.write_message(s))?; }
        if !self.want.is_empty() { w.write_with_tag(18, |w| w.write_bytes(&**&self.want))?; }
        for s in &self.entries { w.write_with_tag(26, |w| w.write_bytes(&**s))?; }
        Ok(())
    }
}

#[allow(clippy::derive_partial_eq_without_eq)]
#[derive(Debug, Default, PartialEq, Clone)]
pub struct StateRange {
    pub first: u64,
    pub last: u64,
    pub count: u32,
    pub fingerprint: Vec<u8>,
    pub items: Vec<u8>,
}

impl<'a> MessageRead<'a> for StateRange {
    fn from_reader(r: &mut BytesReader, bytes: &'a [u8]) -> Result<Self> {
        let mut msg = Self::default();
        while !r.is_eof() {
            match r.next_tag(bytes) {
                Ok(9) => msg.first = r.read_fixed64(bytes)?,
                Ok(17) => msg.last = r.read_fixed64(bytes)?,
                Ok(24) => msg.count = r.read_uint32(bytes)?,
                Ok(34) => msg.fingerprint = r.read_bytes(bytes)?.to_owned(),
                Ok(42) => msg.items = r.read_bytes(bytes)?.to_owned(),
                Ok(t) => { r.read_unknown(bytes, t)?; }
                Err(e) => return Err(e),
            }
        }
        Ok(msg)
    }
}

impl MessageWrite for StateRange {
    fn get_size(&self) -> usize {
        0
        + if self.first == 0u64 { 0 } else { 1 + 8 }
        + if self.last == 0u64 { 0 } else { 1 + 8 }
        + if self.count == 0u32 { 0 } else { 1 + sizeof_varint(*(&self.count) as u64) }
        + if self.fingerprint.is_empty() { 0 } else { 1 + sizeof_len((&self.fingerprint).len()) }
        + if self.items.is_empty() { 0 } else { 1 + sizeof_len((&self.items).len()) }
    }

    fn write_message<W: WriterBackend>(&self, w: &mut Writer<W>) -> Result<()> {
        if self.first != 0u64 { w.write_with_tag(9, |w| w.write_fixed64(*&self.first))?; }
        if self.last != 0u64 { w.write_with_tag(17, |w| w.write_fixed64(*&self.last))?; }
        if self.count != 0u32 { w.write_with_tag(24, |w| w.write_uint32(*&self.count))?; }
        if !self.fingerprint.is_empty() { w.write_with_tag(34, |w| w.write_bytes(&**&self.fingerprint))?; }
        if !self.items.is_empty() { w.write_with_tag(42, |w| w.write_bytes(&**&self.items))?; }
        Ok(())
    }
}

