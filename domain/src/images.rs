//! Image records: create, show, list, update and delete (with Glance's delayed delete to
//! `pending_delete`).

use crate::caller::Caller;
use crate::error::DomainError;
use crate::lifecycle;
use crate::limits;
use crate::service::Glance;
use crate::write::{self, now};
use tessera_raft::{Image, ImageStatus, ListQuery, Viewer};

/// What a create request asks for beyond the record's fields, read from the request.
#[derive(Debug)]
pub struct NewImage<'a, E> {
    /// The id the client chose, if any; `Err` when it is malformed (refused after the
    /// `add_image` rule, which Glance checks first).
    pub id: Result<Option<String>, E>,
    /// The owner the client named, if any.
    pub owner: Option<&'a str>,
    /// The visibility the client asked for, if any.
    pub visibility: Option<&'a str>,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The record is gone.
    Removed,
    /// Delayed delete: the image is `pending_delete` until the reaper scrubs it.
    Pending,
}

impl Glance {
    /// Creates a `queued` image. `build` fills the client's fields into the template (a
    /// fresh record with the id, owned by the caller's project) and may refuse them.
    pub async fn create<E, F>(
        &self,
        who: &Caller,
        new: NewImage<'_, E>,
        build: F,
    ) -> Result<Image, E>
    where
        E: From<DomainError>,
        F: FnOnce(Image) -> Result<Image, E>,
    {
        let access = self.access(who);
        access.check_create(new.owner)?;
        let id = new.id?.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if let Some(v) = new.visibility {
            access.check_visibility(new.owner, v)?;
        }
        let template = Image::new(id.clone(), Some(who.project.clone()), now());
        let mut image = build(template)?;
        image.id = id;
        image.status = ImageStatus::Queued;
        if new.owner.is_none() {
            image.owner = Some(who.project.clone());
        }
        self.check_created_properties(who, &image)?;
        self.settings
            .quotas
            .check_new_image(&image)
            .map_err(DomainError::from)?;
        let limits = self
            .limit_checks(image.owner.as_deref(), limits::CREATE)
            .await?;
        let mut stored = write::create(&self.meta, image, limits).await?;
        tracing::info!(image_id = %stored.id, "image created");
        self.hide_unreadable(who, &mut stored);
        Ok(stored)
    }

    /// The image `id` as the caller may see it.
    pub async fn show(&self, who: &Caller, id: &str) -> Result<Image, DomainError> {
        let mut img = write::load(&self.meta, id).await?;
        self.access(who).check_view(&img)?;
        self.hide_unreadable(who, &mut img);
        Ok(img)
    }

    /// One page of the images the caller may see; `query` turns the caller's view into the
    /// page asked for (filters, sort, marker).
    pub async fn list<E, F>(&self, who: &Caller, query: F) -> Result<Vec<Image>, E>
    where
        E: From<DomainError>,
        F: FnOnce(Viewer) -> Result<ListQuery, E>,
    {
        let access = self.access(who);
        access.check_reader("get_images")?;
        let query = query(access.viewer())?;
        let mut page = self
            .meta
            .list_images(&query)
            .await
            .map_err(DomainError::from)?;
        for img in &mut page {
            self.hide_unreadable(who, img);
        }
        Ok(page)
    }

    /// Changes the client-settable fields of `id` with `apply` (a JSON patch, say), under
    /// `modify_image`, the owner and visibility rules and the per-image quotas; retried on a
    /// concurrent change.
    pub async fn update<E, F>(&self, who: &Caller, id: &str, mut apply: F) -> Result<Image, E>
    where
        E: From<DomainError>,
        F: FnMut(&mut Image) -> Result<(), E>,
    {
        let mut stored = write::modify(&self.meta, id, |img| {
            let access = self.access(who);
            access.check_owner_write(img, "modify_image")?;
            let before = img.clone();
            // The change applies to what the caller sees: a property it may not read is
            // absent to it (as in Glance), and kept unless the change creates it anew.
            let hidden = self.hide_unreadable(who, img);
            let seen = img.properties.clone();
            apply(img)?;
            self.check_property_changes(who, &seen, &img.properties)?;
            for (k, v) in hidden {
                img.properties.entry(k).or_insert(v);
            }
            access.check_changes(&before, img)?;
            self.settings
                .quotas
                .check_update(&before, img)
                .map_err(DomainError::from)?;
            // Only the service moves an image through its lifecycle.
            img.status = before.status;
            Ok::<(), E>(())
        })
        .await?;
        self.hide_unreadable(who, &mut stored);
        Ok(stored)
    }

    /// Deletes `id`: removes the record, or with delayed delete moves an image with data to
    /// `pending_delete` for the reaper.
    pub async fn delete(&self, who: &Caller, id: &str) -> Result<Deleted, DomainError> {
        let check = |img: &Image| {
            self.access(who).check_owner_write(img, "delete_image")?;
            if img.protected {
                return Err(DomainError::Forbidden(format!(
                    "Image {id} is protected and cannot be deleted."
                )));
            }
            if matches!(
                img.status,
                ImageStatus::Deleted | ImageStatus::PendingDelete
            ) {
                return Err(DomainError::no_image(id));
            }
            Ok(())
        };
        if self.settings.delayed_delete {
            // Like Glance, only an image with data waits for the scrubber.
            let img = write::modify(&self.meta, id, |img| {
                check(img)?;
                if img.has_data() {
                    lifecycle::advance(img, ImageStatus::PendingDelete)?;
                }
                Ok::<_, DomainError>(())
            })
            .await?;
            if img.status == ImageStatus::PendingDelete {
                tracing::info!("image pending delete");
                return Ok(Deleted::Pending);
            }
        }
        let gone = write::delete(&self.meta, id, check).await?;
        self.stores.remove_copies(&gone).await;
        tracing::info!("image deleted");
        // As Glance's cache middleware does on a delete; other nodes' prefetchers drop their
        // copies when they next check their records.
        if let Some(cache) = &self.cache {
            if let Err(e) = cache.remove(id) {
                tracing::warn!(error = %e, "removing the deleted image from the cache failed");
            }
        }
        Ok(Deleted::Removed)
    }
}
