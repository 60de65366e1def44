//! Reaper: deletes chunks no live manifest references, after a grace period; as the
//! [`Reaper`] worker it also scrubs pending-delete images and requeues stale uploads.
//!
//! Safety: a chunk is deleted only if it is outside the live set, not pinned by an in-flight
//! ingest, and its mtime (write time, refreshed on dedup and at the end of a long ingest) is
//! older than `grace`. `grace` must exceed the time from [`crate::Ingest::finish`] to the
//! image's manifest appearing in [`LiveChunks::live_manifests`] (minutes are plenty). If a
//! live manifest cannot be read, nothing is deleted.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::data::Data;
use crate::error::{DataError, StoreError};
use crate::id::ChunkId;
use crate::manifest::Manifest;
use crate::policy::Policy;
use crate::replicas::{by_manifest, LiveManifest, Required};
use crate::setting::MAX_DURATION;
use crate::worker::{named, Step, Worker, WorkerError, WorkerReport};

/// Source of the manifests that must be kept (implemented by the node over the metadata layer).
pub trait LiveChunks: Send + Sync {
    /// Error of the metadata layer.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The manifest chunks of every image copy whose data must be kept, with the copies
    /// each asks for.
    fn live_manifests(&self)
        -> impl Future<Output = Result<Vec<LiveManifest>, Self::Error>> + Send;

    /// Bytes of a live manifest this node does not hold locally (e.g. from a peer); `None` if
    /// unavailable, which aborts the reap.
    fn fetch_manifest(
        &self,
        id: &ChunkId,
    ) -> impl Future<Output = Result<Option<Bytes>, Self::Error>> + Send {
        let _ = id;
        async { Ok(None) }
    }
}

/// What one reaper pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReapReport {
    /// Live manifests considered.
    pub manifests: usize,
    /// Distinct live chunk ids (manifests and their chunks).
    pub live_chunks: usize,
    /// Chunk files examined.
    pub scanned: usize,
    /// Unreferenced chunks kept because they are younger than the grace period or pinned.
    pub kept_young: usize,
    /// Chunks deleted.
    pub deleted: usize,
    /// Bytes freed by deleted chunks.
    pub deleted_bytes: u64,
    /// Stale temp files deleted.
    pub tmp_deleted: usize,
    /// Bytes freed by deleted temp files.
    pub tmp_bytes: u64,
}

impl Data {
    /// Runs one reaper pass: deletes unreferenced chunks and temp files older than `grace`,
    /// and records the copies every live chunk needs for the replicator.
    pub async fn reap_once(
        &self,
        live: &impl LiveChunks,
        grace: Duration,
    ) -> Result<ReapReport, DataError> {
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(UNIX_EPOCH);
        let manifests = live
            .live_manifests()
            .await
            .map_err(|e| DataError::Live(Box::new(e)))?;
        let manifests = by_manifest(manifests, &Policy::everywhere(self.config().r));
        let mut report = ReapReport {
            manifests: manifests.len(),
            ..ReapReport::default()
        };
        let mut keep = Required::default();
        for (id, needs) in manifests {
            keep.add(id, &needs);
            self.quorum().note_replicas(id, needs.clone());
            let manifest = match self.manifest(&id).await {
                Ok(m) => m,
                Err(
                    DataError::Unavailable { .. }
                    | DataError::Store(StoreError::NotFound(_) | StoreError::Corrupt { .. }),
                ) => {
                    match live
                        .fetch_manifest(&id)
                        .await
                        .map_err(|e| DataError::Live(Box::new(e)))?
                    {
                        Some(bytes) if ChunkId::of(&bytes) == id => Manifest::decode(&id, &bytes)?,
                        _ => return Err(DataError::ManifestUnavailable(id)),
                    }
                }
                Err(e) => return Err(e),
            };
            for e in manifest.entries() {
                keep.add(e.id, &needs);
            }
        }
        report.live_chunks = keep.len();
        let store = self.store().clone();
        let quorum = self.quorum().clone();
        tokio::task::spawn_blocking(move || {
            let mut orphans = HashSet::new();
            for entry in store.list()? {
                report.scanned += 1;
                if keep.contains(&entry.id) {
                    continue;
                }
                orphans.insert(entry.id);
                match store.delete_if_reapable(&entry.id, cutoff)? {
                    Some(bytes) => {
                        report.deleted += 1;
                        report.deleted_bytes += bytes;
                    }
                    None => report.kept_young += 1,
                }
            }
            quorum.set_orphans(orphans);
            quorum.set_replicas(keep.into_map());
            let tmp = store.clean_tmp(grace)?;
            report.tmp_deleted = tmp.files;
            report.tmp_bytes = tmp.bytes;
            if report.deleted > 0 || report.tmp_deleted > 0 {
                tracing::info!(?report, "reaper pass");
            }
            Ok(report)
        })
        .await?
    }
}

