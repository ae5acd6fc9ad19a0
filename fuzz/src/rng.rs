//! A deterministic RNG that first hands out a fixed script (an ephemeral key from the
//! vectors), then a ChaCha stream from a constant seed.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

/// Fixed bytes first, then ChaCha20 seeded with a constant.
pub struct ScriptedRng {
    script: Vec<u8>,
    position: usize,
    tail: ChaCha20Rng,
}

impl ScriptedRng {
    /// An RNG that returns `script` before anything else.
    pub fn new(script: &[u8], seed: u64) -> Self {
        ScriptedRng {
            script: script.to_vec(),
            position: 0,
            tail: ChaCha20Rng::seed_from_u64(seed),
        }
    }
}

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let scripted = (self.script.len() - self.position).min(dest.len());
        dest[..scripted].copy_from_slice(&self.script[self.position..self.position + scripted]);
        self.position += scripted;
        self.tail.fill_bytes(&mut dest[scripted..]);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// Only for harnesses: the script is public, the tail is a seeded ChaCha stream.
impl CryptoRng for ScriptedRng {}
