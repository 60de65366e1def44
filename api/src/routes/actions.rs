//! `POST /v2/images/{id}/actions/deactivate|reactivate`.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::record_image;
use crate::{ops, policy, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_raft::ImageStatus;

/// Moves an image between `active` and `deactivated`; `from` and `to` may be the same
/// state already (a no-op, as in Glance).
async fn transition(
    st: &AppState,
    who: &Identity,
    id: &str,
    action: &str,
    from: ImageStatus,
    to: ImageStatus,
) -> Result<StatusCode, ApiError> {
    record_image(id);
    ops::modify(&st.meta, id, |img| {
        policy::check_owner_write(who, img, action)?;
        if img.status == to {
            return Ok(());
        }
        if img.status != from {
            return Err(ApiError::Forbidden(format!(
                "Not allowed to {action} image in status '{}'",
                img.status.as_str()
            )));
        }
        img.status = to;
        Ok(())
    })
    .await?;
    tracing::info!(action, "image status changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivate (admin or the owning project's member, as in Glance 33): data downloads are
/// refused to non-admins until reactivated.
pub async fn deactivate(
    State(st): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    transition(
        &st,
        &who,
        &id,
        "deactivate",
        ImageStatus::Active,
        ImageStatus::Deactivated,
    )
    .await
}

/// Reactivate a deactivated image.
pub async fn reactivate(
    State(st): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    transition(
        &st,
        &who,
        &id,
        "reactivate",
        ImageStatus::Deactivated,
        ImageStatus::Active,
    )
    .await
}
