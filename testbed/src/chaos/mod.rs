//! `testbed chaos`: a cluster, a seeded workload and fault schedule, healing, and the checkers.

mod api;
mod faults;
mod report;
mod workload;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::check::image_model::{Input, Output, Status};
use crate::cluster::{self, Cluster};
use crate::http;
use crate::netns;
pub use faults::FaultKind;
use report::Report;
use workload::{Recorder, WorkloadConfig};

/// Longest a client waits for an upload or download; so no acknowledged upload took longer.
const DATA_TIMEOUT: Duration = Duration::from_secs(30);

/// Background-loop periods for chaos runs (seconds), unless `--serve-arg` sets them: short
/// enough that repairs and reaping finish within the settle time. The reaper's grace must
/// exceed the longest upload (other nodes' copies of an upload's first chunks are
/// unreferenced until it ends), which the node enforces as grace > upload timeout: 45 s
/// against a 40 s upload timeout and the clients' 30 s.
const LOOP_ARGS: [(&str, &str); 6] = [
    ("--replicator-interval", "3"),
    ("--reaper-interval", "2"),
    ("--reaper-grace", "45"),
    ("--upload-timeout", "40"),
    ("--handoff-grace", "10"),
    ("--auditor-period", "20"),
];

/// Size of the tmpfs that holds the data dir of the node the `disk-full` fault fills.
const SMALL_DISK: &str = "size=1g";

/// What a chaos run does.
#[derive(Debug, Clone)]
pub struct Options {
    /// Nodes in the cluster.
    pub nodes: usize,
    /// How long the workload and faults run.
    pub duration: Duration,
    /// Seed of the workload and the fault schedule.
    pub seed: u64,
    /// Faults to draw from.
    pub faults: Vec<FaultKind>,
    /// Where the JSON report goes.
    pub report: PathBuf,
    /// The cluster's directory (kept after a failing run).
    pub dir: PathBuf,
    /// The tessera binary.
    pub binary: PathBuf,
    /// Concurrent clients.
    pub clients: usize,
    /// Largest upload, bytes.
    pub max_size: usize,
    /// Extra `tessera serve` flags.
    pub serve_args: Vec<String>,
    /// How long to wait for convergence after healing.
    pub settle: Duration,
    /// Succeed only if this checker finds a violation (to prove it can, on a broken build).
    pub expect_violation: Option<String>,
}

