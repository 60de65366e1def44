//! A cluster on this machine: certificates, one `tessera serve` per node (each in its own
//! network namespace where possible), and its description in `DIR/cluster.json`.

use crate::http::{self, ADMIN_TOKEN};
use crate::netns::{self, Net};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Port of every node's Glance API.
const API_PORT: u16 = 9292;
/// Port of every node's peer (QUIC) endpoint.
const PEER_PORT: u16 = 7100;

/// One node of a testbed cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeDesc {
    pub name: String,
    pub id: usize,
    pub api: String,
    pub peer: String,
    pub pid: u32,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// Network namespace the node runs in, if any.
    pub netns: Option<String>,
    /// The full command that (re)starts the node.
    pub command: Vec<String>,
}

/// A testbed cluster as written to `cluster.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    pub dir: PathBuf,
    /// The tessera binary every node runs.
    pub binary: PathBuf,
    /// Extra `tessera serve` flags of every node.
    pub serve_args: Vec<String>,
    /// Zones the nodes are in, in turn (node i gets the (i-1)th, cycling); empty: none set.
    #[serde(default)]
    pub zones: Vec<String>,
    /// Third octet of the namespace network, when namespaces are used.
    pub net: Option<u8>,
    pub nodes: Vec<NodeDesc>,
}

fn json_path(dir: &Path) -> PathBuf {
    dir.join("cluster.json")
}

/// Reads `DIR/cluster.json`.
pub fn load(dir: &Path) -> anyhow::Result<Cluster> {
    let text = std::fs::read_to_string(json_path(dir))
        .with_context(|| format!("no testbed cluster in {}", dir.display()))?;
    serde_json::from_str(&text).context("reading cluster.json")
}

fn save(c: &Cluster) -> anyhow::Result<()> {
    std::fs::write(json_path(&c.dir), serde_json::to_string_pretty(c)?)
        .context("writing cluster.json")
}

/// A network number for `dir`, stable for the dir so `down` finds what `up` made.
fn net_number(dir: &Path) -> u8 {
    let h = dir
        .to_string_lossy()
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    20 + (h % 200) as u8
}

