//! Admin commands that call a running node's API: `tessera chunks repair` and
//! `tessera cluster leave`. They print the node's JSON report.

use crate::certs;
use clap::{Args, Subcommand};
use std::process::ExitCode;

/// Which node to ask, and as whom.
#[derive(Debug, Args)]
pub struct Target {
    /// API URL of the node.
    #[arg(long, env = "TESSERA_URL", default_value = "http://127.0.0.1:9292")]
    url: String,
    /// Token sent as X-Auth-Token (an admin identity; none means the node's default).
    #[arg(long, env = "TESSERA_TOKEN")]
    token: Option<String>,
}

/// `tessera cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    #[command(flatten)]
    Certs(certs::ClusterCommand),
    /// Drain a node (copy each of its chunks to its other targets) and remove it from the
    /// cluster; then it may be stopped.
    Leave {
        #[command(flatten)]
        target: Target,
        /// The node to remove [default: the node at --url]. Another node can only be removed
        /// with --no-drain.
        #[arg(long)]
        node: Option<u64>,
        /// Remove a lost node without draining it; its chunks are restored from the remaining
        /// copies by the replicators.
        #[arg(long)]
        no_drain: bool,
    },
}

/// `tessera chunks ...`.
#[derive(Debug, Subcommand)]
pub enum ChunksCommand {
    /// Full repair pass now: every chunk of a live image brought to a copy on each placement
    /// target; orphans reported (the reaper deletes them).
    Repair {
        #[command(flatten)]
        target: Target,
    },
}

/// Runs `tessera cluster ...`.
pub fn run_cluster(command: ClusterCommand) -> ExitCode {
    match command {
        ClusterCommand::Certs(c) => certs::run_cluster_command(c),
        ClusterCommand::Leave {
            target,
            node,
            no_drain,
        } => {
            let mut query = vec![("drain", (!no_drain).to_string())];
            query.extend(node.map(|n| ("node", n.to_string())));
            post(&target, "/tessera/v1/cluster/leave", &query)
        }
    }
}

/// Runs `tessera chunks ...`.
pub fn run_chunks(command: ChunksCommand) -> ExitCode {
    match command {
        ChunksCommand::Repair { target } => post(&target, "/tessera/v1/chunks/repair", &[]),
    }
}

/// POSTs to `path` on the target node and prints the answer; fails on a non-2xx status.
fn post(target: &Target, path: &str, query: &[(&str, String)]) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = format!("{}{path}", target.url.trim_end_matches('/'));
    let result = runtime.block_on(async {
        let mut req = reqwest::Client::new().post(&url).query(query);
        if let Some(token) = &target.token {
            req = req.header("X-Auth-Token", token);
        }
        let resp = req.send().await?;
        let status = resp.status();
        Ok::<_, reqwest::Error>((status, resp.text().await?))
    });
    match result {
        Ok((status, body)) if status.is_success() => {
            match serde_json::from_str::<serde_json::Value>(&body)
                .and_then(|v| serde_json::to_string_pretty(&v))
            {
                Ok(pretty) => println!("{pretty}"),
                Err(_) => println!("{body}"),
            }
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            eprintln!("tessera: {url} answered {status}: {}", strip_tags(&body));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("tessera: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The text of a Glance error page (its markup dropped).
fn strip_tags(page: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in page.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}
