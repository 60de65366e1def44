//! Quorum put/get: replicated chunk writes and verified reads over the cluster (a node alone
//! is a cluster of one), feeding the repair queue.
//!
//! Write: a chunk goes to its placement targets in parallel (the local store when the target
//! is this node); it counts once W targets fsynced it. R is `min(r, live nodes)` targets and
//! W is the majority of `min(r, members)`, members counting nodes gossip reports dead: while
//! a member is down, writes need every remaining target rather than a single copy. Targets
//! still running after W is met get [`QuorumConfig::straggler_grace`]; those that fail or
//! time out become [`RepairHint`]s. A node that advertised its chunk store below its
//! free-space reserve is no target of a new copy; when too few others remain for W, the
//! write fails with [`DataError::StorageFull`].
//!
//! Read: the local copy if present and valid, else the placement targets in order, then any
//! other live node; every copy is BLAKE3-verified, corrupt or missing copies on targets become
//! repair hints, and a missing or corrupt local copy on a target is rewritten (read repair).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::watch;

use crate::error::{DataError, StoreError};
use crate::id::ChunkId;
use crate::loops::replicator::queue::RepairQueue;
use crate::peer::{PeerChunks, PeerError};
use crate::placement::{placement, placement_under, NodeInfo};
use crate::policy::{Needs, Policy};
use crate::store::ChunkStore;

/// Quorum settings of a [`crate::Data`]: replication factor, write parallelism, peer timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuorumConfig {
    /// Replication factor R (capped by the number of live nodes).
    pub r: usize,
    /// Chunks of one upload being replicated at once (bounds upload memory).
    pub in_flight: usize,
    /// Longest wait for one peer call.
    pub peer_timeout: Duration,
    /// Extra wait for the remaining targets of a chunk once W acked; then they are hinted.
    pub straggler_grace: Duration,
    /// DELIBERATELY UNSAFE, off by default: acknowledge each chunk at once and write it this
    /// long afterwards, from memory. It exists so the chaos harness can prove that its
    /// durability checker catches acknowledged uploads lost to a crash.
    pub unsafe_write_behind: Option<Duration>,
    /// How long a copy of an in-flight upload's chunk stays leased on a peer without a
    /// renewal (the uploader renews at a third of it): a dead uploader's leases end by then.
    pub upload_lease: Duration,
}

impl Default for QuorumConfig {
    fn default() -> Self {
        QuorumConfig {
            r: 3,
            in_flight: 8,
            peer_timeout: Duration::from_secs(30),
            straggler_grace: Duration::from_secs(5),
            unsafe_write_behind: None,
            upload_lease: Duration::from_secs(60),
        }
    }
}

impl QuorumConfig {
    /// Defaults with replication factor `r`.
    pub fn with_r(r: usize) -> QuorumConfig {
        QuorumConfig {
            r,
            ..QuorumConfig::default()
        }
    }
}

/// Majority of `n` (at least 1).
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Why a chunk needs repair on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepairReason {
    /// A placement target failed or timed out while the write still met W.
    WriteFailed,
    /// A placement target did not hold the chunk when read.
    Missing,
    /// A placement target returned (or held locally) bytes not matching the id.
    Corrupt,
}

/// A chunk a node should hold but may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RepairHint {
    /// The chunk.
    pub chunk: ChunkId,
    /// The node that should get a copy.
    pub node: u64,
    /// What was observed.
    pub reason: RepairReason,
}

/// Quorum writes and verified reads over this node's view of the cluster: local store,
/// membership, peers, settings, repair hints.
pub(crate) struct Quorum {
    pub(crate) store: Arc<ChunkStore>,
    pub(crate) self_id: u64,
    pub(crate) membership: watch::Receiver<Vec<NodeInfo>>,
    pub(crate) peers: Arc<dyn PeerChunks>,
    pub(crate) config: QuorumConfig,
    pub(crate) repairs: RepairQueue,
    /// Set while this node drains before leaving: it is no placement target in its own view.
    pub(crate) draining: AtomicBool,
    /// Local chunks the reaper's last pass found unreferenced: the replicator leaves them
    /// alone, or it would copy back what the reapers delete, round and round.
    pub(crate) orphans: Mutex<HashSet<ChunkId>>,
    /// Policies each live chunk must meet where that is not `config.r` anywhere: those of
    /// every image copy referencing it, from the reaper's last pass (and raised by copies
    /// since).
    pub(crate) replicas: Mutex<HashMap<ChunkId, Needs>>,
}

