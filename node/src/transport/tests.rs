//! Two-node tests over loopback with real certificates.

use super::endpoint::{TransportOptions, MAX_DATAGRAM};
use super::frame::MAX_FRAME;
use super::*;
use crate::certs::{init_cluster, issue_node_cert, NodeCert, NodeIdentityFiles};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const LOCALHOST: &str = "127.0.0.1:0";

/// Echoes `[service tag] ++ payload`; fails on the payload `fail`; forwards datagrams;
/// refuses the nodes in `revoked`.
struct Echo {
    calls: AtomicUsize,
    datagrams: mpsc::UnboundedSender<(Vec<u8>, SocketAddr)>,
    revoked: Mutex<HashSet<u64>>,
}

#[async_trait::async_trait]
impl Handler for Echo {
    async fn handle(
        &self,
        service: Service,
        payload: Vec<u8>,
        peer: PeerIdentity,
    ) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if payload == b"fail" {
            return Err("asked to fail".into());
        }
        if payload == b"whoami" {
            return Ok(peer.addr.to_string().into_bytes());
        }
        if payload == b"which node" {
            return Ok(format!("{} {}", peer.node(), peer.cert.fingerprint_hex()).into_bytes());
        }
        let mut reply = Vec::with_capacity(payload.len() + 1);
        reply.push(service.tag());
        reply.extend_from_slice(&payload);
        Ok(reply)
    }

    fn datagram(&self, payload: Vec<u8>, peer: PeerIdentity) {
        let _ = self.datagrams.send((payload, peer.addr));
    }

    fn admit(&self, peer: &PeerIdentity) -> Result<(), String> {
        if self.revoked.lock().unwrap().contains(&peer.node()) {
            return Err(format!("node {} revoked", peer.node()));
        }
        Ok(())
    }
}

struct Node {
    transport: Transport,
    echo: Arc<Echo>,
    datagrams: mpsc::UnboundedReceiver<(Vec<u8>, SocketAddr)>,
}

fn tls(dir: &Path, name: &str) -> PeerTls {
    PeerTls::from_files(&NodeIdentityFiles::in_dir(dir, name)).unwrap()
}

fn start(tls: PeerTls, options: TransportOptions) -> Node {
    start_at(LOCALHOST.parse().unwrap(), tls, options)
}

fn start_at(addr: SocketAddr, tls: PeerTls, options: TransportOptions) -> Node {
    serve_echo(Transport::bind_with(addr, tls, options).unwrap())
}

fn serve_echo(transport: Transport) -> Node {
    let (tx, datagrams) = mpsc::unbounded_channel();
    let echo = Arc::new(Echo {
        calls: AtomicUsize::new(0),
        datagrams: tx,
        revoked: Mutex::default(),
    });
    transport.spawn_serve(echo.clone());
    Node {
        transport,
        echo,
        datagrams,
    }
}

fn node(name: &str, id: u64) -> NodeCert {
    NodeCert {
        name: name.into(),
        id,
        days: 1,
    }
}

/// A cluster directory with nodes `a` (id 1, from init) and `b` (id 2, issued); the CA is in
/// its `ca` subdirectory.
fn cluster() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    init_cluster(dir.path(), &ca, &node("a", 1)).unwrap();
    issue_node_cert(&ca, &node("b", 2), dir.path()).unwrap();
    dir
}

