//! The replicator: keeps every chunk on its placement targets.
//!
//! One [`Worker`] that, step by step:
//! 1. drains due entries of the persistent [`queue::RepairQueue`] (fed by write failures,
//!    failed reads, the auditor and its own findings): for (chunk, node) it makes sure the
//!    node holds a verified copy, copying one from any holder; a failure backs off
//!    exponentially;
//! 2. every `interval`, or at once when the membership changes, runs an anti-entropy pass:
//!    with each live peer it compares the [`digest`] of every prefix bucket of the chunks both
//!    should hold (one call and 8 KiB per peer when nothing changed), lists ids only in
//!    differing buckets, and queues a repair for each chunk either side lacks;
//! 3. ends the pass with handoff: chunks this node holds but is no target of are copied to
//!    every target lacking them and deleted once all targets confirmed a verified copy and
//!    the chunk is older than `handoff_grace` (never an in-flight upload, never the last copy).

pub mod digest;
mod index;
mod ops;
pub mod queue;
mod repair;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::sync::watch;

use crate::data::Data;
use crate::id::ChunkId;
use crate::placement::NodeInfo;
use crate::quorum::Quorum;
use crate::worker::{named, Step, Worker, WorkerError, WorkerReport};

use index::LocalIndex;
use ops::Ensured;
pub use repair::{DrainReport, RepairReport};

/// Queue entries given up after this many failed attempts (over an hour of backoff); the
/// next anti-entropy pass finds the chunk again if it still lacks a copy.
const MAX_ATTEMPTS: u32 = 12;
/// Longest idle wait, so new queue entries and membership changes are picked up promptly.
const POLL: Duration = Duration::from_millis(500);
/// Repair-queue entries worked on at once.
const PARALLEL: usize = 8;

/// Replicator settings (all changeable at run time with `set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicatorConfig {
    /// Time between anti-entropy passes.
    pub interval: Duration,
    /// Queue entries or handoff chunks per step.
    pub batch: usize,
    /// Chunks younger than this are never handed off (in-flight uploads).
    pub handoff_grace: Duration,
}

