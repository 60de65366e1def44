//! Image members: sharing an image with other projects, who accept or reject it.

use crate::body::json_object;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::record_image;
use crate::schema::validate_member;
use crate::view::{format_time, now};
use crate::{ops, policy, AppState};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use tessera_raft::{Image, Member, MemberStatus, Visibility};

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

fn no_member(id: &str, member: &str) -> ApiError {
    ApiError::NotFound(format!("{member} is not a member of image {id}"))
}

/// Members a caller may see: all for the owner and admins, only itself for a member.
fn visible_members<'a>(
    who: &'a Identity,
    img: &'a Image,
) -> impl Iterator<Item = (&'a String, &'a Member)> {
    let all = who.is_admin() || policy::owns(who, img);
    img.members
        .iter()
        .filter(move |(p, _)| all || **p == who.project)
}

/// `GET /v2/images/{id}/members`.
pub async fn list(
    State(st): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let img = ops::load(&st.meta, &id).await?;
    policy::check_member_read(&who, &img)?;
    let members: Vec<Value> = visible_members(&who, &img)
        .map(|(p, m)| member_json(&id, p, m))
        .collect();
    Ok(Json(
        json!({"members": members, "schema": "/v2/schemas/members"}),
    ))
}

/// `GET /v2/images/{id}/members/{member}`.
pub async fn show(
    State(st): State<AppState>,
    who: Identity,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let img = ops::load(&st.meta, &id).await?;
    policy::check_member_read(&who, &img)?;
    let found = visible_members(&who, &img)
        .find(|(p, _)| **p == member)
        .map(|(p, m)| Json(member_json(&id, p, m)));
    found.ok_or_else(|| no_member(&id, &member))
}

/// `POST /v2/images/{id}/members` with `{"member": "<project>"}`.
pub async fn add(
    State(st): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let req = json_object(body, st.config.max_json_body).await?;
    let member = match req.get("member") {
        Some(Value::String(m)) if !m.is_empty() && m.len() <= 255 => m.clone(),
        _ => return Err(ApiError::BadRequest(
            "Member to be added not specified: the body must be {\"member\": \"<project id>\"}."
                .into(),
        )),
    };
    let stamp = now();
    let img = ops::modify(&st.meta, &id, |img| {
        policy::check_owner_write(&who, img, "add_member")?;
        if img.visibility != Visibility::Shared {
            return Err(ApiError::Forbidden(format!(
                "Not allowed to create members for image {id}."
            )));
        }
        if img.members.contains_key(&member) {
            return Err(ApiError::Conflict(format!(
                "Member {member} already associated with image {id}."
            )));
        }
        img.members.insert(
            member.clone(),
            Member {
                status: MemberStatus::Pending,
                created_at: stamp,
                updated_at: stamp,
            },
        );
        Ok(())
    })
    .await?;
    let m = img
        .members
        .get(&member)
        .ok_or_else(|| no_member(&id, &member))?;
    Ok(Json(member_json(&id, &member, m)))
}

/// `PUT /v2/images/{id}/members/{member}` with `{"status": "accepted|rejected|pending"}`.
pub async fn answer(
    State(st): State<AppState>,
    who: Identity,
    Path((id, member)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let req = json_object(body, st.config.max_json_body).await?;
    validate_member(&Value::Object(req.clone()))?;
    let status = req
        .get("status")
        .and_then(Value::as_str)
        .and_then(MemberStatus::parse)
        .ok_or_else(|| ApiError::BadRequest("Status not specified.".into()))?;
    let stamp = now();
    let img = ops::modify(&st.meta, &id, |img| {
        policy::check_member_answer(&who, img, &member)?;
        let m = img
            .members
            .get_mut(&member)
            .ok_or_else(|| no_member(&id, &member))?;
        if m.status != status {
            m.status = status;
            m.updated_at = stamp;
        }
        Ok(())
    })
    .await?;
    let m = img
        .members
        .get(&member)
        .ok_or_else(|| no_member(&id, &member))?;
    Ok(Json(member_json(&id, &member, m)))
}

/// `DELETE /v2/images/{id}/members/{member}`.
pub async fn remove(
    State(st): State<AppState>,
    who: Identity,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    ops::modify(&st.meta, &id, |img| {
        policy::check_owner_write(&who, img, "delete_member")?;
        img.members
            .remove(&member)
            .map(|_| ())
            .ok_or_else(|| no_member(&id, &member))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
