//! The image cache API (2.14): `GET`/`DELETE /v2/cache`, `PUT`/`DELETE /v2/cache/{id}`, on
//! the cache of the node answering, with Glance's bodies and statuses.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::record_image;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use tessera_domain::cache::ClearTarget;
use tessera_domain::Glance;

/// Header naming what `DELETE /v2/cache` empties.
const CLEAR_TARGET: &str = "x-image-cache-clear-target";

/// `GET /v2/cache`: `cached_images` (Glance's records) and `queued_images` (ids).
pub async fn state(State(glance): State<Glance>, who: Identity) -> Result<Json<Value>, ApiError> {
    let (cached, queued) = glance.cache_state(&who)?;
    let cached: Vec<Value> = cached
        .into_iter()
        .map(|c| {
            json!({
                "id": c.id,
                "image_id": c.image_id,
                "last_accessed": c.last_accessed,
                "last_modified": c.last_modified,
                "size": c.size,
                "hits": c.hits,
                "checksum": c.checksum,
            })
        })
        .collect();
    Ok(Json(
        json!({ "cached_images": cached, "queued_images": queued }),
    ))
}

/// `DELETE /v2/cache`: empties the cache, the queue or both (204).
pub async fn clear(
    State(glance): State<Glance>,
    who: Identity,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let target = match headers.get(CLEAR_TARGET) {
        None => ClearTarget::Both,
        Some(v) => ClearTarget::parse(v.to_str().unwrap_or("?"))?,
    };
    let cleared = glance.cache_clear(&who, target)?;
    tracing::info!(?target, ?cleared, "image cache cleared");
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v2/cache/{id}`: queues an active image for caching on this node (202).
pub async fn queue(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    glance.cache_queue(&who, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /v2/cache/{id}`: removes the image from this node's cache and queue (204).
pub async fn remove(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    glance.cache_delete(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
