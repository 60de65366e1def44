//! `POST /v2/images/{id}/import`: Glance's checks of the image's state, the caller's right,
//! the import lock (`os_glance_import_task`, taken with a compare-and-set, stealable once
//! stale), then a pending `api_image_import` task for the executor.

use super::{ImportMethod, ImportRequest, IMPORT_TASK};
use crate::caller::Caller;
use crate::docs::{self, Stored, Written};
use crate::error::DomainError;
use crate::service::Glance;
use crate::tasks::{
    image_task_id, now_micros, ImageTask, Task, TaskStatus, API_IMAGE_IMPORT, TIME_TO_LIVE,
};
use crate::write;
use serde_json::json;
use tessera_raft::{Expect, Image, ImageStatus};

/// How long an import lock holds after its task last changed (Glance: an hour; twice that
/// for a task still pending).
const LOCK_EXPIRY_MICROS: i64 = 3600 * 1_000_000;

fn ttl_micros() -> i64 {
    i64::try_from(TIME_TO_LIVE.as_micros()).unwrap_or(i64::MAX)
}

/// Glance's checks of the image before an import, in its order.
fn check_image(image: &Image, method: ImportMethod) -> Result<(), DomainError> {
    let conflict = |m: String| Err(DomainError::Conflict(m));
    let copy = method == ImportMethod::CopyImage;
    if image.status == ImageStatus::Active && !copy {
        return conflict("Image with status active cannot be target for import".into());
    }
    if image.status != ImageStatus::Active && copy {
        return conflict("Only images with status active can be targeted for copying".into());
    }
    if image.status != ImageStatus::Queued
        && matches!(
            method,
            ImportMethod::WebDownload | ImportMethod::GlanceDownload
        )
    {
        return conflict(format!(
            "Image needs to be in 'queued' state to use '{}' method",
            method.as_str()
        ));
    }
    if image.status != ImageStatus::Uploading && method == ImportMethod::GlanceDirect {
        return conflict(
            "Image needs to be staged before 'glance-direct' method can be used".into(),
        );
    }
    if image.container_format.is_none() {
        return conflict("'container_format' needs to be set before import".into());
    }
    if image.disk_format.is_none() {
        return conflict("'disk_format' needs to be set before import".into());
    }
    Ok(())
}

/// Whether the lock held by `task` (none: its record is gone) may be broken at `now`.
fn lock_is_stale(task: Option<&Task>, now: i64) -> bool {
    match task {
        None => true,
        Some(t) => {
            let expiry = if t.status == TaskStatus::Pending {
                2 * LOCK_EXPIRY_MICROS
            } else {
                LOCK_EXPIRY_MICROS
            };
            now - t.updated_at >= expiry
        }
    }
}

impl Glance {
    /// Starts an import into `id`; the id of the task that runs it (none: a `copy-image` to
    /// `all_stores` of an image already in every store, which has nothing to do).
    pub async fn import_image(
        &self,
        who: &Caller,
        id: &str,
        mut req: ImportRequest,
        request_id: Option<String>,
    ) -> Result<Option<String>, DomainError> {
        let image = write::load(&self.meta, id).await?;
        self.access(who).check_view(&image)?;
        check_image(&image, req.method)?;
        if req.method == ImportMethod::GlanceDownload {
            req.check_glance_download()?;
        }
        let action = if req.method == ImportMethod::CopyImage {
            "copy_image"
        } else {
            "modify_image"
        };
        self.access(who).check_owner_write(&image, action)?;
        if req.method == ImportMethod::CopyImage {
            let held = self.stores.ids_of(&image);
            if req.all_stores {
                req.stores.retain(|s| !held.contains(s));
                if req.stores.is_empty() {
                    return Ok(None);
                }
            } else if let Some(s) = req.stores.iter().find(|s| held.contains(s)) {
                return Err(DomainError::Invalid(format!(
                    "Image is already present at store '{s}'"
                )));
            }
        }
        if req.method == ImportMethod::WebDownload {
            let uri = req.uri().unwrap_or("None");
            if let Err(e) = self.import.filter.check(uri).await {
                tracing::info!(%uri, reason = %e, "web-download URI refused");
                return Err(DomainError::Invalid(format!(
                    "URI for web-download does not pass filtering: {uri}"
                )));
            }
        }
        let stale = match image.properties.get(IMPORT_TASK) {
            Some(holder) => Some(self.break_stale_lock(id, holder).await?),
            None => None,
        };

        let task_id = uuid::Uuid::new_v4().to_string();
        let mut task = Task::new(
            API_IMAGE_IMPORT,
            &who.project,
            json!({"image_id": id, "import_req": req.body, "backend": req.stores}),
        );
        task.image_id = Some(id.to_string());
        task.user_id = Some(who.user.clone());
        task.roles = who.roles.clone();
        if req.method == ImportMethod::GlanceDownload {
            // Only this method acts for the caller elsewhere; no other task keeps a token.
            task.delegation = req.delegation.take();
        }
        task.request_id = request_id;

        // The lock: only while nobody (or only the stale holder) has it.
        write::modify(&self.meta, id, |img| {
            if img.properties.get(IMPORT_TASK) != stale.as_ref() {
                return Err(DomainError::Conflict(format!(
                    "New operation on image '{id}' is not permitted as prior operation is still in progress"
                )));
            }
            check_image(img, req.method)?;
            img.properties.insert(IMPORT_TASK.into(), task_id.clone());
            Ok(())
        })
        .await?;
        let ops = vec![
            docs::put(&task_id, Expect::Absent, &task)?,
            docs::put(&image_task_id(id, &task_id), Expect::Absent, &ImageTask {})?,
        ];
        if let Err(e) = docs::write(&self.meta, ops).await {
            // Without its task the lock would only go stale; drop it now.
            self.drop_lock(id, &task_id).await;
            return Err(e);
        }
        tracing::info!(task_id = %task_id, method = req.method.as_str(), "import task created");
        Ok(Some(task_id))
    }

