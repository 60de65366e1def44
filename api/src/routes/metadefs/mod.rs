//! Glance's metadata definitions API (`/v2/metadefs/...`): HTTP only, over the domain's
//! metadef operations.

mod namespaces;
mod objects;
mod parse;
mod properties;
mod resource_types;
mod tags;
pub(crate) mod view;

use crate::error::ApiError;
use crate::identity::Identity;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use tessera_domain::metadefs::Contents;
use tessera_domain::Glance;

/// `DELETE .../objects|properties|tags`: every record of one kind in the namespace.
async fn remove_all(
    State(glance): State<Glance>,
    who: Identity,
    Path(ns): Path<String>,
    what: Contents,
) -> Result<StatusCode, ApiError> {
    glance.delete_contents(&who, &ns, what).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every metadef route.
pub(crate) fn routes() -> Router<AppState> {
    const NS: &str = "/v2/metadefs/namespaces/{namespace}";
    Router::new()
        .route("/v2/metadefs/resource_types", get(resource_types::list))
        .route(
            "/v2/metadefs/namespaces",
            get(namespaces::list).post(namespaces::create),
        )
        .route(
            NS,
            get(namespaces::show)
                .put(namespaces::update)
                .delete(namespaces::remove),
        )
        .route(
            &format!("{NS}/resource_types"),
            get(resource_types::associations).post(resource_types::associate),
        )
        .route(
            &format!("{NS}/resource_types/{{name}}"),
            axum::routing::delete(resource_types::dissociate),
        )
        .route(
            &format!("{NS}/objects"),
            get(objects::list)
                .post(objects::create)
                .delete(|g, w, p| remove_all(g, w, p, Contents::Objects)),
        )
        .route(
            &format!("{NS}/objects/{{name}}"),
            get(objects::show)
                .put(objects::update)
                .delete(objects::remove),
        )
        .route(
            &format!("{NS}/properties"),
            get(properties::list)
                .post(properties::create)
                .delete(|g, w, p| remove_all(g, w, p, Contents::Properties)),
        )
        .route(
            &format!("{NS}/properties/{{name}}"),
            get(properties::show)
                .put(properties::update)
                .delete(properties::remove),
        )
        .route(
            &format!("{NS}/tags"),
            get(tags::list)
                .post(tags::create_many)
                .delete(|g, w, p| remove_all(g, w, p, Contents::Tags)),
        )
        .route(
            &format!("{NS}/tags/{{name}}"),
            post(tags::create)
                .get(tags::show)
                .put(tags::update)
                .delete(tags::remove),
        )
}