impl Default for ReplicatorConfig {
    fn default() -> Self {
        ReplicatorConfig {
            interval: Duration::from_secs(60),
            batch: 32,
            handoff_grace: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Counters {
    repaired: u64,
    pushed: u64,
    bytes: u64,
    handed_off: u64,
    failed: u64,
    gave_up: u64,
    under_replicated: u64,
    last_pass_ms: u64,
    passes: u64,
}

/// A pass in progress.
struct Pass {
    started: Instant,
    index: Arc<LocalIndex>,
    peers: Vec<u64>,
    peers_total: usize,
    handoff: Vec<ChunkId>,
    handoff_total: usize,
    under: HashSet<ChunkId>,
}

/// The replicator worker of one node (name `replicator`).
pub struct Replicator {
    quorum: Arc<Quorum>,
    config: ReplicatorConfig,
    membership: watch::Receiver<Vec<NodeInfo>>,
    next_pass: Instant,
    pass: Option<Pass>,
    counters: Counters,
}

impl Replicator {
    /// A replicator over `data`; its first pass starts at once.
    pub fn new(data: &Data, config: ReplicatorConfig) -> Replicator {
        let mut membership = data.membership();
        membership.mark_unchanged();
        Replicator {
            quorum: data.quorum().clone(),
            config,
            membership,
            next_pass: Instant::now(),
            pass: None,
            counters: Counters::default(),
        }
    }

    /// Works through due repair-queue entries; returns how many.
    async fn drain_queue(&mut self) -> usize {
        let due = self
            .quorum
            .repairs
            .due(SystemTime::now(), self.config.batch.max(1));
        let n = due.len();
        let quorum = &self.quorum;
        let results: Vec<_> = futures::stream::iter(due)
            .map(|e| async move {
                let h = e.hint;
                // A hint for a node that is no longer a target (membership changed), or for
                // a chunk no image references, is moot.
                if !quorum.targets(&h.chunk).contains(&h.node) || quorum.is_orphan(&h.chunk) {
                    return (e, Ok(Ensured::Present));
                }
                (e, ops::ensure_copy(quorum, h.chunk, h.node).await)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for (e, result) in results {
            let h = e.hint;
            match result {
                Ok(Ensured::Present) => quorum.repairs.done(h.chunk, h.node),
                Ok(Ensured::Copied(bytes)) => {
                    quorum.repairs.done(h.chunk, h.node);
                    self.counters.repaired += 1;
                    self.counters.bytes += bytes;
                    if h.node != quorum.self_id {
                        self.counters.pushed += 1;
                    }
                    tracing::debug!(chunk = %h.chunk, node = h.node, reason = ?h.reason, "repaired");
                }
                Err(err) => {
                    self.counters.failed += 1;
                    let attempts = quorum.repairs.retry(h.chunk, h.node, SystemTime::now());
                    tracing::debug!(chunk = %h.chunk, node = h.node, attempts, error = %err, "repair failed; backing off");
                    if attempts >= MAX_ATTEMPTS {
                        tracing::warn!(chunk = %h.chunk, node = h.node, attempts, error = %err, "repair given up");
                        quorum.repairs.done(h.chunk, h.node);
                        self.counters.gave_up += 1;
                    }
                }
            }
        }
        quorum.repairs.flush();
        n
    }

    /// Lists the store and plans a pass.
    async fn start_pass(&mut self) -> Result<(), WorkerError> {
        let c = self.quorum.clone();
        let index = tokio::task::spawn_blocking(move || LocalIndex::build(&c))
            .await
            .map_err(|e| WorkerError::Failed(e.to_string()))?
            .map_err(|e| WorkerError::Failed(format!("listing chunks: {e}")))?;
        let me = self.quorum.self_id;
        let draining = self.quorum.is_draining();
        // A draining node is no target: nothing to compare, everything to hand off.
        let peers: Vec<u64> = if draining {
            Vec::new()
        } else {
            let members = self.membership.borrow();
            members
                .iter()
                .filter(|n| n.alive && n.id != me)
                .map(|n| n.id)
                .collect()
        };
        // Young chunks may belong to an upload in flight: leave them be until the next pass.
        let young = SystemTime::now()
            .checked_sub(self.config.handoff_grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let handoff: Vec<ChunkId> = index
            .held
            .iter()
            .filter(|h| draining || (!h.targets.contains(&me) && h.mtime < young))
            .map(|h| h.id)
            .collect();
        self.pass = Some(Pass {
            started: Instant::now(),
            index: Arc::new(index),
            peers_total: peers.len(),
            peers,
            handoff_total: handoff.len(),
            handoff,
            under: HashSet::new(),
        });
        Ok(())
    }

    /// One step of the pass in progress; `false` when it has finished.
    async fn advance_pass(&mut self) -> bool {
        let quorum = self.quorum.clone();
        let Some(pass) = self.pass.as_mut() else {
            return false;
        };
        if let Some(peer) = pass.peers.pop() {
            match ops::sync_peer(&quorum, &pass.index, peer).await {
                Ok(lacking) => pass.under.extend(lacking),
                Err(e) => {
                    self.counters.failed += 1;
                    tracing::info!(peer, error = %e, "anti-entropy with peer failed");
                }
            }
            quorum.repairs.flush();
            return true;
        }
        if !pass.handoff.is_empty() {
            let n = pass.handoff.len().min(self.config.batch.max(1));
            let batch: Vec<ChunkId> = pass.handoff.drain(..n).collect();
            let delete_before = (!quorum.is_draining())
                .then(|| SystemTime::now().checked_sub(self.config.handoff_grace))
                .flatten();
            let done = ops::hand_off(&quorum, &batch, delete_before).await;
            self.counters.pushed += done.pushed;
            self.counters.bytes += done.bytes;
            self.counters.handed_off += done.deleted;
            pass.under.extend(done.lacking);
            quorum.repairs.flush();
            return true;
        }
        self.counters.under_replicated = pass.under.len() as u64;
        self.counters.last_pass_ms = pass.started.elapsed().as_millis() as u64;
        self.counters.passes += 1;
        tracing::debug!(
            under_replicated = pass.under.len(),
            ms = self.counters.last_pass_ms,
            "anti-entropy pass done"
        );
        self.pass = None;
        self.next_pass = Instant::now() + self.config.interval;
        false
    }

    fn idle_for(&self) -> Duration {
        let until_pass = self.next_pass.saturating_duration_since(Instant::now());
        let until_due = self
            .quorum
            .repairs
            .next_due()
            .map(|t| t.duration_since(SystemTime::now()).unwrap_or_default())
            .unwrap_or(POLL);
        until_pass.min(until_due).min(POLL)
    }

    fn progress(&self) -> Option<f64> {
        let p = self.pass.as_ref()?;
        let total = (p.peers_total + p.handoff_total).max(1) as f64;
        let done = (p.peers_total - p.peers.len()) + (p.handoff_total - p.handoff.len());
        Some(done as f64 / total)
    }
}

impl Worker for Replicator {
    fn name(&self) -> &str {
        "replicator"
    }

    fn step(&mut self) -> BoxFuture<'_, Result<Step, WorkerError>> {
        Box::pin(async move {
            if self.drain_queue().await > 0 {
                return Ok(Step::Busy);
            }
            if self.membership.has_changed().unwrap_or(false) {
                // A node came or went: placement moved, rescan now.
                self.membership.mark_unchanged();
                self.pass = None;
                self.next_pass = Instant::now();
            }
            if self.pass.is_none() {
                if Instant::now() < self.next_pass {
                    return Ok(Step::Idle(self.idle_for()));
                }
                self.start_pass().await?;
                return Ok(Step::Busy);
            }
            if self.advance_pass().await {
                Ok(Step::Busy)
            } else {
                Ok(Step::Idle(self.idle_for()))
            }
        })
    }

    fn report(&self) -> WorkerReport {
        let c = &self.counters;
        let counters = named([
            ("repaired", c.repaired),
            ("pushed", c.pushed),
            ("handed_off", c.handed_off),
            ("under_replicated", c.under_replicated),
            ("last_pass_ms", c.last_pass_ms),
            ("failed", c.failed),
            ("gave_up", c.gave_up),
            ("queue_dropped", self.quorum.repairs.dropped()),
        ]);
        WorkerReport {
            queue_len: self.quorum.repairs.len() as u64,
            progress: self.progress(),
            items: c.repaired + c.pushed + c.handed_off,
            bytes: c.bytes,
            passes: c.passes,
            counters,
            settings: self.config.settings(),
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
        self.config.set(key, value)?;
        if key == "interval" {
            self.next_pass = Instant::now() + self.config.interval;
        }
        Ok(())
    }
}
