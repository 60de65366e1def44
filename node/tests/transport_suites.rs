//! The `RaftTransport` and `PeerChunks` suites over the real QUIC transport: loopback
//! endpoints, certificates made as `tessera cluster init|cert` makes them, the node's frame
//! codec and peer handler. The in-process fakes run the same suites in `raft` and
//! `replication`.

#![allow(clippy::unwrap_used)]

use futures::future::BoxFuture;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tessera_node::certs::{init_cluster, issue_node_cert, NodeCert, NodeIdentityFiles};
use tessera_node::cluster::{Addresses, GossipFrom, PeerHandler, QuicChunks, QuicRaft};
use tessera_node::transport::{Handler, PeerIdentity, PeerTls, Service, Transport, MAX_FRAME};
use tessera_raft::testing::{transport_suite, HarnessNode, RaftHarness};
use tessera_raft::{Meta, MetaConfig, NodeId, RaftTransport};
use tessera_replication::testing::{peer_chunks_suite, PeerHarness};
use tessera_replication::{Data, PeerChunks};
use tokio::sync::{mpsc, watch};

/// The node's peer handler, able to hold calls unanswered (a peer that hangs mid-call).
struct Stallable {
    inner: PeerHandler,
    stalled: watch::Receiver<bool>,
}

#[async_trait::async_trait]
impl Handler for Stallable {
    async fn handle(
        &self,
        service: Service,
        payload: Vec<u8>,
        peer: PeerIdentity,
    ) -> Result<Vec<u8>, String> {
        let mut stalled = self.stalled.clone();
        // Stalled calls stay pending; stopping the node then cuts them off.
        let _ = stalled.wait_for(|s| !*s).await;
        self.inner.handle(service, payload, peer).await
    }

    fn datagram(&self, payload: Vec<u8>, peer: PeerIdentity) {
        self.inner.datagram(payload, peer)
    }

    fn admit(&self, peer: &PeerIdentity) -> Result<(), String> {
        self.inner.admit(peer)
    }
}

fn node(n: u64) -> NodeCert {
    NodeCert {
        name: format!("n{n}"),
        id: n,
        days: 1,
    }
}

/// Certificates of our cluster (nodes n1, n2, n3) and of a foreign one.
struct Pki {
    ours: TempDir,
    theirs: TempDir,
}

impl Pki {
    fn new() -> Self {
        let ours = tempfile::tempdir().unwrap();
        let ca = ours.path().join("ca");
        init_cluster(ours.path(), &ca, &node(1)).unwrap();
        for n in 2..=3 {
            issue_node_cert(&ca, &node(n), ours.path()).unwrap();
        }
        let theirs = tempfile::tempdir().unwrap();
        // Same node name and id as ours: only the CA's signature tells them apart.
        init_cluster(theirs.path(), &theirs.path().join("ca"), &node(1)).unwrap();
        Pki { ours, theirs }
    }

    fn ours(&self, id: u64) -> PeerTls {
        tls(self.ours.path(), &format!("n{id}"))
    }

    /// Trusts our CA, holds a certificate from the foreign one: the worst intruder.
    fn intruder(&self) -> PeerTls {
        let foreign = NodeIdentityFiles::in_dir(self.theirs.path(), "n1");
        PeerTls::new(
            vec![CertificateDer::from_pem_file(self.ours.path().join("ca.pem")).unwrap()],
            vec![CertificateDer::from_pem_file(&foreign.cert).unwrap()],
            PrivateKeyDer::from_pem_file(&foreign.key).unwrap(),
        )
        .unwrap()
    }

    /// A node of the foreign cluster (trusting only its own CA).
    fn outsider(&self) -> PeerTls {
        tls(self.theirs.path(), "n1")
    }
}

fn tls(dir: &Path, name: &str) -> PeerTls {
    PeerTls::from_files(&NodeIdentityFiles::in_dir(dir, name)).unwrap()
}

/// One QUIC endpoint serving the node's peer handler over a fresh chunk store.
struct Endpoint {
    transport: Transport,
    handler: Arc<Stallable>,
    stall: watch::Sender<bool>,
    dir: TempDir,
    _gossip: mpsc::Receiver<(GossipFrom, Vec<u8>)>,
}

fn serve(tls: PeerTls) -> Endpoint {
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(&dir.path().join("chunks")).unwrap();
    let transport = Transport::bind("127.0.0.1:0".parse().unwrap(), tls).unwrap();
    let (gossip_tx, gossip) = mpsc::channel(16);
    let (stall, stalled) = watch::channel(false);
    let handler = Arc::new(Stallable {
        inner: PeerHandler::new(data.chunk_service(), gossip_tx),
        stalled,
    });
    transport.spawn_serve(handler.clone());
    Endpoint {
        transport,
        handler,
        stall,
        dir,
        _gossip: gossip,
    }
}

/// Raft over QUIC: each node a `Meta` on its own endpoint.
struct QuicRaftHarness {
    pki: Pki,
    nodes: HashMap<NodeId, (Endpoint, Meta)>,
    foreign: Vec<Endpoint>,
}

