//! Image operations across stores: reading one copy ([`Source`]), removing one copy
//! (`DELETE /v2/stores/{store_id}/{image_id}`) and copying the data into another store (the
//! `copy-image` import), each checked as Glance checks it.

use super::driver::{redact, ByteStream, StoreDriver};
use super::registry::{Backend, Store, Stores};
use super::sink::{Landed, Sink};
use crate::caller::Caller;
use crate::error::DomainError;
use crate::service::Glance;
use crate::write;
use futures::StreamExt;
use std::sync::Arc;
use tessera_raft::{Image, ImageStatus, Location};
use tessera_replication::{ChunkId, Data, Ingested, Manifest, UploadHold};

/// One store's copy of an image's data, ready to be read in any range.
pub enum Source {
    /// In the chunk store.
    Chunks {
        /// The manifest's id.
        manifest_id: ChunkId,
        /// The image's manifest.
        manifest: Manifest,
        /// The chunk store.
        data: Data,
    },
    /// In a driver's store.
    Driver {
        /// The driver.
        driver: Arc<dyn StoreDriver>,
        /// The location URL.
        url: String,
        /// The size the store reports.
        size: u64,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Chunks { manifest, .. } => write!(f, "Chunks({} bytes)", manifest.size()),
            Source::Driver { url, size, .. } => write!(f, "Driver({url}, {size} bytes)"),
        }
    }
}

impl Source {
    /// The data's size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Source::Chunks { manifest, .. } => manifest.size(),
            Source::Driver { size, .. } => *size,
        }
    }

    /// Streams bytes `start..end` (`end` exclusive, within [`size`](Self::size)).
    pub async fn read(&self, start: u64, end: u64) -> Result<ByteStream, DomainError> {
        match self {
            Source::Chunks { manifest, data, .. } => Ok(data
                .read_range(manifest.clone(), start, end)
                .map(|r| r.map_err(std::io::Error::other))
                .boxed()),
            Source::Driver { driver, url, .. } => {
                Ok(driver.get(url, start, Some(end - start)).await?)
            }
        }
    }
}

impl Glance {
    /// The stores with their settings, for `/v2/info/stores/detail` (Glance's policy
    /// `stores_info_detail`, admin by default).
    pub fn stores_detail(&self, who: &Caller) -> Result<&Stores, DomainError> {
        self.access(who).check_reader("stores_info_detail")?;
        Ok(&self.stores)
    }

    /// `DELETE /v2/stores/{store_id}/{image_id}`: removes the image's copy in one store, never
    /// the last one (Glance's checks, in its order).
    pub async fn delete_from_store(
        &self,
        who: &Caller,
        store_id: &str,
        id: &str,
    ) -> Result<(), DomainError> {
        let Some(store) = self.stores.get(store_id).cloned() else {
            return Err(DomainError::Conflict(format!(
                "The selected store {store_id} is not available on this node."
            )));
        };
        let image = write::load(&self.meta, id)
            .await
            .map_err(|_| DomainError::NotFound(format!("Failed to find image {id}")))?;
        let access = self.access(who);
        access
            .check_view(&image)
            .map_err(|_| DomainError::NotFound(format!("Failed to find image {id}")))?;
        access.check_policy(&image, "get_image_location")?;
        access.check_policy(&image, "delete_image_location")?;
        let mut unlinked = Vec::new();
        write::modify(&self.meta, id, |img| {
            if img.status != ImageStatus::Active {
                return Err(DomainError::Conflict(
                    "It's not allowed to remove image data from store if image status is not 'active'"
                        .into(),
                ));
            }
            let held = self.stores.ids_of(img);
            if held.len() == 1 {
                return Err(DomainError::Forbidden(
                    "Cannot delete image data from the only store containing it. Consider deleting the image instead."
                        .into(),
                ));
            }
            if !held.iter().any(|s| s == store_id) {
                return Err(DomainError::NotFound(format!(
                    "Image {id} is not stored in store {store_id}."
                )));
            }
            unlinked = take_copy(img, &store, &self.stores, self.data.config().r);
            Ok(())
        })
        .await?;
        // The record no longer points at the copy; only now is its data removed (the chunk
        // store's unreferenced chunks go to the reaper).
        if let Backend::Driver(driver) = &store.backend {
            for url in unlinked {
                if let Err(e) = driver.delete(&url).await {
                    tracing::warn!(store = %store_id, url = %redact(&url), error = %e, "copy unlinked but its data could not be removed");
                }
            }
        }
        tracing::info!(image_id = %id, store = %store_id, "image copy deleted from store");
        Ok(())
    }

