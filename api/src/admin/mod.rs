//! Tessera's own admin API, outside Glance's (admin only): the cluster (`/tessera/v1/cluster`,
//! `.../cluster/leave`, `.../cluster/revocations`), chunk maintenance (`/tessera/v1/chunks/repair|verify`), the
//! background workers (`/tessera/v1/workers...`), Glance's metadef files
//! (`/tessera/v1/metadefs...`) and `/metrics`.
//!
//! Handlers parse, call the node's [`tessera_domain::cluster_admin::ClusterAdmin`] or worker
//! handles, and render; the operations themselves live in `node`.

mod chunks;
mod cluster;
mod metadefs;
mod metrics;
mod workers;

use crate::error::ApiError;
use crate::identity::Identity;
use crate::AppState;
use axum::routing::{delete, get, post, put};
use axum::Router;

/// Every admin route.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/tessera/v1/cluster", get(cluster::status))
        .route("/tessera/v1/cluster/leave", post(cluster::leave))
        .route(
            "/tessera/v1/cluster/revocations",
            get(cluster::revocations).post(cluster::revoke),
        )
        .route("/tessera/v1/chunks/repair", post(chunks::repair))
        .route("/tessera/v1/chunks/verify", post(chunks::verify))
        .route("/tessera/v1/workers", get(workers::list))
        .route("/tessera/v1/workers/{name}", get(workers::show))
        .route("/tessera/v1/workers/{name}/pause", post(workers::pause))
        .route("/tessera/v1/workers/{name}/resume", post(workers::resume))
        .route(
            "/tessera/v1/workers/{name}/settings/{key}",
            put(workers::set),
        )
        .route(
            "/tessera/v1/metadefs/files",
            get(metadefs::export).post(metadefs::load),
        )
        .route("/tessera/v1/metadefs", delete(metadefs::unload))
        .route("/metrics", get(metrics::metrics))
}

/// Refuses `action` (403, in Glance's words) to anyone the `tessera:admin` policy rule does
/// not pass.
fn require_admin(st: &AppState, who: &Identity, action: &str) -> Result<(), ApiError> {
    Ok(st.glance.access(who).check_tessera_admin(action)?)
}
