//! `PUT`/`DELETE /v2/images/{id}/tags/{tag}`.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::record_image;
use crate::{ops, policy, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// Glance's limit on a tag's length.
const MAX_TAG_LEN: usize = 255;

/// Adds a tag (idempotent).
pub async fn add(
    State(st): State<AppState>,
    who: Identity,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    if tag.chars().count() > MAX_TAG_LEN {
        return Err(ApiError::BadRequest(format!(
            "Tag is longer than {MAX_TAG_LEN} characters."
        )));
    }
    ops::modify(&st.meta, &id, |img| {
        policy::check_owner_write(&who, img, "modify_image")?;
        img.tags.insert(tag.clone());
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a tag; 404 when the image does not have it.
pub async fn remove(
    State(st): State<AppState>,
    who: Identity,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    ops::modify(&st.meta, &id, |img| {
        policy::check_owner_write(&who, img, "modify_image")?;
        if img.tags.remove(&tag) {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("Tag {tag} not found.")))
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
