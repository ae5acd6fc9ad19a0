//! Process statistics for the `node stats` log line.

/// This process's resident set size in KiB, from `/proc/self/status` (`None` where there is
/// no procfs).
pub fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::resident_kib;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_a_plausible_resident_size() {
        let kib = resident_kib().expect("VmRSS on Linux");
        // A test binary is at least a few hundred KiB resident and far below 100 GiB.
        assert!(kib > 100 && kib < 100 * 1024 * 1024, "{kib} KiB");
    }
}
