//! Resident memory and CPU time of a whole process tree, read from /proc (the servers under
//! test are uWSGI masters with workers, or tessera processes with threads).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `(pid, ppid, utime + stime ticks)` of every process, from /proc/PID/stat.
fn all_processes() -> Vec<(u32, u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command name, which may itself hold spaces and parentheses.
            let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let ppid = rest.get(1)?.parse().ok()?;
            let utime: u64 = rest.get(11)?.parse().ok()?;
            let stime: u64 = rest.get(12)?.parse().ok()?;
            Some((pid, ppid, utime + stime))
        })
        .collect()
}

/// The roots and all their live descendants, with their CPU ticks.
fn tree(roots: &[u32]) -> Vec<(u32, u64)> {
    let procs = all_processes();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut ticks = HashMap::new();
    for &(pid, ppid, t) in &procs {
        children.entry(ppid).or_default().push(pid);
        ticks.insert(pid, t);
    }
    let mut out = Vec::new();
    let mut todo: Vec<u32> = roots.to_vec();
    while let Some(pid) = todo.pop() {
        if let Some(&t) = ticks.get(&pid) {
            out.push((pid, t));
            todo.extend(children.get(&pid).into_iter().flatten());
        }
    }
    out
}

/// Clock ticks per second of /proc/PID/stat times (`getconf CLK_TCK`, 100 on Linux).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds used so far by the live processes of the trees under `roots`.
pub fn cpu_seconds(roots: &[u32]) -> f64 {
    let ticks: u64 = tree(roots).iter().map(|(_, t)| t).sum();
    ticks as f64 / ticks_per_second()
}

/// Resident bytes of the trees under `roots` (sum of VmRSS).
pub fn rss_bytes(roots: &[u32]) -> u64 {
    tree(roots)
        .iter()
        .filter_map(|(pid, _)| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .sum()
}

/// Samples the tree's RSS every few milliseconds until stopped; keeps the peak.
pub struct PeakRss {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl PeakRss {
    /// Starts sampling the trees under `roots`.
    pub fn start(roots: &[u32]) -> PeakRss {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_bytes(roots)));
        let thread = {
            let (stop, peak, roots) = (stop.clone(), peak.clone(), roots.to_vec());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_bytes(&roots), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        PeakRss { stop, peak, thread }
    }

    /// Stops sampling and returns the peak in bytes.
    pub fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_tree_has_memory_and_cpu() {
        let me = std::process::id();
        assert!(rss_bytes(&[me]) > 0);
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(0u64);
        }
        assert!(cpu_seconds(&[me]) > 0.0);
        assert_eq!(rss_bytes(&[u32::MAX]), 0);
    }
}
