//! Operator-driven passes: a full repair (every referenced chunk to R copies now) and a
//! drain (every local chunk safely on its other targets before this node leaves).

use std::collections::{BTreeMap, HashSet};

use futures::StreamExt;
use serde::Serialize;

use crate::data::Data;
use crate::error::DataError;
use crate::id::ChunkId;
use crate::loops::replicator::ops::{self, call, copy_to};
use crate::policy::Policy;
use crate::quorum::{RepairHint, RepairReason};
use crate::replicas::{by_manifest, LiveManifest, Required};

/// Ids per presence check.
const CHECK_BATCH: usize = 1024;
/// Copies made at once by a full repair.
const PARALLEL: usize = 8;
/// Most rounds a drain makes before giving up.
const DRAIN_ROUNDS: usize = 10;

/// What a full repair pass found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// Live manifests read.
    pub manifests: u64,
    /// Live manifests that could not be read (their chunks were not checked).
    pub unreadable_manifests: u64,
    /// Distinct referenced chunks (manifests and their chunks).
    pub referenced: u64,
    /// Copies checked (referenced chunks times their targets).
    pub copies_checked: u64,
    /// Copies found missing.
    pub missing: u64,
    /// Missing copies written.
    pub repaired: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Missing copies that could not be written now (queued for the replicator).
    pub failed: u64,
    /// Referenced chunks with no verified copy on any live node.
    pub unavailable: Vec<ChunkId>,
    /// Chunks on nodes unreachable during the check (their copies were not checked).
    pub unreachable_nodes: Vec<u64>,
    /// Local chunks no live manifest references: the reaper deletes them after its grace.
    pub orphans: u64,
}

/// What draining this node did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    /// Rounds over the local chunks (the last one found every chunk on its targets).
    pub rounds: u64,
    /// Local chunks.
    pub chunks: u64,
    /// Copies written to other nodes.
    pub pushed: u64,
    /// Bytes of those copies.
    pub bytes: u64,
    /// Chunks not yet confirmed on all their targets when the drain ended.
    pub remaining: u64,
}

impl Data {
    /// Brings every chunk the given live manifests reference (and the manifests) to a copy on
    /// each placement target now (as many as the most demanding manifest referencing it
    /// asks), copying from any verified holder; counts local orphans.
    pub async fn repair_referenced(
        &self,
        manifests: Vec<LiveManifest>,
    ) -> Result<RepairReport, DataError> {
        let quorum = self.quorum();
        let mut report = RepairReport::default();
        let mut referenced = Required::default();
        for (id, needs) in by_manifest(manifests, &Policy::everywhere(quorum.config.r)) {
            report.manifests += 1;
            referenced.add(id, &needs);
            match self.manifest(&id).await {
                Ok(m) => {
                    for e in m.entries() {
                        referenced.add(e.id, &needs);
                    }
                }
                Err(e) => {
                    tracing::warn!(manifest = %id, error = %e, "repair: manifest unreadable");
                    report.unreadable_manifests += 1;
                }
            }
        }
        report.referenced = referenced.len() as u64;
        let mut per_node: BTreeMap<u64, Vec<ChunkId>> = BTreeMap::new();
        for (id, needs) in referenced.iter() {
            for t in quorum.plan(id, needs.policies(), true).0 {
                per_node.entry(t).or_default().push(*id);
            }
        }
        let mut missing: Vec<(ChunkId, u64)> = Vec::new();
        for (node, ids) in per_node {
            for batch in ids.chunks(CHECK_BATCH) {
                let present = if node == quorum.self_id {
                    let (c, b) = (quorum.clone(), batch.to_vec());
                    tokio::task::spawn_blocking(move || {
                        b.iter().map(|id| c.store.has(id)).collect::<Result<_, _>>()
                    })
                    .await??
                } else {
                    match call(quorum, node, quorum.peers.has(node, batch.to_vec())).await {
                        Ok(p) if p.len() == batch.len() => p,
                        Ok(_) | Err(_) => {
                            report.unreachable_nodes.push(node);
                            break;
                        }
                    }
                };
                report.copies_checked += batch.len() as u64;
                missing.extend(
                    batch
                        .iter()
                        .zip(present)
                        .filter(|(_, p)| !p)
                        .map(|(id, _)| (*id, node)),
                );
            }
        }
        report.missing = missing.len() as u64;
        let results: Vec<_> = futures::stream::iter(missing)
            .map(|(id, node)| async move { (id, node, copy_to(quorum, id, node).await) })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut unavailable = HashSet::new();
        for (id, node, result) in results {
            match result {
                Ok(bytes) => {
                    report.repaired += 1;
                    report.bytes += bytes;
                }
                Err(e) => {
                    tracing::warn!(chunk = %id, node, error = %e, "repair: copy failed");
                    report.failed += 1;
                    if quorum.fetch(id).await.is_err() {
                        unavailable.insert(id);
                    }
                    quorum.repairs.push(RepairHint {
                        chunk: id,
                        node,
                        reason: RepairReason::Missing,
                    });
                }
            }
        }
        quorum.repairs.flush();
        report.unavailable = unavailable.into_iter().collect();
        let c = quorum.clone();
        let local = tokio::task::spawn_blocking(move || c.store.list_ids()).await??;
        report.orphans = local.iter().filter(|id| !referenced.contains(id)).count() as u64;
        tracing::info!(?report, "full repair pass");
        Ok(report)
    }

