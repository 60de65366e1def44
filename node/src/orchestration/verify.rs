//! `tessera chunks verify`: an audit now, of one image's copies across the cluster or of
//! every chunk of this node.

use tessera_domain::cluster_admin::{manifest_to_verify, ImageCheck, NodeAudit, VerifyReport};
use tessera_domain::DomainError;
use tessera_raft::Meta;
use tessera_replication::Data;

/// With an image, checks every copy of its manifest and chunks on their placement targets;
/// without, re-hashes every chunk of this node.
pub async fn verify(
    meta: &Meta,
    data: &Data,
    image_id: Option<String>,
) -> Result<VerifyReport, DomainError> {
    let Some(image_id) = image_id else {
        let summary = data.audit_all().await?;
        return Ok(VerifyReport::Node(NodeAudit {
            node: data.self_id(),
            ok: summary.corrupt.is_empty(),
            summary,
        }));
    };
    let manifest = manifest_to_verify(meta, &image_id).await?;
    let copies = data.check_manifest(manifest).await?;
    Ok(VerifyReport::Image(ImageCheck { image_id, copies }))
}