/// Why an image record lingers and may need the reaper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lingering {
    /// Deleted with delayed delete on: scrubbed (record removed) after `scrub_time`.
    PendingDelete,
    /// An upload started (`saving`/`uploading`) and may have died with its node: returned
    /// to `queued` after `upload_timeout`.
    Upload,
}

/// An image record the reaper may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LingeringImage {
    /// The image id.
    pub id: String,
    /// Why it lingers.
    pub kind: Lingering,
    /// When the record last changed (Unix seconds).
    pub updated_at: i64,
}

/// The record changes the reaper makes (implemented by the node over the metadata layer).
///
/// Each change re-reads the record and applies only if it still qualifies, as a
/// compare-and-set on its revision, so a concurrent user change or a second reaper wins
/// cleanly.
pub trait ImageRecords: Send + Sync {
    /// Error of the metadata layer.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether this node makes record changes now (one node of the cluster should).
    fn in_charge(&self) -> bool;

    /// Images pending delete or in an unfinished upload.
    fn lingering(&self) -> impl Future<Output = Result<Vec<LingeringImage>, Self::Error>> + Send;

    /// Removes the record of `id` if it is still pending delete and unchanged since before
    /// `cutoff` (Unix seconds); whether it was removed.
    fn scrub(
        &self,
        id: &str,
        cutoff: i64,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Returns `id` to `queued` (Glance's state after a failed upload) if it is still in an
    /// upload unchanged since before `cutoff`; whether it was.
    fn requeue(
        &self,
        id: &str,
        cutoff: i64,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// Reaper settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaperConfig {
    /// Time between passes.
    pub interval: Duration,
    /// Age before an unreferenced chunk or temp file may be deleted; above `upload_timeout`.
    pub grace: Duration,
    /// Time a pending-delete image is kept before it is scrubbed.
    pub scrub_time: Duration,
    /// Time after which an unfinished upload is returned to `queued`.
    pub upload_timeout: Duration,
}

impl Default for ReaperConfig {
    fn default() -> Self {
        ReaperConfig {
            interval: Duration::from_secs(300),
            // Above the upload timeout, as `ReaperConfig::check` requires, with an hour's margin.
            grace: Duration::from_secs(90_000),
            scrub_time: Duration::from_secs(0),
            upload_timeout: Duration::from_secs(86_400),
        }
    }
}

/// `now` (Unix seconds) less `age`, saturating: an age beyond i64 seconds is before any time,
/// never a negative age that would put the cutoff in the future.
fn before(now: i64, age: Duration) -> i64 {
    now.saturating_sub(i64::try_from(age.as_secs()).unwrap_or(i64::MAX))
}

/// Longest idle wait, so changed settings take effect soon.
const MAX_IDLE: Duration = Duration::from_secs(1);

/// The reaper worker (`reaper`): per pass, if in charge, scrubs pending-delete images and
/// requeues stale uploads, then deletes unreferenced chunks and temp files past `grace`.
/// Settings `interval`, `grace`, `scrub_time`, `upload_timeout` (seconds).
#[derive(Debug)]
pub struct Reaper<L, R> {
    data: Data,
    live: L,
    records: R,
    config: ReaperConfig,
    next: Option<tokio::time::Instant>,
    scanned: u64,
    freed: u64,
    passes: u64,
    deleted: u64,
    tmp_deleted: u64,
    kept_young: u64,
    scrubbed: u64,
    requeued: u64,
}

impl<L: LiveChunks + 'static, R: ImageRecords + 'static> Reaper<L, R> {
    /// A reaper of `data`'s store, keeping what `live` references and tending `records`.
    pub fn new(data: Data, live: L, records: R, config: ReaperConfig) -> Self {
        Reaper {
            data,
            live,
            records,
            config,
            next: None,
            scanned: 0,
            freed: 0,
            passes: 0,
            deleted: 0,
            tmp_deleted: 0,
            kept_young: 0,
            scrubbed: 0,
            requeued: 0,
        }
    }

    /// Scrubs and requeues the records past their deadlines.
    async fn tend_records(&mut self) -> Result<(), R::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let scrub_cutoff = before(now, self.config.scrub_time);
        let upload_cutoff = before(now, self.config.upload_timeout);
        for img in self.records.lingering().await? {
            match img.kind {
                Lingering::PendingDelete if img.updated_at < scrub_cutoff => {
                    if self.records.scrub(&img.id, scrub_cutoff).await? {
                        tracing::info!(image_id = %img.id, "pending-delete image scrubbed");
                        self.scrubbed += 1;
                    }
                }
                Lingering::Upload if img.updated_at < upload_cutoff => {
                    if self.records.requeue(&img.id, upload_cutoff).await? {
                        tracing::info!(image_id = %img.id, "stale upload returned to queued");
                        self.requeued += 1;
                    }
                }
                Lingering::PendingDelete | Lingering::Upload => {}
            }
        }
        Ok(())
    }

    async fn pass(&mut self) -> Result<Step, WorkerError> {
        let now = tokio::time::Instant::now();
        if let Some(next) = self.next.filter(|n| *n > now) {
            return Ok(Step::Idle((next - now).min(MAX_IDLE)));
        }
        // Settings are bounded, but a config built in code is not: never overflow an Instant.
        self.next = Some(
            now.checked_add(self.config.interval)
                .unwrap_or(now + MAX_DURATION),
        );
        // Records first: a scrubbed image's chunks go in this same pass.
        let tended = if self.records.in_charge() {
            self.tend_records().await.map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        let report = self
            .data
            .reap_once(&self.live, self.config.grace)
            .await
            .map_err(|e| WorkerError::Failed(e.to_string()))?;
        self.passes += 1;
        self.scanned += report.scanned as u64;
        self.deleted += report.deleted as u64;
        self.tmp_deleted += report.tmp_deleted as u64;
        self.kept_young += report.kept_young as u64;
        self.freed += report.deleted_bytes + report.tmp_bytes;
        tended.map_err(|e| WorkerError::Failed(format!("image records: {e}")))?;
        Ok(Step::Idle(self.config.interval.min(MAX_IDLE)))
    }
}

impl<L: LiveChunks + 'static, R: ImageRecords + 'static> Worker for Reaper<L, R> {
    fn name(&self) -> &str {
        "reaper"
    }

    fn step(&mut self) -> BoxFuture<'_, Result<Step, WorkerError>> {
        Box::pin(self.pass())
    }

    fn report(&self) -> WorkerReport {
        WorkerReport {
            queue_len: 0,
            progress: None,
            items: self.scanned,
            bytes: self.freed,
            passes: self.passes,
            counters: named([
                ("deleted", self.deleted),
                ("tmp_deleted", self.tmp_deleted),
                ("kept_young", self.kept_young),
                ("scrubbed", self.scrubbed),
                ("requeued", self.requeued),
            ]),
            settings: self.config.settings(),
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
        self.config.set(key, value)?;
        if key == "interval" {
            // Start the next pass on the new schedule.
            self.next = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    #[derive(Debug, Clone)]
    struct Rec {
        id: &'static str,
        kind: Option<Lingering>,
        updated_at: i64,
        manifest: Option<ChunkId>,
    }

    /// Image records in memory; `in_charge` plays the Raft leader.
    #[derive(Debug, Clone)]
    struct Records {
        recs: Arc<Mutex<Vec<Rec>>>,
        in_charge: bool,
    }

    impl Records {
        fn get(&self, id: &str) -> Option<Rec> {
            self.recs
                .lock()
                .unwrap()
                .iter()
                .find(|r| r.id == id)
                .cloned()
        }
    }

    impl LiveChunks for Records {
        type Error = Infallible;
        async fn live_manifests(&self) -> Result<Vec<LiveManifest>, Infallible> {
            Ok(self
                .recs
                .lock()
                .unwrap()
                .iter()
                .filter_map(|r| r.manifest)
                .map(LiveManifest::at_default)
                .collect())
        }
    }

    impl ImageRecords for Records {
        type Error = Infallible;
        fn in_charge(&self) -> bool {
            self.in_charge
        }
        async fn lingering(&self) -> Result<Vec<LingeringImage>, Infallible> {
            Ok(self
                .recs
                .lock()
                .unwrap()
                .iter()
                .filter_map(|r| {
                    r.kind.map(|kind| LingeringImage {
                        id: r.id.to_string(),
                        kind,
                        updated_at: r.updated_at,
                    })
                })
                .collect())
        }
        async fn scrub(&self, id: &str, cutoff: i64) -> Result<bool, Infallible> {
            let mut recs = self.recs.lock().unwrap();
            let before = recs.len();
            recs.retain(|r| {
                !(r.id == id && r.kind == Some(Lingering::PendingDelete) && r.updated_at < cutoff)
            });
            Ok(recs.len() < before)
        }
        async fn requeue(&self, id: &str, cutoff: i64) -> Result<bool, Infallible> {
            let mut recs = self.recs.lock().unwrap();
            match recs.iter_mut().find(|r| r.id == id) {
                Some(r) if r.kind == Some(Lingering::Upload) && r.updated_at < cutoff => {
                    r.kind = None;
                    Ok(true)
                }
                _ => Ok(false),
            }
        }
    }

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    async fn image(data: &Data, seed: u8) -> (ChunkId, Vec<ChunkId>) {
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8 ^ seed).collect();
        let mut ing = data.ingest();
        ing.write(Bytes::from(bytes)).await.unwrap();
        let done = ing.finish().await.unwrap();
        let m = data.manifest(&done.manifest).await.unwrap();
        let chunks = m.entries().iter().map(|e| e.id).collect();
        (done.manifest, chunks)
    }

    fn has_all(data: &Data, ids: &[ChunkId]) -> bool {
        ids.iter().all(|id| data.store().has(id).unwrap())
    }

    fn none_of(data: &Data, ids: &[ChunkId]) -> bool {
        ids.iter().all(|id| !data.store().has(id).unwrap())
    }

    fn config(scrub: u64, upload: u64) -> ReaperConfig {
        ReaperConfig {
            interval: Duration::from_secs(3600),
            grace: Duration::ZERO,
            scrub_time: Duration::from_secs(scrub),
            upload_timeout: Duration::from_secs(upload),
        }
    }

    #[tokio::test]
    async fn pending_delete_images_keep_their_chunks_until_scrubbed() {
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(dir.path()).unwrap();
        let (m_del, c_del) = image(&data, 1).await;
        let (m_keep, c_keep) = image(&data, 2).await;
        let records = Records {
            recs: Arc::new(Mutex::new(vec![
                Rec {
                    id: "gone",
                    kind: Some(Lingering::PendingDelete),
                    updated_at: now() - 100,
                    manifest: Some(m_del),
                },
                Rec {
                    id: "kept",
                    kind: None,
                    updated_at: now() - 100,
                    manifest: Some(m_keep),
                },
            ])),
            in_charge: true,
        };
        let mut reaper = Reaper::new(
            data.clone(),
            records.clone(),
            records.clone(),
            config(1000, 0),
        );
        assert!(matches!(reaper.step().await.unwrap(), Step::Idle(_)));
        assert!(records.get("gone").is_some());
        assert!(has_all(&data, &c_del) && has_all(&data, &[m_del]));

        // Within the interval nothing runs; a new interval starts a pass at once.
        reaper.set("scrub_time", "50").unwrap();
        reaper.step().await.unwrap();
        assert_eq!(reaper.report().passes, 1);
        reaper.set("interval", "3600").unwrap();
        reaper.step().await.unwrap();
        let r = reaper.report();
        assert_eq!(r.passes, 2);
        assert_eq!(r.counters["scrubbed"], 1);
        assert!(records.get("gone").is_none());
        assert!(none_of(&data, &c_del) && none_of(&data, &[m_del]));
        assert!(has_all(&data, &c_keep) && has_all(&data, &[m_keep]));
        assert_eq!(r.counters["deleted"], c_del.len() as u64 + 1);
    }

    #[tokio::test]
    async fn stale_uploads_are_requeued_and_their_chunks_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(dir.path()).unwrap();
        // The chunks of a dead upload: stored, referenced by no manifest.
        let (_, partial) = image(&data, 3).await;
        let upload = |id, age| Rec {
            id,
            kind: Some(Lingering::Upload),
            updated_at: now() - age,
            manifest: None,
        };
        let records = Records {
            recs: Arc::new(Mutex::new(vec![upload("stale", 100), upload("fresh", 0)])),
            in_charge: true,
        };
        let mut reaper = Reaper::new(
            data.clone(),
            records.clone(),
            records.clone(),
            config(0, 50),
        );
        reaper.step().await.unwrap();
        assert_eq!(records.get("stale").unwrap().kind, None);
        assert_eq!(records.get("fresh").unwrap().kind, Some(Lingering::Upload));
        assert_eq!(reaper.report().counters["requeued"], 1);
        assert!(none_of(&data, &partial));
    }

    #[tokio::test]
    async fn only_the_node_in_charge_changes_records() {
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(dir.path()).unwrap();
        let (m, chunks) = image(&data, 4).await;
        let records = Records {
            recs: Arc::new(Mutex::new(vec![Rec {
                id: "gone",
                kind: Some(Lingering::PendingDelete),
                updated_at: now() - 100,
                manifest: Some(m),
            }])),
            in_charge: false,
        };
        let mut reaper = Reaper::new(data.clone(), records.clone(), records.clone(), config(0, 0));
        reaper.step().await.unwrap();
        assert!(records.get("gone").is_some());
        assert!(has_all(&data, &chunks));
        assert!(matches!(
            reaper.set("grace", "x"),
            Err(WorkerError::BadValue { .. })
        ));
        assert!(matches!(
            reaper.set("interval", "0"),
            Err(WorkerError::BadValue { .. })
        ));
        assert!(matches!(
            reaper.set("speed", "1"),
            Err(WorkerError::UnknownKey { .. })
        ));
    }

    /// A config built in code is not bounded by the parser: a scrub time beyond i64 seconds
    /// used to wrap negative and scrub every pending-delete image at once, and a huge interval
    /// overflowed `Instant` (a panic).
    #[tokio::test]
    async fn huge_durations_neither_wrap_nor_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(dir.path()).unwrap();
        let records = Records {
            recs: Arc::new(Mutex::new(vec![Rec {
                id: "gone",
                kind: Some(Lingering::PendingDelete),
                updated_at: now() - 100,
                manifest: None,
            }])),
            in_charge: true,
        };
        let huge = ReaperConfig {
            interval: Duration::MAX,
            grace: Duration::MAX,
            scrub_time: Duration::from_secs(1 << 63),
            upload_timeout: Duration::from_secs(u64::MAX),
        };
        let mut reaper = Reaper::new(data, records.clone(), records.clone(), huge);
        reaper.step().await.unwrap();
        assert!(records.get("gone").is_some(), "not scrubbed");
        assert_eq!(reaper.report().counters["scrubbed"], 0);
    }

    /// Grace must exceed the upload timeout, on every runtime change: grace 0 (or anything
    /// not above the timeout) is refused with the reason, and nothing changes.
    #[tokio::test]
    async fn grace_stays_above_the_upload_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(dir.path()).unwrap();
        let records = Records {
            recs: Arc::new(Mutex::new(Vec::new())),
            in_charge: true,
        };
        let mut reaper = Reaper::new(data, records.clone(), records, ReaperConfig::default());
        let before = reaper.report().settings;
        for (key, value, reason) in [
            ("grace", "0", "must be greater than upload_timeout (1d)"),
            ("grace", "1d", "must be greater than upload_timeout (1d)"),
            ("upload_timeout", "30h", "must be less than grace (25h)"),
            ("upload_timeout", "0", "must be at least 1s"),
        ] {
            let err = reaper.set(key, value).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("bad value {value:?} for {key}: {reason}")
            );
            assert_eq!(
                reaper.report().settings,
                before,
                "{key}={value} changed nothing"
            );
        }
        reaper.set("upload_timeout", "10m").unwrap();
        reaper.set("grace", "11m").unwrap();
        assert_eq!(reaper.report().settings["grace"], "660");
        assert!(ReaperConfig::default().check().is_ok());
    }
}
