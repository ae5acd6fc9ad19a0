//! A running fingerprint of every simulated event, to prove two runs were identical.

/// An FNV-1a style (64-bit, word at a time) fingerprint of everything fed to it; cheap enough
/// to hash every transmitted byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash(u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    /// Mixes `bytes` into the fingerprint.
    pub fn feed(&mut self, bytes: &[u8]) {
        // Eight bytes per multiply: the same avalanche per word, eight times fewer steps.
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        for &b in chunks.remainder() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 ^= bytes.len() as u64;
    }

    /// Mixes a number into the fingerprint.
    pub fn feed_u64(&mut self, value: u64) {
        self.feed(&value.to_le_bytes());
    }

    /// The fingerprint so far.
    pub fn value(&self) -> u64 {
        self.0
    }
}
