//! [`MetaConfig`]: how a node's raft starts, its timings and its routing limits.

use crate::network::{NoTransport, RaftTransport};
use crate::types::NodeId;
use std::sync::Arc;

/// How to start a node's raft.
///
/// A cluster starts on one node with `bootstrap: true`: on its first start it initializes a
/// cluster with itself as the single voter. Every other node starts with `bootstrap: false`,
/// which never initializes anything: it waits until a member adds it, through
/// [`Meta::join`](super::Meta::join) on any member or
/// [`Meta::join_cluster`](super::Meta::join_cluster) on the new node itself.
pub struct MetaConfig {
    /// This node's id.
    pub node_id: NodeId,
    /// This node's transport address, recorded in membership.
    pub addr: String,
    /// How raft reaches peers and how calls are forwarded to the leader.
    pub transport: Arc<dyn RaftTransport>,
    /// On a fresh store, initialize a cluster with this node as its single voter. Only the
    /// first node of a cluster sets it; on later starts it changes nothing.
    pub bootstrap: bool,
    /// Raft heartbeat interval in milliseconds.
    pub heartbeat_ms: u64,
    /// Election timeout range in milliseconds (min; max is twice that).
    pub election_timeout_ms: u64,
    /// Joining nodes are promoted to voters while there are fewer voters than this (3 or 5).
    pub max_voters: usize,
    /// Build a snapshot once this many entries were applied since the last one; 0 never
    /// builds one automatically.
    pub snapshot_logs: u64,
    /// Entries kept in the log behind the snapshot, so slightly lagging peers catch up from
    /// the log rather than a snapshot.
    pub max_in_snapshot_log_to_keep: u64,
    /// Total time a routed call (propose, read, leave) may take, retries included.
    pub request_timeout_ms: u64,
    /// How long one attempt of a routed call (other than join and leave) may take before it
    /// is retried, so a leader that lost its quorum cannot swallow the whole request.
    pub attempt_timeout_ms: u64,
    /// How long a join may wait for the new node to catch up before it is promoted.
    pub join_timeout_ms: u64,
    /// How many times a routed call is retried after a leader change or unreachable leader.
    pub forward_retries: u32,
    /// First pause before a retry, in milliseconds; it doubles up to one second.
    pub retry_backoff_ms: u64,
}

/// Voters a cluster keeps unless configured otherwise ([`MetaConfig::max_voters`]).
pub const DEFAULT_MAX_VOTERS: usize = 3;

/// Entries applied between automatic snapshots unless configured otherwise
/// ([`MetaConfig::snapshot_logs`]).
pub const DEFAULT_SNAPSHOT_LOGS: u64 = 5000;

impl MetaConfig {
    /// A cluster node with default timings; set `bootstrap` on the first node.
    pub fn new(
        node_id: NodeId,
        addr: impl Into<String>,
        transport: Arc<dyn RaftTransport>,
    ) -> Self {
        MetaConfig {
            node_id,
            addr: addr.into(),
            transport,
            bootstrap: false,
            heartbeat_ms: 50,
            election_timeout_ms: 150,
            max_voters: DEFAULT_MAX_VOTERS,
            snapshot_logs: DEFAULT_SNAPSHOT_LOGS,
            max_in_snapshot_log_to_keep: 1000,
            request_timeout_ms: 10_000,
            attempt_timeout_ms: 3_000,
            join_timeout_ms: 60_000,
            forward_retries: 10,
            retry_backoff_ms: 50,
        }
    }

    /// A standalone node that is its own single voter.
    pub fn single(node_id: NodeId) -> Self {
        MetaConfig {
            bootstrap: true,
            ..Self::new(node_id, String::new(), Arc::new(NoTransport))
        }
    }
}
