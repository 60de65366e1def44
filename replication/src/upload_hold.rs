//! An upload's hold on its chunks, from the first write until the caller has recorded the
//! image (its manifest is then live and the reapers keep it for that reason).
//!
//! - Local copies are pinned ([`Pins`]); copies on other nodes are leased: each put carries a
//!   lease, and a renewer task re-leases every chunk on its targets at a third of
//!   [`QuorumConfig::upload_lease`](crate::QuorumConfig::upload_lease). If the uploading node
//!   dies the renewals stop and the leases run out, so nothing is held for ever.
//! - Before the ingest reports success, [`confirm`] re-checks every chunk's copies (present
//!   and re-hashed on the node holding them); a chunk with fewer than W valid copies is read
//!   from a valid one and written to its targets again, or the ingest fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::error::{DataError, StoreError};
use crate::id::ChunkId;
use crate::policy::{Needs, Policy};
use crate::quorum::Quorum;
use crate::store::Pins;

/// Chunk ids per `lease` call of a renewal (32 bytes each).
const LEASE_BATCH: usize = 4096;
/// Chunk ids per `verify` call of the confirmation: each is re-read and re-hashed by the
/// callee, so a call stays well within the peer timeout (16 chunks, 64 MiB at most).
const VERIFY_BATCH: usize = 16;

/// The chunks of one upload and the nodes (other than this one) holding leased copies.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeaseSet {
    chunks: Arc<Mutex<HashMap<ChunkId, Vec<u64>>>>,
}

impl LeaseSet {
    fn lock(&self) -> MutexGuard<'_, HashMap<ChunkId, Vec<u64>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.chunks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `id` is written to `targets` (this node's own id included or not).
    pub(crate) fn add(&self, id: ChunkId, targets: &[u64]) {
        let mut map = self.lock();
        let nodes = map.entry(id).or_default();
        for t in targets {
            if !nodes.contains(t) {
                nodes.push(*t);
            }
        }
    }

    /// The leased ids per node, leaving out `self_id`.
    fn by_node(&self, self_id: u64) -> HashMap<u64, Vec<ChunkId>> {
        let mut out: HashMap<u64, Vec<ChunkId>> = HashMap::new();
        for (id, nodes) in self.lock().iter() {
            for n in nodes.iter().filter(|n| **n != self_id) {
                out.entry(*n).or_default().push(*id);
            }
        }
        out
    }

    fn ids(&self) -> Vec<ChunkId> {
        self.lock().keys().copied().collect()
    }
}

/// Aborts a spawned task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps an upload's chunks from every node's reaper while it lives: local pins plus the
/// renewal of the remote leases. Drop it once the image record names the manifest.
#[derive(Debug)]
pub struct UploadHold {
    _renewer: Option<AbortOnDrop>,
    _pins: Option<Pins>,
}

impl UploadHold {
    /// A hold on nothing, for data something else already keeps live (staged data that
    /// becomes an image's copy in the chunk store it is in).
    pub fn none() -> UploadHold {
        UploadHold {
            _renewer: None,
            _pins: None,
        }
    }
}

/// The renewer of an upload's leases, started with the ingest's first write.
#[derive(Debug)]
pub(crate) struct Renewer(AbortOnDrop);

impl Renewer {
    /// Starts renewing `set`'s leases (on the current tokio runtime).
    pub(crate) fn start(quorum: Arc<Quorum>, set: LeaseSet) -> Renewer {
        Renewer(AbortOnDrop(tokio::spawn(renew(quorum, set))))
    }

    /// The hold of a finished ingest: this renewer and the local pins.
    pub(crate) fn into_hold(self, pins: Pins) -> UploadHold {
        UploadHold {
            _renewer: Some(self.0),
            _pins: Some(pins),
        }
    }
}

async fn renew(quorum: Arc<Quorum>, set: LeaseSet) {
    let ttl = quorum.config.upload_lease;
    let period = (ttl / 3).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(period).await;
        let calls = set.by_node(quorum.self_id).into_iter().map(|(node, ids)| {
            let quorum = quorum.clone();
            async move {
                for batch in ids.chunks(LEASE_BATCH) {
                    let call = quorum.peers.lease(node, batch.to_vec(), ttl);
                    match tokio::time::timeout(quorum.config.peer_timeout, call).await {
                        Ok(Ok(_)) => {}
                        // The confirmation at the end finds whatever this costs.
                        Ok(Err(e)) => tracing::debug!(node, error = %e, "lease renewal failed"),
                        Err(_) => tracing::debug!(node, "lease renewal timed out"),
                    }
                }
            }
        });
        join_all(calls).await;
    }
}

