//! `tessera`: one node of the Tessera image store.

mod certs;
mod cluster;
mod cluster_status;
mod config;
mod live_chunks;
mod logging;
mod serve;
mod transport;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Tessera: a replicated VM image store speaking the OpenStack Image API v2.
#[derive(Debug, Parser)]
#[command(name = "tessera", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at startup, so the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node: the Glance API, the metadata log and the chunk store.
    Serve {
        /// TOML file with any of the options below (flags and env win over it).
        #[arg(long, env = "TESSERA_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        options: config::ServeOptions,
    },
    /// Cluster certificates (`init` makes the CA, `cert` signs a node) and `status`.
    #[command(subcommand)]
    Cluster(ClusterCli),
}

/// `tessera cluster ...`.
#[derive(Debug, Subcommand)]
enum ClusterCli {
    #[command(flatten)]
    Certs(certs::ClusterCommand),
    /// Show every member: Raft role, term, applied index, gossip state, zone, space, chunks.
    Status(cluster_status::StatusArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Cluster(ClusterCli::Certs(command)) => certs::run_cluster_command(command),
        Command::Cluster(ClusterCli::Status(args)) => cluster_status::run(args),
        Command::Serve { config, options } => {
            let cfg = match config::Config::load(options, config.as_deref()) {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprintln!("tessera: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            logging::init(cfg.json_logs);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("tessera: cannot start the runtime: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve::run(cfg)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "node stopped with an error");
                    eprintln!("tessera: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}
