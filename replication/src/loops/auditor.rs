//! Auditor: re-hashes every local chunk with BLAKE3 at a bounded bytes/s, one full pass per
//! period (with jitter), in chunk-id order. A chunk whose bytes no longer match its id is
//! quarantined (never deleted), counted, and queued for repair on this node.
//!
//! Progress (the last chunk id audited and when the pass started) is kept in a small state
//! file written atomically after every step, so a restart resumes the pass where it stopped.
//! Also here: checking one chunk on one node ([`Data::check_chunk_on`]) and an unthrottled
//! full local pass ([`Data::audit_all`]) for `tessera chunks verify`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::data::Data;
use crate::error::{DataError, StoreError};
use crate::id::ChunkId;
use crate::quorum::{RepairHint, RepairReason};
use crate::store::{write_file_atomic, ChunkEntry};
use crate::worker::rate::TokenBucket;
use crate::worker::{named, Step, Worker, WorkerError, WorkerReport};

/// Chunks listed per step; a step also ends when the rate limit is reached.
const BATCH: usize = 64;

/// Longest idle wait, so a changed `period` takes effect soon.
const MAX_IDLE: Duration = Duration::from_secs(1);

/// Fraction of the period by which a pass start is moved, either way, at random (so the
/// nodes of a cluster do not all audit at once).
const JITTER: f64 = 0.1;

/// Auditor settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditorConfig {
    /// Bytes re-hashed per second, at most.
    pub rate: u64,
    /// Time from the start of one full pass to the start of the next.
    pub period: Duration,
}

impl Default for AuditorConfig {
    fn default() -> Self {
        AuditorConfig {
            rate: 32 << 20,
            period: Duration::from_secs(86_400),
        }
    }
}

/// What re-hashing one local chunk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalCheck {
    /// The bytes match the id.
    Valid,
    /// The bytes did not match: the file was quarantined and a repair queued.
    Quarantined,
    /// The chunk was not there (e.g. reaped since it was listed).
    Missing,
}

/// The state of one chunk on one node, as `tessera chunks verify --image` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum ChunkHealth {
    /// A verified copy is there.
    Valid,
    /// The node does not hold it.
    Missing,
    /// The node held bytes not matching the id (now quarantined there).
    Corrupt,
    /// The node could not be asked.
    Unreachable(String),
}

/// What an unthrottled full local pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditSummary {
    /// Chunks re-hashed.
    pub checked: u64,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Chunks found corrupt (quarantined, repair queued).
    pub corrupt: Vec<ChunkId>,
    /// Chunks that vanished between listing and reading.
    pub missing: u64,
}