    /// Breaks the lock `holder` has on `id` if it is stale (failing its task with Glance's
    /// message), and returns it; 409 while it is valid.
    pub(crate) async fn break_stale_lock(
        &self,
        id: &str,
        holder: &str,
    ) -> Result<String, DomainError> {
        let task: Option<Stored<Task>> = docs::get(&self.meta, holder).await?;
        if !lock_is_stale(task.as_ref().map(|t| &t.value), now_micros()) {
            tracing::warn!(image_id = %id, task_id = %holder, "image has an active import task");
            return Err(DomainError::Conflict("Image has active task".into()));
        }
        if let Some(t) = task.filter(|t| !t.value.status.is_final()) {
            let mut failed = t.value.clone();
            failed.finish(Err("Expired lock preempted".into()), ttl_micros());
            let op = docs::put(holder, Expect::Revision(t.revision), &failed)?;
            if let Written::Conflict(_) = docs::write(&self.meta, vec![op]).await? {
                return Err(DomainError::Conflict("Image has active task".into()));
            }
        }
        tracing::warn!(image_id = %id, task_id = %holder, "stale import lock broken");
        Ok(holder.to_string())
    }

    /// Removes the import lock of `task` from `id`, if it still holds it.
    pub(crate) async fn drop_lock(&self, id: &str, task: &str) {
        let dropped = write::modify(&self.meta, id, |img| {
            if img.properties.get(IMPORT_TASK).map(String::as_str) == Some(task) {
                img.properties.remove(IMPORT_TASK);
            }
            Ok::<_, DomainError>(())
        })
        .await;
        if let Err(e) = dropped {
            tracing::warn!(image_id = %id, task_id = %task, error = %e, "could not drop the import lock");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_go_stale_after_an_hour_or_two_when_pending() {
        let mut t = Task::new(API_IMAGE_IMPORT, "p", json!({}));
        t.status = TaskStatus::Processing;
        let h = LOCK_EXPIRY_MICROS;
        assert!(lock_is_stale(None, 0));
        assert!(!lock_is_stale(Some(&t), t.updated_at + h - 1));
        assert!(lock_is_stale(Some(&t), t.updated_at + h));
        t.status = TaskStatus::Pending;
        assert!(!lock_is_stale(Some(&t), t.updated_at + h));
        assert!(lock_is_stale(Some(&t), t.updated_at + 2 * h));
    }

    #[test]
    fn state_checks_follow_glance() {
        let mut img = Image::new("i".into(), None, 0);
        let e = check_image(&img, ImportMethod::GlanceDirect).unwrap_err();
        assert!(e.to_string().contains("needs to be staged"));
        img.status = ImageStatus::Uploading;
        let e = check_image(&img, ImportMethod::GlanceDirect).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'container_format' needs to be set before import"
        );
        img.container_format = Some("bare".into());
        img.disk_format = Some("raw".into());
        assert!(check_image(&img, ImportMethod::GlanceDirect).is_ok());
        img.status = ImageStatus::Active;
        let e = check_image(&img, ImportMethod::GlanceDirect).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Image with status active cannot be target for import"
        );
    }
}
