//! Tessera's own admin endpoints (outside the Glance API): `GET /tessera/v1/cluster`.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// Every member's Raft view (asked of the member itself) and this node's chunk count.
pub async fn cluster(State(st): State<AppState>, who: Identity) -> Result<Json<Value>, ApiError> {
    if !who.is_admin() {
        return Err(ApiError::Forbidden(
            "You are not authorized to complete cluster_status action.".into(),
        ));
    }
    let me = st.meta.status()?;
    let mut members = Vec::new();
    for (id, addr, voter) in me
        .voters
        .iter()
        .map(|(id, a)| (*id, a, true))
        .chain(me.learners.iter().map(|(id, a)| (*id, a, false)))
    {
        let status = match st.meta.peer_status(id).await {
            Ok(s) => json!(s),
            Err(e) => json!({ "error": e.to_string() }),
        };
        members.push(json!({ "id": id, "addr": addr, "voter": voter, "status": status }));
    }
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
