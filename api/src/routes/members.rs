//! Image members: sharing an image with other projects, who accept or reject it.

use crate::body::json_object;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::record_image;
use crate::schema::validate_member;
use crate::view::format_time;
use crate::ApiConfig;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_domain::Glance;
use tessera_raft::{Member, MemberStatus};

fn member_json(image_id: &str, member_id: &str, m: &Member) -> Value {
    json!({
        "created_at": format_time(m.created_at),
        "updated_at": format_time(m.updated_at),
        "image_id": image_id,
        "member_id": member_id,
        "status": m.status.as_str(),
        "schema": "/v2/schemas/member",
    })
}

/// `GET /v2/images/{id}/members`.
pub async fn list(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let members: Vec<Value> = glance
        .members(&who, &id)
        .await?
        .iter()
        .map(|(p, m)| member_json(&id, p, m))
        .collect();
    Ok(Json(
        json!({"members": members, "schema": "/v2/schemas/members"}),
    ))
}

/// `GET /v2/images/{id}/members/{member}`.
pub async fn show(
    State(glance): State<Glance>,
    who: Identity,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let m = glance.member(&who, &id, &member).await?;
    Ok(Json(member_json(&id, &member, &m)))
}

/// `POST /v2/images/{id}/members` with `{"member": "<project>"}`.
pub async fn add(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let req = json_object(body, config.max_json_body).await?;
    let member = match req.get("member") {
        Some(Value::String(m)) if !m.is_empty() && m.len() <= 255 => m.clone(),
        _ => return Err(ApiError::BadRequest(
            "Member to be added not specified: the body must be {\"member\": \"<project id>\"}."
                .into(),
        )),
    };
    let m = glance.add_member(&who, &id, &member).await?;
    Ok(Json(member_json(&id, &member, &m)))
}

/// `PUT /v2/images/{id}/members/{member}` with `{"status": "accepted|rejected|pending"}`.
pub async fn answer(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path((id, member)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let req = json_object(body, config.max_json_body).await?;
    validate_member(&Value::Object(req.clone()))?;
    let status = req
        .get("status")
        .and_then(Value::as_str)
        .and_then(MemberStatus::parse)
        .ok_or_else(|| ApiError::BadRequest("Status not specified.".into()))?;
    let m = glance.answer_member(&who, &id, &member, status).await?;
    Ok(Json(member_json(&id, &member, &m)))
}

/// `DELETE /v2/images/{id}/members/{member}`.
pub async fn remove(
    State(glance): State<Glance>,
    who: Identity,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    glance.remove_member(&who, &id, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}
