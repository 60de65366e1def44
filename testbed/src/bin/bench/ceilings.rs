//! What this machine allows at best, measured in the same run as the servers: disk write with
//! fdatasync, durable small writes, the hashes an upload must compute, loopback TCP and the
//! node-to-node QUIC transport.

use anyhow::{bail, Context};
use md5::{Digest, Md5};
use sha2::Sha512;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Bytes per second of `bytes` moved in `secs`, as MB/s.
pub fn mb_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

/// `dd` of `mib` MiB of zeros into `dir` with `conv=fdatasync`: MB/s.
pub fn disk_write(dir: &Path, mib: u64) -> anyhow::Result<f64> {
    let target = dir.join("dd.ceiling");
    let started = Instant::now();
    let out = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", target.display()))
        .args(["bs=1M", &format!("count={mib}"), "conv=fdatasync"])
        .output()
        .context("running dd")?;
    let secs = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&target);
    if !out.status.success() {
        bail!("dd failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(mb_s(mib << 20, secs))
}

/// Sequential 4 KiB writes each followed by fdatasync, the floor of one durable metadata
/// write: operations per second.
pub fn durable_writes(dir: &Path, count: u32) -> anyhow::Result<f64> {
    let path = dir.join("fsync.ceiling");
    let file = std::fs::File::create(&path)?;
    let block = [0x5au8; 4096];
    let started = Instant::now();
    for i in 0..count {
        file.write_all_at(&block, u64::from(i) * 4096)?;
        file.sync_data()?;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(f64::from(count) / secs)
}

/// MD5, SHA-512 and BLAKE3 of `data`, each on its own thread (an upload computes all three):
/// MB/s of the slowest to finish.
pub fn upload_hashes(data: &[u8]) -> f64 {
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| std::hint::black_box(Md5::digest(data)));
        s.spawn(|| std::hint::black_box(Sha512::digest(data)));
        s.spawn(|| std::hint::black_box(blake3::hash(data)));
    });
    mb_s(data.len() as u64, started.elapsed().as_secs_f64())
}

/// `mib` MiB through one loopback TCP connection in 1 MiB writes: MB/s.
pub fn loopback_tcp(mib: u64) -> anyhow::Result<f64> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            match s.read(&mut buf)? {
                0 => return Ok(n),
                k => n += k as u64,
            }
        }
    });
    let buf = vec![0x5au8; 1 << 20];
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(addr)?;
    for _ in 0..mib {
        s.write_all(&buf)?;
    }
    drop(s);
    let got = reader
        .join()
        .map_err(|_| anyhow::anyhow!("TCP reader panicked"))??;
    Ok(mb_s(got, started.elapsed().as_secs_f64()))
}

/// Runs the transport's own benchmark (`node/examples/quic_bench`) over `mib` MiB in 4 MiB
/// calls: MB/s as it reports.
pub fn loopback_quic(quic_bench: &Path, mib: u64) -> anyhow::Result<f64> {
    let out = Command::new(quic_bench)
        .args([&mib.to_string(), "4", "1"])
        .output()
        .with_context(|| format!("running {}", quic_bench.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "quic_bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_mb_s(&text).with_context(|| format!("no MB/s in quic_bench output {text:?}"))
}

/// The number before the last "MB/s" of a line.
fn parse_mb_s(text: &str) -> Option<f64> {
    let (before, _) = text.rsplit_once("MB/s")?;
    before.split_whitespace().last()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quic_bench_line() {
        let line = "1024 MiB in 256 calls of 4 MiB (1 in flight): 2.10 s, 511 MB/s\n";
        assert_eq!(parse_mb_s(line), Some(511.0));
        assert_eq!(parse_mb_s("nothing"), None);
    }

    #[test]
    fn small_ceilings_run() {
        let dir = tempfile::tempdir().unwrap();
        assert!(disk_write(dir.path(), 1).unwrap() > 0.0);
        assert!(durable_writes(dir.path(), 5).unwrap() > 0.0);
        assert!(upload_hashes(&[7u8; 1 << 16]) > 0.0);
        assert!(loopback_tcp(4).unwrap() > 0.0);
    }
}