fn quick() -> TransportOptions {
    TransportOptions {
        connect_timeout: Duration::from_millis(500),
        call_timeout: Duration::from_secs(20),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_call_each_other() {
    let dir = cluster();
    let a = start(tls(dir.path(), "a"), quick());
    let b = start(tls(dir.path(), "b"), quick());
    let (a_addr, b_addr) = (a.transport.local_addr(), b.transport.local_addr());

    let reply = a
        .transport
        .call(b_addr, Service::Raft, b"ping".to_vec())
        .await
        .unwrap();
    assert_eq!(reply, b"\x01ping");
    let reply = b
        .transport
        .call(a_addr, Service::Chunks, b"pong".to_vec())
        .await
        .unwrap();
    assert_eq!(reply, b"\x03pong");
    // The handler sees the caller's endpoint address (one endpoint per node).
    let who = a
        .transport
        .call(b_addr, Service::Meta, b"whoami".to_vec())
        .await
        .unwrap();
    assert_eq!(String::from_utf8(who).unwrap(), a_addr.to_string());
    // Empty payloads are fine.
    let reply = a
        .transport
        .call(b_addr, Service::Chunks, Vec::new())
        .await
        .unwrap();
    assert_eq!(reply, b"\x03");
    assert_eq!(b.echo.calls.load(Ordering::SeqCst), 3);
    assert_eq!(a.echo.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payload_round_trips() {
    let dir = cluster();
    let a = start(tls(dir.path(), "a"), quick());
    let b = start(tls(dir.path(), "b"), quick());
    let payload: Vec<u8> = (0..32 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let reply = a
        .transport
        .call(b.transport.local_addr(), Service::Chunks, payload.clone())
        .await
        .unwrap();
    assert_eq!(reply.len(), payload.len() + 1);
    assert_eq!(reply[0], Service::Chunks.tag());
    assert!(reply[1..] == payload[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_share_one_connection() {
    let dir = cluster();
    let a = start(tls(dir.path(), "a"), quick());
    let b = start(tls(dir.path(), "b"), quick());
    let b_addr = b.transport.local_addr();
    let calls = (0..50u32).map(|i| {
        let t = a.transport.clone();
        tokio::spawn(async move {
            let payload = vec![i as u8; 64 * 1024];
            let reply = t.call(b_addr, Service::Chunks, payload.clone()).await?;
            assert_eq!(&reply[1..], &payload[..]);
            Ok::<_, LinkError>(())
        })
    });
    for call in futures_join(calls).await {
        call.unwrap();
    }
    assert_eq!(b.echo.calls.load(Ordering::SeqCst), 50);
    assert_eq!(
        a.transport.cached_connections(),
        1,
        "concurrent callers must share one handshake"
    );
}

/// Awaits all join handles in order (avoids a `futures` dependency for one helper).
async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let handles: Vec<_> = handles.collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_errors_and_limits_are_typed() {
    let dir = cluster();
    let a = start(tls(dir.path(), "a"), quick());
    let b = start(tls(dir.path(), "b"), quick());
    let b_addr = b.transport.local_addr();
    let err = a
        .transport
        .call(b_addr, Service::Meta, b"fail".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LinkError::Remote { message, .. } if message == "asked to fail"),
        "{err}"
    );
    let err = a
        .transport
        .call(b_addr, Service::Chunks, vec![0; MAX_FRAME + 1])
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::FrameTooLarge { .. }), "{err}");
    let err = a
        .transport
        .send_datagram(b_addr, vec![0; MAX_DATAGRAM + 1])
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::DatagramTooLarge { .. }), "{err}");
    // The connection survives handler errors.
    a.transport
        .call(b_addr, Service::Meta, b"ok".to_vec())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_arrive() {
    let dir = cluster();
    let a = start(tls(dir.path(), "a"), quick());
    let mut b = start(tls(dir.path(), "b"), quick());
    let b_addr = b.transport.local_addr();
    // Datagrams are unreliable: send a few until one lands.
    let message = vec![7u8; MAX_DATAGRAM];
    let received = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            a.transport
                .send_datagram(b_addr, message.clone())
                .await
                .unwrap();
            tokio::select! {
                got = b.datagrams.recv() => break got.unwrap(),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(received, (message, a.transport.local_addr()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_ca_is_refused_both_ways() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let ours = cluster();
    let theirs = tempfile::tempdir().unwrap();
    // Same node name, different CA: only the signature tells them apart.
    init_cluster(theirs.path(), &theirs.path().join("ca"), &node("b", 2)).unwrap();
    let a = start(tls(ours.path(), "a"), quick());
    // The worst case: an intruder that trusts our CA but holds a certificate from its own.
    let foreign = NodeIdentityFiles::in_dir(theirs.path(), "b");
    let intruder_tls = PeerTls::new(
        vec![CertificateDer::from_pem_file(ours.path().join("ca.pem")).unwrap()],
        vec![CertificateDer::from_pem_file(&foreign.cert).unwrap()],
        PrivateKeyDer::from_pem_file(&foreign.key).unwrap(),
    )
    .unwrap();
    let intruder = start(intruder_tls, quick());
    let outsider = start(tls(theirs.path(), "b"), quick());

    // The intruder calls us: our server refuses its client certificate.
    let err = intruder
        .transport
        .call(a.transport.local_addr(), Service::Chunks, b"hi".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Refused { .. }), "{err}");
    // An outsider (trusting only its own CA) refuses our server certificate.
    let err = outsider
        .transport
        .call(a.transport.local_addr(), Service::Chunks, b"hi".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Refused { .. }), "{err}");
    // We call the intruder: our client refuses its server certificate.
    let err = a
        .transport
        .call(
            intruder.transport.local_addr(),
            Service::Chunks,
            b"hi".to_vec(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Refused { .. }), "{err}");
    assert_eq!(a.echo.calls.load(Ordering::SeqCst), 0);
    assert_eq!(intruder.echo.calls.load(Ordering::SeqCst), 0);
    assert_eq!(outsider.echo.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_peer_times_out_with_a_typed_error() {
    let dir = cluster();
    let a = start(tls(dir.path(), "a"), quick());
    // A bound UDP socket that never answers: packets vanish like on a dead host.
    let silent = std::net::UdpSocket::bind(LOCALHOST).unwrap();
    let peer = silent.local_addr().unwrap();
    let started = Instant::now();
    let err = a
        .transport
        .call(peer, Service::Raft, b"vote?".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::ConnectTimeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // A call timeout shorter than the connect timeout wins.
    let started = Instant::now();
    let err = a
        .transport
        .call_with_timeout(peer, Service::Raft, Vec::new(), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_peer_restarts() {
    let dir = cluster();
    let a = start(tls(dir.path(), "a"), quick());
    let b = start(tls(dir.path(), "b"), quick());
    let b_addr = b.transport.local_addr();
    a.transport
        .call(b_addr, Service::Raft, b"1".to_vec())
        .await
        .unwrap();
    b.transport.close().await;
    drop(b);
    // The closed connection is noticed; a new node on the same address is reached anew.
    // The old endpoint's driver may hold the port for a moment after close.
    let mut b2 = None;
    for _ in 0..40 {
        match Transport::bind_with(b_addr, tls(dir.path(), "b"), quick()) {
            Ok(t) => {
                b2 = Some(serve_echo(t));
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let b2 = b2.expect("port of the closed node never became free");
    let mut last = None;
    for _ in 0..20 {
        match a.transport.call(b_addr, Service::Raft, b"2".to_vec()).await {
            Ok(reply) => {
                last = Some(reply);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(last.as_deref(), Some(&b"\x012"[..]));
    assert_eq!(b2.echo.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_serve() {
    let dir = cluster();
    let t = Transport::bind(LOCALHOST.parse().unwrap(), tls(dir.path(), "a")).unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let handler: Arc<dyn Handler> = Arc::new(Echo {
        calls: AtomicUsize::new(0),
        datagrams: tx,
        revoked: Mutex::default(),
    });
    let server = t.clone();
    let serving = tokio::spawn(async move { server.serve(handler).await });
    t.close().await;
    tokio::time::timeout(Duration::from_secs(2), serving)
        .await
        .unwrap()
        .unwrap();
}

/// Holds every call until the gate opens, counting how many are inside at once.
struct Gate {
    inside: AtomicUsize,
    most: AtomicUsize,
    open: tokio::sync::watch::Receiver<bool>,
}

#[async_trait::async_trait]
impl Handler for Gate {
    async fn handle(&self, _: Service, _: Vec<u8>, _: PeerIdentity) -> Result<Vec<u8>, String> {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let _ = self.open.clone().wait_for(|open| *open).await;
        self.inside.fetch_sub(1, Ordering::SeqCst);
        Ok(Vec::new())
    }

    fn datagram(&self, _: Vec<u8>, _: PeerIdentity) {}
}

/// A peer has at most MAX_STREAMS calls in flight on its connection (it was 1024); the calls
/// past that wait for a stream rather than fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_connection_are_capped_and_the_rest_wait() {
    let dir = cluster();
    let a = start(tls(dir.path(), "a"), quick());
    let b =
        Transport::bind_with(LOCALHOST.parse().unwrap(), tls(dir.path(), "b"), quick()).unwrap();
    let (open, gate) = tokio::sync::watch::channel(false);
    let handler = Arc::new(Gate {
        inside: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        open: gate,
    });
    b.spawn_serve(handler.clone());
    let b_addr = b.local_addr();
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let t = a.transport.clone();
            tokio::spawn(async move { t.call(b_addr, Service::Chunks, vec![1]).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let most = handler.most.load(Ordering::SeqCst) as u32;
    assert_eq!(most, super::endpoint::MAX_STREAMS);
    open.send(true).unwrap();
    for c in calls {
        c.await.unwrap().unwrap();
    }
}

/// The server knows each caller by the node id in its certificate, whatever its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_knows_the_callers_node_from_its_certificate() {
    let dir = cluster();
    let a = start(tls(dir.path(), "a"), quick());
    let b = start(tls(dir.path(), "b"), quick());
    let who = b
        .transport
        .call(
            a.transport.local_addr(),
            Service::Meta,
            b"which node".to_vec(),
        )
        .await
        .unwrap();
    let fingerprint =
        crate::certs::fingerprint_file(&NodeIdentityFiles::in_dir(dir.path(), "b").cert).unwrap();
    assert_eq!(String::from_utf8(who).unwrap(), format!("2 {fingerprint}"));
}

/// A node refused by `admit` (revoked) loses its open connection at its next call, and
/// cannot open another; others carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_node_is_cut_off_mid_connection_and_at_the_handshake() {
    let dir = cluster();
    issue_node_cert(&dir.path().join("ca"), &node("c", 3), dir.path()).unwrap();
    let a = start(tls(dir.path(), "a"), quick());
    let b = start(tls(dir.path(), "b"), quick());
    let c = start(tls(dir.path(), "c"), quick());
    let a_addr = a.transport.local_addr();
    b.transport
        .call(a_addr, Service::Chunks, b"x".to_vec())
        .await
        .unwrap();
    a.echo.revoked.lock().unwrap().insert(2);
    let calls = a.echo.calls.load(Ordering::SeqCst);
    let err = b
        .transport
        .call(a_addr, Service::Chunks, b"x".to_vec())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
    let err = b
        .transport
        .call(a_addr, Service::Chunks, b"x".to_vec())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
    assert_eq!(
        a.echo.calls.load(Ordering::SeqCst),
        calls,
        "no refused call ran"
    );
    c.transport
        .call(a_addr, Service::Chunks, b"x".to_vec())
        .await
        .unwrap();
}

/// An expired certificate of the right CA fails the handshake both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_refused() {
    let dir = cluster();
    let now = time::OffsetDateTime::now_utc();
    let past = (now - time::Duration::days(3), now - time::Duration::days(1));
    crate::certs::issue_with_validity(&dir.path().join("ca"), &node("old", 3), past, dir.path())
        .unwrap();
    let a = start(tls(dir.path(), "a"), quick());
    let old = start(tls(dir.path(), "old"), quick());
    let err = old
        .transport
        .call(a.transport.local_addr(), Service::Raft, b"x".to_vec())
        .await
        .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("expired"), "{err}");
    let err = a
        .transport
        .call(old.transport.local_addr(), Service::Raft, b"x".to_vec())
        .await
        .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("expired"), "{err}");
    assert_eq!(a.echo.calls.load(Ordering::SeqCst), 0);
}

/// A renewed certificate is picked up without a restart: new connections present it, and
/// peers accept the old and the new one while both are valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_used_without_a_restart() {
    let dir = cluster();
    let renewed = tempfile::tempdir().unwrap();
    issue_node_cert(&dir.path().join("ca"), &node("b", 2), renewed.path()).unwrap();
    let fingerprint =
        |d: &Path| crate::certs::fingerprint_file(&NodeIdentityFiles::in_dir(d, "b").cert).unwrap();
    let a = start(tls(dir.path(), "a"), quick());
    let b = start(tls(dir.path(), "b"), quick());
    let which = |t: Transport, to: SocketAddr| async move {
        let who = t
            .call(to, Service::Meta, b"which node".to_vec())
            .await
            .unwrap();
        String::from_utf8(who).unwrap()
    };
    let a_addr = a.transport.local_addr();
    assert_eq!(
        which(b.transport.clone(), a_addr).await,
        format!("2 {}", fingerprint(dir.path()))
    );
    b.transport.reload_tls(&tls(renewed.path(), "b"));
    // Its open connection carries on; a new one presents the new certificate.
    assert!(which(b.transport.clone(), a_addr)
        .await
        .ends_with(&fingerprint(dir.path())));
    let c = start(tls(dir.path(), "a"), quick());
    assert_eq!(
        which(b.transport.clone(), c.transport.local_addr()).await,
        format!("2 {}", fingerprint(renewed.path()))
    );
    // The old certificate is still accepted (a node that has not reloaded yet).
    let stale = start(tls(dir.path(), "b"), quick());
    assert!(which(stale.transport.clone(), a_addr)
        .await
        .ends_with(&fingerprint(dir.path())));
    // And b serves with the new one: a dials it afresh.
    let back = a
        .transport
        .call(b.transport.local_addr(), Service::Meta, b"x".to_vec())
        .await;
    assert!(back.is_ok(), "{back:?}");
}

/// A call meant for one node is refused, before anything is sent, if the server at that
/// address holds another node's certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_node_checks_the_servers_certificate() {
    let dir = cluster();
    let a = start(tls(dir.path(), "a"), quick());
    let b = start(tls(dir.path(), "b"), quick());
    let b_addr = b.transport.local_addr();
    let limit = Duration::from_secs(5);
    let err = a
        .transport
        .call_node(3, b_addr, Service::Chunks, b"x".to_vec(), limit)
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("node 2's"), "{err}");
    assert_eq!(b.echo.calls.load(Ordering::SeqCst), 0, "nothing was sent");
    a.transport
        .call_node(2, b_addr, Service::Chunks, b"x".to_vec(), limit)
        .await
        .unwrap();
}