/// Runs one chaos run; returns whether every checker passed (or, with `expect_violation`,
/// whether that checker found something).
pub fn run(o: &Options) -> anyhow::Result<bool> {
    let root = netns::available();
    let mut faults = o.faults.clone();
    let mut skipped = Vec::new();
    faults.retain(|f| {
        let ok = root || !matches!(f, FaultKind::Partition | FaultKind::DiskFull);
        if !ok {
            eprintln!("chaos: skipping {f:?}: it needs root and ip netns");
            skipped.push(*f);
        }
        ok
    });
    std::fs::create_dir_all(&o.dir)?;
    let dir = o.dir.canonicalize()?;
    // The last node keeps its data on a small tmpfs that `disk-full` fills.
    let disk_node = faults.contains(&FaultKind::DiskFull).then_some(o.nodes - 1);
    let small_disk = match disk_node {
        Some(i) => Some(mount_small_disk(&dir, i + 1)?),
        None => None,
    };
    let result = run_on(o, &dir, &faults, disk_node);
    if let Err(e) = cluster::down(&dir) {
        eprintln!("chaos: stopping the cluster: {e:#}");
    }
    if let Some(m) = small_disk {
        let _ = Command::new("umount").arg(&m).status();
    }
    let mut report = result?;
    report.skipped_faults = skipped;
    std::fs::write(&o.report, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", o.report.display()))?;
    println!("{}", report.summary());
    let passed = match &o.expect_violation {
        None => report.passed(),
        Some(checker) => {
            let caught = report
                .findings
                .violations
                .iter()
                .any(|v| v.checker == checker);
            println!(
                "expected a {checker} violation: {}",
                if caught {
                    "found (as it should)"
                } else {
                    "NOT found"
                }
            );
            caught
        }
    };
    if passed {
        // Keep only what a failing run needs for diagnosis.
        for n in std::fs::read_dir(&dir)?.flatten() {
            if n.path().join("data").is_dir() {
                let _ = std::fs::remove_dir_all(n.path().join("data"));
            }
        }
    } else {
        eprintln!("chaos: node logs and data kept in {}", dir.display());
    }
    Ok(passed)
}

fn mount_small_disk(dir: &Path, node: usize) -> anyhow::Result<PathBuf> {
    let data = dir.join(format!("n{node}")).join("data");
    std::fs::create_dir_all(&data)?;
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", SMALL_DISK, "tmpfs"])
        .arg(&data)
        .status()
        .context("running mount")?;
    if !status.success() {
        bail!("mounting a tmpfs on {} failed", data.display());
    }
    Ok(data)
}

fn run_on(
    o: &Options,
    dir: &Path,
    faults: &[FaultKind],
    disk_node: Option<usize>,
) -> anyhow::Result<Report> {
    let mut serve_args = o.serve_args.clone();
    for (flag, value) in LOOP_ARGS {
        if !o.serve_args.iter().any(|a| a.starts_with(flag)) {
            serve_args.push(format!("{flag}={value}"));
        }
    }
    let c = cluster::up(dir, o.nodes, &o.binary, true, &serve_args, &[])?;
    let plan = faults::schedule(o.seed, o.duration, faults, o.nodes);
    let cfg = WorkloadConfig {
        clients: o.clients,
        seed: o.seed,
        max_size: o.max_size,
        nodes: c.nodes.iter().map(|n| n.api.clone()).collect(),
    };
    let api = api::Api::new(Duration::from_secs(15), DATA_TIMEOUT)?;
    let recorder = Arc::new(Recorder::new());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let injected = std::thread::scope(|s| {
        let load = s.spawn(|| workload::run(&cfg, &api, &recorder, &stop));
        let chaos = s.spawn(|| faults::execute(dir, &plan, disk_node, started, &stop));
        std::thread::sleep(o.duration);
        stop.store(true, Ordering::Relaxed);
        let injected = chaos.join();
        let _ = load.join();
        injected
    })
    .map_err(|_| anyhow::anyhow!("the fault thread panicked"))?;
    let workload_secs = started.elapsed().as_secs_f64();
    heal(dir)?;
    let converged = converge(dir, o.settle);
    let c = cluster::load(dir)?;
    final_checks(&c, &api, &recorder);
    let recorded = recorder.take();
    let findings = crate::check::check(&recorded.history.created, &recorded.history.ops);
    // Images whose bytes are already reported lost cannot converge; don't wait for them.
    let mut active = active_images(&recorded.history);
    active.retain(|i| !findings.violations.iter().any(|v| v.image == *i));
    let chunks = match &converged {
        Ok(()) => converge_chunks(&c, &api, &active, o.settle),
        Err(_) => Err("skipped: the metadata did not converge".into()),
    };
    let liveness = liveness(&cluster::load(dir)?);
    Ok(Report::new(
        o,
        workload_secs,
        plan,
        injected,
        recorded,
        findings,
        converged,
        chunks,
        liveness,
    ))
}

/// Undoes whatever a fault left behind: every node running and not stopped.
fn heal(dir: &Path) -> anyhow::Result<()> {
    let c = cluster::load(dir)?;
    for n in &c.nodes {
        if cluster::alive(n.pid) {
            cluster::kill(dir, &n.name, "CONT")?;
        } else {
            eprintln!("chaos: {} is down after the run; starting it", n.name);
            cluster::start(dir, &n.name)?;
        }
    }
    Ok(())
}

/// Waits until every node answers and all apply the same Raft index; the problem if not.
fn converge(dir: &Path, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match applied_indexes(dir) {
            Ok(idx) if idx.windows(2).all(|w| w[0] == w[1]) => return Ok(()),
            Ok(idx) => last = format!("applied indexes differ: {idx:?}"),
            Err(e) => last = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!("not converged after {timeout:?}: {last}"))
}

fn applied_indexes(dir: &Path) -> anyhow::Result<Vec<u64>> {
    let c = cluster::load(dir)?;
    c.nodes
        .iter()
        .map(|n| {
            let (code, body) = http::get(n.api.parse()?, "/tessera/v1/cluster", http::ADMIN_TOKEN)?;
            if code != 200 {
                bail!("{} answered {code}", n.name);
            }
            let v: serde_json::Value = serde_json::from_str(&body)?;
            v["node"]["last_applied"]
                .as_u64()
                .with_context(|| format!("{} reports no last_applied", n.name))
        })
        .collect()
}

/// Reads every image from every node (reactivating deactivated ones first, so their bytes
/// can be checked), recorded as final checks.
fn final_checks(c: &Cluster, api: &api::Api, rec: &Recorder) {
    let first = &c.nodes[0].api;
    for image in rec.images() {
        let seen = rec.op(usize::MAX, first, &image, Input::Read, true, || {
            api.read(first, &image)
        });
        if matches!(
            seen,
            Output::Seen {
                status: Status::Deactivated,
                ..
            }
        ) {
            rec.op(usize::MAX, first, &image, Input::Reactivate, true, || {
                api.activation(first, &image, false)
            });
        }
        for n in &c.nodes {
            rec.op(usize::MAX, &n.api, &image, Input::Read, true, || {
                api.read(&n.api, &image)
            });
            rec.op(usize::MAX, &n.api, &image, Input::Download, true, || {
                api.download(&n.api, &image)
            });
        }
    }
}

/// Images the final reads saw `active` (their chunks must be at R).
fn active_images(h: &crate::check::History) -> Vec<String> {
    let mut active: Vec<String> = h
        .ops
        .iter()
        .filter(|op| {
            op.final_check
                && matches!(
                    op.output,
                    Output::Seen {
                        status: Status::Active,
                        ..
                    }
                )
        })
        .map(|op| op.image.clone())
        .collect();
    active.sort();
    active.dedup();
    active
}

/// Chunk convergence after healing: every chunk of every active image reaches a valid copy on
/// each of its placement targets (the replicator's job), then no node keeps a chunk no image
/// references (the reaper's, after its grace). The problem if not within `timeout` each.
fn converge_chunks(
    c: &Cluster,
    api: &api::Api,
    active: &[String],
    timeout: Duration,
) -> Result<(), String> {
    let node = |i: usize| c.nodes[i % c.nodes.len()].api.as_str();
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&String> = active.iter().collect();
    let mut last = String::new();
    let mut round = 0;
    while !pending.is_empty() {
        if Instant::now() > deadline {
            return Err(format!(
                "{} active image(s) not at R after {timeout:?}, e.g. {last}",
                pending.len()
            ));
        }
        pending.retain(|image| {
            let path = format!("/tessera/v1/chunks/verify?image_id={image}");
            match api.admin_post(node(round), &path) {
                Ok(v) if v["ok"] == serde_json::Value::Bool(true) => false,
                Ok(v) => {
                    last = format!("{image}: {}", v["problems"]);
                    true
                }
                Err(e) => {
                    last = e;
                    true
                }
            }
        });
        round += 1;
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        let orphans: Result<Vec<u64>, String> = (0..c.nodes.len())
            .map(|i| {
                let v = api.admin_post(node(i), "/tessera/v1/chunks/repair")?;
                v["orphans"]
                    .as_u64()
                    .ok_or_else(|| format!("no orphan count in {v}"))
            })
            .collect();
        match orphans {
            Ok(o) if o.iter().all(|&n| n == 0) => return Ok(()),
            Ok(o) => last = format!("unreferenced chunks per node: {o:?}"),
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            return Err(format!("reaper not done after {timeout:?}: {last}"));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Liveness problems: nodes not running, panics in logs.
fn liveness(c: &Cluster) -> Vec<String> {
    let mut problems = Vec::new();
    for n in &c.nodes {
        if !cluster::alive(n.pid) {
            problems.push(format!("{} is not running at the end", n.name));
        }
        let log = std::fs::read_to_string(&n.log).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("panicked")) {
            problems.push(format!("{} panicked: {line}", n.name));
        }
    }
    problems
}
