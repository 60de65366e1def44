//! Glance's legacy import task (`POST /v2/tasks` with type `import`; deprecated in Glance,
//! still served, admin-only by default through `tasks_api_access`): the task creates the
//! image from `input.image_properties`, fetches `input.import_from` under the same URL
//! rules as `web-download`, and activates the image (`queued -> saving -> active`); a
//! failed task deletes the image it made, as Glance's flow reverts it.
//!
//! As with the interoperable import, the outcome is decided and recorded in the task under
//! the claim before the image changes, and the id of the image to make is recorded before
//! it is made, so a node taking the task over finishes the same image the same way.

use super::web_download::{self, DownloadError};
use crate::caller::{Caller, Scope};
use crate::docs::{self, Stored};
use crate::error::DomainError;
use crate::images::NewImage;
use crate::inspector;
use crate::lifecycle;
use crate::service::Glance;
use crate::tasks::claim::{Claim, Fenced};
use crate::tasks::{Decision, StoredData, Task, TaskStatus};
use crate::write;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tessera_raft::{DataRef, Expect, Image, ImageStatus};

/// Glance's task type of the legacy import.
pub const LEGACY_IMPORT: &str = "import";

/// Fills an image record from Glance's image fields (a create request's body), as
/// `POST /v2/images` does; `api` implements it with its schema and view.
pub trait ImageFields: Send + Sync {
    /// Applies `fields` to the fresh record `image`, or says why they are refused.
    fn apply(&self, image: Image, fields: &Map<String, Value>) -> Result<Image, String>;
}

/// The shared handle of an [`ImageFields`].
pub type SharedImageFields = Arc<dyn ImageFields>;

/// Glance's check of `import_from` at task creation (`validate_location_uri`).
fn check_location(location: Option<&Value>) -> Result<&str, String> {
    let uri = match location {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        Some(Value::String(_)) => return Err("Invalid location: ".into()),
        None | Some(Value::Null) => return Err("Invalid location: None".into()),
        Some(other) => return Err(format!("Invalid location: {other}")),
    };
    if uri.starts_with("http://") || uri.starts_with("https://") {
        Ok(uri)
    } else if uri.starts_with("file:///") || uri.starts_with("filesystem:///") {
        Err(
            "File based imports are not allowed. Please use a non-local source of image data."
                .into(),
        )
    } else {
        Err("The given uri is not valid. Please specify a valid uri from the following list of supported uri ['http']".into())
    }
}

/// The input fields a legacy import needs (Glance's `unpack_task_input`).
fn check_input(input: &Value) -> Result<(), String> {
    for key in ["import_from", "import_from_format", "image_properties"] {
        if input.get(key).is_none() {
            return Err(format!("Input does not contain '{key}' field"));
        }
    }
    Ok(())
}

impl Glance {
    /// `POST /v2/tasks`' access rule (`tasks_api_access`), which Glance checks before it
    /// reads the body.
    pub fn check_task_create(&self, who: &Caller) -> Result<(), DomainError> {
        self.access(who).check_reader("tasks_api_access")
    }

