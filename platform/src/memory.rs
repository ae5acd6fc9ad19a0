//! Giving memory back to the OS after the node's caches shrink.
//!
//! glibc's allocator keeps freed heap pages mapped: after a burst of senders fills the gossip
//! caches and they expire, the process would stay at its peak size. When the tables shrink by
//! [`RELEASE_THRESHOLD`] entries or more, a runtime (checking with each store flush) asks the
//! allocator to return free pages.

use micelio_core::node::Node;

/// Entries the tables must lose before free memory is handed back.
pub const RELEASE_THRESHOLD: usize = 1024;

/// Watches the node's table sizes and releases free memory when they drop.
#[derive(Debug, Default)]
pub struct MemoryReleaser {
    /// Entries in every bounded table at the last check (or last release).
    high_water: usize,
}

impl MemoryReleaser {
    /// Checks `node`'s tables; returns true when memory was released.
    pub fn check(&mut self, node: &Node, sockets: usize) -> bool {
        let (seen, keys, buckets, known) = node.table_sizes();
        let entries = seen + keys + buckets + known + sockets;
        if entries >= self.high_water {
            self.high_water = entries;
            return false;
        }
        if self.high_water - entries < RELEASE_THRESHOLD {
            return false;
        }
        self.high_water = entries;
        release_free_memory();
        true
    }
}

/// Returns free heap pages to the OS where the allocator supports it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions
    // and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Returns free heap pages to the OS where the allocator supports it (here it does not).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