/// What [`confirm`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confirmed {
    /// Distinct chunks checked (the manifest included).
    pub chunks: usize,
    /// Chunks that had fewer than W valid copies and were written again.
    pub rewritten: usize,
}

/// Re-confirms that every chunk of `set` (placed under `policy`) has W valid copies on its recorded nodes, writing
/// again (leased) any that falls short from a valid copy; fails if a chunk has none left or
/// cannot reach W. The nodes are asked in parallel and the answers stop being awaited once
/// every chunk has W, so a node that stopped answering costs nothing when the others suffice.
pub(crate) async fn confirm(
    quorum: &Arc<Quorum>,
    set: &LeaseSet,
    policy: &Policy,
) -> Result<Confirmed, DataError> {
    let ids = set.ids();
    let need: HashMap<ChunkId, usize> = ids
        .iter()
        .map(|id| (*id, quorum.targets_and_quorum(id, policy).1))
        .collect();
    let mut valid: HashMap<ChunkId, usize> = ids.iter().map(|id| (*id, 0)).collect();
    let local_ids: Vec<ChunkId> = set
        .lock()
        .iter()
        .filter(|(_, nodes)| nodes.contains(&quorum.self_id))
        .map(|(id, _)| *id)
        .collect();
    let store = quorum.store.clone();
    let local = tokio::task::spawn_blocking(move || -> Result<Vec<ChunkId>, StoreError> {
        let mut ok = Vec::new();
        for id in local_ids {
            match store.get(&id) {
                Ok(_) => ok.push(id),
                Err(StoreError::NotFound(_) | StoreError::Corrupt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ok)
    })
    .await??;
    for id in local {
        *valid.entry(id).or_default() += 1;
    }
    let short = |valid: &HashMap<ChunkId, usize>| {
        valid
            .iter()
            .any(|(id, n)| *n < need.get(id).copied().unwrap_or(1))
    };
    let mut remote: FuturesUnordered<_> = set
        .by_node(quorum.self_id)
        .into_iter()
        .map(|(node, ids)| verify_on(quorum.clone(), node, ids))
        .collect();
    while short(&valid) {
        let Some(ok) = remote.next().await else {
            break;
        };
        for id in ok {
            *valid.entry(id).or_default() += 1;
        }
    }
    drop(remote);
    let mut report = Confirmed {
        chunks: ids.len(),
        rewritten: 0,
    };
    for id in ids {
        let (targets, need) = quorum.targets_and_quorum(&id, policy);
        let have = valid.get(&id).copied().unwrap_or(0);
        if have >= need {
            continue;
        }
        tracing::warn!(chunk = %id, valid = have, need,
            "upload chunk short of its write quorum before activation: writing it again");
        let bytes = quorum.fetch(id).await?;
        set.add(id, &targets);
        quorum
            .replicate_now(
                id,
                bytes,
                Some(quorum.config.upload_lease),
                &Needs::of(policy.clone()),
            )
            .await?;
        report.rewritten += 1;
    }
    Ok(report)
}

/// The ids of `ids` that `node` holds valid copies of (none if it cannot say in time).
async fn verify_on(quorum: Arc<Quorum>, node: u64, ids: Vec<ChunkId>) -> Vec<ChunkId> {
    let mut ok = Vec::new();
    for batch in ids.chunks(VERIFY_BATCH) {
        let call = quorum.peers.verify(node, batch.to_vec());
        match tokio::time::timeout(quorum.config.peer_timeout, call).await {
            Ok(Ok(found)) => ok.extend(
                batch
                    .iter()
                    .zip(found)
                    .filter_map(|(id, good)| good.then_some(*id)),
            ),
            Ok(Err(e)) => {
                tracing::warn!(node, error = %e, "copy confirmation failed");
                break;
            }
            Err(_) => {
                tracing::warn!(node, "copy confirmation timed out");
                break;
            }
        }
    }
    ok
}
