//! `testbed`: starts and stops local clusters of real `tessera` processes and runs chaos
//! runs against them (a workload under faults, its history checked for linearizability and
//! against an image model); the `bench` binary measures them. It drives them only through
//! their command line, signals, HTTP and network namespaces; it imports no Tessera crate.

mod chaos;
mod check;
mod cluster;
mod http;
mod netns;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Local Tessera clusters for tests and chaos runs.
#[derive(Debug, Parser)]
#[command(name = "testbed", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a cluster of N nodes and print its description (also written to DIR/cluster.json).
    Up {
        #[arg(long, short = 'n', default_value_t = 3)]
        nodes: usize,
        #[arg(long)]
        dir: PathBuf,
        /// The tessera binary [default: beside this testbed binary].
        #[arg(long)]
        binary: Option<PathBuf>,
        /// Run on loopback addresses even where network namespaces are available.
        #[arg(long)]
        no_netns: bool,
        /// Extra `tessera serve` flags for every node (repeatable), e.g. --serve-arg=--reaper-interval=5.
        #[arg(long = "serve-arg", allow_hyphen_values = true)]
        serve_args: Vec<String>,
        /// Zones of the nodes in turn, comma-separated (node i gets the i-th, cycling),
        /// e.g. --zones a,a,b.
        #[arg(long, value_delimiter = ',')]
        zones: Vec<String>,
    },
    /// Add a node to a running cluster; it joins through the first node.
    Add {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show each node's process and health.
    Status {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Send a signal to one node (KILL, STOP, CONT, TERM).
    Kill {
        #[arg(long)]
        dir: PathBuf,
        node: String,
        #[arg(long, default_value = "KILL")]
        signal: String,
    },
    /// Start a stopped node again on its data dir.
    Start {
        #[arg(long)]
        dir: PathBuf,
        node: String,
        /// Extra `tessera serve` flags for this start only (repeatable), e.g.
        /// --serve-arg=--unsafe-free-bytes=0.
        #[arg(long = "serve-arg", allow_hyphen_values = true)]
        serve_args: Vec<String>,
    },
    /// Start a cluster, run a seeded workload and fault schedule, heal, and check.
    Chaos {
        #[arg(long, short = 'n', default_value_t = 3)]
        nodes: usize,
        /// Seconds of workload and faults.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Faults to draw from (comma-separated).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "kill,pause,partition,corrupt,lose-chunks,disk-full,restart-all"
        )]
        faults: Vec<chaos::FaultKind>,
        /// Where the JSON report goes.
        #[arg(long)]
        report: PathBuf,
        /// The cluster's directory [default: a new one under /tmp].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The tessera binary [default: beside this testbed binary].
        #[arg(long)]
        binary: Option<PathBuf>,
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Largest upload in MiB.
        #[arg(long, default_value_t = 16)]
        max_mib: usize,
        /// Seconds to wait for the cluster to converge after healing.
        #[arg(long, default_value_t = 120)]
        settle: u64,
        /// Extra `tessera serve` flags for every node (repeatable).
        #[arg(long = "serve-arg", allow_hyphen_values = true)]
        serve_args: Vec<String>,
        /// Succeed only if this checker (durability, linearizable) finds a violation: proves
        /// the harness catches a deliberately broken build.
        #[arg(long)]
        expect_violation: Option<String>,
    },
    /// Run the checkers over a recorded history (JSON: {"created": [...], "ops": [...]}).
    Check {
        #[arg(long)]
        history: PathBuf,
    },
    /// Stop every node and remove the network namespaces.
    Down {
        #[arg(long)]
        dir: PathBuf,
    },
}

fn default_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("locating the testbed binary")?;
    Ok(me.with_file_name("tessera"))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up {
            nodes,
            dir,
            binary,
            no_netns,
            serve_args,
            zones,
        } => {
            let binary = match binary {
                Some(b) => b,
                None => default_binary()?,
            };
            let c = cluster::up(&dir, nodes, &binary, !no_netns, &serve_args, &zones)?;
            println!("{}", serde_json::to_string_pretty(&c)?);
        }
        Command::Add { dir } => {
            let node = cluster::add(&dir)?;
            println!("{}", serde_json::to_string_pretty(&node)?);
        }
        Command::Status { dir } => {
            let report = cluster::status(&dir)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Kill { dir, node, signal } => cluster::kill(&dir, &node, &signal)?,
        Command::Start {
            dir,
            node,
            serve_args,
        } => cluster::start_with(&dir, &node, &serve_args)?,
        Command::Down { dir } => cluster::down(&dir)?,
        Command::Chaos {
            nodes,
            duration,
            seed,
            faults,
            report,
            dir,
            binary,
            clients,
            max_mib,
            settle,
            serve_args,
            expect_violation,
        } => {
            let options = chaos::Options {
                nodes,
                duration: std::time::Duration::from_secs(duration),
                seed,
                faults,
                report,
                dir: dir.unwrap_or_else(|| {
                    std::env::temp_dir()
                        .join(format!("tessera-chaos-{seed}-{}", std::process::id()))
                }),
                binary: match binary {
                    Some(b) => b,
                    None => default_binary()?,
                },
                clients,
                max_size: max_mib << 20,
                serve_args,
                settle: std::time::Duration::from_secs(settle),
                expect_violation,
            };
            if !chaos::run(&options)? {
                anyhow::bail!("chaos run found violations");
            }
        }
        Command::Check { history } => {
            let text = std::fs::read_to_string(&history)
                .with_context(|| format!("reading {}", history.display()))?;
            let recorded: check::History = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", history.display()))?;
            let findings = check::check(&recorded.created, &recorded.ops);
            println!("{}", serde_json::to_string_pretty(&findings)?);
            if !findings.violations.is_empty() {
                anyhow::bail!("{} violation(s)", findings.violations.len());
            }
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testbed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