    /// Creates a pending task of `kind` with `input` (checked by the task schema); for a
    /// legacy `import`, its URL is checked as Glance checks it first (400).
    pub async fn create_task(
        &self,
        who: &Caller,
        kind: &str,
        input: Value,
        request_id: Option<String>,
    ) -> Result<Stored<Task>, DomainError> {
        self.check_task_create(who)?;
        if kind == LEGACY_IMPORT {
            let uri = check_location(input.get("import_from")).map_err(DomainError::Invalid)?;
            if let Err(e) = self.import.filter.check(uri).await {
                tracing::info!(%uri, reason = %e, "legacy import URI refused");
                return Err(DomainError::Invalid(format!(
                    "URI for legacy import task does not pass filtering: {uri}"
                )));
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut task = Task::new(kind, &who.project, input);
        task.image_id = task
            .input
            .get("image_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        task.user_id = Some(who.user.clone());
        task.roles = who.roles.clone();
        task.request_id = request_id;
        docs::write(&self.meta, vec![docs::put(&id, Expect::Absent, &task)?]).await?;
        tracing::info!(task_id = %id, kind, "task created");
        docs::get::<Task>(&self.meta, &id)
            .await?
            .ok_or_else(|| DomainError::Internal(format!("task {id} vanished after creation")))
    }
}

/// Runs a claimed legacy import task to its end; its final status.
pub async fn run_task(glance: &Glance, claim: &Claim, ttl: i64) -> Result<TaskStatus, Fenced> {
    let task = claim.task().await;
    if let Err(message) = check_input(&task.input) {
        return finish(claim, Err(message), ttl).await;
    }
    let image_id = match &task.made_image {
        Some(id) => id.clone(),
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            claim.update(|t| t.made_image = Some(id.clone())).await?;
            id
        }
    };
    let decision = match task.decision.clone() {
        Some(d) => d,
        None => {
            let d = decide(glance, claim, &task, &image_id).await?;
            claim.update(|t| t.decision = Some(d.clone())).await?;
            d
        }
    };
    let outcome = match &decision {
        Decision::Data(data) => activate(glance, &image_id, data).await,
        Decision::Failed(message) => Err(message.clone()),
    };
    if outcome.is_err() {
        remove_image(glance, &image_id).await;
    }
    finish(claim, outcome.map(|()| json!({"image_id": image_id})), ttl).await
}

async fn finish(
    claim: &Claim,
    outcome: Result<Value, String>,
    ttl: i64,
) -> Result<TaskStatus, Fenced> {
    if let Err(message) = &outcome {
        tracing::warn!(%message, "legacy import failed");
    }
    Ok(claim.update(|t| t.finish(outcome, ttl)).await?.status)
}

/// The caller the task acts for: the user and project that created it, with their roles.
fn task_caller(task: &Task) -> Caller {
    Caller {
        user: task.user_id.clone().unwrap_or_default(),
        project: task.owner.clone(),
        roles: task.roles.clone(),
        scope: Scope::Project,
    }
}

/// Makes the image (once), fetches its data and decides what the image gets.
async fn decide(
    glance: &Glance,
    claim: &Claim,
    task: &Task,
    image_id: &str,
) -> Result<Decision, Fenced> {
    let image = match saving_image(glance, task, image_id).await {
        Ok(image) => image,
        Err(DomainError::Unavailable(m)) => return Err(DomainError::Unavailable(m).into()),
        Err(e) => return Ok(Decision::Failed(e.to_string())),
    };
    let uri = task
        .input
        .get("import_from")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let data = match web_download::download(glance, claim, &glance.import.filter, uri).await {
        Ok(data) => data,
        Err(DownloadError::Failed(m)) => return Ok(Decision::Failed(m)),
        Err(DownloadError::Fenced(f)) => return Err(f),
    };
    let (disk, container) = (
        image.disk_format.as_deref(),
        image.container_format.as_deref(),
    );
    let strict = glance.import.require_format_match;
    Ok(
        match inspector::verdict(&data.detected, disk, container, strict) {
            Ok(_) => Decision::Data(data),
            Err(refused) => Decision::Failed(refused),
        },
    )
}

/// The task's image, created from `image_properties` if it does not exist yet, in `saving`.
async fn saving_image(glance: &Glance, task: &Task, id: &str) -> Result<Image, DomainError> {
    match write::load(&glance.meta, id).await {
        Ok(_) => {}
        Err(DomainError::NotFound(_)) => create_image(glance, task, id).await?,
        Err(e) => return Err(e),
    }
    write::modify(&glance.meta, id, |img| {
        if img.status == ImageStatus::Queued {
            lifecycle::advance(img, ImageStatus::Saving)?;
        }
        Ok::<_, DomainError>(())
    })
    .await
}

async fn create_image(glance: &Glance, task: &Task, id: &str) -> Result<(), DomainError> {
    let Some(fields) = glance.image_fields.clone() else {
        return Err(DomainError::Internal(
            "this node cannot create images from tasks".into(),
        ));
    };
    let props = match task.input.get("image_properties") {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            return Err(DomainError::Invalid(
                "'image_properties' must be an object".into(),
            ))
        }
    };
    let text = |k: &str| props.get(k).and_then(Value::as_str);
    let new = NewImage::<DomainError> {
        id: Ok(Some(id.to_string())),
        owner: text("owner"),
        visibility: text("visibility"),
    };
    let who = task_caller(task);
    glance
        .create(&who, new, |template| {
            fields.apply(template, &props).map_err(DomainError::Invalid)
        })
        .await?;
    Ok(())
}

/// Gives the image its data and makes it active (found done on a second application).
async fn activate(glance: &Glance, id: &str, data: &StoredData) -> Result<(), String> {
    let strict = glance.import.require_format_match;
    let done = write::modify(&glance.meta, id, |img| {
        if img
            .data
            .as_ref()
            .is_some_and(|d| d.manifest == data.manifest)
        {
            return Ok(());
        }
        if img.status != ImageStatus::Saving {
            return Err(DomainError::Conflict(format!(
                "Image {id} changed to status '{}' during the import.",
                img.status.as_str()
            )));
        }
        let formats = (img.disk_format.as_deref(), img.container_format.as_deref());
        if let Ok(Some(v)) = inspector::verdict(&data.detected, formats.0, formats.1, strict) {
            img.virtual_size = Some(v);
        }
        img.size = Some(data.size);
        img.checksum = Some(data.md5.clone());
        img.os_hash_algo = Some("sha512".into());
        img.os_hash_value = Some(data.sha512.clone());
        img.data = Some(DataRef::new(data.manifest.clone()));
        lifecycle::advance(img, ImageStatus::Active)
    })
    .await;
    match done {
        Ok(_) => {
            tracing::info!(image_id = %id, size = data.size, "legacy import activated the image");
            Ok(())
        }
        Err(DomainError::NotFound(_)) => Err("Image has been deleted, aborting import.".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Deletes the image a failed task made (Glance's revert), unless it became active.
async fn remove_image(glance: &Glance, id: &str) {
    let removed = write::delete(&glance.meta, id, |img| {
        if img.status == ImageStatus::Active {
            return Err(DomainError::Conflict("the image is active".into()));
        }
        Ok(())
    })
    .await;
    match removed {
        Ok(_) => tracing::info!(image_id = %id, "failed legacy import removed its image"),
        Err(DomainError::NotFound(_)) => {}
        Err(e) => tracing::warn!(image_id = %id, error = %e, "image of a failed task kept"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_checked_in_glances_words() {
        assert_eq!(check_location(Some(&json!("http://x/y"))), Ok("http://x/y"));
        assert_eq!(
            check_location(Some(&json!("https://x/y"))),
            Ok("https://x/y")
        );
        assert_eq!(check_location(None), Err("Invalid location: None".into()));
        assert_eq!(
            check_location(Some(&json!(""))),
            Err("Invalid location: ".into())
        );
        assert!(check_location(Some(&json!("file:///etc/passwd")))
            .unwrap_err()
            .starts_with("File based imports are not allowed"));
        assert!(check_location(Some(&json!("ftp://x/y")))
            .unwrap_err()
            .starts_with("The given uri is not valid"));
    }

    #[test]
    fn inputs_need_glances_three_fields() {
        let full =
            json!({"import_from": "http://x", "import_from_format": "raw", "image_properties": {}});
        assert_eq!(check_input(&full), Ok(()));
        assert_eq!(
            check_input(&json!({"import_from": "http://x"})),
            Err("Input does not contain 'import_from_format' field".into())
        );
    }
}
