//! The replicator's unit operations, shared by the worker, the full repair pass and drains:
//! make sure a node holds a verified copy, compare one peer's buckets, hand chunks off.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::RepairError;
use crate::id::ChunkId;
use crate::loops::replicator::digest::digest;
use crate::loops::replicator::index::{differing, LocalIndex};
use crate::peer::PeerError;
use crate::quorum::{Quorum, RepairHint, RepairReason};

/// What making sure of one copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ensured {
    /// The node already held a valid copy.
    Present,
    /// A verified copy of this many bytes was written to the node.
    Copied(u64),
}

/// Runs a peer call under the cluster's peer timeout.
pub(crate) async fn call<T>(
    quorum: &Quorum,
    node: u64,
    fut: impl Future<Output = Result<T, PeerError>>,
) -> Result<T, PeerError> {
    tokio::time::timeout(quorum.config.peer_timeout, fut)
        .await
        .map_err(|_| PeerError::Timeout(node))?
}

/// Writes a verified copy of `id` (local, else from any live node) to `node`.
pub(crate) async fn copy_to(quorum: &Quorum, id: ChunkId, node: u64) -> Result<u64, RepairError> {
    // A node below its reserve takes no new copy; the repair waits until it has room.
    if quorum.is_full(node) {
        return Err(PeerError::Full(node).into());
    }
    let bytes = quorum.fetch(id).await?;
    let len = bytes.len() as u64;
    quorum.put_to(node, id, bytes, None).await?;
    Ok(len)
}

/// Makes sure `node` holds a valid copy of `id`, copying one there if not.
pub(crate) async fn ensure_copy(
    quorum: &Arc<Quorum>,
    id: ChunkId,
    node: u64,
) -> Result<Ensured, RepairError> {
    let valid = if node == quorum.self_id {
        let c = quorum.clone();
        tokio::task::spawn_blocking(move || c.store.get(&id).is_ok()).await?
    } else {
        let v = call(quorum, node, quorum.peers.verify(node, vec![id])).await?;
        v.first().copied().unwrap_or(false)
    };
    if valid {
        return Ok(Ensured::Present);
    }
    copy_to(quorum, id, node).await.map(Ensured::Copied)
}

/// Compares this node's buckets with `peer`'s over the chunks both should hold; queues a
/// repair for every chunk one of the two lacks. Returns those chunks.
pub(crate) async fn sync_peer(
    quorum: &Quorum,
    index: &LocalIndex,
    peer: u64,
) -> Result<Vec<ChunkId>, PeerError> {
    let me = quorum.self_id;
    let mine = index.shared_with(me, peer);
    let digests: Vec<_> = mine.iter().map(|b| digest(b)).collect();
    let theirs = call(quorum, peer, quorum.peers.bucket_digests(peer, me)).await?;
    let mut lacking = Vec::new();
    for b in differing(&digests, &theirs) {
        let their_ids = call(quorum, peer, quorum.peers.bucket_ids(peer, me, b)).await?;
        let their_set: HashSet<&ChunkId> = their_ids.iter().collect();
        let my_set: HashSet<&ChunkId> = mine[b as usize].iter().collect();
        let missing = |ids: &[ChunkId], other: &HashSet<&ChunkId>, node: u64| {
            ids.iter()
                .filter(|id| !other.contains(id))
                .map(|id| RepairHint {
                    chunk: *id,
                    node,
                    reason: RepairReason::Missing,
                })
                .collect::<Vec<_>>()
        };
        let hints = missing(&mine[b as usize], &their_set, peer)
            .into_iter()
            .chain(missing(&their_ids, &my_set, me));
        for hint in hints {
            quorum.repairs.push(hint);
            lacking.push(hint.chunk);
        }
    }
    Ok(lacking)
}

/// What handing off a batch of chunks did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HandedOff {
    /// Copies written to targets that lacked them.
    pub(crate) pushed: u64,
    /// Bytes of those copies.
    pub(crate) bytes: u64,
    /// Local copies deleted because every target confirmed a valid copy.
    pub(crate) deleted: u64,
    /// Chunks some target lacked (before pushing).
    pub(crate) lacking: Vec<ChunkId>,
    /// Chunks not yet confirmed on every target (a call or a copy failed).
    pub(crate) unconfirmed: u64,
}

/// Makes sure every placement target of each of `ids` (chunks this node holds but is no
/// target of) holds a valid copy; then, if `delete_before` is set, deletes the local copies
/// of chunks older than it that every target confirmed. The last copy is never deleted: a
/// chunk without targets or with an unconfirmed target is kept.
pub(crate) async fn hand_off(
    quorum: &Arc<Quorum>,
    ids: &[ChunkId],
    delete_before: Option<SystemTime>,
) -> HandedOff {
    let mut out = HandedOff::default();
    let targets: HashMap<ChunkId, Vec<u64>> =
        ids.iter().map(|id| (*id, quorum.targets(id))).collect();
    let mut per_node: HashMap<u64, Vec<ChunkId>> = HashMap::new();
    for (id, ts) in &targets {
        for t in ts.iter().filter(|t| **t != quorum.self_id) {
            per_node.entry(*t).or_default().push(*id);
        }
    }
    let mut confirmed: HashMap<ChunkId, usize> = HashMap::new();
    let mut lacking: HashSet<ChunkId> = HashSet::new();
    for (node, ids) in per_node {
        let valid = match call(quorum, node, quorum.peers.verify(node, ids.clone())).await {
            Ok(v) if v.len() == ids.len() => v,
            Ok(_) | Err(_) => continue,
        };
        for (id, ok) in ids.into_iter().zip(valid) {
            if ok {
                *confirmed.entry(id).or_default() += 1;
                continue;
            }
            lacking.insert(id);
            match copy_to(quorum, id, node).await {
                Ok(bytes) => {
                    out.pushed += 1;
                    out.bytes += bytes;
                    *confirmed.entry(id).or_default() += 1;
                }
                Err(e) => {
                    tracing::debug!(chunk = %id, node, error = %e, "handoff copy failed");
                    quorum.repairs.push(RepairHint {
                        chunk: id,
                        node,
                        reason: RepairReason::Missing,
                    });
                }
            }
        }
    }
    for (id, ts) in &targets {
        let done = !ts.is_empty()
            && !ts.contains(&quorum.self_id)
            && confirmed.get(id).copied().unwrap_or(0) == ts.len();
        if !done {
            out.unconfirmed += 1;
            continue;
        }
        let Some(cutoff) = delete_before else {
            continue;
        };
        let (c, id) = (quorum.clone(), *id);
        match tokio::task::spawn_blocking(move || c.store.delete_if_reapable(&id, cutoff)).await {
            Ok(Ok(Some(_))) => out.deleted += 1,
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(chunk = %id, error = %e, "handoff delete failed"),
            Err(e) => tracing::warn!(chunk = %id, error = %e, "handoff delete failed"),
        }
    }
    out.lacking = lacking.into_iter().collect();
    out
}
