//! The network seam: a transport trait this crate needs (the `node` crate implements it over
//! QUIC), openraft's network traits implemented on top of it, and an in-process transport
//! for tests.

use crate::forward::{serve_forward, ForwardReply, ForwardRequest};
use crate::meta::Meta;
use crate::types::{Node, NodeId, Raft, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// A raft RPC sent to a peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RaftRpc {
    /// Log replication and heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Leader election.
    Vote(VoteRequest<NodeId>),
}

/// The peer's answer to a [`RaftRpc`], including raft-level refusals.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    /// Answer to [`RaftRpc::AppendEntries`].
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`RaftRpc::InstallSnapshot`].
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// Answer to [`RaftRpc::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
}

/// Why an RPC got no reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// The peer cannot be reached now; raft backs off before retrying.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The call failed in flight; raft may retry at once.
    #[error("network error: {0}")]
    Network(String),
}

/// Carries raft RPCs and forwarded calls to peers. Implemented by the `node` crate (QUIC)
/// and [`LocalTransport`].
#[async_trait::async_trait]
pub trait RaftTransport: Send + Sync + 'static {
    /// Sends `rpc` to node `target` (at `node.addr`) and waits for its reply; the peer
    /// answers with [`serve_rpc`].
    async fn call(
        &self,
        target: NodeId,
        node: &Node,
        rpc: RaftRpc,
    ) -> Result<RaftReply, TransportError>;

    /// Sends a forwarded call to node `target` (at `node.addr`) and waits for its reply; the
    /// peer answers with [`serve_forward`]. A join may block until the new node caught up,
    /// so implementations should not cut these calls short.
    async fn forward(
        &self,
        target: NodeId,
        node: &Node,
        req: ForwardRequest,
    ) -> Result<ForwardReply, TransportError>;
}

/// Serves an incoming RPC on the local raft: what a transport's server side calls.
pub async fn serve_rpc(raft: &Raft, rpc: RaftRpc) -> RaftReply {
    match rpc {
        RaftRpc::AppendEntries(r) => RaftReply::AppendEntries(raft.append_entries(r).await),
        RaftRpc::InstallSnapshot(r) => RaftReply::InstallSnapshot(raft.install_snapshot(r).await),
        RaftRpc::Vote(r) => RaftReply::Vote(raft.vote(r).await),
    }
}

/// A transport that reaches no one: for a single-node cluster.
pub struct NoTransport;

#[async_trait::async_trait]
impl RaftTransport for NoTransport {
    async fn call(
        &self,
        target: NodeId,
        _: &Node,
        _: RaftRpc,
    ) -> Result<RaftReply, TransportError> {
        Err(TransportError::Unreachable(format!(
            "node {target}: no transport configured"
        )))
    }

    async fn forward(
        &self,
        target: NodeId,
        _: &Node,
        _: ForwardRequest,
    ) -> Result<ForwardReply, TransportError> {
        Err(TransportError::Unreachable(format!(
            "node {target}: no transport configured"
        )))
    }
}

/// openraft's network factory over a [`RaftTransport`].
#[derive(Clone)]
pub struct NetworkFactory {
    transport: Arc<dyn RaftTransport>,
}

impl NetworkFactory {
    /// Uses `transport` for every peer.
    pub fn new(transport: Arc<dyn RaftTransport>) -> Self {
        NetworkFactory { transport }
    }
}

/// openraft's connection to one peer over a [`RaftTransport`].
pub struct Network {
    transport: Arc<dyn RaftTransport>,
    target: NodeId,
    node: Node,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Network {
        Network {
            transport: self.transport.clone(),
            target,
            node: node.clone(),
        }
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, Node, E>;

impl Network {
    async fn call<E: std::error::Error>(&self, rpc: RaftRpc) -> Result<RaftReply, RpcErr<E>> {
        self.transport
            .call(self.target, &self.node, rpc)
            .await
            .map_err(|e| match e {
                TransportError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&e)),
                TransportError::Network(_) => RPCError::Network(NetworkError::new(&e)),
            })
    }

    fn remote<E: std::error::Error>(&self, e: E) -> RpcErr<E> {
        RPCError::RemoteError(RemoteError::new_with_node(
            self.target,
            self.node.clone(),
            e,
        ))
    }
}

/// A reply of the wrong kind: the peer or transport is broken.
#[derive(Debug, thiserror::Error)]
#[error("mismatched reply kind from peer")]
struct Mismatch;

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr<RaftError<NodeId>>> {
        match self.call(RaftRpc::AppendEntries(rpc)).await? {
            RaftReply::AppendEntries(r) => r.map_err(|e| self.remote(e)),
            _ => Err(RPCError::Network(NetworkError::new(&Mismatch))),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<RaftError<NodeId, InstallSnapshotError>>>
    {
        match self.call(RaftRpc::InstallSnapshot(rpc)).await? {
            RaftReply::InstallSnapshot(r) => r.map_err(|e| self.remote(e)),
            _ => Err(RPCError::Network(NetworkError::new(&Mismatch))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr<RaftError<NodeId>>> {
        match self.call(RaftRpc::Vote(rpc)).await? {
            RaftReply::Vote(r) => r.map_err(|e| self.remote(e)),
            _ => Err(RPCError::Network(NetworkError::new(&Mismatch))),
        }
    }
}

/// In-process transport for tests: a registry of nodes by id. Every RPC, forwarded call and
/// reply goes through rmp-serde, so the wire types are exercised as a real transport would.
///
/// A registered [`Meta`] holds this transport, so the registry and the handles keep each
/// other alive until [`LocalTransport::deregister`].
#[derive(Clone, Default)]
pub struct LocalTransport {
    nodes: Arc<RwLock<HashMap<NodeId, Meta>>>,
    down: Arc<RwLock<HashSet<NodeId>>>,
    cut: Arc<RwLock<HashSet<(NodeId, NodeId)>>>,
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

    /// Cuts node `id` off (`true`) or reconnects it (`false`), both directions.
    pub fn set_down(&self, id: NodeId, down: bool) {
        if let Ok(mut d) = self.down.write() {
            if down {
                d.insert(id);
            } else {
                d.remove(&id);
            }
        }
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

    fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut
            .read()
            .map(|c| c.contains(&(from, to)))
            .unwrap_or(true)
    }

    fn target(&self, target: NodeId) -> Result<Meta, TransportError> {
        if self.is_down(target) {
            return Err(TransportError::Unreachable(format!(
                "node {target} is down"
            )));
        }
        self.nodes
            .read()
            .ok()
            .and_then(|n| n.get(&target).cloned())
            .ok_or_else(|| TransportError::Unreachable(format!("node {target} unknown")))
    }
}

fn roundtrip<T: Serialize + serde::de::DeserializeOwned>(v: &T) -> Result<T, TransportError> {
    let bytes = rmp_serde::to_vec(v).map_err(|e| TransportError::Network(e.to_string()))?;
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
        let meta = self.target(target)?;
        let reply = serve_rpc(meta.raft(), roundtrip(&rpc)?).await;
        roundtrip(&reply)
    }

    async fn forward(
        &self,
        target: NodeId,
        _: &Node,
        req: ForwardRequest,
    ) -> Result<ForwardReply, TransportError> {
        let meta = self.target(target)?;
        let reply = serve_forward(&meta, roundtrip(&req)?).await;
        roundtrip(&reply)
    }
}
