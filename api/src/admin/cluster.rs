//! Tessera's own admin endpoints (outside the Glance API): `GET /tessera/v1/cluster`.

use crate::error::ApiError;
use crate::gossip::GossipReport;
use crate::identity::Identity;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;
use tessera_raft::Meta;

/// Refuses `action` (403, in Glance's words) to anyone but an admin.
pub(super) fn require_admin(who: &Identity, action: &str) -> Result<(), ApiError> {
    if who.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "You are not authorized to complete {action} action."
        )))
    }
}

/// Longest wait for a member's own Raft status; a slow member is shown with an error.
const MEMBER_STATUS_WAIT: Duration = Duration::from_secs(3);

/// Every member (its Raft view, asked of the member itself, and what gossip says of it) and
/// this node's chunk count.
pub async fn cluster(State(st): State<AppState>, who: Identity) -> Result<Json<Value>, ApiError> {
    require_admin(&who, "cluster_status")?;
    let me = st.meta.status()?;
    let listed: Vec<(u64, &String, bool)> = me
        .voters
        .iter()
        .map(|(id, a)| (*id, a, true))
        .chain(me.learners.iter().map(|(id, a)| (*id, a, false)))
        .collect();
    let ids: Vec<u64> = listed.iter().map(|(id, _, _)| *id).collect();
    let reports = st
        .gossip
        .as_ref()
        .map(|g| g.reports(&ids))
        .unwrap_or_default();
    let members = futures::future::join_all(
        listed
            .iter()
            .map(|(id, addr, voter)| member(&st.meta, *id, addr, *voter, reports.get(id))),
    )
    .await;
    let store = st.data.store().clone();
    let chunks = tokio::task::spawn_blocking(move || store.list())
        .await
        .map_err(|e| ApiError::Internal(format!("listing chunks: {e}")))?
        .map_err(|e| ApiError::Internal(format!("listing chunks: {e}")))?;
    Ok(Json(json!({
        "node": me,
        "members": members,
        "chunks": { "count": chunks.len(), "bytes": chunks.iter().map(|c| c.len).sum::<u64>() },
    })))
}

/// One member's entry: id, peer address, voter, its Raft role, term and applied index (and
/// whole status), then the gossip fields.
async fn member(
    meta: &Meta,
    id: u64,
    addr: &str,
    voter: bool,
    gossip: Option<&GossipReport>,
) -> Value {
    let status = if gossip.is_some_and(|g| g.down) {
        Err("down according to gossip".to_string())
    } else {
        match tokio::time::timeout(MEMBER_STATUS_WAIT, meta.peer_status(id)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {MEMBER_STATUS_WAIT:?}")),
        }
    };
    let (role, term, last_applied, status) = match status {
        Ok(s) => (
            json!(s.role),
            json!(s.term),
            json!(s.last_applied),
            json!(s),
        ),
        Err(e) => (Value::Null, Value::Null, Value::Null, json!({ "error": e })),
    };
    let mut entry = json!({
        "id": id,
        "addr": addr,
        "voter": voter,
        "role": role,
        "term": term,
        "last_applied": last_applied,
        "status": status,
    });
    if let (Some(g), Value::Object(fields)) = (gossip, &mut entry) {
        fields.extend(g.fields.clone());
    }
    entry
}