fn tessera(binary: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(binary)
        .args(args)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !out.status.success() {
        bail!(
            "tessera {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Starts a node from its recorded command; returns its pid.
fn spawn(node: &NodeDesc) -> anyhow::Result<u32> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&node.log)
        .with_context(|| format!("opening {}", node.log.display()))?;
    let err = log.try_clone()?;
    let (program, args) = node.command.split_first().context("empty node command")?;
    // Its own process group: the node outlives the testbed and our signals stay ours.
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", node.name))?;
    Ok(child.id())
}

fn wait_healthy(node: &NodeDesc, timeout: Duration) -> anyhow::Result<()> {
    let addr: SocketAddr = node.api.parse()?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(http::get(addr, "/healthcheck", ADMIN_TOKEN), Ok((200, _))) {
            return Ok(());
        }
        if !alive(node.pid) {
            bail!(
                "{} exited during start; see {}",
                node.name,
                node.log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{} not healthy after {timeout:?}", node.name)
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next())
        })
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// Creates certificates, namespaces and nodes, waits until all are healthy.
pub fn up(
    dir: &Path,
    n: usize,
    binary: &Path,
    want_netns: bool,
    serve_args: &[String],
    zones: &[String],
) -> anyhow::Result<Cluster> {
    if n == 0 {
        bail!("a cluster needs at least one node");
    }
    if json_path(dir).exists() {
        bail!(
            "{} already holds a cluster; run `testbed down --dir {0}` first",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let binary = binary
        .canonicalize()
        .with_context(|| format!("tessera binary {}", binary.display()))?;
    let use_netns = want_netns && netns::available();
    if want_netns && !use_netns {
        eprintln!("testbed: network namespaces unavailable (needs root and ip netns); using loopback addresses");
    }
    let net = use_netns.then(|| Net::new(net_number(&dir)));
    if let Some(net) = &net {
        net.create_bridge()?;
    }
    let mut cluster = Cluster {
        dir: dir.clone(),
        binary,
        serve_args: serve_args.to_vec(),
        zones: zones.to_vec(),
        net: net.as_ref().map(|n| n.k),
        nodes: Vec::new(),
    };
    if n > 1 {
        let certs = dir.join("certs");
        tessera(
            &cluster.binary,
            &[
                "cluster",
                "init",
                "--dir",
                &certs.to_string_lossy(),
                "--node",
                "n1",
                "--id",
                "1",
            ],
        )?;
    }
    for _ in 0..n {
        add_node(&mut cluster, n > 1)?;
    }
    Ok(cluster)
}

/// Adds one more node to a running cluster; it joins through the first node.
pub fn add(dir: &Path) -> anyhow::Result<NodeDesc> {
    let mut cluster = load(dir)?;
    if cluster.nodes.len() < 2 {
        bail!("only clusters started with --nodes 2 or more can grow");
    }
    add_node(&mut cluster, true)
}

/// The first three octets of a loopback /24 picked by the cluster dir, so clusters in
/// different dirs (a test run beside a bench, or one being torn down) never share ports.
fn loopback_prefix(dir: &Path) -> String {
    let hash = blake3::hash(dir.as_os_str().as_encoded_bytes());
    let [a, b, ..] = *hash.as_bytes();
    // 127.0.0.x is left to single nodes and other tools.
    format!("127.{}.{b}", a.max(1))
}

/// Makes node n{len+1} (certificate, namespace, process), records it and waits for health.
fn add_node(cluster: &mut Cluster, clustered: bool) -> anyhow::Result<NodeDesc> {
    let i = cluster.nodes.len() + 1;
    let name = format!("n{i}");
    let certs = cluster.dir.join("certs");
    if clustered && i > 1 {
        // `cluster init` keeps the CA key apart, in `certs-ca`.
        let ca = cluster.dir.join("certs-ca");
        let (c, ca) = (certs.to_string_lossy(), ca.to_string_lossy());
        let id = i.to_string();
        tessera(
            &cluster.binary,
            &[
                "cluster", "cert", "--ca", &ca, "--node", &name, "--id", &id, "--out", &c,
            ],
        )?;
    }
    let net = cluster.net.map(Net::new);
    let host = match &net {
        Some(net) => {
            net.create_node(i)?;
            net.addr(i)
        }
        None => format!("{}.{}", loopback_prefix(&cluster.dir), 10 + i),
    };
    let node_dir = cluster.dir.join(&name);
    std::fs::create_dir_all(&node_dir)?;
    let api = format!("{host}:{API_PORT}");
    let peer = format!("{host}:{PEER_PORT}");
    let mut command: Vec<String> = Vec::new();
    if let Some(net) = &net {
        command.extend(["ip", "netns", "exec"].map(String::from));
        command.push(net.ns(i));
    }
    command.push(cluster.binary.to_string_lossy().into_owned());
    command.extend(["serve", "--node-id"].map(String::from));
    command.push(i.to_string());
    command.push("--data-dir".into());
    command.push(node_dir.join("data").to_string_lossy().into_owned());
    command.push("--listen".into());
    command.push(api.clone());
    if net.is_some() {
        // A namespace host's API address is not loopback; the node is still reachable only
        // from this machine's own namespaces, so noauth is as contained as on loopback.
        command.push("--insecure-noauth".into());
    }
    if clustered {
        command.extend(["--node-name".into(), name.clone()]);
        command.extend(["--peer-listen".into(), peer.clone()]);
        command.extend(["--certs".into(), certs.to_string_lossy().into_owned()]);
        if let Some(first) = cluster.nodes.first() {
            command.extend(["--join".into(), first.peer.clone()]);
        }
    }
    if !cluster.zones.is_empty() {
        let zone = &cluster.zones[(i - 1) % cluster.zones.len()];
        command.extend(["--zone".into(), zone.clone()]);
    }
    command.extend(cluster.serve_args.iter().cloned());
    let mut node = NodeDesc {
        name,
        id: i,
        api,
        peer,
        pid: 0,
        data_dir: node_dir.join("data"),
        log: node_dir.join("node.log"),
        netns: net.as_ref().map(|net| net.ns(i)),
        command,
    };
    node.pid = spawn(&node)?;
    cluster.nodes.push(node.clone());
    save(cluster)?;
    wait_healthy(&node, Duration::from_secs(90))?;
    Ok(node)
}

/// Per-node process state, health and (when served) the node's cluster view.
pub fn status(dir: &Path) -> anyhow::Result<serde_json::Value> {
    let c = load(dir)?;
    let nodes: Vec<serde_json::Value> = c
        .nodes
        .iter()
        .map(|n| {
            let addr: Option<SocketAddr> = n.api.parse().ok();
            let health = addr.and_then(|a| http::get(a, "/healthcheck", ADMIN_TOKEN).ok());
            let view = addr
                .and_then(|a| http::get(a, "/tessera/v1/cluster", ADMIN_TOKEN).ok())
                .filter(|(code, _)| *code == 200)
                .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok());
            serde_json::json!({
                "name": n.name,
                "pid": n.pid,
                "running": alive(n.pid),
                "healthy": matches!(health, Some((200, _))),
                "api": n.api,
                "cluster": view,
            })
        })
        .collect();
    Ok(serde_json::json!({ "dir": c.dir, "nodes": nodes }))
}

fn find<'a>(c: &'a mut Cluster, name: &str) -> anyhow::Result<&'a mut NodeDesc> {
    c.nodes
        .iter_mut()
        .find(|n| n.name == name)
        .with_context(|| format!("no node named {name}"))
}

