//! Running an `api_image_import` task under its claim.
//!
//! The import first decides its outcome (the data the image gets, or why it failed) and
//! records the decision in the task with a write fenced by the claim; only then does it
//! change the image. A node that takes the task over finds the decision and applies the
//! same one, so two nodes never bring an image to different ends. The image changes only
//! while it still holds this task's import lock.

use super::copy;
use super::glance_download;
use super::plugins;
use super::web_download::{self, DownloadError};
use super::{ImportMethod, Staged, FAILED_IMPORT, IMPORTING_TO_STORES, IMPORT_TASK};
use crate::docs;
use crate::error::DomainError;
use crate::inspector;
use crate::lifecycle;
use crate::service::Glance;
use crate::tasks::claim::{Claim, Fenced};
use crate::tasks::{Decision, StoredData, Task, TaskStatus, API_IMAGE_IMPORT};
use crate::write;
use serde_json::json;
use tessera_raft::{Expect, Image, ImageStatus};

/// Runs the claimed task to its end; its final status.
pub async fn run_task(glance: &Glance, claim: &Claim, ttl: i64) -> Result<TaskStatus, Fenced> {
    let task = claim.task().await;
    if task.kind == super::LEGACY_IMPORT {
        return super::legacy::run_task(glance, claim, ttl).await;
    }
    let (image_id, method) = match input(&task) {
        Ok(parsed) => parsed,
        Err(message) => return finish(claim, Err(message), ttl).await,
    };
    let (targets, must_succeed) = copy::targets(&task);
    if method == ImportMethod::CopyImage {
        let outcome = match glance
            .copy_image(claim.id(), &image_id, &targets, must_succeed)
            .await
        {
            Ok(outcome) => outcome,
            Err(DomainError::NotFound(_)) => Err("Image has been deleted, aborting import.".into()),
            Err(e @ DomainError::Conflict(_)) => Err(e.to_string()),
            Err(e) => return Err(e.into()),
        };
        return finish(claim, outcome.map(|()| json!({"image_id": image_id})), ttl).await;
    }
    let decision = match task.decision.clone() {
        Some(d) => d,
        None => {
            let d = decide(glance, claim, &image_id, method, &targets).await?;
            let message = match &d {
                Decision::Data(data) => format!("Copied {} MiB", data.size >> 20),
                Decision::Failed(_) => task.message.clone(),
            };
            claim
                .update(|t| {
                    t.decision = Some(d.clone());
                    t.message = message;
                })
                .await?;
            d
        }
    };
    let to = Targets {
        stores: &targets,
        must_succeed,
    };
    let outcome = apply(glance, &task, claim.id(), &image_id, &decision, to).await?;
    if outcome.is_ok() && method == ImportMethod::GlanceDirect {
        // The image holds the data now; the staged record has done its job.
        let release = docs::write(
            glance.meta(),
            vec![docs::remove::<Staged>(&image_id, Expect::Any)],
        )
        .await;
        if let Err(e) = release {
            tracing::warn!(error = %e, "staged record left for the sweep");
        }
    }
    finish(claim, outcome.map(|()| json!({"image_id": image_id})), ttl).await
}

/// The image and method a task's input names.
fn input(task: &Task) -> Result<(String, ImportMethod), String> {
    if task.kind != API_IMAGE_IMPORT {
        return Err(format!("Unknown task type '{}'", task.kind));
    }
    let image = task.input.get("image_id").and_then(|v| v.as_str());
    let method = task
        .input
        .pointer("/import_req/method/name")
        .and_then(|v| v.as_str())
        .and_then(ImportMethod::parse);
    match (image, method) {
        (Some(image), Some(method)) => Ok((image.to_string(), method)),
        _ => Err("Task input names no image or import method".into()),
    }
}

async fn finish(
    claim: &Claim,
    outcome: Result<serde_json::Value, String>,
    ttl: i64,
) -> Result<TaskStatus, Fenced> {
    if let Err(message) = &outcome {
        tracing::warn!(%message, "import failed");
    }
    let done = claim.update(|t| t.finish(outcome, ttl)).await?;
    Ok(done.status)
}

