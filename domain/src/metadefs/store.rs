//! Reading and changing namespace documents: every change is a compare-and-set on the
//! namespace's revision, recomputed from a fresh read when a concurrent writer wins (as an
//! image's write path does), so each Glance rule is checked against the state it changes.

use super::access::no_namespace;
use super::model::{Namespace, ResourceType};
use crate::docs::{self, Stored, Written};
use crate::error::DomainError;
use crate::write::{now, MAX_CAS_ATTEMPTS};
use tessera_raft::{DocOp, Expect, Meta};

/// Linearizable read of one namespace.
pub(crate) async fn load(meta: &Meta, name: &str) -> Result<Stored<Namespace>, DomainError> {
    docs::get::<Namespace>(meta, name)
        .await?
        .ok_or_else(|| no_namespace(name))
}

/// Every namespace, in name order.
pub(crate) async fn all(meta: &Meta) -> Result<Vec<Namespace>, DomainError> {
    Ok(docs::list::<Namespace>(meta, "")
        .await?
        .into_iter()
        .map(|s| s.value)
        .collect())
}

/// Attempts of a write that creates resource types against concurrent creations of them.
pub(crate) const RESOURCE_TYPE_ATTEMPTS: usize = 3;

/// What a change of a namespace does to the store besides rewriting it.
pub(crate) struct Change<T> {
    /// What the operation returns.
    pub(crate) result: T,
    /// Operations applied in the same batch (resource types created, a rename's new id).
    pub(crate) also: Vec<DocOp>,
    /// Whether the namespace is removed rather than rewritten.
    pub(crate) remove: bool,
}

impl<T> Change<T> {
    /// Rewrites the namespace, nothing else.
    pub(crate) fn rewrite(result: T) -> Self {
        Change {
            result,
            also: Vec::new(),
            remove: false,
        }
    }
}

/// Reads namespace `name`, lets `f` change it (and name other operations for the batch),
/// and writes it back if nobody changed it meanwhile; retries on a lost race for the
/// namespace, and is a 409 when another record of the batch no longer holds.
pub(crate) async fn change<T, F>(meta: &Meta, name: &str, f: F) -> Result<T, DomainError>
where
    F: FnMut(&mut Namespace) -> Result<Change<T>, DomainError>,
{
    change_batch(meta, name, f).await?.ok_or_else(|| {
        DomainError::Conflict(format!(
            "A record namespace {name} refers to changed concurrently; retry."
        ))
    })
}

/// [`change`], but `None` when another record of the batch (a resource type, a rename's
/// target) no longer holds what the caller read, so the caller can re-read it.
pub(crate) async fn change_batch<T, F>(
    meta: &Meta,
    name: &str,
    mut f: F,
) -> Result<Option<T>, DomainError>
where
    F: FnMut(&mut Namespace) -> Result<Change<T>, DomainError>,
{
    for _ in 0..MAX_CAS_ATTEMPTS {
        let stored = load(meta, name).await?;
        let mut next = stored.value.clone();
        let change = f(&mut next)?;
        let expect = Expect::Revision(stored.revision);
        // A rename removes the old id; its new id is in `also`, on condition it is free.
        let mut ops = vec![if change.remove || next.namespace != name {
            docs::remove::<Namespace>(name, expect)
        } else {
            docs::put(name, expect, &next)?
        }];
        ops.extend(change.also);
        match docs::write(meta, ops).await? {
            Written::Applied(_) => return Ok(Some(change.result)),
            // The namespace changed: recompute from a fresh read.
            Written::Conflict(c) if c.index == 0 => {
                tracing::debug!(namespace = name, "metadef write raced; retrying");
            }
            Written::Conflict(_) => return Ok(None),
        }
    }
    Err(DomainError::Conflict(format!(
        "Namespace {name} is changing too often; retry."
    )))
}

/// The batch operations that create every resource type of `names` missing from the store
/// (Glance creates one on first association), each on condition it is still missing.
pub(crate) async fn resource_type_ops(
    meta: &Meta,
    names: &[&str],
    protected: bool,
) -> Result<Vec<DocOp>, DomainError> {
    let mut ops = Vec::new();
    for name in names {
        if docs::get::<ResourceType>(meta, name).await?.is_none() {
            let t = now();
            let rt = ResourceType {
                name: name.to_string(),
                protected,
                created_at: t,
                updated_at: t,
            };
            ops.push(docs::put(name, Expect::Absent, &rt)?);
        } else {
            ops.push(docs::check::<ResourceType>(name, Expect::Present));
        }
    }
    Ok(ops)
}