impl std::fmt::Debug for Quorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quorum")
            .field("store", &self.store)
            .field("self_id", &self.self_id)
            .field("members", &*self.membership.borrow())
            .field("config", &self.config)
            .field("repairs", &self.repairs.len())
            .finish_non_exhaustive()
    }
}

impl Quorum {
    /// The placement targets of `id` under `policies`, best first, and the write quorum W;
    /// for a new copy (`write`) without the nodes below their free-space reserve, W unchanged
    /// (full members still count, as dead ones do). A draining node is none.
    pub(crate) fn plan(&self, id: &ChunkId, policies: &[Policy], write: bool) -> (Vec<u64>, usize) {
        let skip = self.is_draining().then_some(self.self_id);
        placement_under(id, &self.membership.borrow(), policies, write, skip)
    }

    /// Every live node to read `id` from, its placement targets first (how many: the
    /// second value), then the others in preference order.
    fn read_order(&self, id: &ChunkId) -> (Vec<u64>, usize) {
        let (mut order, _) = self.plan(id, self.needs_of(id).policies(), false);
        let targets = order.len();
        let skip = self.is_draining().then_some(self.self_id);
        for node in placement(id, &self.membership.borrow(), usize::MAX) {
            if Some(node) != skip && !order.contains(&node) {
                order.push(node);
            }
        }
        (order, targets)
    }

    /// Live members that advertised their chunk store below its reserve.
    fn full_nodes(&self) -> Vec<u64> {
        let members = self.membership.borrow();
        members
            .iter()
            .filter(|n| n.alive && n.full)
            .map(|n| n.id)
            .collect()
    }

    /// Whether `node` advertised its chunk store below its reserve (it takes no new copy).
    pub(crate) fn is_full(&self, node: u64) -> bool {
        self.membership
            .borrow()
            .iter()
            .any(|n| n.id == node && n.full)
    }

    /// The configured R anywhere in the cluster: what a chunk no image copy says more of needs.
    pub(crate) fn default_needs(&self) -> Needs {
        Needs::of(Policy::everywhere(self.config.r))
    }

    /// The policies `id` must meet: those of every live image copy referencing it, else the
    /// configured R anywhere.
    pub(crate) fn needs_of(&self, id: &ChunkId) -> Needs {
        self.replicas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .unwrap_or_else(|| self.default_needs())
    }

    /// Records the policies each live chunk must meet (the reaper's pass); chunks at the
    /// configured R anywhere are left out.
    pub(crate) fn set_replicas(&self, mut replicas: HashMap<ChunkId, Needs>) {
        let default = self.default_needs();
        replicas.retain(|_, n| *n != default);
        *self.replicas.lock().unwrap_or_else(|p| p.into_inner()) = replicas;
    }

    /// Records that `id` must meet `needs`, as a reaper pass learns it (so reading the
    /// manifest during the pass does not read-repair a copy the chunk does not need).
    pub(crate) fn note_replicas(&self, id: ChunkId, needs: Needs) {
        let mut map = self.replicas.lock().unwrap_or_else(|p| p.into_inner());
        if needs == self.default_needs() {
            map.remove(&id);
        } else {
            map.insert(id, needs);
        }
    }

