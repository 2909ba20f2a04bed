//! Reading this process's memory counters (Linux `/proc/self/status`), for the peak-memory
//! tests and the benchmark table.
#![allow(dead_code)]

/// A `/proc/self/status` field in KiB (`VmHWM:` is the peak resident set); 0 where there
/// is no such file or field.
pub fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
