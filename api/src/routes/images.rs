//! Image records: create, list, show, update (JSON patch), delete.

use crate::body::{json_object, read_limited};
use crate::error::ApiError;
use crate::identity::Identity;
use crate::list::{parse_query, without_marker};
use crate::request_span::record_image;
use crate::schema::validate_image;
use crate::view::{apply_view, forbidden_property, image_json, now};
use crate::{ops, patch, policy, AppState};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tessera_raft::{Image, ImageStatus};

/// Absolute URL of an image for the `Location` header.
fn location(headers: &HeaderMap, id: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9292");
    format!("http://{host}/v2/images/{id}")
}

/// Refuses an owner change by a non-admin and a visibility change the caller may not make.
fn check_changes(who: &Identity, before: &Image, after: &Image) -> Result<(), ApiError> {
    if after.owner != before.owner && !who.is_admin() {
        return Err(ApiError::Forbidden(
            "Owner can't be updated by non admin.".into(),
        ));
    }
    if after.visibility != before.visibility {
        policy::check_visibility_change(who, after.visibility.as_str())?;
    }
    Ok(())
}

/// `POST /v2/images`.
pub async fn create(
    State(st): State<AppState>,
    who: Identity,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut req = json_object(body, st.config.max_json_body).await?;
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
    policy::check_create(&who, owner.as_deref())?;
    let id = match req.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "Image id must be a UUID string.".into(),
            ))
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    record_image(&id);
    if let Some(Value::String(v)) = req.get("visibility") {
        policy::check_visibility_change(&who, v)?;
    }
    let mut image = Image::new(id.clone(), Some(who.project.clone()), now());
    let mut view = image_json(&image);
    view.extend(req);
    validate_image(&Value::Object(view.clone()))?;
    apply_view(&mut image, &view)?;
    image.id = id;
    if owner.is_none() {
        image.owner = Some(who.project.clone());
    }
    let stored = ops::create(&st.meta, image).await?;
    tracing::info!(image_id = %stored.id, "image created");
    let loc = location(&headers, &stored.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, loc)],
        Json(Value::Object(image_json(&stored))),
    )
        .into_response())
}

/// `GET /v2/images/{id}`.
pub async fn show(
    State(st): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let img = ops::load(&st.meta, &id).await?;
    policy::check_view(&who, &img)?;
    Ok(Json(Value::Object(image_json(&img))))
}

/// `GET /v2/images`.
pub async fn list(
    State(st): State<AppState>,
    who: Identity,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    policy::check_reader(&who, "get_images")?;
    let raw = raw.unwrap_or_default();
    let query = parse_query(&raw, who.viewer())?;
    let images = st.meta.list_images(&query).await?;
    // Like Glance, a full page links to the next one even if that turns out empty.
    let more = query.limit > 0 && images.len() == query.limit;
    let rest = without_marker(&raw);
    let first = if rest.is_empty() {
        "/v2/images".to_string()
    } else {
        format!("/v2/images?{rest}")
    };
    let mut doc = json!({
        "images": images.iter().map(|i| Value::Object(image_json(i))).collect::<Vec<_>>(),
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
    State(st): State<AppState>,
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
        return Err(ApiError::PatchMediaType(format!(
            "Unsupported Content-Type '{media}': use {}.",
            patch::V21
        )));
    }
    let bytes = read_limited(body, st.config.max_json_body).await?;
    let ops_list = patch::parse(&bytes, media)?;
    let stored = ops::modify(&st.meta, &id, |img| {
        policy::check_owner_write(&who, img, "modify_image")?;
        let mut view = image_json(img);
        patch::apply(&mut view, &ops_list)?;
        validate_image(&Value::Object(view.clone()))?;
        let before = img.clone();
        apply_view(img, &view)?;
        check_changes(&who, &before, img)
    })
    .await?;
    Ok(Json(Value::Object(image_json(&stored))))
}

/// `DELETE /v2/images/{id}`.
pub async fn remove(
    State(st): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    let check = |img: &Image| {
        policy::check_owner_write(&who, img, "delete_image")?;
        if img.protected {
            return Err(ApiError::Forbidden(format!(
                "Image {id} is protected and cannot be deleted."
            )));
        }
        if matches!(
            img.status,
            ImageStatus::Deleted | ImageStatus::PendingDelete
        ) {
            return Err(ApiError::no_image(&id));
        }
        Ok(())
    };
    if st.config.delayed_delete {
        // Like Glance, only an image with data waits for the scrubber.
        let img = ops::modify(&st.meta, &id, |img| {
            check(img)?;
            if img.data.is_some() {
                img.status = ImageStatus::PendingDelete;
            }
            Ok(())
        })
        .await?;
        if img.status == ImageStatus::PendingDelete {
            tracing::info!("image pending delete");
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    ops::delete(&st.meta, &id, check).await?;
    tracing::info!("image deleted");
    Ok(StatusCode::NO_CONTENT)
}
