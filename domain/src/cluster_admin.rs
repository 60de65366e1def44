//! The cluster operations of Tessera's admin API (`/tessera/v1/cluster*`,
//! `/tessera/v1/chunks/repair|verify`): declared here as [`ClusterAdmin`], implemented by `node`,
//! which runs them as observable jobs; `api` only parses, calls and renders.

use serde::Serialize;
use serde_json::{Map, Value};
use tessera_raft::{ClusterStatus, Meta};
use tessera_replication::{AuditSummary, ChunkId, CopiesCheck, DrainReport, RepairReport};

use crate::{download, write, DomainError};

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

/// What [`ClusterAdmin::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum VerifyReport {
    /// Every chunk of this node re-hashed.
    Node(NodeAudit),
    /// Every copy of one image's chunks checked.
    Image(ImageCheck),
}

/// Every chunk of one node re-hashed; corrupt ones were quarantined and queued for repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeAudit {
    /// The node.
    pub node: u64,
    /// What the pass found.
    #[serde(flatten)]
    pub summary: AuditSummary,
    /// Whether no chunk was corrupt.
    pub ok: bool,
}

/// Every copy of one image's manifest and chunks checked on their placement targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageCheck {
    /// The image.
    pub image_id: String,
    /// What the check found.
    #[serde(flatten)]
    pub copies: CopiesCheck,
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

    /// An audit now: with an image, every copy of its manifest and chunks on every placement
    /// target; without, every chunk of this node re-hashed. Bad copies are quarantined and
    /// queued for repair.
    async fn verify(&self, image_id: Option<String>) -> Result<VerifyReport, DomainError>;
}

/// The manifest [`ClusterAdmin::verify`] checks for image `id`: 404 when there is no such
/// image, 400 when it has no data.
pub async fn manifest_to_verify(meta: &Meta, id: &str) -> Result<ChunkId, DomainError> {
    let image = write::load(meta, id).await?;
    let Some(data) = &image.data else {
        return Err(DomainError::Invalid(format!(
            "Image {id} has no data to verify (status {}).",
            image.status.as_str()
        )));
    };
    download::manifest_id(id, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_replication::CopyProblem;

    /// `tessera chunks verify` and the cluster tests read these fields in this order.
    #[test]
    fn verify_reports_render_as_the_admin_api_always_did() {
        let chunk = ChunkId::of(b"x");
        let image = VerifyReport::Image(ImageCheck {
            image_id: "img".into(),
            copies: CopiesCheck {
                chunks: 1,
                copies: 2,
                nodes: [
                    ("1".to_string(), [("valid", 1)].into()),
                    ("2".to_string(), [("unreachable", 1)].into()),
                ]
                .into(),
                problems: vec![CopyProblem {
                    chunk,
                    node: 2,
                    state: "unreachable",
                    reason: Some("node 2 timed out".into()),
                }],
                ok: false,
            },
        });
        assert_eq!(
            serde_json::to_string(&image).unwrap(),
            format!(
                "{{\"image_id\":\"img\",\"chunks\":1,\"copies\":2,\
                 \"nodes\":{{\"1\":{{\"valid\":1}},\"2\":{{\"unreachable\":1}}}},\
                 \"problems\":[{{\"chunk\":\"{chunk}\",\"node\":2,\"state\":\"unreachable\",\
                 \"reason\":\"node 2 timed out\"}}],\"ok\":false}}"
            )
        );
        let node = VerifyReport::Node(NodeAudit {
            node: 1,
            summary: AuditSummary {
                checked: 2,
                bytes: 10,
                corrupt: vec![],
                missing: 0,
            },
            ok: true,
        });
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            "{\"node\":1,\"checked\":2,\"bytes\":10,\"corrupt\":[],\"missing\":0,\"ok\":true}"
        );
    }
}
