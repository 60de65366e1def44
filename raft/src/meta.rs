//! `Meta`: the handle the API uses to propose commands and read image records.

use crate::command::{Outcome, Request};
use crate::db::Db;
use crate::error::MetaError;
use crate::index;
use crate::log_store::LogStore;
use crate::model::Image;
use crate::network::{NetworkFactory, NoTransport, RaftTransport};
use crate::query::ListQuery;
use crate::state_machine::{self, StateMachine};
use crate::types::{Node, NodeId, Raft};
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long `open` waits for a single-voter node to become leader.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// How to start a node's raft.
pub struct MetaConfig {
    /// This node's id.
    pub node_id: NodeId,
    /// This node's transport address, recorded in membership.
    pub addr: String,
    /// How raft reaches peers.
    pub transport: Arc<dyn RaftTransport>,
    /// Initialize a single-voter cluster {node_id} on first start and wait for leadership
    /// on every start. Off for nodes that join (or are initialized) as part of a cluster.
    pub single_voter: bool,
    /// Raft heartbeat interval in milliseconds.
    pub heartbeat_ms: u64,
    /// Election timeout range in milliseconds (min; max is twice that).
    pub election_timeout_ms: u64,
}

impl MetaConfig {
    /// A standalone node that is its own single voter.
    pub fn single(node_id: NodeId) -> Self {
        MetaConfig {
            node_id,
            addr: String::new(),
            transport: Arc::new(NoTransport),
            single_voter: true,
            heartbeat_ms: 50,
            election_timeout_ms: 150,
        }
    }
}

/// Cheap-to-clone handle on this node's replicated metadata.
#[derive(Clone)]
pub struct Meta {
    inner: Arc<Inner>,
}

struct Inner {
    raft: Raft,
    db: Db,
    node_id: NodeId,
}

fn fatal<E: std::fmt::Display>(e: E) -> MetaError {
    MetaError::Fatal(e.to_string())
}

impl Meta {
    /// Opens (or creates) the metadata store in `dir` as a single-voter cluster of `node_id`
    /// and returns once this node is leader.
    pub async fn open(dir: &Path, node_id: NodeId) -> Result<Meta, MetaError> {
        Self::start(dir, MetaConfig::single(node_id)).await
    }

    /// Opens the store in `dir` and starts raft as `cfg` says.
    pub async fn start(dir: &Path, cfg: MetaConfig) -> Result<Meta, MetaError> {
        let dir = dir.to_path_buf();
        let db = tokio::task::spawn_blocking(move || Db::open(&dir))
            .await
            .map_err(fatal)??;
        let config = openraft::Config {
            cluster_name: "tessera".into(),
            heartbeat_interval: cfg.heartbeat_ms,
            election_timeout_min: cfg.election_timeout_ms,
            election_timeout_max: cfg.election_timeout_ms * 2,
            ..Default::default()
        }
        .validate()
        .map_err(|e| MetaError::Raft(e.to_string()))?;
        let raft = Raft::new(
            cfg.node_id,
            Arc::new(config),
            NetworkFactory::new(cfg.transport.clone()),
            LogStore::new(db.clone()),
            StateMachine::new(db.clone()),
        )
        .await?;
        let meta = Meta {
            inner: Arc::new(Inner {
                raft,
                db,
                node_id: cfg.node_id,
            }),
        };
        if cfg.single_voter {
            if !meta.inner.raft.is_initialized().await? {
                let members = BTreeMap::from([(cfg.node_id, Node::new(cfg.addr.clone()))]);
                meta.initialize(members).await?;
            }
            meta.wait_leader(LEADER_WAIT).await?;
        }
        Ok(meta)
    }

    /// Initializes a fresh cluster with `members` as voters (once, on one node).
    pub async fn initialize(&self, members: BTreeMap<NodeId, Node>) -> Result<(), MetaError> {
        self.inner
            .raft
            .initialize(members)
            .await
            .map_err(|e| match e {
                RaftError::APIError(e) => MetaError::Raft(e.to_string()),
                RaftError::Fatal(f) => f.into(),
            })
    }

    /// Waits until this node is the leader.
    pub async fn wait_leader(&self, timeout: Duration) -> Result<(), MetaError> {
        let id = self.inner.node_id;
        self.inner
            .raft
            .wait(Some(timeout))
            .metrics(
                |m| m.current_leader == Some(id) && m.state.is_leader(),
                "become leader",
            )
            .await
            .map(|_| ())
            .map_err(|e| match e {
                openraft::metrics::WaitError::Timeout(..) => MetaError::Timeout(e.to_string()),
                openraft::metrics::WaitError::ShuttingDown => MetaError::Shutdown,
            })
    }

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

    /// Replicates `req` and returns its deterministic outcome once applied here.
    pub async fn propose(&self, req: Request) -> Result<Outcome, MetaError> {
        match self.inner.raft.client_write(req).await {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(f.into()),
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(MetaError::Raft(e.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(f.into()),
        }
    }

    /// Waits until this node may serve a linearizable read (it is leader and has applied
    /// everything committed before the call).
    async fn linearizable(&self) -> Result<(), MetaError> {
        match self.inner.raft.ensure_linearizable().await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => Err(f.into()),
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e))) => {
                Err(MetaError::Timeout(e.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(f.into()),
        }
    }

    /// Linearizable read of one image.
    pub async fn get_image(&self, id: &str) -> Result<Option<Image>, MetaError> {
        self.linearizable().await?;
        state_machine::get_image(&self.inner.db.sm, id)
    }

    /// Linearizable read of one page of images.
    pub async fn list_images(&self, q: &ListQuery) -> Result<Vec<Image>, MetaError> {
        self.linearizable().await?;
        index::list_images(&self.inner.db.sm, q)
    }

    /// Every manifest chunk id referenced by a stored image (for the chunk reaper).
    pub async fn live_manifests(&self) -> Result<Vec<String>, MetaError> {
        self.linearizable().await?;
        state_machine::live_manifests(&self.inner.db.sm)
    }

    /// Reads one image from this node's state machine without checking leadership (may be
    /// stale on a follower).
    pub fn get_image_local(&self, id: &str) -> Result<Option<Image>, MetaError> {
        state_machine::get_image(&self.inner.db.sm, id)
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
