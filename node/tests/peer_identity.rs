//! Peer identity against a real `tessera` node (the binary, started as an operator would):
//! a peer holding a valid certificate for node 4 that claims to be node 2 is refused, a
//! revoked node can no longer join or read chunks, and a node refuses to start with the CA
//! key in its certs dir or with another node's certificate.
//!
//! The impostor is this crate's own QUIC transport with a real certificate: the binary itself
//! cannot be made to lie (it checks its certificate's node id at start).

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tessera_node::certs::NodeIdentityFiles;
use tessera_node::transport::{LinkError, PeerTls, Service, Transport};
use tessera_raft::{ForwardRequest, RaftRpc};
use tessera_replication::ChunkId;

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const ADMIN: &str = "admin:adminproj:admin,member,reader";

/// Runs a `tessera` command that must succeed; returns its stdout.
fn tessera(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tessera {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `tessera cluster cert` for node `name` with id `id`, written to `out`.
fn issue(ca: &Path, name: &str, id: &str, out: &Path) {
    let (ca, out) = (ca.to_string_lossy(), out.to_string_lossy());
    tessera(&[
        "cluster", "cert", "--ca", &ca, "--node", name, "--id", id, "--out", &out,
    ]);
}

fn free_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A running `tessera serve`, killed when dropped.
struct Node {
    child: Child,
    api: SocketAddr,
    peer: SocketAddr,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tessera serve` for node `id` named `name` with the certs in `certs`, plus `extra` flags.
fn serve(root: &Path, id: u64, name: &str, certs: &Path, extra: &[&str]) -> Node {
    let (api, peer) = (free_tcp(), free_udp());
    let log = root.join(format!("{name}-{id}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--node-id", &id.to_string(), "--node-name", name])
        .args([
            "--data-dir",
            &root.join(format!("data-{name}-{id}")).to_string_lossy(),
        ])
        .args([
            "--listen",
            &api.to_string(),
            "--peer-listen",
            &peer.to_string(),
        ])
        .args(["--certs", &certs.to_string_lossy()])
        .args(extra)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Node {
        child,
        api,
        peer,
        log,
    }
}

/// Waits for a node that must refuse to start; returns its log.
fn refused_to_start(mut node: Node) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            assert!(!status.success());
            return std::fs::read_to_string(&node.log).unwrap();
        }
        assert!(Instant::now() < deadline, "the node kept running");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A QUIC endpoint presenting `name`'s certificate from `certs`.
fn impostor(certs: &Path, name: &str) -> Transport {
    let tls = PeerTls::from_files(&NodeIdentityFiles::in_dir(certs, name)).unwrap();
    Transport::bind("127.0.0.1:0".parse().unwrap(), tls).unwrap()
}

async fn call(
    t: &Transport,
    to: SocketAddr,
    service: Service,
    body: Vec<u8>,
) -> Result<Vec<u8>, LinkError> {
    t.call_with_timeout(to, service, body, Duration::from_secs(10))
        .await
}

fn join(node_id: u64) -> Vec<u8> {
    rmp_serde::to_vec(&ForwardRequest::Join {
        node_id,
        addr: "127.0.0.1:9".into(),
    })
    .unwrap()
}

fn vote(candidate: u64) -> Vec<u8> {
    let vote = openraft::Vote::new(1_000, candidate);
    rmp_serde::to_vec(&RaftRpc::Vote(openraft::raft::VoteRequest::new(vote, None))).unwrap()
}

/// The first two variants of the node's chunk call, encoded the same way.
#[derive(serde::Serialize)]
enum ChunkRpc {
    #[allow(dead_code)]
    Put,
    Get {
        id: ChunkId,
    },
}

/// The first two variants of the node's chunk reply.
#[derive(serde::Deserialize, Debug)]
enum ChunkReply {
    Stored,
    Chunk(Option<bytes::Bytes>),
}

/// Reads chunk `id` from the node as peer `t`.
async fn read_chunk(
    t: &Transport,
    node: &Node,
    id: ChunkId,
) -> Result<Option<bytes::Bytes>, String> {
    let body = rmp_serde::to_vec(&ChunkRpc::Get { id }).unwrap();
    let reply = call(t, node.peer, Service::Chunks, body)
        .await
        .map_err(|e| e.to_string())?;
    match rmp_serde::from_slice(&reply).unwrap() {
        ChunkReply::Chunk(bytes) => Ok(bytes),
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Uploads `data` as a new image through the node's Glance API.
async fn upload(node: &Node, data: &[u8]) {
    let http = reqwest::Client::new();
    let base = format!("http://{}/v2/images", node.api);
    let image: serde_json::Value = http
        .post(&base)
        .header("X-Auth-Token", ADMIN)
        .json(&serde_json::json!({"name": "x", "disk_format": "raw", "container_format": "bare"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = image["id"].as_str().unwrap();
    let put = http
        .put(format!("{base}/{id}/file"))
        .header("X-Auth-Token", ADMIN)
        .header("Content-Type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 204);
}

fn refusal(result: Result<Vec<u8>, LinkError>) -> String {
    match result {
        Ok(reply) => panic!("not refused: {} bytes answered", reply.len()),
        Err(e) => e.to_string(),
    }
}

/// Waits until the node's peer endpoint serves metadata (Raft has started).
async fn until_serving(t: &Transport, node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = rmp_serde::to_vec(&ForwardRequest::Status).unwrap();
    while call(t, node.peer, Service::Meta, status.clone())
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "node never served: {}",
            std::fs::read_to_string(&node.log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_node_checks_who_its_peers_are() {
    let root = tempfile::tempdir().unwrap();
    let certs = root.path().join("certs");
    let ca = root.path().join("certs-ca");
    let c = |p: &Path| p.to_string_lossy().into_owned();
    let out = tessera(&[
        "cluster",
        "init",
        "--dir",
        &c(&certs),
        "--node",
        "n1",
        "--id",
        "1",
    ]);
    assert!(
        out.contains("certs-ca"),
        "the CA key goes apart by default: {out}"
    );
    assert!(!certs.join("ca.key").exists() && ca.join("ca.key").exists());
    // n3's certificate goes into the CA's own directory, the layout a node must refuse.
    for (name, id, out) in [
        ("n2", "2", &certs),
        ("n4", "4", &certs),
        ("n5", "5", &certs),
        ("n3", "3", &ca),
    ] {
        issue(&ca, name, id, out);
    }

    // A node refuses another node's certificate, and a certs dir holding the CA key.
    let log = refused_to_start(serve(root.path(), 2, "n4", &certs, &[]));
    assert!(log.contains("node 4's, but this is node 2"), "{log}");
    let log = refused_to_start(serve(root.path(), 3, "n3", &ca, &[]));
    assert!(log.contains("holds the cluster CA key"), "{log}");

    let n1 = serve(root.path(), 1, "n1", &certs, &["--replicas", "1"]);
    let n4 = impostor(&certs, "n4");
    until_serving(&n4, &n1).await;
    let data = b"one small image: one chunk".repeat(40);
    upload(&n1, &data).await;
    let chunk = ChunkId::of(&data);

    // Node 4's valid certificate claiming to be node 2: a join and a vote are refused.
    let err = refusal(call(&n4, n1.peer, Service::Meta, join(2)).await);
    assert!(
        err.contains("claims node Some(2)") && err.contains("node 4's"),
        "{err}"
    );
    let err = refusal(call(&n4, n1.peer, Service::Raft, vote(2)).await);
    assert!(err.contains("claims node Some(2)"), "{err}");
    // A valid certificate of a node that is not a member (never joined, or removed): its
    // metadata calls are refused; asking for status, as a joining node does, is not.
    let outsider = impostor(&certs, "n2");
    let live = rmp_serde::to_vec(&ForwardRequest::LiveManifests).unwrap();
    let err = refusal(call(&outsider, n1.peer, Service::Meta, live).await);
    assert!(err.contains("node 2 is not a member"), "{err}");
    let status = rmp_serde::to_vec(&ForwardRequest::Status).unwrap();
    call(&outsider, n1.peer, Service::Meta, status)
        .await
        .unwrap();
    // Node 4 reads chunks while in good standing.
    assert_eq!(
        read_chunk(&n4, &n1, chunk).await.unwrap().as_deref(),
        Some(&data[..])
    );

    // Revoked through Raft: every certificate of node 4, and node 5's one certificate.
    let url = format!("http://{}", n1.api);
    tessera(&["cluster", "revoke", "4", "--url", &url, "--token", ADMIN]);
    let n5_pem = certs.join("n5.pem");
    tessera(&[
        "cluster",
        "revoke",
        "5",
        "--cert",
        &c(&n5_pem),
        "--url",
        &url,
        "--token",
        ADMIN,
    ]);
    let listed = tessera(&["cluster", "revocations", "--url", &url, "--token", ADMIN]);
    assert!(
        listed.contains("\"node\": 4") && listed.contains("\"node\": 5"),
        "{listed}"
    );
    // The open connection is cut at the next call; a new one fails at once: no chunk
    // reads, no join.
    for _ in 0..2 {
        let err = read_chunk(&n4, &n1, chunk).await.unwrap_err();
        assert!(err.contains("revoked"), "{err}");
    }
    let err = refusal(call(&n4, n1.peer, Service::Meta, join(4)).await);
    assert!(err.contains("revoked"), "{err}");
    let n5 = impostor(&certs, "n5");
    let err = read_chunk(&n5, &n1, chunk).await.unwrap_err();
    assert!(err.contains("revoked"), "{err}");
    // Node 2 is untouched by both.
    let n2 = impostor(&certs, "n2");
    assert_eq!(
        read_chunk(&n2, &n1, chunk).await.unwrap().as_deref(),
        Some(&data[..])
    );
    let log = std::fs::read_to_string(&n1.log).unwrap();
    assert!(log.contains("peer refused"), "no log line: {log}");

    // Rotation without a restart: node 1's renewed certificate is checked and loaded on
    // SIGHUP; another node's certificate put in its place is refused and the current kept.
    let renewed = root.path().join("renewed");
    issue(&ca, "n1", "1", &renewed);
    let swap_in = |from: &Path, name: &str| {
        for ext in ["pem", "key"] {
            std::fs::copy(
                from.join(format!("{name}.{ext}")),
                certs.join(format!("n1.{ext}")),
            )
            .unwrap();
        }
    };
    let hangup_until = |wanted: &str| {
        let pid = n1.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(&n1.log).unwrap();
            if log.contains(wanted) {
                return;
            }
            assert!(Instant::now() < deadline, "no {wanted:?}: {log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let before = std::fs::read(certs.join("n1.pem")).unwrap();
    swap_in(&certs, "n4");
    hangup_until("peer certificate not reloaded");
    swap_in(&renewed, "n1");
    assert_ne!(std::fs::read(certs.join("n1.pem")).unwrap(), before);
    hangup_until("peer certificate reloaded");
    // A fresh connection, checked to be node 1's, still gets answers.
    let fresh = impostor(&certs, "n2");
    let status = rmp_serde::to_vec(&ForwardRequest::Status).unwrap();
    fresh
        .call_node(1, n1.peer, Service::Meta, status, Duration::from_secs(10))
        .await
        .unwrap();
}
