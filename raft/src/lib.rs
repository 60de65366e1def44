//! Tessera metadata: Glance records and commands, a deterministic state machine, openraft
//! storage (log, vote, snapshots) on sled, and [`Meta`], the handle that proposes commands,
//! serves linearizable reads, forwards both to the leader with retries, and changes
//! membership (join, promote, leave).
//!
//! This crate knows nothing of HTTP, QUIC or the chunk store: it declares the transport trait
//! it needs ([`network::RaftTransport`]) and the `node` crate implements it. The in-process
//! transport and the transport test suite both implementations run are in `testing`
//! (feature `testing`).

pub mod command;
pub mod db;
pub mod docs;
pub mod durable;
pub mod error;
pub mod forward;
pub mod index;
pub mod log_store;
pub mod meta;
pub mod model;
pub mod network;
pub mod query;
pub mod snapshot;
pub mod space;
pub mod state_machine;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod types;
pub mod usage;

pub use command::{Command, Outcome, Request};
pub use docs::{Change, Doc, DocConflict, DocOp, Expect};
pub use error::MetaError;
pub use forward::{serve_forward, ClusterStatus, ForwardReply, ForwardRequest, Role};
pub use meta::{Meta, MetaConfig, DEFAULT_MAX_VOTERS, DEFAULT_SNAPSHOT_LOGS, MAX_ENTRY_BYTES};
pub use model::{
    ClusterCopy, DataRef, Image, ImageStatus, Location, Member, MemberStatus, Visibility,
};
pub use network::{serve_rpc, RaftReply, RaftRpc, RaftTransport, TransportError};
pub use query::{Filters, ListQuery, MemberFilter, SortDir, SortKey, TimeOp, Viewer};
pub use space::MetaSpace;
#[cfg(any(test, feature = "testing"))]
pub use testing::LocalTransport;
pub use types::{NodeId, TypeConfig};
pub use usage::{LimitCheck, OverLimit, Resource, Usage};
