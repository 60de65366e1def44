//! Image data out: the caller's right to the bytes, and the copy to read them from: the
//! store of highest weight that holds the image and answers, falling back to the next one
//! when a store fails; a whole image from the chunk store goes through this node's image
//! cache. Which range a request names is `api`'s business.

use crate::caller::Caller;
use crate::error::DomainError;
use crate::service::Glance;
use crate::stores::{Backend, ByteStream, Source, Store};
use crate::write;
use futures::StreamExt;
use tessera_raft::{DataRef, Image, ImageStatus};
use tessera_replication::{ChunkId, ImageCache};

/// The data of an image, ready to be read in any range.
#[derive(Debug)]
pub struct ImageData {
    /// The image record (its checksum, for one).
    pub image: Image,
    /// The store serving it.
    pub store: String,
    source: Source,
    cache: Option<ImageCache>,
}

impl ImageData {
    /// The image size in bytes.
    pub fn size(&self) -> u64 {
        self.source.size()
    }

    /// Streams bytes `start..end` (`end` exclusive, within [`size`](Self::size)), reading
    /// (and, from the chunk store, verifying) only what covers them.
    pub async fn read(&self, start: u64, end: u64) -> Result<ByteStream, DomainError> {
        self.source.read(start, end).await
    }

    /// Streams the whole image. On a node with an image cache, as Glance's cache middleware
    /// does for a full download of an active image: one already cached counts a hit (its
    /// chunks are all local, so no peer is asked), one not yet cached is cached on the way.
    /// Only the chunk store's copy is cached: the cache pins chunks on this node.
    pub async fn read_whole(&self) -> Result<ByteStream, DomainError> {
        let (
            Source::Chunks {
                manifest_id,
                manifest,
                data,
            },
            Some(cache),
        ) = (&self.source, self.cache.as_ref())
        else {
            return self.read(0, self.size()).await;
        };
        if self.image.status != ImageStatus::Active {
            return self.read(0, self.size()).await;
        }
        match cache.hit(&self.image.id) {
            Ok(true) => return self.read(0, self.size()).await,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "image cache hit not recorded");
                return self.read(0, self.size()).await;
            }
        }
        let whole = data.read_range(manifest.clone(), 0, self.size());
        Ok(cache
            .tee(
                &self.image.id,
                *manifest_id,
                manifest,
                self.image.checksum.clone(),
                whole,
            )
            .map(|r| r.map_err(std::io::Error::other))
            .boxed())
    }
}

impl Glance {
    /// The data of `id` for the caller; `None` when the image has none to serve (not yet
    /// uploaded). Deactivated images serve their data to admins only.
    pub async fn download(&self, who: &Caller, id: &str) -> Result<Option<ImageData>, DomainError> {
        let image = write::load(&self.meta, id).await?;
        self.access(who).check_download(&image)?;
        if !image.has_data()
            || !matches!(image.status, ImageStatus::Active | ImageStatus::Deactivated)
        {
            return Ok(None);
        }
        let (store, source) = self.open_copy(&image, None).await?;
        Ok(Some(ImageData {
            image,
            store,
            source,
            cache: self.cache.clone(),
        }))
    }

    /// The best readable copy of `image`'s data (skipping store `except`): its store's id and
    /// a source over it. Stores are tried by weight; one that fails is logged and skipped.
    pub(crate) async fn open_copy(
        &self,
        image: &Image,
        except: Option<&str>,
    ) -> Result<(String, Source), DomainError> {
        let mut last = None;
        let mut candidates: Vec<Store> = self
            .stores
            .by_weight(image)
            .into_iter()
            .filter(|s| Some(s.id.as_str()) != except)
            .cloned()
            .collect();
        if candidates.is_empty() && image.data.is_some() {
            // Data in the chunk store of a node configured without a cluster store.
            candidates.push(Store::cluster(self.stores.cluster_id()));
        }
        for store in candidates {
            match self.source_in(image, &store).await {
                Ok(source) => return Ok((store.id, source)),
                Err(e) => {
                    tracing::warn!(image_id = %image.id, store = %store.id, error = %e, "store failed; trying the next copy");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            DomainError::Unavailable(format!(
                "Image {} has no copy in a store this node serves.",
                image.id
            ))
        }))
    }

    /// A source over `image`'s copy in `store`, checked to be there with the image's size.
    async fn source_in(&self, image: &Image, store: &Store) -> Result<Source, DomainError> {
        let source = match &store.backend {
            Backend::Cluster { .. } => {
                let Some(data) = &image.data else {
                    return Err(DomainError::Internal("no manifest".into()));
                };
                let manifest_id = manifest_id(&image.id, data)?;
                let manifest = self.data.manifest(&manifest_id).await?;
                Source::Chunks {
                    manifest_id,
                    manifest,
                    data: self.data.clone(),
                }
            }
            Backend::Driver(driver) => {
                let Some(loc) = image.locations.iter().find(|l| l.store == store.id) else {
                    return Err(DomainError::Internal("no location".into()));
                };
                let size = driver.size(&loc.url).await?;
                Source::Driver {
                    driver: driver.clone(),
                    url: loc.url.clone(),
                    size,
                }
            }
        };
        match image.size {
            Some(want) if want != source.size() => Err(DomainError::Unavailable(format!(
                "store {} holds {} bytes of image {}, not {want}",
                store.id,
                source.size(),
                image.id
            ))),
            _ => Ok(source),
        }
    }
}

/// The id of the manifest `data` (of image `id`) names.
pub(crate) fn manifest_id(id: &str, data: &DataRef) -> Result<ChunkId, DomainError> {
    data.manifest
        .parse()
        .map_err(|_| DomainError::Internal(format!("image {id} has a malformed manifest id")))
}
