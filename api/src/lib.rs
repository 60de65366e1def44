//! Tessera's OpenStack Image API v2 (Glance) surface over axum, and Tessera's own admin API
//! (`/tessera/v1/...`, `/metrics`) over the node's [`tessera_domain::ClusterAdmin`] and workers.
//!
//! It does nothing but HTTP: routing, body parsing and limits, JSON schema validation, JSON
//! patch, the Glance JSON view, headers and error rendering. Every Glance rule and every
//! change of a record or its data is the domain's (`tessera_domain::Glance`); each domain
//! failure is mapped to a Glance response in one place, [`error`].

pub mod auth;
pub mod error;
pub mod identity;
pub mod list;
pub mod metadef_schema;
pub mod patch;
pub mod schema;
pub mod view;

mod admin;
mod body;
mod methods;
mod request_span;
mod routes;

use axum::extract::FromRef;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tessera_domain::locations::LocationSettings;
use tessera_domain::{ClusterAdmin, Glance, Policy, Quotas, Settings, UploadLimits};
use tessera_replication::Workers;

pub use error::ApiError;
pub use identity::{AuthConfig, Identity};
pub use routes::discovery::OverTls;
pub use routes::{parse_range, CreateFields, RangeError};

/// Limits and identity settings of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How callers are identified.
    pub auth: AuthConfig,
    /// Largest JSON request body (Glance's `max_request_body_size`).
    pub max_json_body: usize,
    /// Largest image accepted (Glance's `image_size_cap`).
    pub image_size_cap: u64,
    /// Glance's `delayed_delete`: a deleted image with data goes to `pending_delete` (hidden
    /// like a deleted one, data kept) until the reaper scrubs it.
    pub delayed_delete: bool,
    /// The access rules in force: Glance's defaults, or an operator's policy file over them.
    pub policy: Policy,
    /// Glance's per-image quotas on properties, tags and members.
    pub quotas: Quotas,
    /// Glance's property protections, if a file sets them.
    pub protections: Option<std::sync::Arc<tessera_domain::Protections>>,
    /// Longest wait for the next piece of a request body.
    pub body_timeout: Duration,
    /// Caps on concurrent uploads on this node.
    pub uploads: UploadLimits,
    /// Glance's `public_endpoint`: the base URL of version links, when a proxy in front does
    /// not say it.
    pub public_endpoint: Option<String>,
    /// Whether `X-Forwarded-Proto`/`-Host` are trusted for version links (Glance's
    /// `enable_proxy_headers_parsing`, off by default: only a proxy should set them).
    pub proxy_headers: bool,
    /// Glance's `do_secure_hash` and `http_retries` (the locations API).
    pub locations: LocationSettings,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            auth: AuthConfig::default(),
            max_json_body: 114_688,
            image_size_cap: 1 << 40,
            delayed_delete: false,
            policy: Policy::default(),
            quotas: Quotas::default(),
            protections: None,
            body_timeout: Duration::from_secs(60),
            uploads: UploadLimits::default(),
            public_endpoint: None,
            proxy_headers: false,
            locations: LocationSettings::default(),
        }
    }
}

impl ApiConfig {
    /// The domain settings these API settings carry.
    pub fn domain(&self) -> Settings {
        Settings {
            image_size_cap: self.image_size_cap,
            delayed_delete: self.delayed_delete,
            quotas: self.quotas,
            uploads: self.uploads,
            locations: self.locations,
        }
    }
}

/// What the node hands the API, and what every handler shares: each takes the part it needs
/// (`State<Glance>`, `State<Arc<ApiConfig>>`, ...).
#[derive(Clone, FromRef)]
pub struct AppState {
    /// The Glance service, for the Glance routes.
    pub glance: Glance,
    /// The API's settings.
    pub config: Arc<ApiConfig>,
    /// The node's cluster operations (status, leave, repair, verify), for the admin endpoints.
    pub admin: Arc<dyn ClusterAdmin>,
    /// The node's background loops, for the admin endpoints and `/metrics`.
    pub workers: Workers,
}

/// The whole Glance v2 router with request ids, spans and identity wired in.
pub fn router(state: AppState) -> Router {
    let auth = Arc::new(state.config.auth.clone());
    let body_timeout = state.config.body_timeout;
    let keystone = auth.keystone.clone();
    // `Router::layer` wraps each route's handlers after method dispatch; nesting the routes
    // as a fallback service lets the layers below see every request before routing.
    let mut router =
        Router::new().fallback_service(routes::routes().merge(admin::routes()).with_state(state));
    if let Some(verifier) = keystone {
        router = router.layer(axum::middleware::from_fn_with_state(
            verifier,
            auth::require_token,
        ));
    }
    router
        // A request body that stops arriving ends the request (and frees an upload's slot)
        // instead of holding it forever.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .layer(axum::Extension(auth))
        .layer(axum::middleware::from_fn(methods::glance_methods))
        .layer(axum::middleware::from_fn(request_span::request_span))
}
