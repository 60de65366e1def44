//! Image records: create, list, show, update (JSON patch), delete.

use crate::body::{json_object, read_limited};
use crate::error::ApiError;
use crate::identity::Identity;
use crate::list::{parse_query, without_marker};
use crate::request_span::record_image;
use crate::schema::validate_image;
use crate::view::{apply_view, forbidden_property, image_json};
use crate::{patch, ApiConfig};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_domain::{Glance, NewImage};

/// Absolute URL of an image for the `Location` header.
fn location(headers: &HeaderMap, id: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9292");
    format!("http://{host}/v2/images/{id}")
}

/// `POST /v2/images`.
pub async fn create(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut req = json_object(body, config.max_json_body).await?;
    // Glance accepts and ignores these on create (they are computed from the data).
    req.remove("os_hash_algo");
    req.remove("os_hash_value");
    for key in req.keys() {
        if let Some(e) = forbidden_property(key) {
            return Err(e);
        }
    }
    let owner = match req.get("owner") {
        Some(Value::String(o)) => Some(o.clone()),
        _ => None,
    };
    let visibility = match req.get("visibility") {
        Some(Value::String(v)) => Some(v.clone()),
        _ => None,
    };
    let id = match req.get("id") {
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(_) => Err(ApiError::BadRequest(
            "Image id must be a UUID string.".into(),
        )),
        None => Ok(None),
    };
    let new = NewImage {
        id,
        owner: owner.as_deref(),
        visibility: visibility.as_deref(),
    };
    let stored = glance
        .create(&who, new, |mut image| {
            record_image(&image.id);
            let mut view = image_json(&image, glance.stores());
            view.extend(req);
            validate_image(&Value::Object(view.clone()))?;
            apply_view(&mut image, &view)?;
            Ok(image)
        })
        .await?;
    let loc = location(&headers, &stored.id);
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, loc),
            (
                HeaderName::from_static("openstack-image-import-methods"),
                super::import::method_names(&glance).join(","),
            ),
            (
                HeaderName::from_static("openstack-image-store-ids"),
                store_ids(&glance),
            ),
        ],
        Json(Value::Object(image_json(&stored, glance.stores()))),
    )
        .into_response())
}

/// `GET /v2/images/{id}`.
pub async fn show(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let img = glance.show(&who, &id).await?;
    Ok(Json(Value::Object(image_json(&img, glance.stores()))))
}

/// `GET /v2/images`.
pub async fn list(
    State(glance): State<Glance>,
    who: Identity,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = raw.unwrap_or_default();
    let mut limit = 0;
    let images = glance
        .list(&who, |viewer| {
            let query = parse_query(&raw, viewer)?;
            limit = query.limit;
            Ok::<_, ApiError>(query)
        })
        .await?;
    // Like Glance, a full page links to the next one even if that turns out empty.
    let more = limit > 0 && images.len() == limit;
    let rest = without_marker(&raw);
    let first = if rest.is_empty() {
        "/v2/images".to_string()
    } else {
        format!("/v2/images?{rest}")
    };
    let mut doc = json!({
        "images": images.iter().map(|i| Value::Object(image_json(i, glance.stores()))).collect::<Vec<_>>(),
        "first": first,
        "schema": "/v2/schemas/images",
    });
    if let (true, Some(last)) = (more, images.last()) {
        let marker: String = form_urlencoded::byte_serialize(last.id.as_bytes()).collect();
        let sep = if rest.is_empty() { "" } else { "&" };
        doc["next"] = json!(format!("/v2/images?{rest}{sep}marker={marker}"));
    }
    Ok(Json(doc))
}

/// `PATCH /v2/images/{id}` with a Glance JSON patch.
pub async fn update(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if media != patch::V21 && media != patch::V20 {
        // Consume what the client sent (bounded): a response that leaves the body unread makes
        // the server drop the connection, and the client's next request on it fails.
        let _unread = read_limited(body, config.max_json_body).await;
        return Err(ApiError::PatchMediaType(format!(
            "Unsupported Content-Type '{media}': use {}.",
            patch::V21
        )));
    }
    let bytes = read_limited(body, config.max_json_body).await?;
    let ops_list = patch::parse(&bytes, media)?;
    let stored = glance
        .update(&who, &id, |img| {
            let mut view = image_json(img, glance.stores());
            patch::apply(&mut view, &ops_list)?;
            validate_image(&Value::Object(view.clone()))?;
            apply_view(img, &view)
        })
        .await?;
    Ok(Json(Value::Object(image_json(&stored, glance.stores()))))
}

/// `DELETE /v2/images/{id}`.
pub async fn remove(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    glance.delete(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every configured store's id, comma-separated (`OpenStack-image-store-ids`).
fn store_ids(glance: &Glance) -> String {
    let ids: Vec<&str> = glance
        .stores()
        .all()
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    ids.join(",")
}

/// `DELETE /v2/stores/{store_id}/{image_id}` (2.10): removes one store's copy.
pub async fn delete_from_store(
    State(glance): State<Glance>,
    who: Identity,
    Path((store, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    glance.delete_from_store(&who, &store, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
