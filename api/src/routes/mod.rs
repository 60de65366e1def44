//! Route table of the Glance v2 API.

mod actions;
mod cache;
mod data;
pub(crate) mod discovery;
mod images;
mod import;
mod locations;
mod members;
mod metadefs;
mod tags;
mod tasks;

pub use data::{parse_range, RangeError};
pub use images::CreateFields;

use crate::AppState;
use axum::routing::{get, post, put};
use axum::Router;

/// Every Glance v2 route this service answers.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(discovery::root))
        .route("/versions", get(discovery::versions))
        .route("/healthcheck", get(discovery::healthcheck))
        .route("/v2/schemas/{name}", get(discovery::schema))
        .route(
            "/v2/schemas/metadefs/{name}",
            get(discovery::metadef_schema),
        )
        .route("/v2/info/stores", get(discovery::stores))
        .route("/v2/cache", get(cache::state).delete(cache::clear))
        .route("/v2/cache/{id}", put(cache::queue).delete(cache::remove))
        .route("/v2/info/stores/detail", get(discovery::stores_detail))
        .route(
            "/v2/stores/{store}/{id}",
            axum::routing::delete(images::delete_from_store),
        )
        .route("/v2/info/usage", get(discovery::usage))
        .route("/v2/info/import", get(import::info))
        .route("/v2/tasks", get(tasks::list).post(tasks::create))
        .route("/v2/tasks/{id}", get(tasks::show).delete(tasks::remove))
        .route("/v2/images/{id}/stage", put(import::stage))
        .route("/v2/images/{id}/import", post(import::import))
        .route("/v2/images/{id}/tasks", get(tasks::for_image))
        .route(
            "/v2/images/{id}/locations",
            get(locations::list).post(locations::add),
        )
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
        .merge(metadefs::routes())
        .fallback(discovery::not_found)
}
