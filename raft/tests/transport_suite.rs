//! The `RaftTransport` suite against the in-process fake; the node runs the same suite over
//! QUIC.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tessera_raft::testing::{
    transport_suite, Capabilities, HarnessNode, LocalTransport, RaftHarness, MAX_MESSAGE,
};
use tessera_raft::{Meta, MetaConfig, NodeId, RaftTransport};

/// Nodes on one [`LocalTransport`], each with its own data dir.
#[derive(Default)]
struct Local {
    net: LocalTransport,
    nodes: Vec<(Meta, TempDir)>,
}

#[async_trait::async_trait]
impl RaftHarness for Local {
    fn capabilities(&self) -> Capabilities {
        Capabilities { foreign_ca: false }
    }

    fn max_message(&self) -> usize {
        MAX_MESSAGE
    }

    async fn start(&mut self, id: NodeId) -> HarnessNode {
        let dir = tempfile::tempdir().unwrap();
        let transport: Arc<dyn RaftTransport> = Arc::new(self.net.clone());
        let mut cfg = MetaConfig::new(id, format!("node{id}"), transport.clone());
        cfg.bootstrap = true;
        let meta = Meta::start(dir.path(), cfg).await.unwrap();
        self.net.register(&meta);
        meta.wait_leader(Duration::from_secs(10)).await.unwrap();
        self.nodes.push((meta, dir));
        HarnessNode {
            id,
            node: openraft::BasicNode::new(format!("node{id}")),
            transport,
        }
    }

    fn stall(&mut self, id: NodeId, stalled: bool) {
        self.net.set_stalled(id, stalled);
    }

    async fn stop(&mut self, id: NodeId) {
        self.net.set_down(id, true);
    }

    async fn foreign_client(&mut self) -> Option<Arc<dyn RaftTransport>> {
        None
    }

    async fn foreign_server(&mut self) -> Option<HarnessNode> {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_transport_passes_the_suite() {
    let mut harness = Local::default();
    let report = transport_suite(&mut harness).await;
    // Certificates mean nothing in-process: the only case the fake cannot be held to.
    assert_eq!(report.not_applicable, ["foreign_ca"]);
    assert_eq!(report.ran.len(), 4, "{report:?}");
    for (meta, _) in &harness.nodes {
        harness.net.deregister(meta.node_id());
        meta.shutdown().await.unwrap();
    }
}
