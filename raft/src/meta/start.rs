//! Starting raft: opening the store, configuring openraft, bootstrapping a first node and
//! waiting for leadership.

use super::{fatal, wait_err, Inner, Meta, MetaConfig, Opts};
use crate::db::Db;
use crate::error::MetaError;
use crate::log_store::LogStore;
use crate::network::NetworkFactory;
use crate::state_machine::StateMachine;
use crate::types::{Node, NodeId, Raft};
use openraft::error::RaftError;
use openraft::SnapshotPolicy;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long `start` waits for a node that is its cluster's only voter to become leader.
const LEADER_WAIT: Duration = Duration::from_secs(10);

impl Meta {
    /// Opens (or creates) the metadata store in `dir` as a single-voter cluster of `node_id`
    /// and returns once this node is leader.
    pub async fn open(dir: &Path, node_id: NodeId) -> Result<Meta, MetaError> {
        Self::start(dir, MetaConfig::single(node_id)).await
    }

    /// Opens the store in `dir` and starts raft as `cfg` says. A `bootstrap` node initializes
    /// a single-voter cluster on a fresh store; a node that is its cluster's only voter is
    /// leader when this returns; any other node returns at once (a fresh one waits to be
    /// added).
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
            snapshot_policy: match cfg.snapshot_logs {
                0 => SnapshotPolicy::Never,
                n => SnapshotPolicy::LogsSinceLast(n),
            },
            max_in_snapshot_log_to_keep: cfg.max_in_snapshot_log_to_keep,
            ..Default::default()
        }
        .validate()
        .map_err(|e| MetaError::Raft(e.to_string()))?;
        crate::state_machine::build_usage_if_missing(&db.sm)?;
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
                addr: cfg.addr.clone(),
                transport: cfg.transport.clone(),
                opts: Opts {
                    max_voters: cfg.max_voters.max(1),
                    request_timeout: Duration::from_millis(cfg.request_timeout_ms),
                    attempt_timeout: Duration::from_millis(cfg.attempt_timeout_ms.max(1)),
                    join_timeout: Duration::from_millis(cfg.join_timeout_ms),
                    retries: cfg.forward_retries,
                    backoff: Duration::from_millis(cfg.retry_backoff_ms.max(1)),
                },
                membership: tokio::sync::Mutex::new(()),
                space: std::sync::RwLock::new(None),
            }),
        };
        if cfg.bootstrap && !meta.inner.raft.is_initialized().await? {
            let members = BTreeMap::from([(cfg.node_id, Node::new(cfg.addr.clone()))]);
            meta.initialize(members).await?;
        }
        let sole_voter = {
            let m = meta.inner.raft.metrics();
            let m = m.borrow();
            let voters: Vec<_> = m.membership_config.membership().voter_ids().collect();
            voters == [cfg.node_id]
        };
        if sole_voter {
            meta.wait_leader(LEADER_WAIT).await?;
        }
        Ok(meta)
    }

    /// Initializes a fresh cluster with `members` as voters (once, on one node). Prefer
    /// `bootstrap` plus [`Meta::join`]; this is for starting with several voters at once.
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
            .map_err(wait_err)
    }
}