    /// Copies `image`'s data from its best copy into `store`; what landed (not yet in the
    /// record).
    pub(crate) async fn copy_to(
        &self,
        image: &Image,
        store: &Store,
    ) -> Result<Landed, DomainError> {
        let digests = (image.checksum.as_deref(), image.os_hash_value.as_deref());
        let (Some(md5), Some(sha512)) = digests else {
            return Err(DomainError::Conflict(format!(
                "Image {} has no checksum to copy against.",
                image.id
            )));
        };
        if let (Backend::Cluster { .. }, Some(data)) = (&store.backend, &image.data) {
            // Already in the chunk store every cluster store shares: no bytes to copy.
            let id = crate::download::manifest_id(&image.id, data)?;
            let size = image.size.unwrap_or_default();
            return self.share_chunks(id, store, size, md5, sha512).await;
        }
        let (from, source) = self.open_copy(image, Some(&store.id)).await?;
        tracing::info!(image_id = %image.id, from = %from, to = %store.id, "copying image data");
        self.copy_source(&image.id, &source, store, md5, sha512)
            .await
    }

    /// Cluster store `store`'s copy of data already in the chunk store (`manifest`, of
    /// `size` bytes with these digests): no bytes move, but before it counts every chunk is
    /// kept at the store's copies, W of them confirmed.
    pub(crate) async fn share_chunks(
        &self,
        manifest: ChunkId,
        store: &Store,
        size: u64,
        md5: &str,
        sha512: &str,
    ) -> Result<Landed, DomainError> {
        let policy = store.policy(self.data.config().r);
        let written = self.data.raise_copies(manifest, &policy).await?;
        let chunks = self.data.manifest(&manifest).await?.entries().len();
        tracing::info!(store = %store.id, %manifest, ?policy, written, "chunks kept for a cluster store");
        Ok(Landed::Chunks(Ingested {
            manifest,
            size,
            md5: md5.to_string(),
            sha512: sha512.to_string(),
            chunks,
            hold: UploadHold::none(),
        }))
    }

    /// Copies `source` (image `image_id`'s data) into `store` through the one ingest path,
    /// checking the bytes against the image's digests; what landed.
    pub(crate) async fn copy_source(
        &self,
        image_id: &str,
        source: &Source,
        store: &Store,
        md5: &str,
        sha512: &str,
    ) -> Result<Landed, DomainError> {
        let size = source.size();
        let body = source.read(0, size).await?;
        let sink = Sink::open(&self.data, store, image_id, Some(size))?;
        let (landed, _) = self.ingest_into(sink, body, Some(size)).await?;
        let (got_md5, got_sha) = match &landed {
            Landed::Chunks(i) => (&i.md5, &i.sha512),
            Landed::Driver { md5, sha512, .. } => (md5, sha512),
        };
        if got_md5 != md5 || got_sha != sha512 {
            self.discard(store, &landed).await;
            return Err(DomainError::Unavailable(format!(
                "The data of image {image_id} copied to store {} does not match its checksum.",
                store.id
            )));
        }
        Ok(landed)
    }
}

/// Unlinks the copy in `store` from `img`; the driver locations removed (an `http` store may
/// hold several of an image's locations). A
/// cluster store's copy leaves the other cluster stores' (the chunks fall back to the copies
/// those keep); the last one takes the manifest with it. `default` is the configured R.
fn take_copy(img: &mut Image, store: &Store, stores: &Stores, default: usize) -> Vec<String> {
    match store.backend {
        Backend::Cluster { .. } => {
            if let Some(data) = &mut img.data {
                let mut left = stores.cluster_copies(data, default);
                left.retain(|c| c.store != store.id);
                data.stores = left;
            }
            if img.data.as_ref().is_some_and(|d| d.stores.is_empty()) {
                img.data = None;
            }
            let url = format!(
                "{}://{}/{}",
                crate::locations::CLUSTER_SCHEME,
                store.id,
                img.id
            );
            img.location_metadata.remove(&url);
            Vec::new()
        }
        Backend::Driver(_) => {
            let (gone, kept) = std::mem::take(&mut img.locations)
                .into_iter()
                .partition(|l| l.store == store.id);
            img.locations = kept;
            let gone: Vec<String> = gone.into_iter().map(|l: Location| l.url).collect();
            for url in &gone {
                img.location_metadata.remove(url);
            }
            gone
        }
    }
}
