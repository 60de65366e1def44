//! [`LocalTransport`]: raft RPCs and forwarded calls between `Meta`s of one process, with
//! nodes that can be cut off, partitioned or stalled.

use crate::forward::{serve_forward, ForwardReply, ForwardRequest};
use crate::meta::Meta;
use crate::network::{serve_rpc, RaftReply, RaftRpc, RaftTransport, TransportError};
use crate::types::{Node, NodeId};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// Largest encoded message the fake carries, the same as the node's QUIC frame limit.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// In-process transport for tests: a registry of nodes by id. Every RPC, forwarded call and
/// reply goes through rmp-serde, so the wire types are exercised as a real transport would.
///
/// A registered [`Meta`] holds this transport, so the registry and the handles keep each
/// other alive until [`LocalTransport::deregister`].
#[derive(Clone)]
pub struct LocalTransport {
    nodes: Arc<RwLock<HashMap<NodeId, Meta>>>,
    down: Arc<RwLock<HashSet<NodeId>>>,
    cut: Arc<RwLock<HashSet<(NodeId, NodeId)>>>,
    stalled: Arc<RwLock<HashSet<NodeId>>>,
    /// Bumped on every change of `down` or `stalled`, so stalled calls look again.
    changes: Arc<watch::Sender<u64>>,
}

impl Default for LocalTransport {
    fn default() -> Self {
        LocalTransport {
            nodes: Arc::default(),
            down: Arc::default(),
            cut: Arc::default(),
            stalled: Arc::default(),
            changes: Arc::new(watch::channel(0).0),
        }
    }
}

impl LocalTransport {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `meta` reachable as node `meta.node_id()` (replacing an earlier registration).
    pub fn register(&self, meta: &Meta) {
        if let Ok(mut n) = self.nodes.write() {
            n.insert(meta.node_id(), meta.clone());
        }
    }

    /// Forgets node `id`.
    pub fn deregister(&self, id: NodeId) {
        if let Ok(mut n) = self.nodes.write() {
            n.remove(&id);
        }
    }

    /// Cuts node `id` off (`true`) or reconnects it (`false`), both directions; calls stalled
    /// on it fail.
    pub fn set_down(&self, id: NodeId, down: bool) {
        if let Ok(mut d) = self.down.write() {
            if down {
                d.insert(id);
            } else {
                d.remove(&id);
            }
        }
        self.changes.send_modify(|g| *g += 1);
    }

    /// Holds calls to node `id` (`true`) until it is released (`false`, then they are served)
    /// or set down (then they fail): a peer that stops answering mid-call.
    pub fn set_stalled(&self, id: NodeId, stalled: bool) {
        if let Ok(mut s) = self.stalled.write() {
            if stalled {
                s.insert(id);
            } else {
                s.remove(&id);
            }
        }
        self.changes.send_modify(|g| *g += 1);
    }

    /// Splits the nodes into `groups`: raft RPCs between nodes of different groups fail
    /// (nodes in no group are unaffected). An empty slice heals every partition.
    pub fn partition(&self, groups: &[&[NodeId]]) {
        if let Ok(mut c) = self.cut.write() {
            c.clear();
            for (i, a) in groups.iter().enumerate() {
                for b in groups.iter().skip(i + 1) {
                    for &x in a.iter() {
                        for &y in b.iter() {
                            c.insert((x, y));
                            c.insert((y, x));
                        }
                    }
                }
            }
        }
    }

    fn is_down(&self, id: NodeId) -> bool {
        self.down.read().map(|d| d.contains(&id)).unwrap_or(true)
    }

    fn is_stalled(&self, id: NodeId) -> bool {
        self.stalled
            .read()
            .map(|s| s.contains(&id))
            .unwrap_or(false)
    }

    fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut
            .read()
            .map(|c| c.contains(&(from, to)))
            .unwrap_or(true)
    }

    /// The target's `Meta` once it answers: waits while it is stalled, fails if it is down.
    async fn target(&self, target: NodeId) -> Result<Meta, TransportError> {
        let mut changes = self.changes.subscribe();
        loop {
            if self.is_down(target) {
                return Err(TransportError::Unreachable(format!(
                    "node {target} is down"
                )));
            }
            if !self.is_stalled(target) {
                break;
            }
            if changes.changed().await.is_err() {
                return Err(TransportError::Unreachable(format!(
                    "node {target}: transport dropped"
                )));
            }
        }
        self.nodes
            .read()
            .ok()
            .and_then(|n| n.get(&target).cloned())
            .ok_or_else(|| TransportError::Unreachable(format!("node {target} unknown")))
    }
}

/// Encodes and decodes `v` as the wire would, refusing what the wire would not carry.
fn roundtrip<T: Serialize + serde::de::DeserializeOwned>(v: &T) -> Result<T, TransportError> {
    let bytes = rmp_serde::to_vec(v).map_err(|e| TransportError::Network(e.to_string()))?;
    if bytes.len() > MAX_MESSAGE {
        return Err(TransportError::TooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE,
        });
    }
    rmp_serde::from_slice(&bytes).map_err(|e| TransportError::Network(e.to_string()))
}

#[async_trait::async_trait]
impl RaftTransport for LocalTransport {
    async fn call(
        &self,
        target: NodeId,
        _: &Node,
        rpc: RaftRpc,
    ) -> Result<RaftReply, TransportError> {
        let source = match &rpc {
            RaftRpc::AppendEntries(r) => r.vote.leader_id().voted_for(),
            RaftRpc::InstallSnapshot(r) => r.vote.leader_id().voted_for(),
            RaftRpc::Vote(r) => r.vote.leader_id().voted_for(),
        };
        if let Some(s) = source {
            if self.is_down(s) || self.is_cut(s, target) {
                return Err(TransportError::Unreachable(format!(
                    "node {target} unreachable from {s}"
                )));
            }
        }
        let rpc = roundtrip(&rpc)?;
        let meta = self.target(target).await?;
        let reply = serve_rpc(meta.raft(), rpc).await;
        roundtrip(&reply)
    }

    async fn forward(
        &self,
        target: NodeId,
        _: &Node,
        req: ForwardRequest,
    ) -> Result<ForwardReply, TransportError> {
        let req = roundtrip(&req)?;
        let meta = self.target(target).await?;
        let reply = serve_forward(&meta, req).await;
        roundtrip(&reply)
    }
}
