//! Image records: create, list, show, update (JSON patch), delete.

use crate::body::{json_object, read_limited};
use crate::error::ApiError;
use crate::identity::Identity;
use crate::list::{parse_query, without_marker};
use crate::patch::{self, PatchOp};
use crate::request_span::record_image;
use crate::schema::validate_image;
use crate::view::{apply_view, forbidden_property, image_json};
use crate::ApiConfig;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tessera_domain::import::ImageFields;
use tessera_domain::locations::LocationEdit;
use tessera_domain::stores::Stores;
use tessera_domain::{Glance, NewImage};
use tessera_raft::Image;

/// Absolute URL of an image for the `Location` header.
fn location(headers: &HeaderMap, id: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9292");
    format!("http://{host}/v2/images/{id}")
}

/// The image as `who` sees it: Glance's view with the `locations` and `direct_url` the
/// settings show and the caller may read.
fn shown(glance: &Glance, who: &Identity, img: &Image) -> Value {
    let mut view = image_json(img, glance.stores());
    let extra = glance.location_view(who, img);
    if let Some(locations) = extra.locations {
        view.insert("locations".into(), Value::Array(locations));
    }
    if let Some(url) = extra.direct_url {
        view.insert("direct_url".into(), Value::String(url));
    }
    Value::Object(view)
}

/// Fields Glance accepts and ignores on create (they are computed from the data).
const IGNORED_ON_CREATE: [&str; 2] = ["os_hash_algo", "os_hash_value"];

/// A fresh record filled from a create request's fields, checked by the image schema.
fn build(mut image: Image, req: &Map<String, Value>) -> Result<Image, ApiError> {
    // A new image has no data yet, so no store to name.
    let mut view = image_json(&image, &Stores::default());
    view.extend(
        req.iter()
            .filter(|(k, _)| !IGNORED_ON_CREATE.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    validate_image(&Value::Object(view.clone()))?;
    apply_view(&mut image, &view)?;
    Ok(image)
}

/// Image fields read as `POST /v2/images` reads them, for the legacy import task.
pub struct CreateFields;

impl ImageFields for CreateFields {
    fn apply(&self, image: Image, fields: &Map<String, Value>) -> Result<Image, String> {
        if let Some(e) = fields.keys().find_map(|k| forbidden_property(k)) {
            return Err(e.to_string());
        }
        build(image, fields).map_err(|e| e.to_string())
    }
}

/// `POST /v2/images`.
pub async fn create(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req = json_object(body, config.max_json_body).await?;
    for key in req
        .keys()
        .filter(|k| !IGNORED_ON_CREATE.contains(&k.as_str()))
    {
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
        .create(&who, new, |image| {
            record_image(&image.id);
            build(image, &req)
        })
        .await?;
    let loc = location(&headers, &stored.id);
    let mut resp = (
        StatusCode::CREATED,
        [
            (header::LOCATION, loc),
            (
                HeaderName::from_static("openstack-image-store-ids"),
                store_ids(&glance),
            ),
        ],
        Json(shown(&glance, &who, &stored)),
    )
        .into_response();
    // Glance sends no empty header when every import method is off.
    let methods = super::import::method_names(&glance).join(",");
    if let Some(v) = Some(methods)
        .filter(|m| !m.is_empty())
        .and_then(|m| HeaderValue::from_str(&m).ok())
    {
        resp.headers_mut()
            .insert(HeaderName::from_static("openstack-image-import-methods"), v);
    }
    Ok(resp)
}

/// `GET /v2/images/{id}`.
pub async fn show(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let img = glance.show(&who, &id).await?;
    Ok(Json(shown(&glance, &who, &img)))
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
        "images": images.iter().map(|i| shown(&glance, &who, i)).collect::<Vec<_>>(),
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
    let edits: Vec<LocationEdit> = ops_list
        .iter()
        .filter_map(|op| match op {
            PatchOp::Location(edit) => Some(edit.clone()),
            _ => None,
        })
        .collect();
    let stored = if edits.is_empty() {
        glance
            .update(&who, &id, |img| {
                let mut view = image_json(img, glance.stores());
                patch::apply(&mut view, &ops_list)?;
                validate_image(&Value::Object(view.clone()))?;
                apply_view(img, &view)
            })
            .await?
    } else if edits.len() == ops_list.len() {
        glance.edit_locations(&who, &id, &edits).await?
    } else {
        // Each kind is one write of its own; together they could half-apply.
        return Err(ApiError::BadRequest(
            "Changes to /locations cannot be combined with other changes in one request.".into(),
        ));
    };
    Ok(Json(shown(&glance, &who, &stored)))
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
