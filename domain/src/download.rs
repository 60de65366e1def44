//! Image data out: the caller's right to the bytes and the manifest-driven byte stream of a
//! range, or of the whole image through this node's image cache. Which range a request names
//! is `api`'s business.

use crate::caller::Caller;
use crate::error::DomainError;
use crate::service::Glance;
use crate::write;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tessera_raft::{DataRef, Image, ImageStatus};
use tessera_replication::{ChunkId, Data, DataError, ImageCache, Manifest};

/// The data of an image, ready to be read in any range.
#[derive(Debug)]
pub struct ImageData {
    /// The image record (its checksum, for one).
    pub image: Image,
    manifest_id: ChunkId,
    manifest: Manifest,
    data: Data,
    cache: Option<ImageCache>,
}

impl ImageData {
    /// The image size in bytes.
    pub fn size(&self) -> u64 {
        self.manifest.size()
    }

    /// Streams bytes `start..end` (`end` exclusive, within [`size`](Self::size)), reading and
    /// verifying only the chunks that cover them.
    pub fn read(
        &self,
        start: u64,
        end: u64,
    ) -> impl Stream<Item = Result<Bytes, DataError>> + Send + 'static {
        self.data.read_range(self.manifest.clone(), start, end)
    }

    /// Streams the whole image. On a node with an image cache, as Glance's cache middleware
    /// does for a full download of an active image: one already cached counts a hit (its
    /// chunks are all local, so no peer is asked), one not yet cached is cached on the way.
    pub fn read_whole(&self) -> impl Stream<Item = Result<Bytes, DataError>> + Send + 'static {
        let whole = self.read(0, self.size());
        let Some(cache) = self
            .cache
            .as_ref()
            .filter(|_| self.image.status == ImageStatus::Active)
        else {
            return whole.left_stream();
        };
        match cache.hit(&self.image.id) {
            Ok(true) => return whole.left_stream(),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "image cache hit not recorded");
                return whole.left_stream();
            }
        }
        cache
            .tee(
                &self.image.id,
                self.manifest_id,
                &self.manifest,
                self.image.checksum.clone(),
                whole,
            )
            .right_stream()
    }
}

impl Glance {
    /// The data of `id` for the caller; `None` when the image has none to serve (not yet
    /// uploaded). Deactivated images serve their data to admins only.
    pub async fn download(&self, who: &Caller, id: &str) -> Result<Option<ImageData>, DomainError> {
        let image = write::load(&self.meta, id).await?;
        self.access(who).check_download(&image)?;
        let Some(data) = image
            .data
            .as_ref()
            .filter(|_| matches!(image.status, ImageStatus::Active | ImageStatus::Deactivated))
        else {
            return Ok(None);
        };
        let manifest_id = manifest_id(id, data)?;
        let manifest = self.data.manifest(&manifest_id).await?;
        Ok(Some(ImageData {
            image,
            manifest_id,
            manifest,
            data: self.data.clone(),
            cache: self.cache.clone(),
        }))
    }
}

/// The id of the manifest `data` (of image `id`) names.
pub(crate) fn manifest_id(id: &str, data: &DataRef) -> Result<ChunkId, DomainError> {
    data.manifest
        .parse()
        .map_err(|_| DomainError::Internal(format!("image {id} has a malformed manifest id")))
}
