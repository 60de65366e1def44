//! Route table of the Glance v2 API.

mod actions;
mod admin;
mod data;
mod discovery;
mod images;
mod members;
mod replication;
mod tags;
mod workers;

use crate::Shared;
use axum::routing::{get, post, put};
use axum::Router;

/// Every Glance v2 route this service answers.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(discovery::root))
        .route("/versions", get(discovery::versions))
        .route("/healthcheck", get(discovery::healthcheck))
        .route("/v2/schemas/{name}", get(discovery::schema))
        .route("/v2/info/stores", get(discovery::stores))
        .route("/v2/images", get(images::list).post(images::create))
        .route(
            "/v2/images/{id}",
            get(images::show)
                .patch(images::update)
                .delete(images::remove),
        )
        .route(
            "/v2/images/{id}/file",
            put(data::upload).get(data::download),
        )
        .route(
            "/v2/images/{id}/tags/{tag}",
            put(tags::add).delete(tags::remove),
        )
        .route(
            "/v2/images/{id}/actions/deactivate",
            post(actions::deactivate),
        )
        .route(
            "/v2/images/{id}/actions/reactivate",
            post(actions::reactivate),
        )
        .route(
            "/v2/images/{id}/members",
            get(members::list).post(members::add),
        )
        .route(
            "/v2/images/{id}/members/{member}",
            get(members::show)
                .put(members::answer)
                .delete(members::remove),
        )
        .route("/tessera/v1/cluster", get(admin::cluster))
        .route("/tessera/v1/cluster/leave", post(replication::leave))
        .route("/tessera/v1/chunks/repair", post(replication::repair))
        .route("/tessera/v1/workers", get(workers::list))
        .route("/tessera/v1/workers/{name}", get(workers::show))
        .route("/tessera/v1/workers/{name}/pause", post(workers::pause))
        .route("/tessera/v1/workers/{name}/resume", post(workers::resume))
        .route(
            "/tessera/v1/workers/{name}/settings/{key}",
            put(workers::set),
        )
        .route("/tessera/v1/chunks/verify", post(workers::verify))
        .route("/metrics", get(workers::metrics))
        .fallback(discovery::not_found)
}