    /// Keeps the chunks of `manifest` (and the manifest) under `policy` too from now on and
    /// makes sure at least W (the majority of its copies) of their targets under it hold a
    /// verified copy (a copy into a store keeping more copies, or in other zones); the
    /// copies written. The other targets are tried too; those that fail are queued for the
    /// replicator.
    pub async fn raise_copies(&self, manifest: ChunkId, policy: &Policy) -> Result<u64, DataError> {
        let quorum = self.quorum();
        quorum.raise_replicas(manifest, policy);
        let mut ids = vec![manifest];
        ids.extend(
            self.manifest(&manifest)
                .await?
                .entries()
                .iter()
                .map(|e| e.id),
        );
        ids.sort_unstable();
        ids.dedup();
        let mut copied = 0;
        for id in ids {
            quorum.raise_replicas(id, policy);
            let (targets, need) = quorum.targets_and_quorum(&id, policy);
            let results: Vec<_> = futures::stream::iter(targets.iter().copied())
                .map(|node| async move { (node, ops::ensure_copy(quorum, id, node).await) })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
            let mut held = 0;
            for (node, result) in results {
                match result {
                    Ok(ops::Ensured::Present) => held += 1,
                    Ok(ops::Ensured::Copied(_)) => {
                        held += 1;
                        copied += 1;
                    }
                    Err(e) => {
                        tracing::warn!(chunk = %id, node, error = %e, "raising copies: copy failed");
                        quorum.repairs.push(RepairHint {
                            chunk: id,
                            node,
                            reason: RepairReason::Missing,
                        });
                    }
                }
            }
            quorum.repairs.flush();
            if held < need {
                return Err(DataError::InsufficientReplicas {
                    id,
                    acked: held,
                    needed: need,
                    targets,
                });
            }
        }
        Ok(copied)
    }

    /// Drains this node: marks it draining (no placement target in its own view) and copies
    /// every local chunk to each of its targets that lacks a valid copy, round after round
    /// until a round finds nothing missing. Local copies are kept. The node stays draining;
    /// on failure call [`Data::set_draining`] with `false` to undo.
    pub async fn drain(&self) -> Result<DrainReport, DataError> {
        self.set_draining(true);
        let quorum = self.quorum();
        let mut report = DrainReport::default();
        for _ in 0..DRAIN_ROUNDS {
            report.rounds += 1;
            let c = quorum.clone();
            let ids = tokio::task::spawn_blocking(move || c.store.list_ids()).await??;
            report.chunks = ids.len() as u64;
            let mut lacking = 0;
            report.remaining = 0;
            for batch in ids.chunks(CHECK_BATCH) {
                let done = ops::hand_off(quorum, batch, None).await;
                report.pushed += done.pushed;
                report.bytes += done.bytes;
                report.remaining += done.unconfirmed;
                lacking += done.lacking.len();
            }
            tracing::info!(?report, lacking, "drain round");
            if lacking == 0 && report.remaining == 0 {
                return Ok(report);
            }
        }
        Ok(report)
    }
}
