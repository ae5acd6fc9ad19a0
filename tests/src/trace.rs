//! A running fingerprint of every simulated event, to prove two runs were identical.

/// FNV-1a (64-bit) over everything fed to it; cheap enough to hash every transmitted byte.
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
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
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
