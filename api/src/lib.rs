//! Tessera's OpenStack Image API v2 (Glance) surface over axum.
//!
//! Handlers hold `Meta` (the Raft-replicated metadata) and `Data` (the chunk store) handles,
//! never trees or sockets. Every failure is mapped to a Glance response in `error`.

pub mod error;
pub mod identity;
pub mod list;
pub mod patch;
pub mod policy;
pub mod schema;
pub mod view;

mod admin;
mod body;
mod methods;
pub mod ops;
mod request_span;
mod routes;

use axum::Router;
use std::sync::Arc;
use tessera_raft::Meta;
use tessera_replication::{Data, Workers};

pub use error::ApiError;
pub use identity::{AuthConfig, Identity};

/// The single store id this service advertises (`/v2/info/stores`, an image's `stores`).
pub const STORE_ID: &str = "tessera";

/// Limits and identity settings of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub auth: AuthConfig,
    /// Largest JSON request body (Glance's `max_request_body_size`).
    pub max_json_body: usize,
    /// Largest image accepted (Glance's `image_size_cap`).
    pub image_size_cap: u64,
    /// Glance's `delayed_delete`: a deleted image with data goes to `pending_delete` (hidden
    /// like a deleted one, data kept) until the reaper scrubs it.
    pub delayed_delete: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            auth: AuthConfig::default(),
            max_json_body: 114_688,
            image_size_cap: 1 << 40,
            delayed_delete: false,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub meta: Meta,
    pub data: Data,
    pub config: Arc<ApiConfig>,
    /// The node's cluster operations (status, leave, repair), for the admin endpoints.
    pub admin: Arc<dyn tessera_domain::cluster_admin::ClusterAdmin>,
    /// The node's background loops, for the admin endpoints and `/metrics`.
    pub workers: Workers,
}

/// The whole Glance v2 router with request ids, spans and identity wired in.
pub fn router(state: AppState) -> Router {
    let auth = Arc::new(state.config.auth.clone());
    // `Router::layer` wraps each route's handlers after method dispatch; nesting the routes
    // as a fallback service lets the layers below see every request before routing.
    Router::new()
        .fallback_service(routes::routes().merge(admin::routes()).with_state(state))
        .layer(axum::Extension(auth))
        .layer(axum::middleware::from_fn(methods::glance_methods))
        .layer(axum::middleware::from_fn(request_span::request_span))
}
