//! Calls any node serves on behalf of another: a follower forwards writes, reads and
//! membership changes to the leader through [`RaftTransport::forward`], and the receiving
//! node answers them with [`serve_forward`].
//!
//! The receiver never forwards again: a leader-only request reaching a node that is not the
//! leader is answered with [`MetaError::NotLeader`] carrying the leader it knows, and the
//! caller retries there. That keeps every call one hop and free of forwarding loops.
//!
//! [`RaftTransport::forward`]: crate::network::RaftTransport::forward

use crate::command::{Outcome, Request};
use crate::docs::Doc;
use crate::error::MetaError;
use crate::meta::Meta;
use crate::model::{DataRef, Image};
use crate::query::ListQuery;
use crate::types::NodeId;
use crate::usage::Usage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A call forwarded to another node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ForwardRequest {
    /// Replicate a command (leader only).
    Propose(Request),
    /// Linearizable read of one image (leader only).
    GetImage(String),
    /// Linearizable read of one page of images (leader only).
    ListImages(ListQuery),
    /// The chunk store's data of every image (leader only).
    LiveManifests,
    /// Linearizable read of one document: (kind, id) (leader only).
    GetDoc(String, String),
    /// Linearizable read of a project's unified-limit usage (leader only).
    GetUsage(String),
    /// Linearizable read of the documents of a kind whose ids start with a prefix: (kind,
    /// prefix) (leader only).
    ListDocs(String, String),
    /// Add a node as learner, then promote it to voter if voters are short (leader only).
    Join {
        /// The joining node's id.
        node_id: NodeId,
        /// Its transport address.
        addr: String,
    },
    /// Remove a node from the cluster (leader only).
    Leave {
        /// The leaving node's id.
        node_id: NodeId,
    },
    /// The receiving node's own view of the cluster (served by any node).
    Status,
}

/// The answer to a [`ForwardRequest`], of the same kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ForwardReply {
    /// Answer to [`ForwardRequest::Propose`].
    Propose(Result<Outcome, MetaError>),
    /// Answer to [`ForwardRequest::GetImage`].
    GetImage(Result<Option<Image>, MetaError>),
    /// Answer to [`ForwardRequest::ListImages`].
    ListImages(Result<Vec<Image>, MetaError>),
    /// Answer to [`ForwardRequest::LiveManifests`].
    LiveManifests(Result<Vec<DataRef>, MetaError>),
    /// Answer to [`ForwardRequest::GetDoc`].
    GetDoc(Result<Option<Doc>, MetaError>),
    /// Answer to [`ForwardRequest::GetUsage`].
    GetUsage(Result<Usage, MetaError>),
    /// Answer to [`ForwardRequest::ListDocs`].
    ListDocs(Result<Vec<Doc>, MetaError>),
    /// Answer to [`ForwardRequest::Join`].
    Join(Result<(), MetaError>),
    /// Answer to [`ForwardRequest::Leave`].
    Leave(Result<(), MetaError>),
    /// Answer to [`ForwardRequest::Status`].
    Status(Result<ClusterStatus, MetaError>),
}

impl ForwardRequest {
    /// A short name of the call, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Propose(_) => "propose",
            Self::GetImage(_) => "get_image",
            Self::ListImages(_) => "list_images",
            Self::LiveManifests => "live_manifests",
            Self::GetDoc(..) => "get_doc",
            Self::ListDocs(..) => "list_docs",
            Self::GetUsage(_) => "get_usage",
            Self::Join { .. } => "join",
            Self::Leave { .. } => "leave",
            Self::Status => "status",
        }
    }
}

impl ForwardReply {
    /// The error this reply carries, if any.
    pub fn error(&self) -> Option<&MetaError> {
        match self {
            Self::Propose(r) => r.as_ref().err(),
            Self::GetImage(r) => r.as_ref().err(),
            Self::ListImages(r) => r.as_ref().err(),
            Self::LiveManifests(r) => r.as_ref().err(),
            Self::GetDoc(r) => r.as_ref().err(),
            Self::ListDocs(r) => r.as_ref().err(),
            Self::GetUsage(r) => r.as_ref().err(),
            Self::Join(r) | Self::Leave(r) => r.as_ref().err(),
            Self::Status(r) => r.as_ref().err(),
        }
    }

    /// A reply of the kind `req` expects, carrying `e`.
    pub fn failed(req: &ForwardRequest, e: MetaError) -> Self {
        match req {
            ForwardRequest::Propose(_) => Self::Propose(Err(e)),
            ForwardRequest::GetImage(_) => Self::GetImage(Err(e)),
            ForwardRequest::ListImages(_) => Self::ListImages(Err(e)),
            ForwardRequest::LiveManifests => Self::LiveManifests(Err(e)),
            ForwardRequest::GetDoc(..) => Self::GetDoc(Err(e)),
            ForwardRequest::ListDocs(..) => Self::ListDocs(Err(e)),
            ForwardRequest::GetUsage(_) => Self::GetUsage(Err(e)),
            ForwardRequest::Join { .. } => Self::Join(Err(e)),
            ForwardRequest::Leave { .. } => Self::Leave(Err(e)),
            ForwardRequest::Status => Self::Status(Err(e)),
        }
    }
}

/// A node's raft role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Accepts writes and serves linearizable reads.
    Leader,
    /// A voter following the leader.
    Follower,
    /// A voter campaigning for leadership.
    Candidate,
    /// A non-voting member (or a node not yet added to any cluster).
    Learner,
    /// Raft is stopped.
    Shutdown,
}

impl From<openraft::ServerState> for Role {
    fn from(s: openraft::ServerState) -> Self {
        match s {
            openraft::ServerState::Leader => Role::Leader,
            openraft::ServerState::Follower => Role::Follower,
            openraft::ServerState::Candidate => Role::Candidate,
            openraft::ServerState::Learner => Role::Learner,
            openraft::ServerState::Shutdown => Role::Shutdown,
        }
    }
}

/// One node's view of the cluster, from its raft metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The reporting node's id.
    pub node_id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: u64,
    /// Index of the last entry in its log.
    pub last_log_index: Option<u64>,
    /// Index of the last entry applied to its state machine.
    pub last_applied: Option<u64>,
    /// Index of the last entry covered by its current snapshot (built or installed).
    pub snapshot_index: Option<u64>,
    /// Index of the last entry purged from its log.
    pub purged_index: Option<u64>,
    /// The leader it knows of.
    pub leader_id: Option<NodeId>,
    /// Voters (id to transport address) of its effective membership.
    pub voters: BTreeMap<NodeId, String>,
    /// Learners (id to transport address) of its effective membership.
    pub learners: BTreeMap<NodeId, String>,
    /// Whether the membership is a joint config still being changed.
    pub joint: bool,
}

/// Serves a forwarded call on this node: what a transport's server side calls. Never
/// forwards further (see the module docs).
pub async fn serve_forward(meta: &Meta, req: ForwardRequest) -> ForwardReply {
    let kind = req.kind();
    let reply = meta.serve_local(req).await;
    if let Some(e) = reply.error() {
        // The caller retries elsewhere on NotLeader; the leader it names is logged here.
        tracing::debug!(node = meta.node_id(), call = kind, error = %e, "forwarded call refused");
    }
    reply
}
