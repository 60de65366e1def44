//! The openraft type configuration shared by storage, network and the `Meta` handle.

use crate::command::{Outcome, Request};
use std::io::Cursor;

/// Node identifier within a cluster.
pub type NodeId = u64;

/// Peer description carried in membership: its transport address.
pub type Node = openraft::BasicNode;

openraft::declare_raft_types!(
    /// Tessera's openraft types: requests in, outcomes out, snapshots as in-memory bytes.
    pub TypeConfig:
        D = Request,
        R = Outcome,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
);

/// A raft log entry of this configuration.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id of this configuration.
pub type LogId = openraft::LogId<NodeId>;
/// Membership as stored by the state machine.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// Metadata of a snapshot.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
/// A snapshot with its data.
pub type Snapshot = openraft::Snapshot<TypeConfig>;
/// Storage errors as openraft wants them.
pub type StorageError = openraft::StorageError<NodeId>;
/// The running raft instance.
pub type Raft = openraft::Raft<TypeConfig>;

/// Wraps any error as an openraft storage IO error with the given constructor.
pub(crate) fn sto(
    ctor: impl FnOnce(openraft::AnyError) -> openraft::StorageIOError<NodeId>,
    e: impl std::error::Error + 'static,
) -> StorageError {
    ctor(openraft::AnyError::new(&e)).into()
}
