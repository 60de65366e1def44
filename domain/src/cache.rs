//! Glance's image cache API (2.14) over this node's [`ImageCache`]: list, queue, delete one,
//! clear; policies `cache_list`, `cache_image`, `cache_delete` (admin by default), checked
//! before anything else as Glance does, then "not supported at this site" (404) when the
//! node runs without a cache.

use crate::caller::Caller;
use crate::error::DomainError;
use crate::policy::Target;
use crate::service::Glance;
use crate::write;
use tessera_raft::{Image, ImageStatus};
use tessera_replication::{CachedImage, Cleared, ImageCache};

/// Which part of the cache `DELETE /v2/cache` empties (`x-image-cache-clear-target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearTarget {
    /// The cached images.
    Cache,
    /// The queue.
    Queue,
    /// Both (no header, or an empty one).
    Both,
}

impl ClearTarget {
    /// Parses the header's value as Glance does (case-insensitive; empty means both).
    pub fn parse(value: &str) -> Result<ClearTarget, DomainError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" => Ok(ClearTarget::Both),
            "cache" => Ok(ClearTarget::Cache),
            "queue" => Ok(ClearTarget::Queue),
            _ => Err(DomainError::Invalid(
                "If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or empty string."
                    .into(),
            )),
        }
    }
}

impl Glance {
    /// Checks cache policy `name` (on `image` when there is one), then that this node has a
    /// cache.
    fn cache_for(
        &self,
        who: &Caller,
        name: &str,
        image: Option<&Image>,
    ) -> Result<&ImageCache, DomainError> {
        let access = self.access(who);
        let target = image.map_or_else(Target::new, |i| access.image_target(i));
        if !access.allows(name, &target) {
            tracing::debug!(policy = name, "image cache call refused by policy");
            return Err(DomainError::Forbidden(
                "Access was denied to this resource.".into(),
            ));
        }
        self.cache.as_ref().ok_or_else(|| {
            DomainError::NotFound("Caching via API is not supported at this site.".into())
        })
    }

    /// The image `id` as the caller sees it, if it exists for them.
    async fn cache_image_record(&self, who: &Caller, id: &str) -> Result<Image, DomainError> {
        let image = write::load(&self.meta, id).await?;
        self.access(who).check_view(&image)?;
        Ok(image)
    }

    /// `GET /v2/cache`: this node's cached images and queued image ids.
    pub fn cache_state(
        &self,
        who: &Caller,
    ) -> Result<(Vec<CachedImage>, Vec<String>), DomainError> {
        Ok(self.cache_for(who, "cache_list", None)?.listing())
    }

    /// `PUT /v2/cache/{id}`: queues an active image for the prefetcher.
    pub async fn cache_queue(&self, who: &Caller, id: &str) -> Result<(), DomainError> {
        let image = match self.cache_image_record(who, id).await {
            Err(DomainError::NotFound(_)) => {
                return Err(DomainError::NotFound(format!("Image {id} not found.")))
            }
            other => other?,
        };
        let cache = self.cache_for(who, "cache_image", Some(&image))?;
        if image.status != ImageStatus::Active {
            return Err(DomainError::Invalid(
                "Only images with status active can be targeted for queueing".into(),
            ));
        }
        cache.queue(id)?;
        Ok(())
    }

    /// `DELETE /v2/cache/{id}`: removes the image from the cache and the queue. An image
    /// gone from the records can still be removed while it is cached or queued.
    pub async fn cache_delete(&self, who: &Caller, id: &str) -> Result<(), DomainError> {
        let image = match self.cache_image_record(who, id).await {
            Ok(image) => Some(image),
            Err(DomainError::NotFound(_)) => {
                if !self.cache.as_ref().is_some_and(|c| c.contains(id)) {
                    return Err(DomainError::NotFound(format!("Image {id} not found.")));
                }
                None
            }
            Err(e) => return Err(e),
        };
        self.cache_for(who, "cache_delete", image.as_ref())?
            .remove(id)?;
        Ok(())
    }

    /// `DELETE /v2/cache`: empties the cache, the queue or both.
    pub fn cache_clear(&self, who: &Caller, target: ClearTarget) -> Result<Cleared, DomainError> {
        let cache = self.cache_for(who, "cache_delete", None)?;
        Ok(cache.clear(target != ClearTarget::Queue, target != ClearTarget::Cache)?)
    }

    /// The cache of this node, if it has one.
    pub fn image_cache(&self) -> Option<&ImageCache> {
        self.cache.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_targets_as_glance_reads_the_header() {
        for (value, want) in [
            ("", ClearTarget::Both),
            ("cache", ClearTarget::Cache),
            ("QUEUE", ClearTarget::Queue),
            (" Cache ", ClearTarget::Cache),
        ] {
            assert_eq!(ClearTarget::parse(value).unwrap(), want, "{value:?}");
        }
        // glanceclient sends no header for "both"; the word itself is refused, as in Glance.
        for bad in ["both", "all", "?"] {
            assert!(matches!(
                ClearTarget::parse(bad),
                Err(DomainError::Invalid(_))
            ));
        }
    }
}
