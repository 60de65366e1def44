//! Image data in: `queued` -> `saving`, the bytes streamed into the chosen store (the default
//! one, or the one `X-Image-Meta-Store` names) under the size cap and any announced size,
//! then `active`, or back to `queued` on any failure so the upload can be retried.

use crate::caller::Caller;
use crate::error::DomainError;
use crate::inspector::{self, Detected, Inspector};
use crate::lifecycle;
use crate::limits;
use crate::service::Glance;
use crate::stores::sink::Landed;
use crate::stores::{redact, Backend, Sink, Store};
use crate::write;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::fmt::Display;
use std::future::Future;
use tessera_raft::{DataRef, Image, ImageStatus};
use tessera_replication::Ingested;
use tracing::Instrument;

impl Glance {
    /// Stores `body` as the data of the queued image `id` in store `store` (none: the
    /// default store). `announced` is the size the client said it would send, if it did. The
    /// upload runs in its own task, so a caller that goes away cannot cancel it half-way and
    /// leave the image stuck in `saving`.
    pub async fn upload<S, E>(
        &self,
        who: &Caller,
        id: &str,
        body: S,
        announced: Option<u64>,
        store: Option<&str>,
    ) -> Result<(), DomainError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        // Glance checks the store before anything else.
        let store = self.stores.writable(store)?.clone();
        // Refused while at a cap before anything changes; held until the upload task ends,
        // even if the caller goes away.
        let slot = self.uploads.take(&who.project)?;
        // The owner is the one thing the limits depend on, and no upload changes it.
        let owner = write::load(&self.meta, id).await?.owner;
        let limits = self.limit_checks(owner.as_deref(), limits::UPLOAD).await?;
        let mut formats = (None, None);
        write::modify_within(&self.meta, id, &limits, |img| {
            self.access(who).check_owner_write(img, "upload_image")?;
            formats = (img.disk_format.clone(), img.container_format.clone());
            lifecycle::check(img.status, ImageStatus::Saving)?;
            if img.disk_format.is_none() || img.container_format.is_none() {
                return Err(DomainError::Invalid(
                    "Properties disk_format, container_format must be set prior to saving data."
                        .into(),
                ));
            }
            lifecycle::advance(img, ImageStatus::Saving)
        })
        .await?;
        let work = self
            .clone()
            .store_upload(id.to_string(), body, announced, formats, store);
        // The upload slot is held until the transfer ends, even if the caller goes away.
        let work = async move {
            let result = work.await;
            drop(slot);
            result
        };
        self.detached(id, ImageStatus::Saving, work).await
    }

    /// The whole upload once the image is `saving`.
    async fn store_upload<S, E>(
        self,
        id: String,
        body: S,
        announced: Option<u64>,
        (disk, container): (Option<String>, Option<String>),
        store: Store,
    ) -> Result<(), DomainError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Display + Send,
    {
        let landed = match Sink::open(&self.data, &store, &id, announced) {
            Ok(sink) => self.ingest_into(sink, body, announced).await,
            Err(e) => Err(e),
        };
        let (done, virtual_size) = match landed {
            Ok((done, detected)) => {
                let strict = self.import.require_format_match;
                match inspector::verdict(&detected, disk.as_deref(), container.as_deref(), strict) {
                    Ok(v) => (done, v),
                    Err(refused) => {
                        self.discard(&store, &done).await;
                        self.back_to_queued(&id).await;
                        return Err(DomainError::InvalidImageData(refused));
                    }
                }
            }
            Err(e) => {
                self.back_to_queued(&id).await;
                return Err(e);
            }
        };
        let activated = write::modify(&self.meta, &id, |img| {
            if img.status != ImageStatus::Saving {
                return Err(DomainError::Conflict(format!(
                    "Image {id} changed to status '{}' during the upload.",
                    img.status.as_str()
                )));
            }
            img.virtual_size = virtual_size.or(img.virtual_size);
            self.give_data(img, &store, &done);
            lifecycle::advance(img, ImageStatus::Active)
        })
        .await;
        match activated {
            Ok(_) => {
                tracing::info!(size = done.size(), store = %store.id, "image data stored");
                Ok(())
            }
            Err(e) => {
                self.discard(&store, &done).await;
                match e {
                    DomainError::NotFound(_) => Err(DomainError::Gone(format!(
                        "Image {id} could not be found after upload. The image may have been deleted during the upload."
                    ))),
                    e => {
                        self.back_to_queued(&id).await;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Removes what an upload left in a store's driver when the image did not take it (the
    /// chunk store's unreferenced chunks go to the reaper).
    pub(crate) async fn discard(&self, store: &Store, landed: &Landed) {
        if let (Backend::Driver(driver), Landed::Driver { location, .. }) = (&store.backend, landed)
        {
            if let Err(e) = driver.delete(&location.url).await {
                tracing::warn!(store = %store.id, url = %redact(&location.url), error = %e, "could not remove unused data");
            }
        }
    }

    /// Streams `body` into the chunk store, enforcing the size cap and any announced size,
    /// and inspects its format on the way (staging and web-download land there).
    pub(crate) async fn ingest<S, E>(
        &self,
        body: S,
        announced: Option<u64>,
    ) -> Result<(Ingested, Detected), DomainError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display + Send,
    {
        let sink = Sink::Chunks(self.data.ingest());
        let (landed, detected) = self.ingest_into(sink, body, announced).await?;
        Ok((landed.into_chunks()?, detected))
    }

    /// Streams `body` into `sink`, enforcing the size cap and any announced size, and
    /// inspects its format on the way: the one path every upload takes, whatever the store.
    pub(crate) async fn ingest_into<S, E>(
        &self,
        mut sink: Sink,
        body: S,
        announced: Option<u64>,
    ) -> Result<(Landed, Detected), DomainError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display + Send,
    {
        let mut inspector = Inspector::new();
        match self.feed(&mut sink, &mut inspector, body, announced).await {
            Ok(()) => Ok((sink.finish().await?, inspector.finish())),
            Err(e) => {
                sink.abort().await;
                Err(e)
            }
        }
    }

    async fn feed<S, E>(
        &self,
        writer: &mut Sink,
        inspector: &mut Inspector,
        body: S,
        announced: Option<u64>,
    ) -> Result<(), DomainError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display + Send,
    {
        let cap = self.settings.image_size_cap;
        let mut body = std::pin::pin!(body);
        let mut received: u64 = 0;
        while let Some(frame) = body.next().await {
            let bytes = frame.map_err(|e| {
                DomainError::Invalid(format!(
                    "Error reading image data from the request after {received} bytes: {e}"
                ))
            })?;
            received += bytes.len() as u64;
            if received > cap {
                return Err(DomainError::TooLarge(format!(
                    "Image exceeds the storage quota: the size cap is {cap} bytes."
                )));
            }
            if let Some(n) = announced.filter(|n| received > *n) {
                return Err(DomainError::Invalid(format!(
                    "Size exceeds: expected {n} bytes, got {received} bytes"
                )));
            }
            inspector.feed(&bytes);
            writer.write(bytes).await?;
        }
        if let Some(n) = announced.filter(|n| *n != received) {
            return Err(DomainError::Invalid(format!(
                "Size mismatch: expected {n} bytes, got {received} bytes"
            )));
        }
        Ok(())
    }

    /// Runs the data transfer `work` of image `id` in its own task, so a caller that goes
    /// away cannot cancel it half-way; if that task dies, the image returns from `from` to
    /// `queued`.
    pub(crate) async fn detached<F>(
        &self,
        id: &str,
        from: ImageStatus,
        work: F,
    ) -> Result<(), DomainError>
    where
        F: Future<Output = Result<(), DomainError>> + Send + 'static,
    {
        match tokio::spawn(work.in_current_span()).await {
            Ok(result) => result,
            Err(e) => {
                self.revert_to_queued(id, from).await;
                Err(DomainError::Internal(format!(
                    "image data transfer failed: {e}"
                )))
            }
        }
    }

    /// Puts a `saving` image back to `queued` after a failed upload, so it can be retried.
    async fn back_to_queued(&self, id: &str) {
        self.revert_to_queued(id, ImageStatus::Saving).await;
    }

    /// Puts an image still in `from` back to `queued` after its data failed to arrive.
    pub(crate) async fn revert_to_queued(&self, id: &str, from: ImageStatus) {
        let reverted = write::modify(&self.meta, id, |img| {
            if img.status == from {
                lifecycle::advance(img, ImageStatus::Queued)?;
            }
            Ok::<_, DomainError>(())
        })
        .await;
        if let Err(e) = reverted {
            tracing::warn!(error = %e, "could not return image to queued after a failed upload");
        }
    }
}

impl Glance {
    /// Records `done` as the image's data in `store`, where it landed, with its size and
    /// digests. A cluster store's copy joins the other cluster stores' copies of the same
    /// manifest, with the copies of each chunk it keeps.
    pub(crate) fn give_data(&self, img: &mut Image, store: &Store, done: &Landed) {
        let (size, md5, sha512) = match done {
            Landed::Chunks(i) => {
                let manifest = i.manifest.to_string();
                let default = self.data.config().r;
                let mut stores = match &img.data {
                    Some(d) if d.manifest == manifest => self.stores.cluster_copies(d, default),
                    _ => Vec::new(),
                };
                stores.retain(|c| c.store != store.id);
                stores.extend(store.cluster_copy(default));
                img.data = Some(DataRef { manifest, stores });
                (i.size, &i.md5, &i.sha512)
            }
            Landed::Driver {
                location,
                size,
                md5,
                sha512,
            } => {
                img.locations.retain(|l| l.store != location.store);
                img.locations.push(location.clone());
                (*size, md5, sha512)
            }
        };
        img.size = Some(size);
        img.checksum = Some(md5.clone());
        img.os_hash_algo = Some("sha512".into());
        img.os_hash_value = Some(sha512.clone());
    }
}