/// Marks the image `importing` (to `targets`) for this task and works out what it gets.
async fn decide(
    glance: &Glance,
    claim: &Claim,
    image_id: &str,
    method: ImportMethod,
    targets: &[String],
) -> Result<Decision, Fenced> {
    let task = claim.id();
    let marked = write::modify(glance.meta(), image_id, |img| {
        holds_lock(img, task)?;
        if img.status != ImageStatus::Importing {
            lifecycle::advance(img, ImageStatus::Importing)?;
        }
        img.properties
            .insert(IMPORTING_TO_STORES.into(), targets.join(","));
        img.properties.insert(FAILED_IMPORT.into(), String::new());
        Ok::<_, DomainError>(())
    })
    .await;
    let image = match marked {
        Ok(image) => image,
        Err(DomainError::NotFound(_)) => {
            return Ok(Decision::Failed(
                "Image has been deleted, aborting import.".into(),
            ))
        }
        Err(e @ DomainError::Conflict(_)) => return Ok(Decision::Failed(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    let fetched = fetch(glance, claim, image_id, method).await?;
    let Decision::Data(data) = fetched else {
        return Ok(fetched);
    };
    // Metadata copied from a remote image is the image's for the plugins and the verdict;
    // the record takes it only when it becomes active.
    let mut image = image;
    let copied = data.copied.clone();
    if let Some(c) = &copied {
        c.apply(&mut image);
    }
    let mut data = match plugins::run(glance, claim.id(), &image, data).await {
        Ok(data) => data,
        Err(message) => return Ok(Decision::Failed(message)),
    };
    data.copied = copied;
    let disk = data.disk_format.as_deref().or(image.disk_format.as_deref());
    let container = if data.disk_format.is_some() {
        Some("bare")
    } else {
        image.container_format.as_deref()
    };
    let strict = glance.import.require_format_match;
    Ok(
        match inspector::verdict(&data.detected, disk, container, strict) {
            Ok(_) => Decision::Data(data),
            Err(refused) => Decision::Failed(refused),
        },
    )
}

/// The data the import method brings in.
async fn fetch(
    glance: &Glance,
    claim: &Claim,
    image_id: &str,
    method: ImportMethod,
) -> Result<Decision, Fenced> {
    match method {
        ImportMethod::GlanceDirect => {
            let staged = docs::get::<Staged>(glance.meta(), image_id).await?;
            Ok(match staged {
                Some(s) => Decision::Data(s.value.data),
                None => Decision::Failed(format!("Image {image_id} has no staged data")),
            })
        }
        ImportMethod::WebDownload => {
            let t = claim.task().await;
            let uri = t
                .input
                .pointer("/import_req/method/uri")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            downloaded(web_download::download(glance, claim, &glance.import.filter, uri).await)
        }
        ImportMethod::GlanceDownload => downloaded(glance_download::download(glance, claim).await),
        other => Ok(Decision::Failed(format!(
            "Import method {} is not available at this site.",
            other.as_str()
        ))),
    }
}

/// The decision a download's outcome makes.
fn downloaded(outcome: Result<StoredData, DownloadError>) -> Result<Decision, Fenced> {
    match outcome {
        Ok(data) => Ok(Decision::Data(data)),
        Err(DownloadError::Failed(m)) => Ok(Decision::Failed(m)),
        Err(DownloadError::Fenced(f)) => Err(f),
    }
}

/// Refuses to touch an image this task no longer holds the lock of.
pub(crate) fn holds_lock(img: &Image, task: &str) -> Result<(), DomainError> {
    if img.properties.get(IMPORT_TASK).map(String::as_str) == Some(task) {
        Ok(())
    } else {
        Err(DomainError::Conflict(format!(
            "Image {} import task {task} lost its lock",
            img.id
        )))
    }
}

/// The stores an import lands in, and whether every one must take it.
#[derive(Clone, Copy)]
struct Targets<'a> {
    stores: &'a [String],
    must_succeed: bool,
}

/// Applies `decision` to the image; whether the import succeeded (its failure message if
/// not).
async fn apply(
    glance: &Glance,
    record: &Task,
    task: &str,
    image_id: &str,
    decision: &Decision,
    to: Targets<'_>,
) -> Result<Result<(), String>, Fenced> {
    let applied = match decision {
        Decision::Data(data) => activate(glance, record, task, image_id, data, to).await,
        Decision::Failed(message) => {
            fail(glance, task, image_id, &to.stores.join(",")).await?;
            return Ok(Err(message.clone()));
        }
    };
    let applied = match applied {
        Ok(Some(message)) => return Ok(Err(message)),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    match applied {
        Ok(()) => Ok(Ok(())),
        Err(DomainError::NotFound(_)) => Ok(Err("Image has been deleted, aborting import.".into())),
        Err(e @ DomainError::Conflict(_)) => Ok(Err(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Whether the image already got this data from this import (a node that took the task over
/// after it was applied finds it so).
fn applied(img: &Image, data: &StoredData) -> bool {
    img.status == ImageStatus::Active
        && img.os_hash_value.as_deref() == Some(data.sha512.as_str())
        && !img.properties.contains_key(IMPORT_TASK)
}

/// Lands the data in the target stores, then gives the image its copies and makes it active;
/// the failure message when the stores did not take it (the image then goes back to
/// `queued`, nothing left in any store).
async fn activate(
    glance: &Glance,
    record: &Task,
    task: &str,
    image_id: &str,
    data: &StoredData,
    to: Targets<'_>,
) -> Result<Option<String>, DomainError> {
    if applied(&write::load(glance.meta(), image_id).await?, data) {
        return Ok(None);
    }
    let landings = glance.land(image_id, data, to.stores).await;
    let failed = landings.failed_ids();
    if landings.made.is_empty() || (to.must_succeed && !landings.failed.is_empty()) {
        for (store, landed) in &landings.made {
            glance.discard(store, landed).await;
        }
        fail(glance, task, image_id, &failed).await?;
        return Ok(Some(landings.message()));
    }
    let activated = write::modify(glance.meta(), image_id, |img| {
        if applied(img, data) {
            return Ok(());
        }
        holds_lock(img, task)?;
        if let Some(copied) = &data.copied {
            // glance-download's metadata from the remote image, as Glance's _ImportMetadata.
            copied.apply(img);
        }
        if let Some(converted) = &data.disk_format {
            // image_conversion's result, as Glance records it.
            img.disk_format = Some(converted.clone());
            img.container_format = Some("bare".into());
        }
        let formats = (img.disk_format.as_deref(), img.container_format.as_deref());
        let strict = glance.import.require_format_match;
        if let Ok(Some(v)) = inspector::verdict(&data.detected, formats.0, formats.1, strict) {
            img.virtual_size = Some(v);
        }
        for (store, landed) in &landings.made {
            glance.give_data(img, store, landed);
        }
        img.properties
            .insert(IMPORTING_TO_STORES.into(), String::new());
        img.properties.insert(FAILED_IMPORT.into(), failed.clone());
        img.properties.remove(IMPORT_TASK);
        // Glance's inject_image_metadata plugin, as the importing user's roles allow.
        if let Some(inject) = &glance.import.inject {
            for (k, v) in inject.for_roles(&record.roles) {
                img.properties.insert(k.clone(), v.clone());
            }
        }
        lifecycle::advance(img, ImageStatus::Active)
    })
    .await;
    if let Err(e) = activated {
        for (store, landed) in &landings.made {
            glance.discard(store, landed).await;
        }
        return Err(e);
    }
    tracing::info!(image_id = %image_id, size = data.size, stores = %to.stores.join(","), "image imported");
    Ok(None)
}

/// Puts the image back to `queued` with the `failed` stores recorded and the lock dropped, if
/// this task still holds it.
async fn fail(
    glance: &Glance,
    task: &str,
    image_id: &str,
    failed: &str,
) -> Result<(), DomainError> {
    let reverted = write::modify(glance.meta(), image_id, |img| {
        if holds_lock(img, task).is_err() {
            return Ok(());
        }
        if matches!(img.status, ImageStatus::Importing | ImageStatus::Uploading) {
            lifecycle::advance(img, ImageStatus::Queued)?;
            img.size = None;
        }
        img.properties
            .insert(IMPORTING_TO_STORES.into(), String::new());
        img.properties
            .insert(FAILED_IMPORT.into(), failed.to_string());
        img.properties.remove(IMPORT_TASK);
        Ok::<_, DomainError>(())
    })
    .await;
    match reverted {
        Ok(_) | Err(DomainError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
