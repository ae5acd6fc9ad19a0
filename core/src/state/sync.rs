//! Anti-entropy between two maps (msg_type 12, `StateSync`): range-based reconciliation over
//! the key-hash space. Stateless: every message is answered from the map alone, each answer
//! narrows the ranges that differ, and item lists end a branch, so a round costs bytes in
//! proportion to the differences, not to the map.

use alloc::vec::Vec;
use core::fmt;

use micelio_proto::{StateRange, StateSync};
use quick_protobuf::MessageWrite;

use super::entry::{Entry, KeyHash, Leaf, Version};
use super::map::StateMap;

/// A range with at most this many entries is sent as an item list, not a fingerprint.
pub const LIST_LIMIT: u32 = 2;
/// A differing range with more entries is split into this many equal parts.
pub const SPLIT: u64 = 4;
/// Bytes of one listed item: key hash, Lamport time (both big-endian), leaf.
pub const ITEM_LEN: usize = 32;
/// Largest `StateSync` payload sent or accepted (128 KiB).
pub const MAX_SYNC_PAYLOAD: usize = 128 * 1024;
/// Most ranges in one message.
pub const MAX_RANGES: usize = 256;
/// Most key hashes asked for in one message.
pub const MAX_WANT: usize = 1_024;
/// Most items listed for a range that cannot be split (one key hash shared by many keys).
pub const MAX_LISTED: usize = 64;

/// Why a `StateSync` was refused. The message is dropped as a whole; the connection stays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncError {
    /// The payload is larger than [`MAX_SYNC_PAYLOAD`].
    TooLarge(usize),
    /// The payload is not a `StateSync`.
    Malformed,
    /// More than [`MAX_RANGES`] ranges.
    TooManyRanges(usize),
    /// A range ends before it starts, or overlaps or precedes the one before it.
    RangeOrder,
    /// A fingerprint that is neither empty nor 16 bytes.
    FingerprintLength(usize),
    /// An item list whose length is not `count` items, or larger than [`MAX_LISTED`].
    ItemsLength,
    /// Items out of key-hash order or outside their range.
    ItemsOutOfRange,
    /// A want list that is not whole key hashes, or longer than [`MAX_WANT`].
    WantLength(usize),
    /// The sender did not announce `state1`.
    NotALink,
    /// The sender used up its messages for this interval.
    OverBudget,
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge(n) => write!(f, "sync payload of {n} bytes (max {MAX_SYNC_PAYLOAD})"),
            Self::Malformed => f.write_str("payload is not a StateSync"),
            Self::TooManyRanges(n) => write!(f, "{n} ranges (max {MAX_RANGES})"),
            Self::RangeOrder => f.write_str("ranges out of order or overlapping"),
            Self::FingerprintLength(n) => write!(f, "fingerprint of {n} bytes"),
            Self::ItemsLength => f.write_str("item list does not match its count"),
            Self::ItemsOutOfRange => f.write_str("items out of order or outside their range"),
            Self::WantLength(n) => write!(f, "want list of {n} bytes"),
            Self::NotALink => f.write_str("sender did not announce state1"),
            Self::OverBudget => f.write_str("sender is over its sync budget"),
        }
    }
}

impl core::error::Error for SyncError {}

/// Decodes and checks a received payload.
pub fn decode(payload: &[u8]) -> Result<StateSync, SyncError> {
    if payload.len() > MAX_SYNC_PAYLOAD {
        return Err(SyncError::TooLarge(payload.len()));
    }
    let message: StateSync = micelio_proto::decode(payload).map_err(|_| SyncError::Malformed)?;
    check(&message)?;
    Ok(message)
}