/// Sends `signal` (KILL, STOP, CONT, TERM) to a node.
pub fn kill(dir: &Path, name: &str, signal: &str) -> anyhow::Result<()> {
    let signal = signal.to_ascii_uppercase();
    if !["KILL", "STOP", "CONT", "TERM"].contains(&signal.as_str()) {
        bail!("unsupported signal {signal}: use KILL, STOP, CONT or TERM");
    }
    let mut c = load(dir)?;
    let node = find(&mut c, name)?;
    let status = Command::new("kill")
        .args(["-s", &signal, &node.pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -s {signal} {} failed", node.pid);
    }
    Ok(())
}

/// Restarts a node that is not running, on its data dir.
pub fn start(dir: &Path, name: &str) -> anyhow::Result<()> {
    start_with(dir, name, &[])
}

/// [`start`] with extra `tessera serve` flags for this start only (a later start drops them).
pub fn start_with(dir: &Path, name: &str, extra: &[String]) -> anyhow::Result<()> {
    let mut c = load(dir)?;
    let node = find(&mut c, name)?;
    if alive(node.pid) {
        bail!("{name} is still running (pid {})", node.pid);
    }
    let mut once = node.clone();
    once.command.extend(extra.iter().cloned());
    node.pid = spawn(&once)?;
    let node = node.clone();
    save(&c)?;
    wait_healthy(&node, Duration::from_secs(60))
}

/// Kills every node and removes namespaces, bridge and `cluster.json` (data stays).
pub fn down(dir: &Path) -> anyhow::Result<()> {
    let c = load(dir)?;
    for n in &c.nodes {
        if alive(n.pid) {
            let _ = Command::new("kill")
                .args(["-s", "KILL", &n.pid.to_string()])
                .status();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.nodes.iter().any(|n| alive(n.pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(k) = c.net {
        let net = Net::new(k);
        for n in &c.nodes {
            net.remove_node(n.id);
        }
        net.remove_bridge();
    }
    std::fs::remove_file(json_path(dir)).context("removing cluster.json")?;
    Ok(())
}
