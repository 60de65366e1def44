//! Documents: every record other than an image (metadef namespaces, tasks, ...), kept as an
//! opaque body under a `(kind, id)` key with a revision, and written in all-or-nothing
//! batches where each operation carries its own precondition.
//!
//! The state machine does not know what a body means: the domain layer encodes it and
//! states the rules as preconditions (a child is created only while its parent still has the
//! revision the writer read; a cascade deletes exactly the children it listed). That keeps
//! apply deterministic and this crate free of each feature's schema.

use serde::{Deserialize, Serialize};

/// One stored document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    /// What kind of record this is (e.g. `metadef_namespace`); a namespace of ids.
    pub kind: String,
    /// The id within its kind; ids sharing a prefix list together.
    pub id: String,
    /// Starts at 1 and grows by one on each write.
    pub revision: u64,
    /// The record, encoded by its owner.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// What must hold of a key for its operation (and so the whole batch) to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expect {
    /// Nothing.
    Any,
    /// The key holds no document.
    Absent,
    /// The key holds a document, of any revision.
    Present,
    /// The key holds a document of exactly this revision.
    Revision(u64),
}

/// What an operation does to its key once every precondition of the batch holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Store this body (revision = old + 1, or 1).
    Put(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Remove the document (nothing if it is absent).
    Delete,
    /// Only check the precondition.
    Keep,
}

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocOp {
    /// The document's kind.
    pub kind: String,
    /// The document's id.
    pub id: String,
    /// What must hold first.
    pub expect: Expect,
    /// What to do.
    pub change: Change,
}

impl DocOp {
    /// An operation on `(kind, id)`.
    pub fn new(kind: &str, id: &str, expect: Expect, change: Change) -> DocOp {
        DocOp {
            kind: kind.into(),
            id: id.into(),
            expect,
            change,
        }
    }
}

/// The batch did not apply: operation `index`'s precondition failed on `current`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocConflict {
    /// Position of the failing operation in the batch.
    pub index: usize,
    /// What the key held (`None`: nothing).
    pub current: Option<Doc>,
}

/// The storage key of `(kind, id)`: the kind, a NUL, the id (kinds never contain NUL).
pub(crate) fn key(kind: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(kind.len() + 1 + id.len());
    k.extend_from_slice(kind.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// Whether `current` satisfies `expect`.
pub(crate) fn holds(expect: Expect, current: Option<&Doc>) -> bool {
    match (expect, current) {
        (Expect::Any, _) => true,
        (Expect::Absent, c) => c.is_none(),
        (Expect::Present, c) => c.is_some(),
        (Expect::Revision(r), Some(c)) => c.revision == r,
        (Expect::Revision(_), None) => false,
    }
}

/// Stored form of a document: the key carries kind and id.
#[derive(Serialize, Deserialize)]
pub(crate) struct Stored {
    pub(crate) revision: u64,
    #[serde(with = "serde_bytes")]
    pub(crate) body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(rev: u64) -> Doc {
        Doc {
            kind: "k".into(),
            id: "i".into(),
            revision: rev,
            body: vec![1],
        }
    }

    #[test]
    fn preconditions() {
        assert!(holds(Expect::Any, None));
        assert!(holds(Expect::Absent, None));
        assert!(!holds(Expect::Absent, Some(&doc(1))));
        assert!(holds(Expect::Present, Some(&doc(3))));
        assert!(!holds(Expect::Present, None));
        assert!(holds(Expect::Revision(2), Some(&doc(2))));
        assert!(!holds(Expect::Revision(2), Some(&doc(3))));
        assert!(!holds(Expect::Revision(1), None));
    }

    #[test]
    fn keys_of_one_kind_share_a_prefix_no_other_kind_has() {
        assert!(key("task", "a").starts_with(&key("task", "")));
        assert!(!key("tasks", "a").starts_with(&key("task", "")));
    }
}
