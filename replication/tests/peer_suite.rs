//! The `PeerChunks` suite against the in-process fake; the node runs the same suite over
//! QUIC.

#![allow(clippy::unwrap_used)]

use futures::future::BoxFuture;
use std::sync::Arc;
use tempfile::TempDir;
use tessera_replication::testing::{
    peer_chunks_suite, Capabilities, ChannelPeers, Fault, PeerHarness, MAX_MESSAGE,
};
use tessera_replication::{Data, PeerChunks};

/// Local stores served through one [`ChannelPeers`].
#[derive(Default)]
struct Channel {
    peers: Arc<ChannelPeers>,
    dirs: Vec<TempDir>,
}

impl PeerHarness for Channel {
    fn capabilities(&self) -> Capabilities {
        Capabilities { foreign_ca: false }
    }

    fn max_message(&self) -> usize {
        MAX_MESSAGE
    }

    fn start(&mut self, id: u64) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let dir = tempfile::tempdir().unwrap();
            let data = Data::open(dir.path()).unwrap();
            self.peers.add(id, data.chunk_service());
            self.dirs.push(dir);
        })
    }

    fn client(&self, _from: u64) -> Arc<dyn PeerChunks> {
        self.peers.clone()
    }

    fn stall(&mut self, id: u64, stalled: bool) {
        self.peers.set_fault(id, stalled.then_some(Fault::Stall));
    }

    fn stop(&mut self, id: u64) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.peers.set_down(id, true) })
    }

    fn foreign_client(&mut self) -> BoxFuture<'_, Option<Arc<dyn PeerChunks>>> {
        Box::pin(async { None })
    }

    fn foreign_server(&mut self) -> BoxFuture<'_, Option<u64>> {
        Box::pin(async { None })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_peers_pass_the_suite() {
    let report = peer_chunks_suite(&mut Channel::default()).await;
    // Certificates mean nothing in-process: the only case the fake cannot be held to.
    assert_eq!(report.not_applicable, ["foreign_ca"]);
    assert_eq!(report.ran.len(), 4, "{report:?}");
}