    /// Adds `policy` to what `id` must meet (a copy into a store keeping more copies, or in
    /// other zones), until the reaper's next pass recomputes it from the records.
    pub(crate) fn raise_replicas(&self, id: ChunkId, policy: &Policy) {
        let mut needs = self.needs_of(&id);
        if !needs.covers(policy) {
            needs.add(policy.clone());
            self.replicas
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, needs);
        }
    }

    /// Current placement targets of `id`, best first, under the policies it must meet: where
    /// its copies belong (full nodes included).
    pub(crate) fn targets(&self, id: &ChunkId) -> Vec<u64> {
        self.plan(id, self.needs_of(id).policies(), false).0
    }

    /// Where a new copy of `id` under `policy` goes (placement targets, nodes below their
    /// reserve left out), best first, and the write quorum W.
    pub(crate) fn targets_and_quorum(&self, id: &ChunkId, policy: &Policy) -> (Vec<u64>, usize) {
        self.plan(id, std::slice::from_ref(policy), true)
    }

    /// Whether this node is draining (see [`crate::Data::set_draining`]).
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Placement targets of `id` in the shared membership view, ignoring this node's own
    /// draining: what every peer computes, so anti-entropy digests agree.
    pub(crate) fn view_targets(&self, id: &ChunkId) -> Vec<u64> {
        let needs = self.needs_of(id);
        placement_under(id, &self.membership.borrow(), needs.policies(), false, None).0
    }

    /// Whether this node and `with` are both placement targets of `id` (shared view) and it
    /// is no orphan here.
    pub(crate) fn shared(&self, id: &ChunkId, with: u64) -> bool {
        let t = self.view_targets(id);
        t.contains(&self.self_id) && t.contains(&with) && !self.is_orphan(id)
    }

    /// Whether the reaper's last pass found `id` unreferenced.
    pub(crate) fn is_orphan(&self, id: &ChunkId) -> bool {
        self.orphans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// Records what the reaper's latest pass found unreferenced.
    pub(crate) fn set_orphans(&self, orphans: HashSet<ChunkId>) {
        *self.orphans.lock().unwrap_or_else(|p| p.into_inner()) = orphans;
    }

    fn hint(&self, chunk: ChunkId, node: u64, reason: RepairReason) {
        self.repairs.push(RepairHint {
            chunk,
            node,
            reason,
        });
    }

    /// Stores `bytes` (whose BLAKE3 is `id`) on `node`: the local store if it is this node
    /// (where the ingest pins it), else leased there for `lease` when given.
    pub(crate) async fn put_to(
        &self,
        node: u64,
        id: ChunkId,
        bytes: Bytes,
        lease: Option<Duration>,
    ) -> Result<(), PeerError> {
        if node == self.self_id {
            let store = self.store.clone();
            let res = tokio::task::spawn_blocking(move || store.put_verified(&id, &bytes)).await;
            return match res {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(StoreError::Full { .. })) => Err(PeerError::Full(node)),
                Ok(Err(e)) => Err(PeerError::Remote {
                    node,
                    reason: e.to_string(),
                }),
                Err(e) => Err(PeerError::Remote {
                    node,
                    reason: e.to_string(),
                }),
            };
        }
        let put = self.peers.put(node, id, bytes, lease);
        match tokio::time::timeout(self.config.peer_timeout, put).await {
            Ok(res) => res,
            Err(_) => Err(PeerError::Timeout(node)),
        }
    }

    /// Writes chunk `id` to its placement targets under `policies` (leased there for `lease`
    /// when given); `Ok` once W of them fsynced it (unless the unsafe write-behind mode is on).
    pub(crate) async fn replicate(
        self: &Arc<Self>,
        id: ChunkId,
        bytes: Bytes,
        lease: Option<Duration>,
        policies: Needs,
    ) -> Result<(), DataError> {
        let Some(delay) = self.config.unsafe_write_behind else {
            return self.replicate_now(id, bytes, lease, &policies).await;
        };
        let quorum = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = quorum.replicate_now(id, bytes, lease, &policies).await {
                tracing::warn!(chunk = %id, error = %e, "write-behind chunk write failed");
            }
        });
        Ok(())
    }

    /// Writes chunk `id` to its placement targets under `policies`; `Ok` once W of them
    /// fsynced it.
    pub(crate) async fn replicate_now(
        &self,
        id: ChunkId,
        bytes: Bytes,
        lease: Option<Duration>,
        policies: &Needs,
    ) -> Result<(), DataError> {
        let (targets, need) = self.plan(&id, policies.policies(), true);
        let mut full = self.full_nodes();
        // Short of W: for want of space (Glance's StorageFull) when a node that could have
        // taken the chunk is below its reserve, else for want of reachable nodes.
        let short = |acked: usize, pending: usize, full: &[u64], targets: &[u64]| {
            if full.is_empty() {
                DataError::InsufficientReplicas {
                    id,
                    acked,
                    needed: need,
                    targets: targets.to_vec(),
                }
            } else {
                DataError::StorageFull {
                    id,
                    writable: acked + pending,
                    needed: need,
                    full: full.to_vec(),
                }
            }
        };
        if targets.len() < need {
            return Err(short(0, targets.len(), &full, &targets));
        }
        let mut pending: FuturesUnordered<_> = targets
            .iter()
            .map(|&node| {
                let bytes = bytes.clone();
                async move { (node, self.put_to(node, id, bytes, lease).await) }
            })
            .collect();
        drop(bytes);
        let mut acked = 0;
        let mut failed: Vec<u64> = Vec::new();
        let mut finished: HashSet<u64> = HashSet::new();
        while acked < need {
            match pending.next().await {
                Some((node, Ok(()))) => {
                    finished.insert(node);
                    acked += 1;
                }
                Some((node, Err(e))) => {
                    tracing::warn!(chunk = %id, node, error = %e, "chunk write failed");
                    if matches!(e, PeerError::Full(_)) && !full.contains(&node) {
                        full.push(node);
                    }
                    finished.insert(node);
                    failed.push(node);
                    if acked + pending.len() < need {
                        return Err(short(acked, pending.len(), &full, &targets));
                    }
                }
                None => return Err(short(acked, 0, &full, &targets)),
            }
        }
        if !pending.is_empty() {
            let grace = tokio::time::sleep(self.config.straggler_grace);
            tokio::pin!(grace);
            loop {
                tokio::select! {
                    next = pending.next() => match next {
                        None => break,
                        Some((node, res)) => {
                            finished.insert(node);
                            if let Err(e) = res {
                                tracing::warn!(chunk = %id, node, error = %e, "chunk write failed after quorum");
                                failed.push(node);
                            }
                        }
                    },
                    () = &mut grace => {
                        // Cancel the stragglers; they get the chunk through repair.
                        drop(pending);
                        failed.extend(targets.iter().filter(|t| !finished.contains(t)));
                        break;
                    }
                }
            }
        }
        for node in failed {
            self.hint(id, node, RepairReason::WriteFailed);
        }
        Ok(())
    }

    /// Reads chunk `id` from the first source holding a verified copy.
    pub(crate) async fn fetch(&self, id: ChunkId) -> Result<Bytes, DataError> {
        let store = self.store.clone();
        let local = tokio::task::spawn_blocking(move || store.get(&id)).await?;
        let mut corrupt = 0;
        let repair_local = match local {
            Ok(bytes) => return Ok(bytes),
            Err(StoreError::NotFound(_)) => true,
            Err(StoreError::Corrupt { .. }) => {
                corrupt += 1;
                true
            }
            Err(e) => {
                tracing::warn!(chunk = %id, error = %e, "local chunk read failed");
                false
            }
        };
        let (order, r) = self.read_order(&id);
        let self_target = order[..r].contains(&self.self_id);
        let mut tried = 1;
        for (pos, &node) in order.iter().enumerate() {
            if node == self.self_id {
                continue;
            }
            tried += 1;
            let is_target = pos < r;
            let got = match tokio::time::timeout(self.config.peer_timeout, self.peers.get(node, id))
                .await
            {
                Ok(Ok(got)) => got,
                Ok(Err(e)) => {
                    tracing::debug!(chunk = %id, node, error = %e, "chunk fetch failed");
                    continue;
                }
                Err(_) => {
                    tracing::debug!(chunk = %id, node, "chunk fetch timed out");
                    continue;
                }
            };
            let Some(bytes) = got else {
                if is_target {
                    self.hint(id, node, RepairReason::Missing);
                }
                continue;
            };
            let (bytes, ok) = tokio::task::spawn_blocking(move || {
                let ok = ChunkId::of(&bytes) == id;
                (bytes, ok)
            })
            .await?;
            if !ok {
                tracing::warn!(chunk = %id, node, "peer returned a corrupt chunk");
                corrupt += 1;
                if is_target {
                    self.hint(id, node, RepairReason::Corrupt);
                }
                continue;
            }
            if self_target && repair_local {
                self.read_repair(id, bytes.clone()).await;
            }
            return Ok(bytes);
        }
        if self_target && corrupt > 0 && repair_local {
            self.hint(id, self.self_id, RepairReason::Corrupt);
        }
        Err(DataError::Unavailable { id, tried, corrupt })
    }

    /// Rewrites a verified chunk this node should hold but lacked; hints on failure.
    async fn read_repair(&self, id: ChunkId, bytes: Bytes) {
        let store = self.store.clone();
        let res = tokio::task::spawn_blocking(move || store.put_verified(&id, &bytes)).await;
        if !matches!(res, Ok(Ok(_))) {
            tracing::warn!(chunk = %id, "read repair failed");
            self.hint(id, self.self_id, RepairReason::Missing);
        }
    }
}
