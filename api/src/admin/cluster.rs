//! `GET /tessera/v1/cluster` (every member and this node's chunks) and
//! `POST /tessera/v1/cluster/leave` (drain a node, then remove it from Raft),
//! `GET|POST /tessera/v1/cluster/revocations` (peer certificates no node accepts any more).

use super::require_admin;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};
use tessera_domain::cluster_admin::MemberReport;

/// Every member (its Raft view, asked of the member itself, and what gossip says of it) and
/// this node's chunk count.
pub async fn status(State(st): State<AppState>, who: Identity) -> Result<Json<Value>, ApiError> {
    require_admin(&st, &who, "cluster_status")?;
    let report = st.admin.status().await?;
    Ok(Json(json!({
        "node": report.node,
        "members": report.members.into_iter().map(member).collect::<Vec<_>>(),
        "chunks": report.chunks,
    })))
}

/// One member's entry: id, peer address, voter, its Raft role, term and applied index (and
/// whole status), then the gossip fields.
fn member(m: MemberReport) -> Value {
    let (role, term, last_applied, status) = match m.status {
        Ok(s) => (
            json!(s.role),
            json!(s.term),
            json!(s.last_applied),
            json!(s),
        ),
        Err(e) => (Value::Null, Value::Null, Value::Null, json!({ "error": e })),
    };
    let mut entry = json!({
        "id": m.id,
        "addr": m.addr,
        "voter": m.voter,
        "role": role,
        "term": term,
        "last_applied": last_applied,
        "status": status,
    });
    if let Value::Object(fields) = &mut entry {
        fields.extend(m.gossip);
    }
    entry
}

/// The `node` parameter.
fn node_id(v: &str) -> Result<u64, ApiError> {
    v.parse()
        .map_err(|_| ApiError::BadRequest(format!("node must be a node id: {v}")))
}

/// `?node=ID` (default: this node) and `drain=false` (remove a lost node without draining).
fn leave_args(raw: Option<String>) -> Result<(Option<u64>, bool), ApiError> {
    let (mut node, mut drain) = (None, true);
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match &*k {
            "node" => node = Some(node_id(&v)?),
            "drain" => {
                drain = v.parse().map_err(|_| {
                    ApiError::BadRequest(format!("drain must be true or false: {v}"))
                })?
            }
            other => return Err(ApiError::BadRequest(format!("unknown parameter {other}"))),
        }
    }
    Ok((node, drain))
}

/// Removes a node from the cluster. Draining (the default) must be asked of the leaving node
/// itself; `drain=false` removes a lost node at once.
pub async fn leave(
    State(st): State<AppState>,
    who: Identity,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    require_admin(&st, &who, "cluster_leave")?;
    let (node, drain) = leave_args(raw)?;
    let report = st.admin.leave(node, drain).await?;
    Ok(Json(json!(report)))
}

/// `?node=ID` (required) and `fingerprint=HEX` (one certificate; default: all of the node's).
fn revoke_args(raw: Option<String>) -> Result<(u64, Option<String>), ApiError> {
    let (mut node, mut fingerprint) = (None, None);
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match &*k {
            "node" => node = Some(node_id(&v)?),
            "fingerprint" => fingerprint = Some(v.into_owned()),
            other => return Err(ApiError::BadRequest(format!("unknown parameter {other}"))),
        }
    }
    let node = node.ok_or_else(|| ApiError::BadRequest("node is required".into()))?;
    Ok((node, fingerprint))
}

/// Revokes a node's certificates (or one of them) through Raft; every node refuses them
/// from then on.
pub async fn revoke(
    State(st): State<AppState>,
    who: Identity,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    require_admin(&st, &who, "cluster_revoke")?;
    let (node, fingerprint) = revoke_args(raw)?;
    let revocation = st.glance.revoke_peer(node, fingerprint).await?;
    Ok(Json(json!(revocation)))
}

/// Every revocation.
pub async fn revocations(
    State(st): State<AppState>,
    who: Identity,
) -> Result<Json<Value>, ApiError> {
    require_admin(&st, &who, "cluster_revocations")?;
    Ok(Json(
        json!({ "revocations": st.glance.revocations().await? }),
    ))
}