impl Data {
    /// Re-hashes local chunk `id`; a mismatch is quarantined and queued for repair here.
    pub async fn audit_local(&self, id: ChunkId) -> Result<LocalCheck, DataError> {
        let store = self.store().clone();
        let got = tokio::task::spawn_blocking(move || store.get(&id).map(drop)).await?;
        match got {
            Ok(()) => Ok(LocalCheck::Valid),
            Err(StoreError::NotFound(_)) => Ok(LocalCheck::Missing),
            Err(StoreError::Corrupt { actual, .. }) => {
                tracing::warn!(chunk = %id, %actual, "audit found a corrupt chunk");
                self.repairs().push(RepairHint {
                    chunk: id,
                    node: self.self_id(),
                    reason: RepairReason::Corrupt,
                });
                Ok(LocalCheck::Quarantined)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Re-hashes every local chunk now, without a rate limit.
    pub async fn audit_all(&self) -> Result<AuditSummary, DataError> {
        let mut summary = AuditSummary::default();
        let mut cursor = None;
        loop {
            let batch = self.list_after(cursor).await?;
            let Some(last) = batch.last() else {
                return Ok(summary);
            };
            cursor = Some(last.id);
            for entry in batch {
                match self.audit_local(entry.id).await? {
                    LocalCheck::Valid => {}
                    LocalCheck::Quarantined => summary.corrupt.push(entry.id),
                    LocalCheck::Missing => {
                        summary.missing += 1;
                        continue;
                    }
                }
                summary.checked += 1;
                summary.bytes += entry.len;
            }
        }
    }

    /// Checks chunk `id` on `node` (this node's store, or a peer's); a corrupt or missing
    /// copy is queued for repair.
    pub async fn check_chunk_on(&self, node: u64, id: ChunkId) -> ChunkHealth {
        let health = if node == self.self_id() {
            match self.audit_local(id).await {
                Ok(LocalCheck::Valid) => ChunkHealth::Valid,
                // `audit_local` queued the repair already.
                Ok(LocalCheck::Quarantined) => return ChunkHealth::Corrupt,
                Ok(LocalCheck::Missing) => ChunkHealth::Missing,
                Err(e) => ChunkHealth::Unreachable(e.to_string()),
            }
        } else {
            self.check_remote(node, id).await
        };
        let reason = match health {
            ChunkHealth::Missing => RepairReason::Missing,
            ChunkHealth::Corrupt => RepairReason::Corrupt,
            ChunkHealth::Valid | ChunkHealth::Unreachable(_) => return health,
        };
        self.repairs().push(RepairHint {
            chunk: id,
            node,
            reason,
        });
        health
    }

    /// Presence first, then a verified read: a node that has the file but serves no valid
    /// copy held a corrupt one (which its store quarantined on that read).
    async fn check_remote(&self, node: u64, id: ChunkId) -> ChunkHealth {
        let timeout = self.config().peer_timeout;
        let peers = self.peers();
        let has = match tokio::time::timeout(timeout, peers.has(node, vec![id])).await {
            Ok(Ok(v)) => v.first().copied().unwrap_or(false),
            Ok(Err(e)) => return ChunkHealth::Unreachable(e.to_string()),
            Err(_) => return ChunkHealth::Unreachable(format!("node {node} timed out")),
        };
        if !has {
            return ChunkHealth::Missing;
        }
        let bytes = match tokio::time::timeout(timeout, peers.get(node, id)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return ChunkHealth::Unreachable(e.to_string()),
            Err(_) => return ChunkHealth::Unreachable(format!("node {node} timed out")),
        };
        let Some(bytes) = bytes else {
            return ChunkHealth::Corrupt;
        };
        match tokio::task::spawn_blocking(move || ChunkId::of(&bytes) == id).await {
            Ok(true) => ChunkHealth::Valid,
            // Damaged in transit; the stored copy verified on the node's side.
            Ok(false) => ChunkHealth::Unreachable(format!("node {node} sent damaged bytes")),
            Err(e) => ChunkHealth::Unreachable(e.to_string()),
        }
    }

    /// Up to [`BATCH`] local chunks after `cursor`, in id order.
    async fn list_after(&self, cursor: Option<ChunkId>) -> Result<Vec<ChunkEntry>, DataError> {
        let store = self.store().clone();
        Ok(tokio::task::spawn_blocking(move || store.list_after(cursor.as_ref(), BATCH)).await??)
    }
}

/// What survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct AuditState {
    /// Last chunk audited in the current pass.
    cursor: Option<ChunkId>,
    /// When the current pass started (Unix seconds); `None` between passes.
    pass_started: Option<u64>,
    /// When the next pass starts (Unix seconds).
    next_pass: u64,
}

/// The auditor worker (`auditor`); settings `rate` (bytes/s) and `period` (seconds).
#[derive(Debug)]
pub struct Auditor {
    data: Data,
    state_path: PathBuf,
    state: AuditState,
    config: AuditorConfig,
    bucket: TokenBucket,
    items: u64,
    bytes: u64,
    passes: u64,
    quarantined: u64,
    missing: u64,
}

impl Auditor {
    /// An auditor of `data`'s store keeping its progress in `state_path`; resumes the pass
    /// recorded there, if any.
    pub fn open(
        data: Data,
        state_path: PathBuf,
        config: AuditorConfig,
    ) -> Result<Auditor, DataError> {
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                // A damaged progress file only costs a pass restarted from the beginning.
                tracing::warn!(path = %state_path.display(), error = %e, "auditor state unreadable; starting over");
                AuditState::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AuditState::default(),
            Err(e) => {
                return Err(StoreError::Io {
                    op: "read",
                    path: state_path,
                    source: e,
                }
                .into())
            }
        };
        Ok(Auditor {
            data,
            state_path,
            state,
            config,
            bucket: TokenBucket::new(config.rate),
            items: 0,
            bytes: 0,
            passes: 0,
            quarantined: 0,
            missing: 0,
        })
    }

    fn save(&self) -> Result<(), WorkerError> {
        let bytes = serde_json::to_vec(&self.state).map_err(|e| failed(&e))?;
        write_file_atomic(&self.state_path, &bytes).map_err(|e| failed(&e))
    }

    async fn audit_batch(&mut self, now: u64) -> Result<Step, WorkerError> {
        if self.state.pass_started.is_none() {
            if now < self.state.next_pass {
                return Ok(Step::Idle(
                    Duration::from_secs(self.state.next_pass - now).min(MAX_IDLE),
                ));
            }
            self.state = AuditState {
                cursor: None,
                pass_started: Some(now),
                next_pass: 0,
            };
            tracing::info!("audit pass started");
        }
        let batch = self
            .data
            .list_after(self.state.cursor)
            .await
            .map_err(|e| failed(&e))?;
        if batch.is_empty() {
            self.end_pass(now)?;
            return Ok(Step::Idle(MAX_IDLE));
        }
        for entry in batch {
            if let Err(wait) = self.bucket.take(entry.len) {
                self.save()?;
                return Ok(Step::Throttled(wait));
            }
            match self
                .data
                .audit_local(entry.id)
                .await
                .map_err(|e| failed(&e))?
            {
                LocalCheck::Valid => {}
                LocalCheck::Quarantined => self.quarantined += 1,
                LocalCheck::Missing => self.missing += 1,
            }
            self.items += 1;
            self.bytes += entry.len;
            self.state.cursor = Some(entry.id);
        }
        self.save()?;
        Ok(Step::Busy)
    }

    fn end_pass(&mut self, now: u64) -> Result<(), WorkerError> {
        let started = self.state.pass_started.unwrap_or(now);
        let period = self.config.period.as_secs_f64();
        let jitter = rand::thread_rng().gen_range(-JITTER..=JITTER) * period;
        let next = (started as f64 + period + jitter).max(0.0) as u64;
        self.state = AuditState {
            cursor: None,
            pass_started: None,
            next_pass: next.max(now),
        };
        self.passes += 1;
        tracing::info!(
            seconds = now.saturating_sub(started),
            next_in = self.state.next_pass - now,
            "audit pass done"
        );
        self.save()
    }

    /// Fraction of the id space audited: ids are uniform hashes, so the cursor's position
    /// estimates the fraction of chunks done without counting them.
    fn progress(&self) -> f64 {
        match (self.state.pass_started, self.state.cursor) {
            (None, _) => 1.0,
            (Some(_), None) => 0.0,
            (Some(_), Some(c)) => {
                let mut head = [0u8; 8];
                head.copy_from_slice(&c.as_bytes()[..8]);
                u64::from_be_bytes(head) as f64 / u64::MAX as f64
            }
        }
    }
}

fn failed(e: &dyn std::fmt::Display) -> WorkerError {
    WorkerError::Failed(e.to_string())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Worker for Auditor {
    fn name(&self) -> &str {
        "auditor"
    }

    fn step(&mut self) -> BoxFuture<'_, Result<Step, WorkerError>> {
        Box::pin(self.audit_batch(unix_now()))
    }

    fn report(&self) -> WorkerReport {
        WorkerReport {
            queue_len: 0,
            progress: Some(self.progress()),
            items: self.items,
            bytes: self.bytes,
            passes: self.passes,
            counters: named([("quarantined", self.quarantined), ("missing", self.missing)]),
            settings: self.config.settings(),
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
        self.config.set(key, value)?;
        match key {
            "rate" => self.bucket = TokenBucket::new(self.config.rate),
            // A shorter period moves a pending pass closer.
            "period" if self.state.pass_started.is_none() => {
                let next = unix_now() + self.config.period.as_secs();
                self.state.next_pass = self.state.next_pass.min(next);
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn chunk(i: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        v[..4].copy_from_slice(&i.to_le_bytes());
        v
    }

    fn fill(data: &Data, n: u32, len: usize) -> Vec<ChunkId> {
        let mut ids: Vec<ChunkId> = (0..n)
            .map(|i| data.store().put(&chunk(i, len)).unwrap().0)
            .collect();
        ids.sort();
        ids
    }

    fn unlimited() -> AuditorConfig {
        AuditorConfig {
            rate: u64::MAX / 4,
            period: Duration::from_secs(3600),
        }
    }

    async fn run_pass(a: &mut Auditor) {
        for _ in 0..1000 {
            if let Step::Idle(_) = a.step().await.unwrap() {
                return;
            }
        }
        panic!("the pass never ended");
    }

    #[tokio::test]
    async fn a_flipped_byte_is_quarantined_and_queued_for_repair() {
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(&dir.path().join("chunks")).unwrap();
        let ids = fill(&data, 100, 1000);
        let victim = ids[37];
        let path = data.store().path_of(&victim);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[500] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();

        let mut a =
            Auditor::open(data.clone(), dir.path().join("audit.json"), unlimited()).unwrap();
        run_pass(&mut a).await;
        let r = a.report();
        assert_eq!(r.passes, 1);
        assert_eq!(r.items, 100);
        assert_eq!(r.bytes, 100_000);
        assert_eq!(r.counters["quarantined"], 1);
        assert!(!path.exists());
        let q: Vec<_> = std::fs::read_dir(dir.path().join("chunks/quarantine"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(q.len(), 1);
        assert!(q[0].starts_with(&victim.to_hex()));
        let hints = data.repairs().snapshot();
        assert_eq!(
            hints,
            vec![RepairHint {
                chunk: victim,
                node: data.self_id(),
                reason: RepairReason::Corrupt
            }]
        );
        // The next pass waits for the period.
        assert!(matches!(a.step().await.unwrap(), Step::Idle(_)));
        assert_eq!(a.report().items, 100);
    }

    #[tokio::test]
    async fn the_rate_bounds_the_bytes_audited() {
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(&dir.path().join("chunks")).unwrap();
        fill(&data, 64, 64 << 10);
        let rate = 1 << 20;
        let mut a = Auditor::open(
            data,
            dir.path().join("audit.json"),
            AuditorConfig {
                rate,
                period: Duration::from_secs(3600),
            },
        )
        .unwrap();
        let started = Instant::now();
        let first = a.step().await.unwrap();
        assert!(matches!(first, Step::Throttled(_)), "{first:?}");
        let second = a.step().await.unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        // One second's worth up front, one chunk of debt, plus what the elapsed time allows.
        let allowed = rate + (64 << 10) + (elapsed * rate as f64) as u64;
        let done = a.report().bytes;
        assert!(
            done <= allowed,
            "{done} bytes audited, at most {allowed} allowed"
        );
        assert!(
            done >= rate,
            "{done} bytes audited, the first second's worth is {rate}"
        );
        assert!(matches!(second, Step::Throttled(_)), "{second:?}");
    }

    #[tokio::test]
    async fn progress_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(&dir.path().join("chunks")).unwrap();
        let ids = fill(&data, 3 * BATCH as u32, 100);
        let state = dir.path().join("audit.json");
        let mut a = Auditor::open(data.clone(), state.clone(), unlimited()).unwrap();
        assert_eq!(a.step().await.unwrap(), Step::Busy);
        assert_eq!(a.step().await.unwrap(), Step::Busy);
        assert_eq!(a.state.cursor, Some(ids[2 * BATCH - 1]));
        let before = a.progress();
        assert!(before > 0.0 && before < 1.0);
        drop(a);

        let mut b = Auditor::open(data, state.clone(), unlimited()).unwrap();
        assert_eq!(b.state.cursor, Some(ids[2 * BATCH - 1]));
        assert_eq!(b.progress(), before);
        run_pass(&mut b).await;
        // Only the third batch was left.
        assert_eq!(b.report().items, BATCH as u64);
        assert_eq!(b.report().passes, 1);
        let saved: AuditState = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert_eq!(saved.cursor, None);
        assert!(saved.next_pass > unix_now() + 3000);
    }

    #[tokio::test]
    async fn settings_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(&dir.path().join("chunks")).unwrap();
        let mut a = Auditor::open(data, dir.path().join("audit.json"), unlimited()).unwrap();
        a.set("rate", "1048576").unwrap();
        a.set("period", "60").unwrap();
        assert_eq!(a.report().settings["rate"], "1048576");
        assert_eq!(a.report().settings["period"], "60");
        assert!(matches!(
            a.set("rate", "0"),
            Err(WorkerError::BadValue { .. })
        ));
        assert!(matches!(
            a.set("period", "soon"),
            Err(WorkerError::BadValue { .. })
        ));
        assert!(matches!(
            a.set("speed", "1"),
            Err(WorkerError::UnknownKey { .. })
        ));
    }

    #[tokio::test]
    async fn audit_all_and_check_chunk_on_report_each_copy() {
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(&dir.path().join("chunks")).unwrap();
        let ids = fill(&data, 10, 100);
        std::fs::write(data.store().path_of(&ids[3]), b"garbage").unwrap();
        let me = data.self_id();
        assert_eq!(data.check_chunk_on(me, ids[0]).await, ChunkHealth::Valid);
        let summary = data.audit_all().await.unwrap();
        assert_eq!(summary.checked, 10);
        assert_eq!(summary.corrupt, vec![ids[3]]);
        assert_eq!(data.check_chunk_on(me, ids[3]).await, ChunkHealth::Missing);
        let other = ChunkId::of(b"never stored");
        assert_eq!(data.check_chunk_on(me, other).await, ChunkHealth::Missing);
        assert!(matches!(
            data.check_chunk_on(me + 1, ids[0]).await,
            ChunkHealth::Unreachable(_)
        ));
    }
}
