//! Admin endpoints for Glance's metadef files, which `tessera metadefs load|export|unload`
//! drive (they need more than Glance's API allows: loading past protection and schema
//! checks, as `glance-manage db_load_metadefs` does):
//! - `POST /tessera/v1/metadefs/files?mode=skip|merge|prefer_new|overwrite`: the body is one
//!   metadef file; answers `{"namespace": ..., "result": "created|skipped|merged|overwritten"}`;
//! - `GET /tessera/v1/metadefs/files`: `{"files": [{"file_name": ..., "metadef": {...}}]}`,
//!   every namespace as Glance's export writes it;
//! - `DELETE /tessera/v1/metadefs`: every namespace and resource type; `{"namespaces": n}`.

use crate::body::{parse_json, read_limited};
use crate::error::ApiError;
use crate::identity::Identity;
use crate::ApiConfig;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_domain::metadefs::{LoadMode, MetadefFile};
use tessera_domain::Glance;

fn mode(raw: &str) -> Result<LoadMode, ApiError> {
    let mut mode = LoadMode::Skip;
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if k == "mode" {
            mode = match v.as_ref() {
                "skip" => LoadMode::Skip,
                "merge" => LoadMode::Merge,
                "prefer_new" => LoadMode::PreferNew,
                "overwrite" => LoadMode::Overwrite,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "Unknown load mode {other}: one of skip, merge, prefer_new, overwrite."
                    )))
                }
            };
        }
    }
    Ok(mode)
}

/// `POST /tessera/v1/metadefs/files`.
pub async fn load(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let mode = mode(&raw.unwrap_or_default())?;
    let doc = parse_json(&read_limited(body, config.max_json_body).await?)?;
    let file: MetadefFile = serde_json::from_value(doc)
        .map_err(|e| ApiError::BadRequest(format!("Not a metadef file: {e}")))?;
    let result = glance.load_metadef_file(&who, &file, mode).await?;
    Ok(Json(json!({"namespace": file.namespace, "result": result})))
}

/// `GET /tessera/v1/metadefs/files`.
pub async fn export(State(glance): State<Glance>, who: Identity) -> Result<Json<Value>, ApiError> {
    let files: Vec<Value> = glance
        .export_metadefs(&who)
        .await?
        .iter()
        .map(|f| json!({"file_name": f.file_name(), "metadef": f}))
        .collect();
    Ok(Json(json!({"files": files})))
}

/// `DELETE /tessera/v1/metadefs`.
pub async fn unload(State(glance): State<Glance>, who: Identity) -> Result<Json<Value>, ApiError> {
    let n = glance.unload_metadefs(&who).await?;
    Ok(Json(json!({"namespaces": n})))
}
