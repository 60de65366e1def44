//! Image tags: added (idempotently) and removed one at a time.

use crate::caller::Caller;
use crate::error::DomainError;
use crate::service::Glance;
use crate::write;

/// Glance's limit on a tag's length.
pub const MAX_TAG_LEN: usize = 255;

impl Glance {
    /// Tags `id` with `tag` (a no-op if it has it), within the tag quota: like Glance, an
    /// image already over a lowered quota refuses even a tag it has.
    pub async fn add_tag(&self, who: &Caller, id: &str, tag: &str) -> Result<(), DomainError> {
        if tag.chars().count() > MAX_TAG_LEN {
            return Err(DomainError::Invalid(format!(
                "Tag is longer than {MAX_TAG_LEN} characters."
            )));
        }
        write::modify(&self.meta, id, |img| {
            self.access(who).check_owner_write(img, "modify_image")?;
            img.tags.insert(tag.to_string());
            self.settings
                .quotas
                .check_tags(&img.tags)
                .map_err(|e| DomainError::image_limit(id, e))
        })
        .await?;
        Ok(())
    }

    /// Removes `tag` from `id`; 404 when the image does not have it.
    pub async fn remove_tag(&self, who: &Caller, id: &str, tag: &str) -> Result<(), DomainError> {
        write::modify(&self.meta, id, |img| {
            self.access(who).check_owner_write(img, "modify_image")?;
            if img.tags.remove(tag) {
                Ok(())
            } else {
                Err(DomainError::NotFound(format!("Tag {tag} not found.")))
            }
        })
        .await?;
        Ok(())
    }
}
