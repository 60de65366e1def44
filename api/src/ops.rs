//! The metadata write path: every change is read, computed here (stamping ids and times as
//! the proposer), and proposed as a compare-and-set on the image's revision, retried when a
//! concurrent writer got there first.

use crate::error::ApiError;
use crate::view::now;
use tessera_raft::{Command, Image, ImageStatus, Meta, Outcome, Request};

/// Attempts before a hot image's writer gives up with 409.
const MAX_CAS_ATTEMPTS: usize = 32;

fn request(command: Command) -> Request {
    Request {
        request_id: uuid::Uuid::new_v4().to_string(),
        stamped_at: now(),
        command,
    }
}

/// Reads an image (linearizable), 404 when absent or pending delete (Glance hides those
/// like deleted ones).
pub async fn load(meta: &Meta, id: &str) -> Result<Image, ApiError> {
    match meta.get_image(id).await? {
        Some(img) if img.status != ImageStatus::PendingDelete => Ok(img),
        _ => Err(ApiError::no_image(id)),
    }
}

/// Stores a new image record.
pub async fn create(meta: &Meta, image: Image) -> Result<Image, ApiError> {
    let id = image.id.clone();
    match meta
        .propose(request(Command::CreateImage { image }))
        .await?
    {
        Outcome::Applied(Some(img)) => Ok(img),
        Outcome::Exists => Err(ApiError::Conflict(format!("Image ID {id} already exists!"))),
        other => Err(unexpected(other)),
    }
}

/// Applies `change` to the current record of `id` and stores it, retrying on concurrent
/// changes. `change` sees the fresh record each attempt and may refuse with an error.
pub async fn modify<F>(meta: &Meta, id: &str, mut change: F) -> Result<Image, ApiError>
where
    F: FnMut(&mut Image) -> Result<(), ApiError>,
{
    for _ in 0..MAX_CAS_ATTEMPTS {
        let current = load(meta, id).await?;
        let mut next = current.clone();
        change(&mut next)?;
        if next == current {
            return Ok(current);
        }
        next.updated_at = now();
        let cmd = Command::PutImage {
            image: next,
            expect: current.revision,
        };
        match meta.propose(request(cmd)).await? {
            Outcome::Applied(Some(img)) => return Ok(img),
            Outcome::Conflict(_) => continue,
            Outcome::NotFound => return Err(ApiError::no_image(id)),
            other => return Err(unexpected(other)),
        }
    }
    Err(ApiError::Conflict(format!(
        "Image {id} is being changed concurrently; retry."
    )))
}

/// Removes the record of `id` after `check` accepts the current record (pending-delete
/// records included: the reaper scrubs them through here).
pub async fn delete<F>(meta: &Meta, id: &str, mut check: F) -> Result<(), ApiError>
where
    F: FnMut(&Image) -> Result<(), ApiError>,
{
    for _ in 0..MAX_CAS_ATTEMPTS {
        let current = meta
            .get_image(id)
            .await?
            .ok_or_else(|| ApiError::no_image(id))?;
        check(&current)?;
        let cmd = Command::DeleteImage {
            id: id.to_string(),
            expect: current.revision,
        };
        match meta.propose(request(cmd)).await? {
            Outcome::Applied(_) => return Ok(()),
            Outcome::Conflict(_) => continue,
            Outcome::NotFound => return Err(ApiError::no_image(id)),
            other => return Err(unexpected(other)),
        }
    }
    Err(ApiError::Conflict(format!(
        "Image {id} is being changed concurrently; retry."
    )))
}

fn unexpected(outcome: Outcome) -> ApiError {
    ApiError::Internal(format!("unexpected metadata outcome: {outcome:?}"))
}
