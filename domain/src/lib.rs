//! Tessera's Glance domain: every rule of the Image API that is not HTTP.
//!
//! It owns who is calling ([`Caller`]), the image lifecycle (which status may follow which),
//! who may see and change what (Glance's default RBAC, visibility and membership), the
//! compare-and-set write path over the Raft log with request-id deduplication, and the image
//! operations themselves (records, members, tags, actions, data upload and download) behind
//! one service handle, [`Glance`]; and the cluster operations of the admin API, declared as
//! [`ClusterAdmin`] for `node` to implement. It returns [`DomainError`]s; `api` maps them to
//! Glance responses in one place and does nothing but HTTP. Its per-image quotas are here too
//! ([`quota`]), property protections ([`protection`]), unified limits ([`limits`]), the
//! metadata definitions catalog ([`metadefs`]), tasks and their executor ([`tasks`]) and the
//! interoperable import ([`import`]), the stores image data lives in ([`stores`]) and the
//! locations API ([`locations`]).
//!
//! It sits above `raft` (records, commands) and `replication` (chunk data) because an image
//! operation such as an upload spans both, and below `api` so that the node's background
//! loops and, later, tasks and imports use the same rules as a request does.

pub mod access;
pub mod actions;
pub mod admission;
pub mod cache;
pub mod caller;
pub mod catalog;
pub mod cluster_admin;
pub mod docs;
pub mod download;
pub mod error;
pub mod images;
pub mod import;
pub mod inspector;
pub mod lifecycle;
pub mod limits;
pub mod locations;
pub mod members;
pub mod metadefs;
pub mod policy;
pub mod protection;
pub mod quota;
pub mod record_bounds;
pub mod revocation;
pub mod service;
pub mod stores;
pub mod tags;
pub mod tasks;
pub mod upload;
pub mod write;

pub use admission::{UploadLimits, UploadSlots};
pub use caller::{Caller, Scope};
pub use catalog::{Delegation, ServiceCatalog};
pub use cluster_admin::ClusterAdmin;
pub use download::ImageData;
pub use error::DomainError;
pub use images::{Deleted, NewImage};
pub use policy::Policy;
pub use protection::Protections;
pub use quota::{LimitExceeded, Quotas};
pub use service::{Glance, Settings};
