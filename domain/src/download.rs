//! Image data out: the caller's right to the bytes and the manifest-driven byte stream of a
//! range. Which range a request names is `api`'s business.

use crate::caller::Caller;
use crate::error::DomainError;
use crate::service::Glance;
use crate::write;
use bytes::Bytes;
use futures::Stream;
use tessera_raft::{DataRef, Image, ImageStatus};
use tessera_replication::{ChunkId, Data, DataError, Manifest};

/// The data of an image, ready to be read in any range.
#[derive(Debug)]
pub struct ImageData {
    /// The image record (its checksum, for one).
    pub image: Image,
    manifest: Manifest,
    data: Data,
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
        let manifest = self.data.manifest(&manifest_id(id, data)?).await?;
        Ok(Some(ImageData {
            image,
            manifest,
            data: self.data.clone(),
        }))
    }
}

/// The id of the manifest `data` (of image `id`) names.
pub(crate) fn manifest_id(id: &str, data: &DataRef) -> Result<ChunkId, DomainError> {
    data.manifest
        .parse()
        .map_err(|_| DomainError::Internal(format!("image {id} has a malformed manifest id")))
}