/// The structural rules of a message (see [`SyncError`]).
pub fn check(message: &StateSync) -> Result<(), SyncError> {
    if message.ranges.len() > MAX_RANGES {
        return Err(SyncError::TooManyRanges(message.ranges.len()));
    }
    let mut next_first: Option<KeyHash> = Some(0);
    for range in &message.ranges {
        let in_order = next_first.is_some_and(|first| range.first >= first);
        if !in_order || range.first > range.last {
            return Err(SyncError::RangeOrder);
        }
        next_first = range.last.checked_add(1);
        match range.fingerprint.len() {
            16 => {
                if !range.items.is_empty() {
                    return Err(SyncError::ItemsLength);
                }
            }
            0 => check_items(range)?,
            n => return Err(SyncError::FingerprintLength(n)),
        }
    }
    if message.want.len() % 8 != 0 || message.want.len() / 8 > MAX_WANT {
        return Err(SyncError::WantLength(message.want.len()));
    }
    Ok(())
}

fn check_items(range: &StateRange) -> Result<(), SyncError> {
    let count = usize::try_from(range.count).unwrap_or(usize::MAX);
    if count > MAX_LISTED || range.items.len() != count * ITEM_LEN {
        return Err(SyncError::ItemsLength);
    }
    let mut previous = range.first;
    for item in items(&range.items) {
        if item.0 < previous || item.0 > range.last {
            return Err(SyncError::ItemsOutOfRange);
        }
        previous = item.0;
    }
    Ok(())
}

/// One listed item: key hash, Lamport time and leaf (the writer is not listed: two writes
/// of one time are both exchanged and the receivers' maps order them).
type Item = (KeyHash, u64, Leaf);

/// The items of a (checked) list.
fn items(bytes: &[u8]) -> impl Iterator<Item = Item> + '_ {
    bytes.chunks_exact(ITEM_LEN).map(|item| {
        let mut hash = [0u8; 8];
        let mut lamport = [0u8; 8];
        let mut leaf = [0u8; 16];
        hash.copy_from_slice(&item[..8]);
        lamport.copy_from_slice(&item[8..16]);
        leaf.copy_from_slice(&item[16..]);
        (u64::from_be_bytes(hash), u64::from_be_bytes(lamport), leaf)
    })
}

/// The message that opens a round: the summary of the whole key-hash space.
pub fn opening(map: &StateMap) -> StateSync {
    let mut reply = Reply::default();
    reply.summarise(map, 0, u64::MAX);
    reply.message
}

/// The answer to a checked message, from `map` alone: finer summaries of the ranges that
/// differ, item lists, the entries the sender lacks or holds older, and the key hashes to
/// ask it for. `None` when there is nothing to say (the ranges agree). The message's own
/// `entries` are not looked at: the caller checks and applies them.
pub fn answer(map: &StateMap, message: &StateSync) -> Option<StateSync> {
    let mut reply = Reply::default();
    for hash in message.want.chunks_exact(8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(hash);
        for entry in map.with_hash(u64::from_be_bytes(bytes)) {
            reply.send(entry);
        }
    }
    for range in &message.ranges {
        if range.fingerprint.len() == 16 {
            reply.compare_summary(map, range);
        } else {
            reply.compare_items(map, range);
        }
    }
    let message = reply.finish();
    let empty = message.ranges.is_empty() && message.want.is_empty() && message.entries.is_empty();
    (!empty).then_some(message)
}

/// A message being built within [`MAX_SYNC_PAYLOAD`]: what does not fit waits for the next
/// round.
#[derive(Default)]
struct Reply {
    message: StateSync,
    want: Vec<KeyHash>,
    size: usize,
}

impl Reply {
    fn room_for(&self, bytes: usize) -> bool {
        // Tag and length prefix of the field: at most 1 + 5 bytes.
        self.size + bytes + 6 + self.want.len() * 8 + 8 <= MAX_SYNC_PAYLOAD
    }

    fn push_range(&mut self, range: StateRange) {
        let size = range.get_size();
        if self.message.ranges.len() < MAX_RANGES && self.room_for(size) {
            self.size += size + 6;
            self.message.ranges.push(range);
        }
    }

    fn send(&mut self, entry: &Entry) {
        let bytes = micelio_proto::encode(entry.envelope());
        if self.room_for(bytes.len()) {
            self.size += bytes.len() + 6;
            self.message.entries.push(bytes);
        }
    }

