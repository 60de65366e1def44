//! Faults: a schedule drawn from the seed, and how each fault is injected and healed on a
//! testbed cluster.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::cluster::{self, Cluster};
use crate::http;
use crate::netns::Net;

/// A kind of fault `--faults` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL a node (the leader more often), then restart it.
    Kill,
    /// SIGSTOP a node, then SIGCONT.
    Pause,
    /// Cut links between network-namespace hosts (needs root and `ip netns`).
    Partition,
    /// Flip bytes in random chunk files of a node.
    Corrupt,
    /// Delete random chunk files of a node.
    LoseChunks,
    /// Fill a node's data dir (a small tmpfs; needs root).
    DiskFull,
    /// Restart every node in turn.
    RestartAll,
}

impl FaultKind {
    /// The name `--faults` takes.
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// Which node a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Whichever node leads when the fault starts.
    Leader,
    /// The node with this index (0-based).
    Node(usize),
}

/// One fault of the schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    /// Start, in ms from the run's start.
    pub at_ms: u64,
    /// What.
    pub kind: FaultKind,
    /// Where.
    pub target: Target,
    /// How long it lasts before it is healed, ms.
    pub hold_ms: u64,
    /// Seed of the fault's own choices (files, partition shape).
    pub seed: u64,
}

/// A fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct Injected {
    /// What was planned.
    pub planned: Planned,
    /// The node names it hit.
    pub nodes: Vec<String>,
    /// What exactly was done.
    pub detail: String,
    /// When it started and was healed, ms from the run's start.
    pub started_ms: u64,
    /// When it was healed.
    pub healed_ms: u64,
    /// Why it could not be (fully) injected or healed.
    pub error: Option<String>,
}

/// The fault schedule for `duration`: one fault at a time, with gaps in between.
pub fn schedule(seed: u64, duration: Duration, kinds: &[FaultKind], nodes: usize) -> Vec<Planned> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xFA17_FA17);
    let end = duration.as_millis() as u64;
    let mut at = 2_000 + rng.gen_range(0..2_000);
    let mut plan = Vec::new();
    while !kinds.is_empty() && at < end.saturating_sub(2_000) {
        let kind = kinds[rng.gen_range(0..kinds.len())];
        let target = if rng.gen_bool(0.5) {
            Target::Leader
        } else {
            Target::Node(rng.gen_range(0..nodes))
        };
        let hold_ms = match kind {
            FaultKind::Corrupt | FaultKind::LoseChunks | FaultKind::RestartAll => 0,
            _ => rng.gen_range(1_500..6_000),
        };
        plan.push(Planned {
            at_ms: at,
            kind,
            target,
            hold_ms,
            seed: rng.gen(),
        });
        // Faults on one node take seconds to heal (restart, catch-up): space them out.
        at += hold_ms + rng.gen_range(3_000..8_000);
    }
    plan
}

