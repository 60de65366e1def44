//! The workloads, each run once against one server per call; the caller alternates servers
//! and repeats rounds.

use crate::client::{Api, CreateFailed};
use crate::procs::{self, PeakRss};
use anyhow::{bail, Context};
use md5::{Digest, Md5};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const GIB: f64 = (1u64 << 30) as f64;

/// Writes `size` bytes of seeded pseudo-random data to `path`, flushed to disk so that no
/// writeback competes with the measurement; returns their MD5. A fresh seed per upload keeps
/// content-addressed dedup from skipping work that Glance has to do.
pub fn fresh_data(path: &Path, size: u64, seed: u64) -> anyhow::Result<String> {
    let mut f = std::io::BufWriter::with_capacity(4 << 20, std::fs::File::create(path)?);
    let mut md5 = Md5::new();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        md5.update(&block[..n]);
        left -= n as u64;
    }
    f.into_inner()?.sync_all()?;
    Ok(hex(&md5.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One upload and download of a whole file.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    /// Upload MB/s.
    pub up_mb_s: f64,
    /// Download MB/s.
    pub down_mb_s: f64,
    /// Server CPU seconds per GiB uploaded.
    pub up_cpu_per_gib: f64,
    /// Server CPU seconds per GiB downloaded.
    pub down_cpu_per_gib: f64,
    /// Peak resident bytes of the server during the upload.
    pub peak_rss: u64,
}

/// Uploads `file` (MD5 `md5`) through `up`, downloads it through `down`, deletes it.
pub async fn transfer(
    up: &Api,
    down: &Api,
    pids: &[u32],
    file: &Path,
    md5: &str,
) -> anyhow::Result<Transfer> {
    let size = std::fs::metadata(file)?.len();
    let id = up.create_ok("bench-transfer", "bench-transfer").await?;
    let cpu0 = procs::cpu_seconds(pids);
    let peak = PeakRss::start(pids);
    let started = Instant::now();
    let uploaded = up.upload(&id, file, 0, size).await;
    let up_secs = started.elapsed().as_secs_f64();
    let peak_rss = peak.finish();
    uploaded?;
    let cpu1 = procs::cpu_seconds(pids);
    let started = Instant::now();
    let got = down.download(&id).await?;
    let down_secs = started.elapsed().as_secs_f64();
    let cpu2 = procs::cpu_seconds(pids);
    if got != size {
        bail!("downloaded {got} of {size} bytes from {}", down.base());
    }
    let shown = up.show(&id).await?;
    if shown["checksum"].as_str() != Some(md5) {
        bail!(
            "{} recorded checksum {} for a file with MD5 {md5}",
            up.base(),
            shown["checksum"]
        );
    }
    up.delete(&id).await?;
    let gib = size as f64 / GIB;
    Ok(Transfer {
        up_mb_s: size as f64 / 1e6 / up_secs,
        down_mb_s: size as f64 / 1e6 / down_secs,
        up_cpu_per_gib: (cpu1 - cpu0) / gib,
        down_cpu_per_gib: (cpu2 - cpu1) / gib,
        peak_rss,
    })
}

/// `count` simultaneous uploads, each of its own `each` bytes of `file`: aggregate MB/s of
/// the uploads that succeeded, and how many failed.
pub async fn concurrent_uploads(
    api: &Api,
    file: &Path,
    count: u64,
    each: u64,
) -> anyhow::Result<(f64, usize)> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(
            api.create_ok(&format!("bench-concurrent-{i}"), "bench-concurrent")
                .await?,
        );
    }
    let started = Instant::now();
    let uploads = ids
        .iter()
        .zip(0u64..)
        .map(|(id, i)| api.upload(id, file, i * each, each));
    let results = futures::future::join_all(uploads).await;
    let secs = started.elapsed().as_secs_f64();
    let failed = results.iter().filter(|r| r.is_err()).count();
    for id in &ids {
        api.delete(id).await?;
    }
    let done = count - failed as u64;
    Ok(((done * each) as f64 / 1e6 / secs, failed))
}

/// Figures of one metadata round.
#[derive(Debug, Clone, Copy)]
pub struct Metadata {
    /// Sequential creates per second.
    pub create_seq_per_s: f64,
    /// Creates per second with `clients` concurrent clients.
    pub create_conc_per_s: f64,
    /// Creates that failed with concurrent clients.
    pub create_conc_errors: usize,
    /// Failed sequential creates and deletes.
    pub sequential_errors: usize,
    /// Seconds to list every image with the default page size.
    pub list_default_s: f64,
    /// Seconds to list every image with `limit=1000`.
    pub list_1000_s: f64,
    /// Sequential deletes per second.
    pub delete_per_s: f64,
}

/// Creates `n` images with `clients` concurrent clients; returns the ids made and the
/// number of failed creates.
pub async fn create_many(api: &Api, n: usize, clients: usize, tag: &str) -> (Vec<String>, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let workers = (0..clients).map(|_| {
        let (api, next) = (api.clone(), next.clone());
        async move {
            let mut ids = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return (ids, errors);
                }
                match api.create(&format!("{tag}-{i:06}"), tag).await {
                    Ok(id) => ids.push(id),
                    Err(CreateFailed(_)) => errors += 1,
                }
            }
        }
    });
    let mut all = Vec::new();
    let mut errors = 0;
    for (ids, e) in futures::future::join_all(workers).await {
        all.extend(ids);
        errors += e;
    }
    (all, errors)
}

