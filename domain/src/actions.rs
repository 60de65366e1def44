//! Image actions: deactivate (data downloads refused to non-admins) and reactivate.

use crate::caller::Caller;
use crate::error::DomainError;
use crate::lifecycle;
use crate::service::Glance;
use crate::write;
use tessera_raft::ImageStatus;

impl Glance {
    /// Deactivates an active image (admin or the owning project's member, as in Glance 33).
    pub async fn deactivate(&self, who: &Caller, id: &str) -> Result<(), DomainError> {
        self.act(
            who,
            id,
            "deactivate",
            ImageStatus::Active,
            ImageStatus::Deactivated,
        )
        .await
    }

    /// Reactivates a deactivated image.
    pub async fn reactivate(&self, who: &Caller, id: &str) -> Result<(), DomainError> {
        self.act(
            who,
            id,
            "reactivate",
            ImageStatus::Deactivated,
            ImageStatus::Active,
        )
        .await
    }

    /// Moves an image from `from` to `to`; an image already in `to` is left as it is (a
    /// no-op, as in Glance).
    async fn act(
        &self,
        who: &Caller,
        id: &str,
        action: &str,
        from: ImageStatus,
        to: ImageStatus,
    ) -> Result<(), DomainError> {
        write::modify(&self.meta, id, |img| {
            self.access(who).check_owner_write(img, action)?;
            if img.status == to {
                return Ok(());
            }
            if img.status != from {
                return Err(DomainError::Forbidden(format!(
                    "Not allowed to {action} image in status '{}'",
                    img.status.as_str()
                )));
            }
            lifecycle::advance(img, to)
        })
        .await?;
        tracing::info!(action, "image status changed");
        Ok(())
    }
}
