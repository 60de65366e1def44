//! `Meta`: the handle the API uses to propose commands and read image records.

use crate::command::{Outcome, Request};
use crate::db::{Db, SmTrees};
use crate::error::MetaError;
use crate::forward::{ClusterStatus, ForwardReply, ForwardRequest};
use crate::index;
use crate::log_store::LogStore;
use crate::model::{Image, ImageStatus};
use crate::network::{NetworkFactory, NoTransport, RaftTransport};
use crate::query::ListQuery;
use crate::state_machine::{self, StateMachine};
use crate::types::{Node, NodeId, Raft};
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{ChangeMembers, RaftMetrics, SnapshotPolicy};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long `start` waits for a node that is its cluster's only voter to become leader.
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// Longest pause between two attempts of a routed call.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How to start a node's raft.
///
/// A cluster starts on one node with `bootstrap: true`: on its first start it initializes a
/// cluster with itself as the single voter. Every other node starts with `bootstrap: false`,
/// which never initializes anything: it waits until a member adds it, through
/// [`Meta::join`] on any member or [`Meta::join_cluster`] on the new node itself.
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
            max_voters: 3,
            snapshot_logs: 5000,
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

    /// Replicates `req` (on the leader, wherever it is) and returns its deterministic
    /// outcome. Retries after a leader change reuse `req.request_id`, so it applies once.
    pub async fn propose(&self, req: Request) -> Result<Outcome, MetaError> {
        match self.route(ForwardRequest::Propose(req), None).await? {
            ForwardReply::Propose(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Linearizable read of one image.
    pub async fn get_image(&self, id: &str) -> Result<Option<Image>, MetaError> {
        match self
            .route(ForwardRequest::GetImage(id.into()), None)
            .await?
        {
            ForwardReply::GetImage(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Linearizable read of one page of images.
    pub async fn list_images(&self, q: &ListQuery) -> Result<Vec<Image>, MetaError> {
        match self
            .route(ForwardRequest::ListImages(q.clone()), None)
            .await?
        {
            ForwardReply::ListImages(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Every manifest chunk id referenced by a stored image (for the chunk reaper).
    pub async fn live_manifests(&self) -> Result<Vec<String>, MetaError> {
        match self.route(ForwardRequest::LiveManifests, None).await? {
            ForwardReply::LiveManifests(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Adds node `node_id` at `addr` to the cluster: as a learner, returning once it caught
    /// up, then promoted to voter if there are fewer than `max_voters` voters. Idempotent.
    pub async fn join(&self, node_id: NodeId, addr: &str) -> Result<(), MetaError> {
        let req = ForwardRequest::Join {
            node_id,
            addr: addr.into(),
        };
        match self.route(req, None).await? {
            ForwardReply::Join(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Adds this (fresh, non-bootstrap) node to the cluster that node `seed_id` at
    /// `seed_addr` belongs to, as [`Meta::join`] does.
    pub async fn join_cluster(&self, seed_id: NodeId, seed_addr: &str) -> Result<(), MetaError> {
        let req = ForwardRequest::Join {
            node_id: self.inner.node_id,
            addr: self.inner.addr.clone(),
        };
        match self
            .route(req, Some((seed_id, Node::new(seed_addr))))
            .await?
        {
            ForwardReply::Join(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Removes node `node_id` from voters and learners. A removed voter is replaced by the
    /// most caught-up learner while voters are fewer than `max_voters`. The last voter
    /// cannot leave. Idempotent.
    pub async fn leave(&self, node_id: NodeId) -> Result<(), MetaError> {
        match self.route(ForwardRequest::Leave { node_id }, None).await? {
            ForwardReply::Leave(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// This node's own view of the cluster.
    pub fn status(&self) -> Result<ClusterStatus, MetaError> {
        let m = self.metrics();
        if let Err(f) = &m.running_state {
            return Err(f.clone().into());
        }
        let membership = m.membership_config.membership();
        let addr_of = |id: NodeId| {
            membership
                .get_node(&id)
                .map(|n| n.addr.clone())
                .unwrap_or_default()
        };
        Ok(ClusterStatus {
            node_id: m.id,
            role: m.state.into(),
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            leader_id: m.current_leader,
            voters: membership.voter_ids().map(|id| (id, addr_of(id))).collect(),
            learners: membership
                .learner_ids()
                .map(|id| (id, addr_of(id)))
                .collect(),
            joint: membership.get_joint_config().len() > 1,
        })
    }

    /// Asks member `node_id` (found in this node's membership) for its own view of the
    /// cluster.
    pub async fn peer_status(&self, node_id: NodeId) -> Result<ClusterStatus, MetaError> {
        if node_id == self.inner.node_id {
            return self.status();
        }
        let node = self
            .metrics()
            .membership_config
            .membership()
            .get_node(&node_id)
            .cloned()
            .ok_or_else(|| MetaError::Raft(format!("node {node_id} is not a member")))?;
        let call = self
            .inner
            .transport
            .forward(node_id, &node, ForwardRequest::Status);
        match tokio::time::timeout(self.inner.opts.request_timeout, call).await {
            Err(_) => Err(MetaError::Timeout(format!("status of node {node_id}"))),
            Ok(Err(e)) => Err(MetaError::Timeout(format!("node {node_id}: {e}"))),
            Ok(Ok(ForwardReply::Status(r))) => r,
            Ok(Ok(_)) => Err(mismatch()),
        }
    }

    fn metrics(&self) -> RaftMetrics<NodeId, Node> {
        self.inner.raft.metrics().borrow().clone()
    }

    /// The leader this node knows of, waiting up to `wait` for one.
    async fn leader(&self, wait: Duration) -> Result<(NodeId, Node), MetaError> {
        let m = self
            .inner
            .raft
            .wait(Some(wait))
            .metrics(|m| m.current_leader.is_some(), "know a leader")
            .await
            .map_err(wait_err)?;
        let id = m
            .current_leader
            .ok_or_else(|| MetaError::Timeout("no leader".into()))?;
        let node = m
            .membership_config
            .membership()
            .get_node(&id)
            .cloned()
            .ok_or(MetaError::NotLeader {
                leader_id: Some(id),
                leader_addr: None,
            })?;
        Ok((id, node))
    }

    /// Runs `req` on the leader: here when this node leads, else through the transport,
    /// following leader hints and retrying (bounded by count and time) on leader changes,
    /// unreachable leaders and lost quorums.
    async fn route(
        &self,
        req: ForwardRequest,
        first: Option<(NodeId, Node)>,
    ) -> Result<ForwardReply, MetaError> {
        let o = &self.inner.opts;
        let membership_change = matches!(
            req,
            ForwardRequest::Join { .. } | ForwardRequest::Leave { .. }
        );
        let budget = match req {
            ForwardRequest::Join { .. } => o.join_timeout + o.request_timeout,
            _ => o.request_timeout,
        };
        let deadline = Instant::now() + budget;
        // A joining node knows no leader: it keeps asking the seed it was given.
        let seed = first.clone();
        let mut hint = first;
        let mut last = MetaError::Timeout("no leader found".into());
        for attempt in 0..=o.retries {
            if attempt > 0 && hint.is_none() {
                let pause = (o.backoff * 2u32.saturating_pow(attempt - 1)).min(MAX_BACKOFF);
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(left)).await;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let (target, node) = match hint.take() {
                Some(t) => t,
                None if self.current_leader().is_none() && seed.is_some() => {
                    seed.clone().ok_or_else(mismatch)?
                }
                None => match self.leader(left).await {
                    Ok(t) => t,
                    Err(e @ (MetaError::Shutdown | MetaError::Fatal(_))) => return Err(e),
                    Err(e) => {
                        last = e;
                        continue;
                    }
                },
            };
            let remote = target != self.inner.node_id;
            let call = async {
                if remote {
                    self.inner
                        .transport
                        .forward(target, &node, req.clone())
                        .await
                } else {
                    Ok(self.serve_local(req.clone()).await)
                }
            };
            let limit = if membership_change {
                left
            } else {
                left.min(o.attempt_timeout)
            };
            let reply = match tokio::time::timeout(limit, call).await {
                Err(_) => {
                    last = MetaError::Timeout(format!("call to node {target} timed out"));
                    continue;
                }
                Ok(Err(e)) => {
                    last = MetaError::Timeout(format!("node {target}: {e}"));
                    continue;
                }
                Ok(Ok(r)) => r,
            };
            match reply.error() {
                Some(
                    e @ MetaError::NotLeader {
                        leader_id,
                        leader_addr,
                    },
                ) => {
                    if let (Some(id), Some(addr)) = (leader_id, leader_addr) {
                        if *id != target {
                            hint = Some((*id, Node::new(addr.clone())));
                        }
                    }
                    last = e.clone();
                }
                Some(e @ MetaError::Shutdown) if remote => last = e.clone(),
                Some(e @ MetaError::Timeout(_)) if !membership_change => last = e.clone(),
                _ => return Ok(reply),
            }
        }
        Err(last)
    }

    /// Serves `req` on this node without forwarding: leader-only requests fail with
    /// [`MetaError::NotLeader`] (carrying the known leader) when this node does not lead.
    pub(crate) async fn serve_local(&self, req: ForwardRequest) -> ForwardReply {
        match req {
            ForwardRequest::Propose(r) => ForwardReply::Propose(self.propose_local(r).await),
            ForwardRequest::GetImage(id) => {
                ForwardReply::GetImage(self.read(|t| state_machine::get_image(t, &id)).await)
            }
            ForwardRequest::ListImages(q) => {
                ForwardReply::ListImages(self.read(|t| index::list_images(t, &q)).await)
            }
            ForwardRequest::LiveManifests => {
                ForwardReply::LiveManifests(self.read(state_machine::live_manifests).await)
            }
            ForwardRequest::Join { node_id, addr } => {
                ForwardReply::Join(self.join_local(node_id, addr).await)
            }
            ForwardRequest::Leave { node_id } => {
                ForwardReply::Leave(self.leave_local(node_id).await)
            }
            ForwardRequest::Status => ForwardReply::Status(self.status()),
        }
    }

    async fn propose_local(&self, req: Request) -> Result<Outcome, MetaError> {
        self.inner
            .raft
            .client_write(req)
            .await
            .map(|r| r.data)
            .map_err(write_err)
    }

    /// Waits until this node may serve a linearizable read (it is leader and has applied
    /// everything committed before the call), then reads its state machine.
    async fn read<T>(
        &self,
        f: impl FnOnce(&SmTrees) -> Result<T, MetaError>,
    ) -> Result<T, MetaError> {
        match self.inner.raft.ensure_linearizable().await {
            Ok(_) => f(&self.inner.db.sm),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => Err(f.into()),
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e))) => {
                Err(MetaError::Timeout(e.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(f.into()),
        }
    }

    /// Fails with [`MetaError::NotLeader`] unless this node is the leader; returns its
    /// metrics.
    fn leading(&self) -> Result<RaftMetrics<NodeId, Node>, MetaError> {
        let m = self.metrics();
        if m.state.is_leader() && m.current_leader == Some(self.inner.node_id) {
            return Ok(m);
        }
        let leader_addr = m
            .current_leader
            .and_then(|l| m.membership_config.membership().get_node(&l).cloned())
            .map(|n| n.addr);
        Err(MetaError::NotLeader {
            leader_id: m.current_leader,
            leader_addr,
        })
    }

    async fn join_local(&self, node_id: NodeId, addr: String) -> Result<(), MetaError> {
        let _guard = self.inner.membership.lock().await;
        let m = self.leading()?;
        let membership = m.membership_config.membership();
        if membership.voter_ids().any(|v| v == node_id) {
            return match membership.get_node(&node_id) {
                Some(n) if n.addr == addr => Ok(()),
                _ => Err(MetaError::Raft(format!(
                    "node {node_id} is already a voter at another address"
                ))),
            };
        }
        let add = self.inner.raft.add_learner(node_id, Node::new(addr), true);
        tokio::time::timeout(self.inner.opts.join_timeout, add)
            .await
            .map_err(|_| {
                MetaError::Timeout(format!(
                    "node {node_id} was added as learner but did not catch up"
                ))
            })?
            .map_err(write_err)?;
        let m = self.leading()?;
        let voters = m.membership_config.membership().voter_ids().count();
        if voters < self.inner.opts.max_voters {
            self.inner
                .raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([node_id])), false)
                .await
                .map_err(write_err)?;
        }
        Ok(())
    }

    async fn leave_local(&self, node_id: NodeId) -> Result<(), MetaError> {
        let _guard = self.inner.membership.lock().await;
        let m = self.leading()?;
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let learners: BTreeSet<NodeId> = membership.learner_ids().collect();
        let change = if voters.contains(&node_id) {
            let mut next: BTreeSet<NodeId> =
                voters.iter().copied().filter(|v| *v != node_id).collect();
            if next.is_empty() {
                return Err(MetaError::Raft(format!(
                    "node {node_id} is the last voter and cannot leave"
                )));
            }
            if next.len() < self.inner.opts.max_voters {
                if let Some(l) = most_caught_up(&m, &learners, node_id) {
                    next.insert(l);
                }
            }
            ChangeMembers::ReplaceAllVoters(next)
        } else if learners.contains(&node_id) {
            ChangeMembers::RemoveNodes(BTreeSet::from([node_id]))
        } else {
            return Ok(());
        };
        self.inner
            .raft
            .change_membership(change, false)
            .await
            .map_err(write_err)?;
        Ok(())
    }

    /// Reads one image from this node's state machine without checking leadership (may be
    /// stale on a follower).
    pub fn get_image_local(&self, id: &str) -> Result<Option<Image>, MetaError> {
        state_machine::get_image(&self.inner.db.sm, id)
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

    /// Every image in `status` in this node's state machine, without checking leadership
    /// (may be stale on a follower); for background loops that then write with a
    /// compare-and-set.
    pub fn images_with_status_local(&self, status: ImageStatus) -> Result<Vec<Image>, MetaError> {
        index::images_with_status(&self.inner.db.sm, status)
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

/// The learner (other than `leaving`) whose replication is furthest along, lowest id first
/// on ties.
fn most_caught_up(
    m: &RaftMetrics<NodeId, Node>,
    learners: &BTreeSet<NodeId>,
    leaving: NodeId,
) -> Option<NodeId> {
    let matched = |id: &NodeId| {
        m.replication
            .as_ref()
            .and_then(|r| r.get(id).cloned().flatten())
            .map(|l| l.index)
    };
    learners
        .iter()
        .filter(|l| **l != leaving)
        .max_by(|a, b| matched(a).cmp(&matched(b)).then(b.cmp(a)))
        .copied()
}
