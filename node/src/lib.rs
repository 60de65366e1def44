//! Tessera's node: everything the `tessera` binary runs, as a library so that examples and
//! tests reach the real code.
//!
//! It owns the configuration, the QUIC peer transport and what rides on it (Raft, chunk
//! transfers, gossip), the wiring between `raft` and `replication`, the cluster orchestration
//! behind the admin API, and the operator command line. `main.rs` only parses and dispatches.

pub mod admin_cli;
pub mod api_tls;
pub mod certs;
pub mod cluster;
pub mod cluster_status;
pub mod config;
pub mod http_server;
pub mod keystone;
pub mod logging;
pub mod malloc;
pub mod metadefs_cli;
pub mod orchestration;
pub mod serve;
pub mod space;
pub mod stores;
pub mod transport;
pub mod wiring;
