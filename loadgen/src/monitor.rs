//! The target's resident memory (VmRSS from /proc/PID/status) and the once-a-second progress
//! line on stderr.

use std::time::{Duration, Instant};

/// Resident set size of process `pid` in KiB, or `None` if it cannot be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

/// The `VmRSS:` value, in KiB, of a /proc status text.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time process `pid` has used so far, in nanoseconds: the sum over its threads of the
/// first field of /proc/PID/task/TID/schedstat.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// CPU time the calling thread has used so far, in nanoseconds (/proc/thread-self/schedstat).
pub fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How often the target's RSS is sampled for its peak.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How often a progress line is printed.
const PRINT_EVERY: Duration = Duration::from_secs(1);

/// Samples the target's RSS (keeping the peak) and prints progress once a second.
pub struct Monitor {
    pid: Option<u32>,
    started: Instant,
    last_sample: Option<Instant>,
    last_print: Instant,
    /// Largest RSS seen, KiB.
    pub peak_kib: Option<u64>,
    /// Most recent RSS, KiB.
    pub last_kib: Option<u64>,
}

impl Monitor {
    /// A monitor of `pid` (none: no RSS).
    pub fn new(pid: Option<u32>) -> Monitor {
        let now = Instant::now();
        Monitor {
            pid,
            started: now,
            last_sample: None,
            last_print: now,
            peak_kib: None,
            last_kib: None,
        }
    }

    /// CPU time the target has used so far, in nanoseconds.
    pub fn target_cpu_ns(&self) -> Option<u64> {
        cpu_ns(self.pid?)
    }

    /// Samples the RSS now, updating the peak.
    pub fn sample(&mut self) -> Option<u64> {
        let kib = rss_kib(self.pid?)?;
        self.last_sample = Some(Instant::now());
        self.last_kib = Some(kib);
        self.peak_kib = Some(self.peak_kib.map_or(kib, |p| p.max(kib)));
        Some(kib)
    }

    /// Call often: samples the RSS when due, and prints `line()` once a second with the
    /// elapsed time and RSS.
    pub fn tick(&mut self, line: impl FnOnce(Duration) -> String) {
        let now = Instant::now();
        if self
            .last_sample
            .is_none_or(|at| now.duration_since(at) >= SAMPLE_EVERY)
        {
            self.sample();
        }
        let since = now.duration_since(self.last_print);
        if since >= PRINT_EVERY {
            self.last_print = now;
            let rss = self
                .last_kib
                .map(|k| format!(" rss={:.1}MiB", k as f64 / 1024.0))
                .unwrap_or_default();
            let elapsed = now.duration_since(self.started).as_secs_f64();
            eprintln!("[{elapsed:6.1}s] {}{rss}", line(since));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_rss_in_kib() {
        let status = "Name:\tmicelio\nVmPeak:\t  90000 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(10240));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn reads_own_rss_and_cpu_time() {
        if cfg!(target_os = "linux") {
            assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
            assert!(cpu_ns(std::process::id()).is_some_and(|n| n > 0));
            // A new thread may not have been charged a tick yet: only check that it reads.
            assert!(thread_cpu_ns().is_some());
        }
    }
}
