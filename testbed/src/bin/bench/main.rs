//! `bench`: Tessera side by side with the real Glance and this machine's ceilings, on the same
//! workloads in the same run. For each workload the servers take turns (Tessera, Glance,
//! Tessera, Glance, ...) for several rounds; the table reports median and min–max and the
//! ratios, which hold on a shared, noisy machine where absolute figures drift.
//!
//! Like `testbed`, it drives binaries only: `testbed` and `tessera` beside it, the transport's
//! `quic_bench` example, and the real Glance over HTTP.

mod ceilings;
mod chart;
mod client;
mod procs;
mod report;
mod servers;
mod stats;
mod workloads;

use anyhow::Context;
use clap::Parser;
use client::Api;
use report::{Report, Row, Target};
use servers::Server;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MIB: u64 = 1 << 20;

/// Benchmarks Tessera against the real Glance and the machine's own ceilings.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// Rounds per workload (servers alternate within each round).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// A fast smoke run: 1 round, small images, few images listed.
    #[arg(long)]
    quick: bool,
    /// Size of the single-image upload/download, in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Number of simultaneous uploads.
    #[arg(long, default_value_t = 16)]
    concurrent: u64,
    /// Size of each simultaneous upload, in MiB.
    #[arg(long, default_value_t = 64)]
    concurrent_mib: u64,
    /// Images created (and listed, deleted) per metadata round.
    #[arg(long, default_value_t = 1000)]
    meta_images: usize,
    /// Concurrent clients of the concurrent-create workload.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Store sizes at which the latency of a page of 25 is measured.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    list_sizes: Vec<usize>,
    /// Largest store size at which Glance's page latency is measured (filling it is slow).
    #[arg(long, default_value_t = 10000)]
    glance_list_max: usize,
    /// Requests per page-latency measurement.
    #[arg(long, default_value_t = 30)]
    page_samples: usize,
    /// URL of a running real Glance (noauth peer); its data is modified.
    #[arg(long, env = "GLANCE_URL")]
    glance_url: Option<String>,
    /// Pid of that Glance's server process (uWSGI master) for its memory and CPU.
    #[arg(long, env = "GLANCE_PID")]
    glance_pid: Option<u32>,
    /// Directory of the peer scripts (glance-start.sh, glance-stop.sh): start a private Glance.
    #[arg(long, env = "GLANCE_PEER_SCRIPTS")]
    peer_scripts: Option<PathBuf>,
    /// The peer's installed venv (made by install.sh).
    #[arg(
        long,
        env = "GLANCE_PEER_VENV",
        default_value = "/tmp/tessera-peer/venv"
    )]
    peer_venv: PathBuf,
    /// Port of the private Glance.
    #[arg(long, default_value_t = 19393)]
    peer_port: u16,
    /// Scratch directory on the data disk: servers' data, upload files, ceilings.
    #[arg(long, default_value = "/tmp/tessera-bench")]
    work_dir: PathBuf,
    /// Where report.md, report.json and ratios.png go.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
    /// The tessera binary [default: beside this one].
    #[arg(long)]
    tessera: Option<PathBuf>,
    /// The testbed binary [default: beside this one].
    #[arg(long)]
    testbed: Option<PathBuf>,
    /// The transport benchmark [default: examples/quic_bench beside this one].
    #[arg(long)]
    quic_bench: Option<PathBuf>,
}

impl Args {
    /// Applies `--quick` over the defaults.
    fn settle(mut self) -> Args {
        if self.quick {
            self.rounds = 1;
            self.size_mib = self.size_mib.min(128);
            self.concurrent_mib = self.concurrent_mib.min(8);
            self.meta_images = self.meta_images.min(100);
            self.list_sizes = vec![100, 1000];
            self.page_samples = self.page_samples.min(10);
        }
        self.rounds = self.rounds.max(1);
        self.list_sizes.sort_unstable();
        self
    }
}

fn beside_me(name: &str) -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()
        .context("locating the bench binary")?
        .with_file_name(name))
}