/// Deletes `ids`, `clients` at a time, as cleanup: failures are left behind.
async fn delete_many(api: &Api, ids: &[String], clients: usize) {
    for batch in ids.chunks(clients.max(1)) {
        futures::future::join_all(batch.iter().map(|id| api.delete(id))).await;
    }
}

/// Creates `n` images one after the other, lists them all (default page, then `limit=1000`),
/// deletes them; then creates `n` with `clients` concurrent clients (counting errors).
pub async fn metadata(
    api: &Api,
    n: usize,
    clients: usize,
    round: usize,
) -> anyhow::Result<Metadata> {
    let tag = format!("bench-meta-{round}");
    let started = Instant::now();
    let mut ids = Vec::with_capacity(n);
    let mut errors = 0;
    for i in 0..n {
        match api.create(&format!("{tag}-{i:06}"), &tag).await {
            Ok(id) => ids.push(id),
            Err(CreateFailed(_)) => errors += 1,
        }
    }
    let create_seq_per_s = n as f64 / started.elapsed().as_secs_f64();

    let mut list_secs = [0.0; 2];
    for (secs, query) in list_secs.iter_mut().zip(["", "?limit=1000"]) {
        let started = Instant::now();
        let seen = api.list_all(query).await?;
        *secs = started.elapsed().as_secs_f64();
        if seen < ids.len() {
            bail!(
                "{} listed {seen} images, fewer than the {} just made",
                api.base(),
                ids.len()
            );
        }
    }

    let started = Instant::now();
    for id in &ids {
        if api.delete(id).await.is_err() {
            errors += 1;
        }
    }
    let delete_per_s = ids.len() as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (ids, conc_errors) = create_many(api, n, clients, &format!("{tag}-c")).await;
    let create_conc_per_s = n as f64 / started.elapsed().as_secs_f64();
    delete_many(api, &ids, clients).await;
    Ok(Metadata {
        create_seq_per_s,
        create_conc_per_s,
        create_conc_errors: conc_errors,
        sequential_errors: errors,
        list_default_s: list_secs[0],
        list_1000_s: list_secs[1],
        delete_per_s,
    })
}

/// Milliseconds for one `GET /v2/images?limit=25`.
pub async fn page_latency_ms(api: &Api) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (n, _) = api.list_page("/v2/images?limit=25").await?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if n == 0 {
        bail!("{} listed no images", api.base());
    }
    Ok(ms)
}

/// The node's Raft view from `GET /tessera/v1/cluster`.
async fn cluster_view(api: &Api) -> anyhow::Result<serde_json::Value> {
    let resp = reqwest::Client::new()
        .get(format!("{}/tessera/v1/cluster", api.base()))
        .header("x-auth-token", "bench:bench:admin,member,reader")
        .timeout(Duration::from_secs(5))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("cluster status on {}: {}", api.base(), resp.status());
    }
    Ok(resp.json().await?)
}

fn testbed(testbed: &Path, args: &[&str], dir: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new(testbed)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .context("running testbed")?;
    if !out.status.success() {
        bail!(
            "testbed {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Seconds from `kill -9` of the Raft leader until another node accepts a create again.
pub async fn failover(tb: &Path, dir: &Path, nodes: &[Api]) -> anyhow::Result<f64> {
    let view = cluster_view(&nodes[0]).await?;
    let leader = view["node"]["leader_id"]
        .as_u64()
        .context("no leader known")? as usize;
    let other = nodes
        .iter()
        .enumerate()
        .find(|(i, _)| i + 1 != leader)
        .map(|(_, api)| api)
        .context("no node besides the leader")?;
    testbed(tb, &["kill", &format!("n{leader}")], dir)?;
    let started = Instant::now();
    while other
        .create("after-failover", "bench-failover")
        .await
        .is_err()
    {
        if started.elapsed() > Duration::from_secs(120) {
            bail!("no write accepted within 120 s of killing the leader");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    testbed(tb, &["start", &format!("n{leader}")], dir)?;
    Ok(secs)
}

/// Seconds for a new node to join and apply `writes` fresh log entries (snapshot plus tail),
/// process start included.
pub async fn catch_up(tb: &Path, dir: &Path, via: &Api, writes: usize) -> anyhow::Result<f64> {
    let (_, errors) = create_many(via, writes, 8, "bench-catchup").await;
    if errors > 0 {
        bail!("{errors} creates failed before the catch-up");
    }
    let goal = cluster_view(via).await?["node"]["last_applied"]
        .as_u64()
        .context("no applied index")?;
    let started = Instant::now();
    let desc: serde_json::Value = serde_json::from_str(&testbed(tb, &["add"], dir)?)?;
    let api = Api::new(&format!(
        "http://{}",
        desc["api"].as_str().context("added node without api")?
    ))?;
    loop {
        let applied = cluster_view(&api)
            .await
            .ok()
            .and_then(|v| v["node"]["last_applied"].as_u64());
        if applied.is_some_and(|a| a >= goal) {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("the new node did not catch up within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
