//! Typed documents: the records that are not images (metadefs, tasks, ...) stored through
//! Raft's document batches (`tessera_raft::docs`) as JSON bodies.
//!
//! A feature declares its record type as a [`DocKind`], reads with [`get`] / [`list`]
//! (linearizable), and writes a batch of [`put`] / [`remove`] / [`check`] operations with
//! [`write`]: all apply or none, each under its precondition. A writer that loses a race gets
//! [`Written::Conflict`], re-reads and recomputes (as images' compare-and-set does).

use crate::error::DomainError;
use crate::write::Proposal;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_raft::{Change, Command, Doc, DocConflict, DocOp, Expect, Meta, Outcome};

/// A record type kept as documents of one kind.
pub trait DocKind: Serialize + DeserializeOwned {
    /// The kind's name in the store; never changes once records exist.
    const KIND: &'static str;
}

/// A decoded document.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    /// The document's id.
    pub id: String,
    /// Its revision, for the precondition of the next write.
    pub revision: u64,
    /// The record.
    pub value: T,
}

/// What a batch did.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Every operation applied; each one's document after it.
    Applied(Vec<Option<Doc>>),
    /// Nothing applied: this operation's precondition failed.
    Conflict(DocConflict),
}

fn decode<T: DocKind>(doc: Doc) -> Result<Stored<T>, DomainError> {
    let value = serde_json::from_slice(&doc.body).map_err(|e| {
        DomainError::Internal(format!("stored {} {} unreadable: {e}", T::KIND, doc.id))
    })?;
    Ok(Stored {
        id: doc.id,
        revision: doc.revision,
        value,
    })
}

/// Linearizable read of one record.
pub async fn get<T: DocKind>(meta: &Meta, id: &str) -> Result<Option<Stored<T>>, DomainError> {
    meta.get_doc(T::KIND, id).await?.map(decode).transpose()
}

/// Linearizable read of every record whose id starts with `prefix`, in id order.
pub async fn list<T: DocKind>(meta: &Meta, prefix: &str) -> Result<Vec<Stored<T>>, DomainError> {
    meta.list_docs(T::KIND, prefix)
        .await?
        .into_iter()
        .map(decode)
        .collect()
}

/// Records under `prefix` on this node, possibly stale; for background loops that then
/// write with a precondition.
pub fn list_local<T: DocKind>(meta: &Meta, prefix: &str) -> Result<Vec<Stored<T>>, DomainError> {
    meta.list_docs_local(T::KIND, prefix)?
        .into_iter()
        .map(decode)
        .collect()
}

/// Stores `value` under `id` if `expect` holds.
pub fn put<T: DocKind>(id: &str, expect: Expect, value: &T) -> Result<DocOp, DomainError> {
    let body = serde_json::to_vec(value)
        .map_err(|e| DomainError::Internal(format!("cannot encode {} {id}: {e}", T::KIND)))?;
    Ok(DocOp::new(T::KIND, id, expect, Change::Put(body)))
}

/// Removes `id` if `expect` holds.
pub fn remove<T: DocKind>(id: &str, expect: Expect) -> DocOp {
    DocOp::new(T::KIND, id, expect, Change::Delete)
}

/// Changes nothing, but the batch applies only if `expect` holds of `id`.
pub fn check<T: DocKind>(id: &str, expect: Expect) -> DocOp {
    DocOp::new(T::KIND, id, expect, Change::Keep)
}

/// Applies the batch under one request id (a resend after an ambiguous failure applies it
/// once).
pub async fn write(meta: &Meta, ops: Vec<DocOp>) -> Result<Written, DomainError> {
    match Proposal::new(Command::Docs { ops }).submit(meta).await? {
        Outcome::Docs(after) => Ok(Written::Applied(after)),
        Outcome::DocConflict(c) => Ok(Written::Conflict(c)),
        other => Err(DomainError::Internal(format!(
            "unexpected metadata outcome: {other:?}"
        ))),
    }
}