#[async_trait::async_trait]
impl RaftHarness for QuicRaftHarness {
    fn capabilities(&self) -> tessera_raft::testing::Capabilities {
        tessera_raft::testing::Capabilities { foreign_ca: true }
    }

    fn max_message(&self) -> usize {
        MAX_FRAME
    }

    async fn start(&mut self, id: NodeId) -> HarnessNode {
        let endpoint = serve(self.pki.ours(id));
        let addr = endpoint.transport.local_addr().to_string();
        let transport: Arc<dyn RaftTransport> = Arc::new(QuicRaft::new(endpoint.transport.clone()));
        let mut cfg = MetaConfig::new(id, addr.clone(), transport.clone());
        cfg.bootstrap = true;
        let meta = Meta::start(&endpoint.dir.path().join("meta"), cfg)
            .await
            .unwrap();
        endpoint.handler.inner.set_meta(meta.clone());
        meta.wait_leader(Duration::from_secs(10)).await.unwrap();
        self.nodes.insert(id, (endpoint, meta));
        HarnessNode {
            id,
            node: openraft::BasicNode::new(addr),
            transport,
        }
    }

    fn stall(&mut self, id: NodeId, stalled: bool) {
        let _ = self.nodes[&id].0.stall.send(stalled);
    }

    async fn stop(&mut self, id: NodeId) {
        let (endpoint, meta) = &self.nodes[&id];
        endpoint.transport.close().await;
        meta.shutdown().await.unwrap();
    }

    async fn foreign_client(&mut self) -> Option<Arc<dyn RaftTransport>> {
        let intruder = serve(self.pki.intruder());
        let client = Arc::new(QuicRaft::new(intruder.transport.clone()));
        self.foreign.push(intruder);
        Some(client)
    }

    async fn foreign_server(&mut self) -> Option<HarnessNode> {
        let outsider = serve(self.pki.outsider());
        let node = HarnessNode {
            id: 99,
            node: openraft::BasicNode::new(outsider.transport.local_addr().to_string()),
            transport: Arc::new(QuicRaft::new(outsider.transport.clone())),
        };
        self.foreign.push(outsider);
        Some(node)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_raft_passes_the_suite() {
    let mut harness = QuicRaftHarness {
        pki: Pki::new(),
        nodes: HashMap::new(),
        foreign: Vec::new(),
    };
    let report = transport_suite(&mut harness).await;
    assert!(report.not_applicable.is_empty(), "{report:?}");
    assert_eq!(report.ran.len(), 5, "{report:?}");
}

/// Chunk transfers over QUIC: each node a chunk store on its own endpoint.
struct QuicChunksHarness {
    pki: Pki,
    addresses: Addresses,
    nodes: HashMap<u64, Endpoint>,
    foreign: Vec<Endpoint>,
}

impl QuicChunksHarness {
    fn publish(&self, id: u64, addr: SocketAddr) {
        let mut table: HashMap<u64, SocketAddr> = self.addresses.all().into_iter().collect();
        table.insert(id, addr);
        self.addresses.set(table);
    }
}

impl PeerHarness for QuicChunksHarness {
    fn capabilities(&self) -> tessera_replication::testing::Capabilities {
        tessera_replication::testing::Capabilities { foreign_ca: true }
    }

    fn max_message(&self) -> usize {
        MAX_FRAME
    }

    fn start(&mut self, id: u64) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let endpoint = serve(self.pki.ours(id));
            self.publish(id, endpoint.transport.local_addr());
            self.nodes.insert(id, endpoint);
        })
    }

    fn client(&self, from: u64) -> Arc<dyn PeerChunks> {
        Arc::new(QuicChunks::new(
            self.nodes[&from].transport.clone(),
            self.addresses.clone(),
        ))
    }

    fn stall(&mut self, id: u64, stalled: bool) {
        let _ = self.nodes[&id].stall.send(stalled);
    }

    fn stop(&mut self, id: u64) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.nodes[&id].transport.close().await })
    }

    fn foreign_client(&mut self) -> BoxFuture<'_, Option<Arc<dyn PeerChunks>>> {
        Box::pin(async move {
            let intruder = serve(self.pki.intruder());
            let client: Arc<dyn PeerChunks> = Arc::new(QuicChunks::new(
                intruder.transport.clone(),
                self.addresses.clone(),
            ));
            self.foreign.push(intruder);
            Some(client)
        })
    }

    fn foreign_server(&mut self) -> BoxFuture<'_, Option<u64>> {
        Box::pin(async move {
            let outsider = serve(self.pki.outsider());
            self.publish(99, outsider.transport.local_addr());
            self.foreign.push(outsider);
            Some(99)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_chunks_pass_the_suite() {
    let mut harness = QuicChunksHarness {
        pki: Pki::new(),
        addresses: Addresses::default(),
        nodes: HashMap::new(),
        foreign: Vec::new(),
    };
    let report = peer_chunks_suite(&mut harness).await;
    assert!(report.not_applicable.is_empty(), "{report:?}");
    assert_eq!(report.ran.len(), 5, "{report:?}");
}
