//! The image cache's view of image records over the metadata layer: an image's manifest and
//! checksum while it is active.

use tessera_domain::{write, DomainError};
use tessera_raft::{ImageStatus, Meta};
use tessera_replication::{CacheImages, CacheTarget, ChunkId};

/// Answers the cache prefetcher from the replicated metadata.
#[derive(Clone)]
pub struct MetaCacheImages(pub Meta);

impl CacheImages for MetaCacheImages {
    type Error = DomainError;

    async fn active_image(&self, image_id: &str) -> Result<Option<CacheTarget>, DomainError> {
        let image = match write::load(&self.0, image_id).await {
            Ok(image) => image,
            Err(DomainError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(data) = image.data.filter(|_| image.status == ImageStatus::Active) else {
            return Ok(None);
        };
        let manifest: ChunkId = data.manifest.parse().map_err(|_| {
            DomainError::Internal(format!("image {image_id} has a malformed manifest id"))
        })?;
        Ok(Some(CacheTarget {
            manifest,
            checksum: image.checksum,
        }))
    }
}
