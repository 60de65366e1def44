//! The reaper's record changes over the metadata layer: scrubbing pending-delete images and
//! requeueing stale uploads, through the domain's compare-and-set write path.
//!
//! Only the node that believes it is the Raft leader acts, so the cluster does each change
//! once per pass rather than once per node. Two nodes may briefly both believe it (during a
//! leader change): the deposed one's proposal is refused, and every change re-reads the
//! record and applies only if it still qualifies, as a compare-and-set on its revision, so a
//! duplicate or a racing user change is a no-op.

use std::sync::Arc;
use tessera_domain::stores::Stores;
use tessera_domain::{import, lifecycle, write, DomainError};
use tessera_raft::{ImageStatus, Meta};
use tessera_replication::{ImageRecords, Lingering, LingeringImage};

/// Answers the reaper from (and writes to) the replicated metadata; a scrubbed image's copies
/// in driver stores are removed through `1`.
#[derive(Clone)]
pub struct MetaImageRecords(pub Meta, pub Arc<Stores>);

/// Upload states that a dead node can leave behind.
const UPLOADING: [ImageStatus; 2] = [ImageStatus::Saving, ImageStatus::Uploading];

impl ImageRecords for MetaImageRecords {
    type Error = DomainError;

    fn in_charge(&self) -> bool {
        self.0.current_leader() == Some(self.0.node_id())
    }

    async fn lingering(&self) -> Result<Vec<LingeringImage>, DomainError> {
        let mut out = Vec::new();
        for (status, kind) in [(ImageStatus::PendingDelete, Lingering::PendingDelete)]
            .into_iter()
            .chain(UPLOADING.map(|s| (s, Lingering::Upload)))
        {
            let images = self.0.images_with_status_local(status)?;
            for img in images {
                // A finished stage waits for its import as long as the user likes.
                if img.status == ImageStatus::Uploading
                    && import::is_staged_local(&self.0, &img.id)?
                {
                    continue;
                }
                out.push(LingeringImage {
                    id: img.id,
                    kind,
                    updated_at: img.updated_at,
                });
            }
        }
        Ok(out)
    }

    async fn scrub(&self, id: &str, cutoff: i64) -> Result<bool, DomainError> {
        let deleted = write::delete(&self.0, id, |img| {
            if img.status == ImageStatus::PendingDelete && img.updated_at < cutoff {
                Ok(())
            } else {
                Err(DomainError::Conflict(format!(
                    "image {id} is no longer due"
                )))
            }
        })
        .await;
        match deleted {
            Ok(gone) => {
                self.1.remove_copies(&gone).await;
                Ok(true)
            }
            // Gone, changed since, or contended: the next pass looks again.
            Err(DomainError::NotFound(_) | DomainError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn requeue(&self, id: &str, cutoff: i64) -> Result<bool, DomainError> {
        let mut changed = false;
        let updated = write::modify(&self.0, id, |img| {
            changed = UPLOADING.contains(&img.status) && img.updated_at < cutoff;
            if changed {
                lifecycle::advance(img, ImageStatus::Queued)?;
            }
            Ok::<_, DomainError>(())
        })
        .await;
        match updated {
            Ok(_) => Ok(changed),
            Err(DomainError::NotFound(_) | DomainError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