/// Injects `plan` into the cluster in `dir`, healing each fault before the next, until the
/// plan ends or `stop` is set. `started` is the run's clock.
pub fn execute(
    dir: &Path,
    plan: &[Planned],
    disk_node: Option<usize>,
    started: Instant,
    stop: &AtomicBool,
) -> Vec<Injected> {
    let mut done = Vec::new();
    for p in plan {
        let at = started + Duration::from_millis(p.at_ms);
        while Instant::now() < at {
            if stop.load(Ordering::Relaxed) {
                return done;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let now = || started.elapsed().as_millis() as u64;
        let started_ms = now();
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let (nodes, detail, error) = match inject(dir, p, disk_node, &mut rng) {
            Ok((nodes, detail, heal)) => {
                std::thread::sleep(Duration::from_millis(p.hold_ms));
                let error = heal(dir).err().map(|e| format!("healing: {e:#}"));
                (nodes, detail, error)
            }
            Err(e) => (Vec::new(), String::new(), Some(format!("{e:#}"))),
        };
        if let Some(e) = &error {
            eprintln!("chaos: {:?} fault: {e}", p.kind);
        }
        done.push(Injected {
            planned: p.clone(),
            nodes,
            detail,
            started_ms,
            healed_ms: now(),
            error,
        });
    }
    done
}

/// What heals an injected fault.
type Heal = Box<dyn FnOnce(&Path) -> anyhow::Result<()>>;

fn inject(
    dir: &Path,
    p: &Planned,
    disk_node: Option<usize>,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<(Vec<String>, String, Heal)> {
    let c = cluster::load(dir)?;
    let victim = match p.target {
        Target::Leader => leader(&c).unwrap_or(0),
        Target::Node(i) => i % c.nodes.len(),
    };
    let name = c.nodes[victim].name.clone();
    let one = |detail: String, heal: Heal| Ok((vec![name.clone()], detail, heal));
    match p.kind {
        FaultKind::Kill => {
            cluster::kill(dir, &name, "KILL")?;
            let n = name.clone();
            one("SIGKILL".into(), Box::new(move |d| restart(d, &n)))
        }
        FaultKind::Pause => {
            cluster::kill(dir, &name, "STOP")?;
            let n = name.clone();
            one(
                "SIGSTOP".into(),
                Box::new(move |d| cluster::kill(d, &n, "CONT")),
            )
        }
        FaultKind::Partition => partition(&c, victim, rng),
        FaultKind::Corrupt => {
            let files = chunk_files(&c.nodes[victim].data_dir);
            let mut hit = Vec::new();
            for f in files.choose_multiple(rng, 3) {
                flip_byte(f, rng)?;
                hit.push(file_name(f));
            }
            one(format!("flipped a byte in {hit:?}"), Box::new(|_| Ok(())))
        }
        FaultKind::LoseChunks => {
            let files = chunk_files(&c.nodes[victim].data_dir);
            let mut lost = Vec::new();
            for f in files.choose_multiple(rng, 5) {
                std::fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
                lost.push(file_name(f));
            }
            one(format!("deleted {lost:?}"), Box::new(|_| Ok(())))
        }
        FaultKind::DiskFull => {
            let Some(i) = disk_node else {
                bail!("no node has a small data disk (needs root to mount a tmpfs)");
            };
            let node = &c.nodes[i];
            let filler = node.data_dir.join("chaos-filler");
            let bytes = fill(&filler)?;
            let n = node.name.clone();
            Ok((
                vec![n.clone()],
                format!("filled the data disk with {bytes} bytes"),
                Box::new(move |d| {
                    std::fs::remove_file(&filler)
                        .with_context(|| format!("removing {}", filler.display()))?;
                    // A node may fail-stop on a full disk; its supervisor would restart it.
                    let c = cluster::load(d)?;
                    match c.nodes.iter().find(|m| m.name == n) {
                        Some(m) if !cluster::alive(m.pid) => {
                            eprintln!("chaos: {n} stopped on the full disk; restarting it");
                            cluster::start(d, &n)
                        }
                        _ => Ok(()),
                    }
                }),
            ))
        }
        FaultKind::RestartAll => {
            for n in &c.nodes {
                cluster::kill(dir, &n.name, "TERM")?;
                wait_exit(dir, &n.name, Duration::from_secs(20))?;
                cluster::start(dir, &n.name)?;
            }
            Ok((
                c.nodes.iter().map(|n| n.name.clone()).collect(),
                "rolling SIGTERM + start".into(),
                Box::new(|_| Ok(())),
            ))
        }
    }
}

/// Cuts links so that one side cannot reach the other: the victim alone, a minority with
/// the victim, or (five nodes or more) two halves joined only through the victim.
fn partition(
    c: &Cluster,
    victim: usize,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<(Vec<String>, String, Heal)> {
    let Some(k) = c.net else {
        bail!("partitions need network namespaces (run as root with ip netns)");
    };
    let n = c.nodes.len();
    let others: Vec<usize> = (0..n).filter(|&i| i != victim).collect();
    let names =
        |ix: &[usize]| -> Vec<String> { ix.iter().map(|&i| c.nodes[i].name.clone()).collect() };
    let (pairs, shape): (Vec<(usize, usize)>, String) = match rng.gen_range(0..3) {
        1 if n >= 4 => {
            let mut rest = others.clone();
            rest.shuffle(rng);
            let minority: Vec<usize> = std::iter::once(victim)
                .chain(rest.iter().copied().take((n - 1) / 2 - 1))
                .collect();
            let majority: Vec<usize> = (0..n).filter(|i| !minority.contains(i)).collect();
            (
                cross(&minority, &majority),
                format!("minority {minority:?} | majority {majority:?}"),
            )
        }
        2 if n >= 5 => {
            let mut rest = others.clone();
            rest.shuffle(rng);
            let (a, b) = rest.split_at(rest.len() / 2);
            (
                cross(a, b),
                format!(
                    "{:?} | {:?}, bridged by {}",
                    names(a),
                    names(b),
                    c.nodes[victim].name
                ),
            )
        }
        _ => (
            cross(&[victim], &others),
            format!("isolated {}", c.nodes[victim].name),
        ),
    };
    let net = Net::new(k);
    // Node ids in the namespace network are 1-based.
    for &(a, b) in &pairs {
        net.cut(c.nodes[a].id, c.nodes[b].id)?;
    }
    let ids: Vec<(usize, usize)> = pairs
        .iter()
        .map(|&(a, b)| (c.nodes[a].id, c.nodes[b].id))
        .collect();
    let hit = pairs
        .iter()
        .flat_map(|&(a, b)| [a, b])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|i| c.nodes[i].name.clone())
        .collect();
    Ok((
        hit,
        format!("partition: {shape}"),
        Box::new(move |_| {
            for (a, b) in ids {
                net.mend(a, b);
            }
            Ok(())
        }),
    ))
}

fn cross(a: &[usize], b: &[usize]) -> Vec<(usize, usize)> {
    a.iter()
        .flat_map(|&x| b.iter().map(move |&y| (x, y)))
        .collect()
}

/// Index of the node that leads, as the first answering node sees it.
pub fn leader(c: &Cluster) -> Option<usize> {
    c.nodes.iter().find_map(|n| {
        let (code, body) = http::get(
            n.api.parse().ok()?,
            "/tessera/v1/cluster",
            http::ADMIN_TOKEN,
        )
        .ok()?;
        if code != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let id = v["node"]["leader_id"].as_u64()?;
        c.nodes.iter().position(|m| m.id as u64 == id)
    })
}

/// Starts a killed node again (waiting until it is healthy).
pub fn restart(dir: &Path, name: &str) -> anyhow::Result<()> {
    wait_exit(dir, name, Duration::from_secs(10))?;
    cluster::start(dir, name)
}

fn wait_exit(dir: &Path, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let c = cluster::load(dir)?;
        let node = c
            .nodes
            .iter()
            .find(|n| n.name == name)
            .with_context(|| format!("no node {name}"))?;
        if !cluster::alive(node.pid) {
            return Ok(());
        }
        if Instant::now() > deadline {
            // A node that ignores SIGTERM is itself a finding; stop it hard to go on.
            eprintln!("chaos: {name} still running {timeout:?} after the signal; killing it");
            cluster::kill(dir, name, "KILL")?;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every chunk file of a node, sorted (so a seed picks the same files for the same state).
pub fn chunk_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![data_dir.join("chunks").join("chunks")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if file_name(&p).len() == 64 {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn flip_byte(path: &Path, rng: &mut ChaCha8Rng) -> anyhow::Result<()> {
    let mut bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.is_empty() {
        return Ok(());
    }
    let at = rng.gen_range(0..bytes.len());
    bytes[at] ^= 0x5a;
    std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// Writes zeros to `path` until the disk is full; returns the bytes written.
fn fill(path: &Path) -> anyhow::Result<u64> {
    use std::io::Write;
    let mut f =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let block = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => return Err(e).with_context(|| format!("filling {}", path.display())),
        }
    }
    // What fits in the page cache may not be on the disk yet.
    let _ = f.sync_all();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_fixes_the_schedule() {
        let kinds = [FaultKind::Kill, FaultKind::Partition, FaultKind::Corrupt];
        let a = schedule(42, Duration::from_secs(120), &kinds, 3);
        assert_eq!(a, schedule(42, Duration::from_secs(120), &kinds, 3));
        assert_ne!(a, schedule(43, Duration::from_secs(120), &kinds, 3));
        assert!(a.len() >= 8, "{a:?}");
        assert!(a.iter().all(|p| p.at_ms + p.hold_ms < 120_000));
        assert!(a.windows(2).all(|w| w[0].at_ms + w[0].hold_ms < w[1].at_ms));
        for k in kinds {
            assert!(a.iter().any(|p| p.kind == k), "{k:?} never drawn");
        }
        assert!(schedule(1, Duration::from_secs(60), &[], 3).is_empty());
    }
}
