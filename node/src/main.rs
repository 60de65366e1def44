//! `tessera`: one node of the Tessera image store.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use tessera_node::{admin_cli, config, logging, malloc, metadefs_cli, serve};

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
        /// TOML file with these options in sections (see the README); flags and env win over it.
        #[arg(long, env = "TESSERA_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        options: config::ServeOptions,
    },
    /// Cluster certificates (`init` makes the CA, `cert` signs a node) and membership
    /// (`leave` drains and removes a node).
    #[command(subcommand)]
    Cluster(admin_cli::ClusterCommand),
    /// Background workers (replicator, auditor, reaper): list, pause, resume, retune.
    #[command(subcommand)]
    Workers(admin_cli::WorkersCommand),
    /// Chunk maintenance: `verify` audits now, `repair` brings every chunk to R now.
    #[command(subcommand)]
    Chunks(admin_cli::ChunksCommand),
    /// Glance's metadata definition files: `load` (with Glance's merge options), `export`,
    /// `unload`.
    #[command(subcommand)]
    Metadefs(metadefs_cli::MetadefsCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Cluster(command) => admin_cli::run_cluster(command),
        Command::Workers(command) => admin_cli::run_workers(command),
        Command::Chunks(command) => admin_cli::run_chunks(command),
        Command::Metadefs(command) => metadefs_cli::run(command),
        Command::Serve { config, options } => {
            malloc::one_arena();
            let cfg = match config::Config::load(options, config.as_deref()) {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprintln!("tessera: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            logging::init(cfg.log_format);
            cfg.warn_renamed_keys();
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
