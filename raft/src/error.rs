//! The error types of the metadata layer: [`MetaError`], what the handle answers (also to
//! peers, in forwarded replies), and [`StoreError`], what this node's own store fails with.

use crate::types::NodeId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Everything that can go wrong talking to the replicated metadata.
///
/// It crosses the wire: a forwarded call's reply carries it to the peer that asked, so every
/// variant is plain data and causes travel as text (`Storage`, `Codec`, `Fatal`, `Timeout`,
/// `Raft`). Failures that stay in this process keep their source in [`StoreError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MetaError {
    /// The local disk or database failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// A record or snapshot could not be encoded or decoded.
    #[error("codec error: {0}")]
    Codec(String),
    /// This node is not the leader; the write or read must go to `leader_id` at `leader_addr`.
    #[error("not the leader (leader: {leader_id:?} at {leader_addr:?})")]
    NotLeader {
        /// The leader this node knows of, if any.
        leader_id: Option<NodeId>,
        /// Its transport address, if known.
        leader_addr: Option<String>,
    },
    /// A list marker names no image the viewer can see.
    #[error("marker not found: {0}")]
    MarkerNotFound(String),
    /// Raft stopped because of an unrecoverable error.
    #[error("raft fatal error: {0}")]
    Fatal(String),
    /// The handle was shut down.
    #[error("metadata service is shut down")]
    Shutdown,
    /// Waiting (for a leader, for a quorum) took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Any other raft-level refusal (membership change, initialization...).
    #[error("raft error: {0}")]
    Raft(String),
    /// This node's metadata volume is below its free-space reserve: the change would grow
    /// the metadata and was not proposed (deletes still are).
    #[error("{0}")]
    StorageFull(String),
    /// A command whose log entry would be larger than any peer link carries; never proposed.
    #[error("command of {len} bytes exceeds the {max}-byte limit of a log entry")]
    TooLarge {
        /// The encoded command's length.
        len: usize,
        /// [`crate::MAX_ENTRY_BYTES`].
        max: usize,
    },
}

/// Failures of this node's own store (sled, the file system, record encoding). They stay in
/// the process and keep their source; at the [`MetaError`] boundary they become text.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("storage error: {0}")]
    Db(#[from] sled::Error),
    /// A file system call failed.
    #[error("storage error: {0}")]
    Io(#[from] std::io::Error),
    /// A sled transaction was aborted.
    #[error("storage error: transaction aborted")]
    Aborted,
    /// A record or snapshot could not be encoded.
    #[error("codec error: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// A record or snapshot could not be decoded.
    #[error("codec error: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// A snapshot names a tree this state machine does not have.
    #[error("codec error: unknown tree {0} in snapshot")]
    UnknownTree(String),
    /// The marker of an interrupted snapshot install is set but the snapshot itself is gone.
    #[error("storage error: a snapshot install was cut short and its snapshot is missing")]
    NoSnapshotToFinish,
    /// Copying the state machine for a snapshot failed (shared: a builder may be asked twice).
    #[error("copying the state machine for a snapshot: {0}")]
    Capture(#[source] Arc<StoreError>),
}

impl From<StoreError> for MetaError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Db(e) => MetaError::Storage(e.to_string()),
            StoreError::Io(e) => MetaError::Storage(e.to_string()),
            StoreError::Aborted => MetaError::Storage("transaction aborted".into()),
            StoreError::Encode(e) => MetaError::Codec(e.to_string()),
            StoreError::Decode(e) => MetaError::Codec(e.to_string()),
            StoreError::UnknownTree(name) => {
                MetaError::Codec(format!("unknown tree {name} in snapshot"))
            }
            StoreError::NoSnapshotToFinish => MetaError::Storage(e.to_string()),
            StoreError::Capture(e) => MetaError::Storage(e.to_string()),
        }
    }
}

impl From<sled::Error> for MetaError {
    fn from(e: sled::Error) -> Self {
        MetaError::Storage(e.to_string())
    }
}

impl From<std::io::Error> for MetaError {
    fn from(e: std::io::Error) -> Self {
        MetaError::Storage(e.to_string())
    }
}

impl From<rmp_serde::decode::Error> for MetaError {
    fn from(e: rmp_serde::decode::Error) -> Self {
        MetaError::Codec(e.to_string())
    }
}

impl From<rmp_serde::encode::Error> for MetaError {
    fn from(e: rmp_serde::encode::Error) -> Self {
        MetaError::Codec(e.to_string())
    }
}

impl From<openraft::error::Fatal<NodeId>> for MetaError {
    fn from(e: openraft::error::Fatal<NodeId>) -> Self {
        match e {
            openraft::error::Fatal::Stopped => MetaError::Shutdown,
            other => MetaError::Fatal(other.to_string()),
        }
    }
}

impl From<openraft::StorageError<NodeId>> for MetaError {
    fn from(e: openraft::StorageError<NodeId>) -> Self {
        MetaError::Storage(e.to_string())
    }
}

impl From<openraft::error::ForwardToLeader<NodeId, openraft::BasicNode>> for MetaError {
    fn from(f: openraft::error::ForwardToLeader<NodeId, openraft::BasicNode>) -> Self {
        MetaError::NotLeader {
            leader_id: f.leader_id,
            leader_addr: f.leader_node.map(|n| n.addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn store_errors_keep_their_source_and_peers_get_the_same_text() {
        let io = StoreError::from(std::io::Error::other("disk on fire"));
        assert!(io.source().is_some());
        assert_eq!(io.to_string(), "storage error: disk on fire");
        let meta = MetaError::from(io);
        assert_eq!(meta, MetaError::Storage("disk on fire".into()));
        assert_eq!(meta.to_string(), "storage error: disk on fire");

        let aborted = MetaError::from(StoreError::Aborted);
        assert_eq!(aborted.to_string(), "storage error: transaction aborted");
        let tree = MetaError::from(StoreError::UnknownTree("x".into()));
        assert_eq!(tree.to_string(), "codec error: unknown tree x in snapshot");

        let captured = StoreError::Capture(Arc::new(StoreError::Aborted));
        assert!(captured.source().is_some());
    }
}
