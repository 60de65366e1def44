//! `Meta`: the handle the API uses to propose commands and read image records.
//!
//! One module per concern: `config` (how raft starts), `start` (opening and bootstrapping),
//! `writes` (propose), `reads` (linearizable and local reads), `membership` (join, leave),
//! `status` (this node's and a member's view) and `route` (running a call on the leader,
//! forwarding and retrying).

mod config;
mod membership;
mod reads;
mod route;
mod start;
mod status;
mod writes;

pub use config::{MetaConfig, DEFAULT_MAX_VOTERS, DEFAULT_SNAPSHOT_LOGS};
pub use writes::MAX_ENTRY_BYTES;

use crate::db::Db;
use crate::error::MetaError;
use crate::network::RaftTransport;
use crate::types::{Node, NodeId, Raft};
use openraft::error::{ClientWriteError, RaftError};
use openraft::RaftMetrics;
use std::sync::Arc;
use std::time::Duration;

/// Cheap-to-clone handle on this node's replicated metadata.
///
/// Every call may be made on any node: writes, linearizable reads and membership changes run
/// on the leader, locally when this node leads and forwarded through the transport otherwise.
#[derive(Clone)]
pub struct Meta {
    inner: Arc<Inner>,
}

/// Routing and membership settings taken from [`MetaConfig`].
struct Opts {
    max_voters: usize,
    request_timeout: Duration,
    attempt_timeout: Duration,
    join_timeout: Duration,
    retries: u32,
    backoff: Duration,
}

struct Inner {
    raft: Raft,
    db: Db,
    node_id: NodeId,
    addr: String,
    transport: Arc<dyn RaftTransport>,
    opts: Opts,
    /// Serializes membership changes made by this node while it leads.
    membership: tokio::sync::Mutex<()>,
    /// The metadata volume's watermark, once the node set it.
    space: std::sync::RwLock<Option<Arc<dyn crate::space::MetaSpace>>>,
}

fn fatal<E: std::fmt::Display>(e: E) -> MetaError {
    MetaError::Fatal(e.to_string())
}

fn wait_err(e: openraft::metrics::WaitError) -> MetaError {
    match e {
        openraft::metrics::WaitError::Timeout(..) => MetaError::Timeout(e.to_string()),
        openraft::metrics::WaitError::ShuttingDown => MetaError::Shutdown,
    }
}

fn write_err(e: RaftError<NodeId, ClientWriteError<NodeId, Node>>) -> MetaError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => f.into(),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            MetaError::Raft(e.to_string())
        }
        RaftError::Fatal(f) => f.into(),
    }
}

fn mismatch() -> MetaError {
    MetaError::Codec("forwarded call answered with a reply of another kind".into())
}

impl Meta {
    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// The raft instance: for serving peer RPCs (`network::serve_rpc`), membership changes
    /// and metrics.
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// The current leader as this node knows it.
    pub fn current_leader(&self) -> Option<NodeId> {
        self.inner.raft.metrics().borrow().current_leader
    }

    /// A copy of the current raft metrics.
    fn metrics(&self) -> RaftMetrics<NodeId, Node> {
        self.inner.raft.metrics().borrow().clone()
    }

    /// Resolves when Raft has stopped on a fatal error (such as its disk failing or filling
    /// up), with the error: from then on this node can serve no metadata until restarted.
    pub async fn fatal(&self) -> String {
        let mut metrics = self.inner.raft.metrics();
        loop {
            if let Err(e) = &metrics.borrow_and_update().running_state {
                return e.to_string();
            }
            if metrics.changed().await.is_err() {
                return "raft stopped".into();
            }
        }
    }

    /// Stops raft and makes everything written durable. Other clones become unusable.
    pub async fn shutdown(&self) -> Result<(), MetaError> {
        self.inner.raft.shutdown().await.map_err(fatal)?;
        self.inner.db.durable.sync_async().await?;
        Ok(())
    }
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meta")
            .field("node_id", &self.inner.node_id)
            .finish_non_exhaustive()
    }
}
