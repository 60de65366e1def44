//! Revoked peer certificates: a list replicated through Raft (as documents) that every node
//! checks each peer connection, call and gossip datagram against.
//!
//! A revocation names a node id and, optionally, one certificate's SHA-256 fingerprint. Without
//! a fingerprint every certificate of the node is refused, so the node can never come back
//! under that id (Raft ids are not reused); with one, only that certificate is, so a node
//! whose old key leaked rotates to a new certificate and carries on.

use crate::docs::{self, DocKind, Written};
use crate::error::DomainError;
use crate::service::Glance;
use serde::{Deserialize, Serialize};
use tessera_raft::{Expect, Meta};

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The revoked node id.
    pub node: u64,
    /// Lowercase hex SHA-256 of the one revoked certificate; `None` revokes all of them.
    pub fingerprint: Option<String>,
    /// Unix seconds when it was made.
    pub revoked_at: i64,
}

impl DocKind for Revocation {
    const KIND: &'static str = "peer_revocation";
}

impl Revocation {
    /// Whether this revocation covers the certificate `fingerprint` of node `node`.
    pub fn covers(&self, node: u64, fingerprint: &str) -> bool {
        self.node == node && self.fingerprint.as_deref().is_none_or(|f| f == fingerprint)
    }
}

/// Ids list a node's revocations together: `<node, 20 digits>/` then `*` or the fingerprint.
fn node_prefix(node: u64) -> String {
    format!("{node:020}/")
}

fn doc_id(node: u64, fingerprint: Option<&str>) -> String {
    format!("{}{}", node_prefix(node), fingerprint.unwrap_or("*"))
}

impl Glance {
    /// Revokes node `node`'s certificates (all, or the one with `fingerprint`); idempotent.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_peer(
        &self,
        node: u64,
        fingerprint: Option<String>,
    ) -> Result<Revocation, DomainError> {
        let fingerprint = fingerprint.map(|f| f.to_ascii_lowercase());
        if let Some(f) = &fingerprint {
            if f.len() != 64 || !f.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(DomainError::Invalid(format!(
                    "fingerprint must be 64 hex digits (a SHA-256): {f}"
                )));
            }
        }
        let id = doc_id(node, fingerprint.as_deref());
        if let Some(known) = docs::get::<Revocation>(&self.meta, &id).await? {
            return Ok(known.value);
        }
        let revocation = Revocation {
            node,
            fingerprint,
            revoked_at: crate::write::now(),
        };
        match docs::write(
            &self.meta,
            vec![docs::put(&id, Expect::Absent, &revocation)?],
        )
        .await?
        {
            Written::Applied(_) => {
                tracing::warn!(node, fingerprint = ?revocation.fingerprint, "peer certificate revoked");
                Ok(revocation)
            }
            // A concurrent revoke of the same certificate won: the same outcome.
            Written::Conflict(_) => Ok(docs::get::<Revocation>(&self.meta, &id)
                .await?
                .map_or(revocation, |s| s.value)),
        }
    }

    /// Every revocation, by node (linearizable).
    pub async fn revocations(&self) -> Result<Vec<Revocation>, DomainError> {
        Ok(docs::list::<Revocation>(&self.meta, "")
            .await?
            .into_iter()
            .map(|s| s.value)
            .collect())
    }
}

/// The revocation that covers node `node`'s certificate `fingerprint`, from this node's copy
/// of the list (a local read: it runs on every peer call).
pub fn revoked_locally(
    meta: &Meta,
    node: u64,
    fingerprint: &str,
) -> Result<Option<Revocation>, DomainError> {
    Ok(docs::list_local::<Revocation>(meta, &node_prefix(node))?
        .into_iter()
        .map(|s| s.value)
        .find(|r| r.covers(node, fingerprint)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_covers_its_node_and_certificate() {
        let all = Revocation {
            node: 4,
            fingerprint: None,
            revoked_at: 0,
        };
        assert!(all.covers(4, "ab"));
        assert!(!all.covers(40, "ab"));
        let one = Revocation {
            fingerprint: Some("ab".into()),
            ..all
        };
        assert!(one.covers(4, "ab"));
        assert!(!one.covers(4, "cd"));
        // Node 4's prefix does not list node 40's revocations.
        assert!(!doc_id(40, None).starts_with(&node_prefix(4)));
    }
}