/// Rows in report order, addressed by a short key while measuring, and the workloads that
/// failed (a server's failure is a result, not a reason to stop).
struct Rows(Vec<(&'static str, Row)>, Vec<String>);

impl Rows {
    fn fail(&mut self, server: &str, workload: &str, e: anyhow::Error) {
        let line = format!("{server}: {workload} failed: {e:#}");
        eprintln!("bench: {line}");
        self.1.push(line.chars().take(300).collect());
    }

    fn add(&mut self, key: &'static str, row: Row) {
        self.0.push((key, row));
    }

    fn get(&mut self, key: &str) -> &mut Row {
        let i = self
            .0
            .iter()
            .position(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no row {key}"));
        &mut self.0[i].1
    }

    fn find(&self, key: &str) -> Option<&Row> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, r)| r)
    }

    /// Gives row `key` the ceiling measured in row `from`, shown as `name`.
    fn compare_with(&mut self, key: &str, from: &str, name: &'static str) {
        let ceiling = self
            .find(from)
            .map(|r| r.ceiling.clone())
            .unwrap_or_default();
        let row = self.get(key);
        row.ceiling = ceiling;
        row.ceiling_name = Some(name);
    }
}

/// A server under test with its API clients.
struct Contender<'a> {
    glance: bool,
    server: &'a Server,
    apis: Vec<Api>,
}

impl<'a> Contender<'a> {
    fn new(server: &'a Server, glance: bool) -> anyhow::Result<Contender<'a>> {
        let apis = server
            .urls
            .iter()
            .map(|u| Api::new(u))
            .collect::<anyhow::Result<_>>()?;
        Ok(Contender {
            glance,
            server,
            apis,
        })
    }

    fn column<'r>(&self, row: &'r mut Row) -> &'r mut stats::Samples {
        if self.glance {
            &mut row.glance
        } else {
            &mut row.tessera
        }
    }

    fn label(&self) -> &'static str {
        if self.glance {
            "glance"
        } else {
            "tessera"
        }
    }
}