    fn ask(&mut self, hash: KeyHash) {
        if self.want.len() < MAX_WANT && self.room_for(8) && self.want.last() != Some(&hash) {
            self.want.push(hash);
        }
    }

    fn finish(mut self) -> StateSync {
        self.message.want = self.want.iter().flat_map(|h| h.to_be_bytes()).collect();
        self.message
    }

    /// This map's summary of `first..=last`: its items when few (or when the range cannot be
    /// split), its fingerprint otherwise.
    fn summarise(&mut self, map: &StateMap, first: KeyHash, last: KeyHash) {
        let summary = map.summary(first, last);
        let mut range = StateRange {
            first,
            last,
            count: summary.count,
            ..StateRange::default()
        };
        if summary.count <= LIST_LIMIT || first == last {
            let listed: Vec<&Entry> = map.range(first, last).take(MAX_LISTED).collect();
            range.count = listed.len() as u32;
            for entry in listed {
                let Version { lamport, leaf, .. } = entry.version();
                range
                    .items
                    .extend_from_slice(&entry.key_hash().to_be_bytes());
                range.items.extend_from_slice(&lamport.to_be_bytes());
                range.items.extend_from_slice(&leaf);
            }
        } else {
            range.fingerprint = summary.fingerprint.to_vec();
        }
        self.push_range(range);
    }

    /// The sender summarised a range by fingerprint.
    fn compare_summary(&mut self, map: &StateMap, theirs: &StateRange) {
        let mine = map.summary(theirs.first, theirs.last);
        if mine.count == theirs.count && mine.fingerprint[..] == theirs.fingerprint[..] {
            return;
        }
        if mine.count <= LIST_LIMIT || theirs.first == theirs.last {
            self.summarise(map, theirs.first, theirs.last);
            return;
        }
        let (first, last) = (u128::from(theirs.first), u128::from(theirs.last));
        let width = (last - first) / u128::from(SPLIT) + 1;
        let mut start = first;
        while start <= last {
            let end = (start + width - 1).min(last);
            // Both bounds lie within `first..=last`, which fits u64.
            self.summarise(map, start as u64, end as u64);
            start = end + 1;
        }
    }

    /// The sender listed its items of a range: send what it lacks or holds older, ask for
    /// what this map lacks or holds older.
    fn compare_items(&mut self, map: &StateMap, theirs: &StateRange) {
        let mine: Vec<&Entry> = map.range(theirs.first, theirs.last).collect();
        let theirs: Vec<Item> = items(&theirs.items).collect();
        let (mut i, mut j) = (0, 0);
        while i < mine.len() || j < theirs.len() {
            let hash = match (mine.get(i), theirs.get(j)) {
                (Some(m), Some(t)) => m.key_hash().min(t.0),
                (Some(m), None) => m.key_hash(),
                (None, Some(t)) => t.0,
                (None, None) => break,
            };
            let mine_end = i + mine[i..]
                .iter()
                .take_while(|e| e.key_hash() == hash)
                .count();
            let theirs_end = j + theirs[j..].iter().take_while(|t| t.0 == hash).count();
            let my_group = &mine[i..mine_end];
            let their_group = &theirs[j..theirs_end];
            let listed = |e: &Entry| (e.version().lamport, e.version().leaf);
            let same = my_group.len() == their_group.len()
                && my_group
                    .iter()
                    .all(|e| their_group.iter().any(|t| (t.1, t.2) == listed(e)));
            if !same {
                match (my_group, their_group) {
                    ([one], [(_, lamport, _)]) if one.version().lamport > *lamport => {
                        self.send(one);
                    }
                    ([one], [(_, lamport, _)]) if one.version().lamport < *lamport => {
                        self.ask(hash);
                    }
                    ([], _) => self.ask(hash),
                    (_, []) => my_group.iter().for_each(|e| self.send(e)),
                    _ => {
                        my_group.iter().for_each(|e| self.send(e));
                        self.ask(hash);
                    }
                }
            }
            i = mine_end;
            j = theirs_end;
        }
    }
}
