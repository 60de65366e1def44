//! Tessera's Glance domain: every rule of the Image API that is not HTTP.
//!
//! It owns the image lifecycle (which status may follow which), who may see and change what
//! (Glance's default RBAC, visibility and membership), the compare-and-set write path over
//! the Raft log with request-id deduplication, and the cluster operations Tessera's admin API
//! offers (declared here as traits, implemented by `node`). It returns [`DomainError`]s;
//! `api` maps them to Glance responses in one place and does nothing but HTTP.
//!
//! It sits above `raft` (records, commands) and `replication` (chunk data) because an image
//! operation such as an upload spans both, and below `api` so that the node's background
//! loops and, later, tasks and imports use the same rules as a request does.

pub mod cluster_admin;
pub mod error;

pub use cluster_admin::ClusterAdmin;
pub use error::DomainError;
