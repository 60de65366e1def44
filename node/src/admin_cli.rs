//! Operator commands over a node's admin API: `tessera workers list|show|pause|resume|set`,
//! `tessera chunks verify|repair` and `tessera cluster leave|revoke|revocations`.

use crate::certs;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// Which node to talk to, and as whom.
#[derive(Debug, Clone, Args)]
pub struct Endpoint {
    /// The node's API URL.
    #[arg(long, env = "TESSERA_URL", default_value = "http://127.0.0.1:9292")]
    pub(crate) url: String,
    /// Token (in noauth mode `user:project:roles`; the node's default identity without it).
    #[arg(long, env = "TESSERA_TOKEN")]
    pub(crate) token: Option<String>,
    /// Print the node's JSON answer instead of a summary.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `tessera workers ...`.
#[derive(Debug, Subcommand)]
pub enum WorkersCommand {
    /// Every background worker: state, progress, counters.
    List {
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// One worker, with its settings.
    Show {
        /// The worker (replicator, auditor, reaper).
        name: String,
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Pause a worker after its current step.
    Pause {
        /// The worker (replicator, auditor, reaper).
        name: String,
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Resume a paused worker where it stopped.
    Resume {
        /// The worker (replicator, auditor, reaper).
        name: String,
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Change a worker's setting, e.g. `set auditor rate 1048576`.
    Set {
        /// The worker (replicator, auditor, reaper).
        name: String,
        /// The setting (`tessera workers show NAME` lists them).
        key: String,
        /// Its new value.
        value: String,
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
}

/// `tessera chunks ...`.
#[derive(Debug, Subcommand)]
pub enum ChunksCommand {
    /// Audit now: with --image, every chunk of the image on every placement target; without,
    /// every chunk of the node. Exits 1 when a copy is missing, corrupt or unreachable.
    Verify {
        /// The image to check.
        #[arg(long)]
        image: Option<String>,
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Full repair pass now: every chunk of a live image brought to a copy on each placement
    /// target; local orphans reported (the reaper deletes them). Exits 1 when a copy could
    /// not be made.
    Repair {
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
}

/// `tessera cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// `init` and `cert`.
    #[command(flatten)]
    Certs(certs::CertCommand),
    /// Show every member: Raft role, term, applied index, gossip state, zone, space, chunks.
    Status {
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Drain a node (copy each of its chunks to its other targets) and remove it from the
    /// cluster; then it may be stopped.
    Leave {
        /// The node to remove [default: the node at --url]. Another node can only be removed
        /// with --no-drain.
        #[arg(long)]
        node: Option<u64>,
        /// Remove a lost node without draining it; the replicators restore its chunks from
        /// the remaining copies.
        #[arg(long)]
        no_drain: bool,
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Revoke a node's certificates through Raft: every node then refuses its handshakes,
    /// calls and gossip, so it can neither rejoin nor read chunks. Also run `cluster leave
    /// --node N --no-drain` if it is still a member.
    Revoke {
        /// The node id whose certificates are revoked.
        node: u64,
        /// Revoke only this certificate (a PEM file; say the node's old one after a
        /// rotation) instead of every certificate of the node.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// List the revoked peer certificates.
    Revocations {
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
}

/// A failed admin call.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("{path}: {source}")]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{url}: {status}: {reason}")]
    Refused {
        url: String,
        status: reqwest::StatusCode,
        reason: String,
    },
}

/// Runs `tessera workers ...`.
pub fn run_workers(command: WorkersCommand) -> ExitCode {
    let base = "/tessera/v1/workers";
    let (endpoint, method, path, body) = match command {
        WorkersCommand::List { endpoint } => (endpoint, "GET", base.to_string(), None),
        WorkersCommand::Show { name, endpoint } => {
            (endpoint, "GET", format!("{base}/{}", seg(&name)), None)
        }
        WorkersCommand::Pause { name, endpoint } => (
            endpoint,
            "POST",
            format!("{base}/{}/pause", seg(&name)),
            None,
        ),
        WorkersCommand::Resume { name, endpoint } => (
            endpoint,
            "POST",
            format!("{base}/{}/resume", seg(&name)),
            None,
        ),
        WorkersCommand::Set {
            name,
            key,
            value,
            endpoint,
        } => (
            endpoint,
            "PUT",
            format!("{base}/{}/settings/{}", seg(&name), seg(&key)),
            Some(value),
        ),
    };
    finish(call(&endpoint, method, &path, body).map(|answer| {
        match answer {
            Some(v) if endpoint.json => println!("{v:#}"),
            Some(Value::Array(all)) => print_workers(&all),
            Some(one) => print_workers(std::slice::from_ref(&one)),
            None => println!("ok"),
        }
        true
    }))
}

/// Runs `tessera chunks ...`.
pub fn run_chunks(command: ChunksCommand) -> ExitCode {
    let (image, endpoint) = match command {
        ChunksCommand::Verify { image, endpoint } => (image, endpoint),
        ChunksCommand::Repair { endpoint } => {
            return finish(
                call(&endpoint, "POST", "/tessera/v1/chunks/repair", None).map(|answer| {
                    let v = answer.unwrap_or(Value::Null);
                    println!("{v:#}");
                    v["failed"] == 0 && v["unavailable"].as_array().is_some_and(|u| u.is_empty())
                }),
            );
        }
    };
    let path = match &image {
        Some(id) => format!("/tessera/v1/chunks/verify?image_id={}", seg(id)),
        None => "/tessera/v1/chunks/verify".to_string(),
    };
    finish(call(&endpoint, "POST", &path, None).map(|answer| {
        let v = answer.unwrap_or(Value::Null);
        if endpoint.json {
            println!("{v:#}");
        } else {
            print_verify(&v);
        }
        v["ok"] == Value::Bool(true)
    }))
}

/// Runs `tessera cluster ...`.
pub fn run_cluster(command: ClusterCommand) -> ExitCode {
    match command {
        ClusterCommand::Certs(c) => certs::run_cert_command(c),
        ClusterCommand::Status { endpoint } => finish(
            call(&endpoint, "GET", "/tessera/v1/cluster", None).map(|answer| {
                let status = answer.unwrap_or(Value::Null);
                if endpoint.json {
                    println!("{status:#}");
                } else {
                    print!("{}", crate::cluster_status::render(&status));
                }
                true
            }),
        ),
        ClusterCommand::Leave {
            node,
            no_drain,
            endpoint,
        } => {
            let mut path = format!("/tessera/v1/cluster/leave?drain={}", !no_drain);
            if let Some(n) = node {
                path.push_str(&format!("&node={n}"));
            }
            finish(call(&endpoint, "POST", &path, None).map(|answer| {
                println!("{:#}", answer.unwrap_or(Value::Null));
                true
            }))
        }
        ClusterCommand::Revoke {
            node,
            cert,
            endpoint,
        } => {
            let mut path = format!("/tessera/v1/cluster/revocations?node={node}");
            if let Some(file) = cert {
                match certs::fingerprint_file(&file) {
                    Ok(f) => path.push_str(&format!("&fingerprint={f}")),
                    Err(e) => {
                        eprintln!("tessera: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            finish(call(&endpoint, "POST", &path, None).map(|answer| {
                println!("{:#}", answer.unwrap_or(Value::Null));
                true
            }))
        }
        ClusterCommand::Revocations { endpoint } => finish(
            call(&endpoint, "GET", "/tessera/v1/cluster/revocations", None).map(|answer| {
                println!("{:#}", answer.unwrap_or(Value::Null));
                true
            }),
        ),
    }
}

/// Percent-encodes one path segment.
pub(crate) fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Exit status: 0 when the call worked and all was well, 1 otherwise.
pub(crate) fn finish(result: Result<bool, CliError>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tessera: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sends one request; the JSON answer, `None` for an empty one.
pub(crate) fn call(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<Option<Value>, CliError> {
    let url = format!("{}{path}", endpoint.url.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let http = |source| CliError::Http {
            url: url.clone(),
            source,
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = reqwest::Client::new()
            .request(method, &url)
            .header("accept", "application/json");
        if let Some(t) = &endpoint.token {
            req = req.header("x-auth-token", t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "text/plain").body(b);
        }
        let resp = req.send().await.map_err(http)?;
        let status = resp.status();
        let text = resp.text().await.map_err(http)?;
        if !status.is_success() {
            // Errors come as Glance's JSON document (we asked for JSON).
            let reason = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(CliError::Refused {
                url: url.clone(),
                status,
                reason,
            });
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    })
}

fn print_workers(workers: &[Value]) {
    println!(
        "{:<12} {:<10} {:>8} {:>10} {:>14} {:>6} {:>6}  COUNTERS / SETTINGS",
        "NAME", "STATE", "PROGRESS", "ITEMS", "BYTES", "PASSES", "ERRORS"
    );
    for w in workers {
        let progress = w["progress"]
            .as_f64()
            .map_or("-".to_string(), |p| format!("{:.1}%", p * 100.0));
        println!(
            "{:<12} {:<10} {:>8} {:>10} {:>14} {:>6} {:>6}  {} / {}",
            w["name"].as_str().unwrap_or("?"),
            w["state"].as_str().unwrap_or("?"),
            progress,
            w["items"],
            w["bytes"],
            w["passes"],
            w["errors"],
            pairs_of(&w["counters"]),
            pairs_of(&w["settings"]),
        );
        if let Some(e) = w["last_error"].as_str() {
            println!("{:<12} last error: {e}", "");
        }
    }
}

fn print_verify(v: &Value) {
    if let Some(id) = v["image_id"].as_str() {
        println!(
            "image {id}: {} chunks, {} copies checked",
            v["chunks"], v["copies"]
        );
        if let Some(nodes) = v["nodes"].as_object() {
            for (node, counts) in nodes {
                println!("  node {node}: {}", pairs_of(counts));
            }
        }
        for p in v["problems"].as_array().into_iter().flatten() {
            println!(
                "  {} on node {}: {}{}",
                p["chunk"].as_str().unwrap_or("?"),
                p["node"],
                p["state"].as_str().unwrap_or("?"),
                p["reason"]
                    .as_str()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
        }
    } else {
        println!(
            "node {}: {} chunks ({} bytes) re-hashed, {} corrupt (quarantined, repair queued), {} vanished",
            v["node"],
            v["checked"],
            v["bytes"],
            v["corrupt"].as_array().map_or(0, Vec::len),
            v["missing"]
        );
        for id in v["corrupt"].as_array().into_iter().flatten() {
            println!("  corrupt: {}", id.as_str().unwrap_or("?"));
        }
    }
    println!(
        "{}",
        if v["ok"] == Value::Bool(true) {
            "ok"
        } else {
            "PROBLEMS FOUND"
        }
    );
}

/// `k=v k=v` of a JSON object (strings unquoted).
fn pairs_of(v: &Value) -> String {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => format!("{k}={s}"),
                    None => format!("{k}={v}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
