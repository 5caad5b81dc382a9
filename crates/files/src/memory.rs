//! How much memory a new allocation may take, so sizes from files and arguments are checked
//! against the machine before a buffer is allocated.

/// Bytes the kernel reports as available for new allocations (`MemAvailable` in
/// `/proc/meminfo`), if known.
pub fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
