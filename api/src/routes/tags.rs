//! `PUT`/`DELETE /v2/images/{id}/tags/{tag}`.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::record_image;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_domain::Glance;

/// Adds a tag (idempotent).
pub async fn add(
    State(glance): State<Glance>,
    who: Identity,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    glance.add_tag(&who, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a tag; 404 when the image does not have it.
pub async fn remove(
    State(glance): State<Glance>,
    who: Identity,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    glance.remove_tag(&who, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}
