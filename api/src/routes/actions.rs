//! `POST /v2/images/{id}/actions/deactivate|reactivate`.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::record_image;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_domain::Glance;

/// Deactivate: data downloads are refused to non-admins until reactivated.
pub async fn deactivate(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    glance.deactivate(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reactivate a deactivated image.
pub async fn reactivate(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    glance.reactivate(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
