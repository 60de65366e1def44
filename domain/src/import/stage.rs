//! `PUT /v2/images/{id}/stage`: `queued -> uploading`, the bytes streamed into the cluster's
//! chunk store (so any node can finish the import), the result recorded as a [`Staged`]
//! document and the image's `size` set; back to `queued` on any failure.
//!
//! A staged document outlives its use only until the executor's sweep sees its image is no
//! longer `uploading` or `importing` (imported, failed, deleted), so no stage leaks.

use crate::caller::Caller;
use crate::docs::{self, DocKind};
use crate::error::DomainError;
use crate::lifecycle;
use crate::limits;
use crate::service::Glance;
use crate::tasks::StoredData;
use crate::write;
use bytes::Bytes;
use futures::Stream;
use serde::{Deserialize, Serialize};
use std::fmt::Display;
use tessera_raft::{Expect, ImageStatus, Meta};

/// Staged data of an image, under the image's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// The data in the chunk store.
    pub data: StoredData,
}

impl DocKind for Staged {
    const KIND: &'static str = "staged";
}

impl Glance {
    /// Stages `body` for the queued image `id`; `announced` is the size the client said it
    /// would send. The transfer runs in its own task so a client that goes away cannot
    /// leave the image half-staged.
    pub async fn stage<S, E>(
        &self,
        who: &Caller,
        id: &str,
        body: S,
        announced: Option<u64>,
    ) -> Result<(), DomainError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let owner = write::load(&self.meta, id).await?.owner;
        let limits = self.limit_checks(owner.as_deref(), limits::STAGE).await?;
        write::modify_within(&self.meta, id, &limits, |img| {
            // Glance: staging has no policy of its own; it needs `modify_image`.
            self.access(who).check_owner_write(img, "modify_image")?;
            lifecycle::advance(img, ImageStatus::Uploading)
        })
        .await?;
        let work = self.clone().store_stage(id.to_string(), body, announced);
        self.detached(id, ImageStatus::Uploading, work).await
    }

    async fn store_stage<S, E>(
        self,
        id: String,
        body: S,
        announced: Option<u64>,
    ) -> Result<(), DomainError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Display + Send,
    {
        let (done, detected) = match self.ingest(body, announced).await {
            Ok(done) => done,
            Err(e) => {
                self.revert_to_queued(&id, ImageStatus::Uploading).await;
                return Err(e);
            }
        };
        let (size, chunks) = (done.size, done.chunks);
        let staged = Staged {
            data: StoredData::new(&done, detected),
        };
        if let Err(e) = docs::write(&self.meta, vec![docs::put(&id, Expect::Any, &staged)?]).await {
            self.revert_to_queued(&id, ImageStatus::Uploading).await;
            return Err(e);
        }
        let sized = write::modify(&self.meta, &id, |img| {
            if img.status != ImageStatus::Uploading {
                return Err(DomainError::Conflict(format!(
                    "Image {id} changed to status '{}' while it was staged.",
                    img.status.as_str()
                )));
            }
            img.size = Some(size);
            Ok(())
        })
        .await;
        match sized {
            Ok(_) => {
                tracing::info!(size, chunks, "image data staged");
                Ok(())
            }
            // The sweep removes the staged document of an image that moved on.
            Err(DomainError::NotFound(_)) => Err(DomainError::Gone(format!(
                "Image {id} could not be found after upload. The image may have been deleted during the upload."
            ))),
            Err(e) => Err(e),
        }
    }
}

/// Whether the image `id` has staged data, by this node's possibly stale copy (the reaper
/// asks, to leave a finished stage waiting for its import).
pub fn is_staged_local(meta: &Meta, id: &str) -> Result<bool, DomainError> {
    Ok(meta
        .list_docs_local(Staged::KIND, id)?
        .iter()
        .any(|d| d.id == id))
}

/// Removes staged data whose image is gone or no longer waits for an import; each removal
/// expects the revision read, so a stage written meanwhile stays.
pub async fn sweep_stages(glance: &Glance) -> Result<(), DomainError> {
    for staged in docs::list_local::<Staged>(&glance.meta, "")? {
        let waiting = glance.meta.get_image(&staged.id).await?.is_some_and(|img| {
            matches!(img.status, ImageStatus::Uploading | ImageStatus::Importing)
        });
        if !waiting {
            let op = docs::remove::<Staged>(&staged.id, Expect::Revision(staged.revision));
            docs::write(&glance.meta, vec![op]).await?;
            tracing::info!(image_id = %staged.id, "staged data released");
        }
    }
    Ok(())
}