fn mib_of(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

fn ceilings(args: &Args, quic_bench: &Path, rows: &mut Rows) -> anyhow::Result<()> {
    let mut hash = Row::new(
        "ceiling: MD5+SHA-512+BLAKE3 of 1 GiB in memory",
        "MB/s",
        true,
    );
    let mut disk = Row::new("ceiling: dd 1 GiB conv=fdatasync", "MB/s", true);
    let mut fsync = Row::new("ceiling: 4 KiB write + fdatasync", "ops/s", true);
    let mut tcp = Row::new("ceiling: loopback TCP stream", "MB/s", true);
    let mut quic = Row::new("ceiling: loopback QUIC (mTLS) stream", "MB/s", true);
    let size = args.size_mib;
    let data = {
        let path = args.work_dir.join("hash.bin");
        workloads::fresh_data(&path, size * MIB, 1)?;
        let bytes = std::fs::read(&path)?;
        std::fs::remove_file(&path)?;
        bytes
    };
    for round in 0..args.rounds {
        eprintln!("bench: ceilings, round {}", round + 1);
        hash.ceiling.push(ceilings::upload_hashes(&data));
        disk.ceiling
            .push(ceilings::disk_write(&args.work_dir, size)?);
        fsync
            .ceiling
            .push(ceilings::durable_writes(&args.work_dir, 500)?);
        tcp.ceiling.push(ceilings::loopback_tcp(size)?);
        match ceilings::loopback_quic(quic_bench, size) {
            Ok(v) => quic.ceiling.push(v),
            Err(e) => eprintln!("bench: QUIC ceiling skipped: {e:#}"),
        }
    }
    for (key, row) in [
        ("hash", hash),
        ("disk", disk),
        ("fsync", fsync),
        ("tcp", tcp),
        ("quic", quic),
    ] {
        rows.add(key, row);
    }
    Ok(())
}

/// Upload/download rounds of one image, servers alternating; fills the `prefix` rows.
async fn transfers(
    args: &Args,
    contenders: &[Contender<'_>],
    rows: &mut Rows,
    prefix: &'static str,
    seed_base: u64,
) -> anyhow::Result<()> {
    let file = args.work_dir.join("upload.bin");
    for round in 0..args.rounds {
        for (k, c) in contenders.iter().enumerate() {
            eprintln!(
                "bench: {prefix} transfer, round {}, {}",
                round + 1,
                c.label()
            );
            let md5 = workloads::fresh_data(
                &file,
                args.size_mib * MIB,
                seed_base + (round * 10 + k) as u64,
            )?;
            let up = &c.apis[0];
            let down = c.apis.last().unwrap_or(up);
            let t = match workloads::transfer(up, down, &c.server.pids, &file, &md5).await {
                Ok(t) => t,
                Err(e) => {
                    rows.fail(c.label(), prefix, e);
                    continue;
                }
            };
            let keys: [(&'static str, f64); 3] = match prefix {
                "single" => [
                    ("up", t.up_mb_s),
                    ("down", t.down_mb_s),
                    ("peak", mib_of(t.peak_rss)),
                ],
                _ => [
                    ("up3", t.up_mb_s),
                    ("down3", t.down_mb_s),
                    ("peak3", mib_of(t.peak_rss)),
                ],
            };
            for (key, v) in keys {
                c.column(rows.get(key)).push(v);
            }
            if prefix == "single" && !c.server.pids.is_empty() {
                c.column(rows.get("cpu_up")).push(t.up_cpu_per_gib);
                c.column(rows.get("cpu_down")).push(t.down_cpu_per_gib);
            }
        }
    }
    let _ = std::fs::remove_file(&file);
    Ok(())
}

fn idle_rss(contenders: &[Contender<'_>], row: &mut Row) {
    for c in contenders.iter().filter(|c| !c.server.pids.is_empty()) {
        c.column(row).push(mib_of(procs::rss_bytes(&c.server.pids)));
    }
}

async fn single_node(
    args: &Args,
    contenders: &[Contender<'_>],
    rows: &mut Rows,
) -> anyhow::Result<()> {
    let gib = args.size_mib as f64 / 1024.0;
    let sized = |what: &str| format!("{what} {gib} GiB, 1 node");
    let mut idle = Row::new("RSS idle", "MiB", false);
    idle_rss(contenders, &mut idle);
    rows.add("idle", idle);
    for (key, name, unit, hib) in [
        ("up", sized("upload"), "MB/s", true),
        ("down", sized("download"), "MB/s", true),
        (
            "peak",
            format!("RSS peak during the {gib} GiB upload"),
            "MiB",
            false,
        ),
        (
            "cpu_up",
            "server CPU per GiB uploaded".into(),
            "s/GiB",
            false,
        ),
        (
            "cpu_down",
            "server CPU per GiB downloaded".into(),
            "s/GiB",
            false,
        ),
    ] {
        rows.add(key, Row::new(name, unit, hib));
    }
    rows.compare_with("up", "hash", "hashes");
    rows.compare_with("down", "tcp", "TCP");
    transfers(args, contenders, rows, "single", 100).await?;

    let mut conc = Row::new(
        format!(
            "{} concurrent uploads of {} MiB",
            args.concurrent, args.concurrent_mib
        ),
        "MB/s",
        true,
    );
    let mut conc_failed = Row::new(
        format!("failed uploads of the {} concurrent", args.concurrent),
        "errors",
        false,
    );
    let file = args.work_dir.join("concurrent.bin");
    for round in 0..args.rounds {
        for (k, c) in contenders.iter().enumerate() {
            eprintln!(
                "bench: concurrent uploads, round {}, {}",
                round + 1,
                c.label()
            );
            workloads::fresh_data(
                &file,
                args.concurrent * args.concurrent_mib * MIB,
                200 + (round * 10 + k) as u64,
            )?;
            let each = args.concurrent_mib * MIB;
            match workloads::concurrent_uploads(&c.apis[0], &file, args.concurrent, each).await {
                Ok((v, failed)) => {
                    c.column(&mut conc).push(v);
                    c.column(&mut conc_failed).push(failed as f64);
                }
                Err(e) => rows.fail(c.label(), "concurrent uploads", e),
            }
        }
    }
    let _ = std::fs::remove_file(&file);
    rows.add("conc", conc);
    rows.compare_with("conc", "hash", "hashes");
    rows.add("conc_failed", conc_failed);

    let n = args.meta_images;
    let mut seq = Row::new(format!("{n} sequential creates"), "creates/s", true);
    let mut cc = Row::new(
        format!("{n} creates, {} clients", args.clients),
        "creates/s",
        true,
    );
    let mut errors = Row::new(
        format!("failed creates, {} clients", args.clients),
        "errors",
        false,
    );
    let mut seq_errors = Row::new("failed sequential creates + deletes", "errors", false);
    let mut list_default = Row::new(format!("list {n}+ images, default page"), "s", false);
    let mut list_1000 = Row::new(format!("list {n}+ images, limit=1000"), "s", false);
    let mut deletes = Row::new(format!("{n} sequential deletes"), "deletes/s", true);
    for round in 0..args.rounds {
        for c in contenders {
            eprintln!("bench: metadata, round {}, {}", round + 1, c.label());
            let m = match workloads::metadata(&c.apis[0], n, args.clients, round).await {
                Ok(m) => m,
                Err(e) => {
                    rows.fail(c.label(), "metadata", e);
                    continue;
                }
            };
            c.column(&mut seq).push(m.create_seq_per_s);
            c.column(&mut cc).push(m.create_conc_per_s);
            c.column(&mut errors).push(m.create_conc_errors as f64);
            c.column(&mut seq_errors).push(m.sequential_errors as f64);
            c.column(&mut list_default).push(m.list_default_s);
            c.column(&mut list_1000).push(m.list_1000_s);
            c.column(&mut deletes).push(m.delete_per_s);
        }
    }
    for (key, row) in [
        ("seq", seq),
        ("cc", cc),
        ("errors", errors),
        ("seq_errors", seq_errors),
        ("list_default", list_default),
        ("list_1000", list_1000),
        ("deletes", deletes),
    ] {
        rows.add(key, row);
    }
    rows.compare_with("seq", "fsync", "fdatasync");

    list_growth(args, contenders, rows).await
}

/// Grows each store to every size in `--list-sizes` and times a page of 25 at each.
async fn list_growth(
    args: &Args,
    contenders: &[Contender<'_>],
    rows: &mut Rows,
) -> anyhow::Result<()> {
    let mut have = vec![0usize; contenders.len()];
    let rss_at = args
        .list_sizes
        .iter()
        .copied()
        .filter(|&s| s <= 10_000)
        .max();
    for (i, &size) in args.list_sizes.iter().enumerate() {
        let mut row = Row::new(format!("page of 25 at {size} images"), "ms", false);
        let active: Vec<usize> = (0..contenders.len())
            .filter(|&k| !contenders[k].glance || size <= args.glance_list_max)
            .collect();
        for &k in &active {
            let c = &contenders[k];
            eprintln!("bench: growing {} to {size} images", c.label());
            let (_, errors) =
                workloads::create_many(&c.apis[0], size - have[k], 16, &format!("grow{i}")).await;
            if errors > 0 {
                eprintln!(
                    "bench: {errors} creates failed on {} while growing",
                    c.label()
                );
            }
            have[k] = size;
        }
        for _ in 0..args.page_samples {
            for &k in &active {
                let c = &contenders[k];
                c.column(&mut row)
                    .push(workloads::page_latency_ms(&c.apis[0]).await?);
            }
        }
        let key: &'static str = ["page0", "page1", "page2", "page3", "page4"]
            .get(i)
            .copied()
            .unwrap_or("pageN");
        rows.add(key, row);
        if Some(size) == rss_at {
            let mut rss = Row::new(format!("RSS after {size} images"), "MiB", false);
            for &k in &active {
                let c = &contenders[k];
                if !c.server.pids.is_empty() {
                    c.column(&mut rss)
                        .push(mib_of(procs::rss_bytes(&c.server.pids)));
                }
            }
            rows.add("rss_images", rss);
        }
    }
    Ok(())
}

async fn cluster(args: &Args, contenders: &[Contender<'_>], rows: &mut Rows) -> anyhow::Result<()> {
    let gib = args.size_mib as f64 / 1024.0;
    rows.add(
        "up3",
        Row::new(format!("upload {gib} GiB, 3 nodes R=3"), "MB/s", true),
    );
    rows.add(
        "down3",
        Row::new(format!("download {gib} GiB, 3 nodes R=3"), "MB/s", true),
    );
    rows.add(
        "peak3",
        Row::new(
            format!("RSS peak during the {gib} GiB upload, 3 nodes"),
            "MiB",
            false,
        ),
    );
    rows.compare_with("up3", "hash", "hashes");
    transfers(args, contenders, rows, "cluster", 300).await?;

    let tessera = contenders
        .iter()
        .find(|c| !c.glance)
        .context("no Tessera cluster")?;
    if let Some((tb, dir)) = tessera.server.testbed_dir() {
        eprintln!("bench: failover and catch-up");
        let mut fo = Row::new("leader kill -9 → write accepted (3 nodes)", "s", false);
        fo.tessera
            .push(workloads::failover(tb, dir, &tessera.apis).await?);
        rows.add("failover", fo);
        let writes = 300;
        let mut cu = Row::new(
            format!("4th node joins, applies {writes}+ entries"),
            "s",
            false,
        );
        cu.tessera
            .push(workloads::catch_up(tb, dir, &tessera.apis[1], writes).await?);
        rows.add("catchup", cu);
    }
    Ok(())
}

fn targets(rows: &Rows) -> Vec<Target> {
    let med_t = |k: &str| rows.find(k).and_then(|r| r.tessera.median());
    let med_g = |k: &str| rows.find(k).and_then(|r| r.glance.median());
    let vs_glance = |k: &str| rows.find(k).and_then(Row::vs_glance);
    let div = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
    let first_page = rows.find("page0").and_then(|r| r.tessera.median());
    let last_page = ["page4", "page3", "page2", "page1"]
        .iter()
        .find_map(|k| rows.find(k).and_then(|r| r.tessera.median()));
    vec![
        Target::at_least("upload ≥ 3× Glance", vs_glance("up"), 3.0),
        Target::at_least(
            "upload ≥ 0.8× MD5+SHA-512+BLAKE3 ceiling",
            rows.find("up").and_then(Row::vs_ceiling),
            0.8,
        ),
        Target::at_least(
            "download (BLAKE3-verified) ≥ 2× Glance",
            vs_glance("down"),
            2.0,
        ),
        Target::at_least(
            "3-node R=3 upload ≥ 0.5× single node",
            div(med_t("up3"), med_t("up")),
            0.5,
        ),
        Target::at_least("sequential creates ≥ 10× Glance", vs_glance("seq"), 10.0),
        Target::at_least(
            "concurrent creates ≥ 30× Glance's sequential rate",
            div(med_t("cc"), med_g("seq")),
            30.0,
        ),
        Target::at_most(
            "zero failed concurrent creates (Tessera)",
            med_t("errors"),
            0.0,
        ),
        Target::at_most(
            "page of 25 at the largest size ≤ 2× at the smallest",
            div(last_page, first_page),
            2.0,
        ),
        Target::at_most(
            "RSS peak during upload − idle ≤ 64 MiB (MiB)",
            med_t("peak").zip(med_t("idle")).map(|(p, i)| p - i),
            64.0,
        ),
        Target::at_most("idle RSS of one node ≤ 64 MiB (MiB)", med_t("idle"), 64.0),
    ]
}

fn context(args: &Args, glance: Option<&Server>) -> Vec<String> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut c = vec![
        format!(
            "{} round(s) per workload, servers alternating; {cores} cores; load average at the end: {}",
            args.rounds,
            load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        ),
        format!("data, servers and ceilings on the disk of {}", args.work_dir.display()),
        "every upload sends fresh random bytes (no dedup); HTTP with Content-Length, downloads discarded".into(),
    ];
    match glance {
        Some(g) => {
            c.push(format!(
                "Glance: the real OpenStack Glance (peer) at {}{}",
                g.urls[0],
                if g.pids.is_empty() {
                    " (pid unknown: no memory/CPU figures)"
                } else {
                    ""
                }
            ));
            c.push(format!(
                "Glance page latency measured up to {} images",
                args.glance_list_max
            ));
        }
        None => c.push(
            "Glance: NOT RUN (no --glance-url/GLANCE_URL or --peer-scripts): Tessera-only figures"
                .into(),
        ),
    }
    c
}

async fn run(args: Args) -> anyhow::Result<Report> {
    let tessera_bin = args
        .tessera
        .clone()
        .map_or_else(|| beside_me("tessera"), Ok)?;
    let testbed_bin = args
        .testbed
        .clone()
        .map_or_else(|| beside_me("testbed"), Ok)?;
    let quic_bench = args.quic_bench.clone().map_or_else(
        || Ok::<_, anyhow::Error>(beside_me("examples")?.join("quic_bench")),
        Ok,
    )?;
    if args.work_dir.exists() {
        std::fs::remove_dir_all(&args.work_dir)
            .with_context(|| format!("clearing {}", args.work_dir.display()))?;
    }
    std::fs::create_dir_all(&args.work_dir)?;

    let glance = match (&args.glance_url, &args.peer_scripts) {
        (Some(url), _) => Some(Server::glance_external(url, args.glance_pid)),
        (None, Some(scripts)) => Some(Server::glance_from_scripts(
            scripts,
            &args.peer_venv,
            &args.work_dir.join("peer"),
            args.peer_port,
        )?),
        (None, None) => None,
    };
    let mut rows = Rows(Vec::new(), Vec::new());
    ceilings(&args, &quic_bench, &mut rows)?;

    {
        let single = Server::tessera(
            &testbed_bin,
            &tessera_bin,
            &args.work_dir.join("tessera1"),
            1,
            &[],
        )?;
        // Let start-up work settle before the idle figure.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut contenders = vec![Contender::new(&single, false)?];
        if let Some(g) = &glance {
            contenders.push(Contender::new(g, true)?);
        }
        single_node(&args, &contenders, &mut rows).await?;
    }
    // A cluster that does not come up is reported, and the figures so far are kept.
    match Server::tessera(
        &testbed_bin,
        &tessera_bin,
        &args.work_dir.join("tessera3"),
        3,
        &["--snapshot-logs=100".into()],
    ) {
        Ok(three) => {
            let mut contenders = vec![Contender::new(&three, false)?];
            if let Some(g) = &glance {
                contenders.push(Contender::new(g, true)?);
            }
            if let Err(e) = cluster(&args, &contenders, &mut rows).await {
                rows.fail("tessera", "3-node phase", e);
            }
        }
        Err(e) => rows.fail("tessera", "3-node cluster start", e),
    }
    let mut context = context(&args, glance.as_ref());
    context.extend(rows.1.iter().cloned());
    drop(glance);
    let _ = std::fs::remove_dir_all(&args.work_dir);
    let targets = targets(&rows);
    Ok(Report {
        context,
        rows: rows.0.into_iter().map(|(_, r)| r).collect(),
        targets,
    })
}

fn write_outputs(report: &Report, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let md = report.markdown();
    print!("{md}");
    std::fs::write(out.join("report.md"), &md)?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    chart::draw(&report.rows, &out.join("ratios.png"))?;
    eprintln!(
        "bench: wrote report.md, report.json and ratios.png to {}",
        out.display()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse().settle();
    let out = args.out_dir.clone();
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(args)))
        .and_then(|report| write_outputs(&report, &out));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
