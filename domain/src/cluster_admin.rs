//! The cluster operations of Tessera's admin API (`/tessera/v1/cluster*`,
//! `/tessera/v1/chunks/repair`): declared here as [`ClusterAdmin`], implemented by `node`,
//! which runs them as observable jobs; `api` only parses, calls and renders.

use serde::Serialize;
use serde_json::{Map, Value};
use tessera_raft::ClusterStatus;
use tessera_replication::{DrainReport, RepairReport};

use crate::DomainError;

/// What [`ClusterAdmin::leave`] did.
#[derive(Debug, Clone, Serialize)]
pub struct LeaveReport {
    /// The node removed.
    pub node: u64,
    /// Always true: a leave that did not happen is an error.
    pub left: bool,
    /// What draining copied (`None` when the node left without draining).
    pub drained: Option<DrainReport>,
}

/// This node's chunk store figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChunkTotals {
    /// Chunks held.
    pub count: u64,
    /// Bytes of those chunks.
    pub bytes: u64,
}

/// One member as [`ClusterAdmin::status`] sees it.
#[derive(Debug, Clone)]
pub struct MemberReport {
    /// Its Raft id.
    pub id: u64,
    /// Its peer address.
    pub addr: String,
    /// Voter (`true`) or learner.
    pub voter: bool,
    /// Its own Raft status, or why it could not be had.
    pub status: Result<ClusterStatus, String>,
    /// What gossip says of it (name, zone, free space, chunks, ...), empty on a standalone
    /// node.
    pub gossip: Map<String, Value>,
}

/// The cluster as one node sees it.
#[derive(Debug, Clone)]
pub struct ClusterReport {
    /// This node's Raft view.
    pub node: ClusterStatus,
    /// Every voter, then every learner.
    pub members: Vec<MemberReport>,
    /// This node's chunk store.
    pub chunks: ChunkTotals,
}

/// Cluster membership and maintenance, as the admin API offers them.
#[async_trait::async_trait]
pub trait ClusterAdmin: Send + Sync + 'static {
    /// Every member with its Raft status and gossip state, and this node's chunk totals.
    async fn status(&self) -> Result<ClusterReport, DomainError>;

    /// Removes `node` (this node when `None`) from the cluster. With `drain`, which only the
    /// leaving node can do, it first copies each of its chunks to their other targets;
    /// without, a lost node is removed at once and the replicators restore its chunks.
    async fn leave(&self, node: Option<u64>, drain: bool) -> Result<LeaveReport, DomainError>;

    /// A full repair pass now: every chunk of a live image brought to a copy on each of its
    /// placement targets.
    async fn repair(&self) -> Result<RepairReport, DomainError>;
}
