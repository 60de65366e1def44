//! Commands proposed through Raft and their results.
//!
//! Every command carries a client request id so a retried proposal applies once. Writers
//! read an image, compute the new record (stamping times themselves) and propose it with the
//! revision they read: apply is a deterministic compare-and-set.

use crate::docs::{Doc, DocConflict, DocOp};
use crate::model::Image;
use crate::usage::{LimitCheck, OverLimit};
use serde::{Deserialize, Serialize};

/// A proposal: a request id for deduplication plus the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Unique per client request; a retry reuses it.
    pub request_id: String,
    /// Proposer's clock (unix seconds), used to expire old request ids deterministically.
    pub stamped_at: i64,
    /// The change.
    pub command: Command,
}

/// A change to the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Insert a new image; fails with `Exists` if the id is taken.
    CreateImage {
        /// The new record.
        image: Image,
        /// Unified limits of the owner to check against its usage (none: unlimited).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        limits: Vec<LimitCheck>,
    },
    /// Replace an image if its stored revision still equals `expect`.
    PutImage {
        /// The new record.
        image: Image,
        /// The revision the writer read.
        expect: u64,
        /// Unified limits of the owner to check against its usage (none: unlimited).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        limits: Vec<LimitCheck>,
    },
    /// Remove an image record if its stored revision still equals `expect`.
    DeleteImage {
        /// The image id.
        id: String,
        /// The revision the writer read.
        expect: u64,
    },
    /// Apply every document operation, or none if any precondition fails.
    Docs {
        /// The operations, checked and applied in order.
        ops: Vec<DocOp>,
    },
}

/// The deterministic outcome of applying a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Applied; carries the stored record (with its new revision), or `None` after a delete.
    Applied(Option<Image>),
    /// No image with that id.
    NotFound,
    /// An image with that id already exists.
    Exists,
    /// The stored revision differs from `expect`; carries the current record.
    Conflict(Image),
    /// A document batch applied: each operation's document after it (`None`: deleted or
    /// absent).
    Docs(Vec<Option<Doc>>),
    /// A document batch did not apply.
    DocConflict(DocConflict),
    /// The image's owner would go over a unified limit; nothing changed.
    OverLimit(OverLimit),
}
