//! The persistent repair queue: chunks some node should hold but may lack, each retried with
//! exponential backoff until a copy is confirmed.
//!
//! Storage is an append-only text log next to the chunk store (`repair-queue.log`), one record
//! per line: `S <chunk> <node> <reason> <attempts> <not_before_ms>` sets an entry, `D <chunk>
//! <node>` deletes it; replaying the log in order rebuilds the queue. It is rewritten compactly
//! (temp file, fsync, rename) on open and whenever dead records outnumber live ones. No
//! per-record fsync: hints are advisory and anti-entropy finds anything lost in a crash, so
//! the queue only has to survive ordinary restarts cheaply. A torn last line is skipped.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::StoreError;
use crate::id::ChunkId;
use crate::quorum::{RepairHint, RepairReason};

/// Most entries a [`RepairQueue`] holds; further ones are counted and dropped (anti-entropy
/// finds them again on a later pass).
pub const REPAIR_QUEUE_CAP: usize = 100_000;

/// First retry delay; doubles per failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// A queued repair with its retry state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedRepair {
    /// The chunk and the node that should hold it.
    pub hint: RepairHint,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not retried before this time (milliseconds since the Unix epoch).
    pub not_before_ms: u64,
}

/// Deduplicated (by chunk and node), bounded, persistent queue of repair hints, drained by the
/// replicator. Hints are advisory: a chunk may since have been repaired or reaped.
#[derive(Debug, Default)]
pub struct RepairQueue {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<(ChunkId, u64), QueuedRepair>,
    /// (not_before_ms, insertion sequence, chunk, node): the retry order.
    order: BTreeSet<(u64, u64, ChunkId, u64)>,
    /// Sequence of each entry in `order`.
    seq_of: HashMap<(ChunkId, u64), u64>,
    next_seq: u64,
    dropped: u64,
    log: Option<Log>,
}

#[derive(Debug)]
struct Log {
    path: PathBuf,
    file: BufWriter<File>,
    records: usize,
}

/// Milliseconds since the Unix epoch of `t`.
pub(crate) fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Delay after failed attempt number `attempts` (1 s, 2 s, 4 s, ... up to an hour).
pub fn backoff(attempts: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
        .min(MAX_BACKOFF)
}

fn reason_code(r: RepairReason) -> &'static str {
    match r {
        RepairReason::WriteFailed => "write",
        RepairReason::Missing => "missing",
        RepairReason::Corrupt => "corrupt",
    }
}

fn parse_reason(s: &str) -> Option<RepairReason> {
    Some(match s {
        "write" => RepairReason::WriteFailed,
        "missing" => RepairReason::Missing,
        "corrupt" => RepairReason::Corrupt,
        _ => return None,
    })
}

fn set_record(e: &QueuedRepair) -> String {
    format!(
        "S {} {} {} {} {}\n",
        e.hint.chunk,
        e.hint.node,
        reason_code(e.hint.reason),
        e.attempts,
        e.not_before_ms
    )
}

/// Applies one log line; malformed lines (a torn tail) are ignored.
fn replay_line(entries: &mut HashMap<(ChunkId, u64), QueuedRepair>, line: &str) {
    let f: Vec<&str> = line.split(' ').collect();
    let key = |c: &str, n: &str| Some((c.parse::<ChunkId>().ok()?, n.parse::<u64>().ok()?));
    match f.as_slice() {
        ["S", c, n, r, a, t] => {
            let (Some((chunk, node)), Some(reason), Ok(attempts), Ok(not_before_ms)) =
                (key(c, n), parse_reason(r), a.parse(), t.parse())
            else {
                return;
            };
            entries.insert(
                (chunk, node),
                QueuedRepair {
                    hint: RepairHint {
                        chunk,
                        node,
                        reason,
                    },
                    attempts,
                    not_before_ms,
                },
            );
        }
        ["D", c, n] => {
            if let Some(k) = key(c, n) {
                entries.remove(&k);
            }
        }
        _ => {}
    }
}

impl RepairQueue {
    /// Opens (creating if needed) the queue persisted at `path`, replaying and compacting it.
    pub fn open(path: &Path) -> Result<RepairQueue, StoreError> {
        let mut entries = HashMap::new();
        match File::open(path) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    match line {
                        Ok(line) => replay_line(&mut entries, &line),
                        // Invalid UTF-8 from a torn write: stop at the damage.
                        Err(e) if e.kind() == ErrorKind::InvalidData => break,
                        Err(e) => return Err(StoreError::io("read", path)(e)),
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("open", path)(e)),
        }
        let mut inner = Inner::default();
        let mut sorted: Vec<QueuedRepair> = entries.into_values().collect();
        sorted.sort_by_key(|e| (e.not_before_ms, e.hint.chunk, e.hint.node));
        for e in sorted.into_iter().take(REPAIR_QUEUE_CAP) {
            inner.insert(e);
        }
        inner.log = Some(write_compact(path, &inner)?);
        Ok(RepairQueue {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps inconsistent for long enough
        // to matter: every mutation updates them together.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `hint` unless its (chunk, node) is already queued or the queue is full;
    /// returns whether it was added.
    pub fn push(&self, hint: RepairHint) -> bool {
        let mut q = self.lock();
        if q.entries.contains_key(&(hint.chunk, hint.node)) {
            return false;
        }
        if q.entries.len() >= REPAIR_QUEUE_CAP {
            q.dropped += 1;
            return false;
        }
        let e = QueuedRepair {
            hint,
            attempts: 0,
            not_before_ms: millis(SystemTime::now()),
        };
        q.insert(e);
        q.append(&set_record(&e));
        tracing::debug!(chunk = %hint.chunk, node = hint.node, reason = ?hint.reason, "repair hint");
        true
    }

    /// Up to `max` entries due at `now`, earliest first (they stay queued until
    /// [`RepairQueue::done`] or [`RepairQueue::retry`]).
    pub fn due(&self, now: SystemTime, max: usize) -> Vec<QueuedRepair> {
        let now = millis(now);
        let q = self.lock();
        q.order
            .iter()
            .take_while(|(t, ..)| *t <= now)
            .take(max)
            .filter_map(|(_, _, c, n)| q.entries.get(&(*c, *n)).copied())
            .collect()
    }

    /// When the earliest entry is due, if any.
    pub fn next_due(&self) -> Option<SystemTime> {
        let q = self.lock();
        q.order
            .first()
            .map(|(t, ..)| UNIX_EPOCH + Duration::from_millis(*t))
    }

    /// Removes the entry for (`chunk`, `node`): its copy is confirmed or no longer wanted.
    pub fn done(&self, chunk: ChunkId, node: u64) {
        let mut q = self.lock();
        if q.remove(chunk, node).is_some() {
            q.append(&format!("D {chunk} {node}\n"));
        }
    }

    /// Records a failed attempt: the entry is retried after an exponentially growing delay.
    /// Returns the attempts made so far.
    pub fn retry(&self, chunk: ChunkId, node: u64, now: SystemTime) -> u32 {
        let mut q = self.lock();
        let Some(mut e) = q.remove(chunk, node) else {
            return 0;
        };
        e.attempts = e.attempts.saturating_add(1);
        e.not_before_ms = millis(now) + backoff(e.attempts).as_millis() as u64;
        q.insert(e);
        q.append(&set_record(&e));
        e.attempts
    }

    /// Removes and returns every queued hint, earliest due first.
    pub fn drain(&self) -> Vec<RepairHint> {
        let hints = self.snapshot();
        for h in &hints {
            self.done(h.chunk, h.node);
        }
        hints
    }

    /// Copies of the queued hints, earliest due first.
    pub fn snapshot(&self) -> Vec<RepairHint> {
        let q = self.lock();
        q.order
            .iter()
            .filter_map(|(_, _, c, n)| q.entries.get(&(*c, *n)).map(|e| e.hint))
            .collect()
    }

    /// Number of queued hints.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no hint is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hints dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Pushes buffered log records to the file (called after each replicator step).
    pub fn flush(&self) {
        let mut q = self.lock();
        if let Some(log) = q.log.as_mut() {
            if let Err(e) = log.file.flush() {
                tracing::warn!(path = %log.path.display(), error = %e, "repair queue flush failed");
            }
        }
    }
}

impl Inner {
    fn insert(&mut self, e: QueuedRepair) {
        let key = (e.hint.chunk, e.hint.node);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert((e.not_before_ms, seq, key.0, key.1));
        self.seq_of.insert(key, seq);
        self.entries.insert(key, e);
    }

    fn remove(&mut self, chunk: ChunkId, node: u64) -> Option<QueuedRepair> {
        let e = self.entries.remove(&(chunk, node))?;
        if let Some(seq) = self.seq_of.remove(&(chunk, node)) {
            self.order.remove(&(e.not_before_ms, seq, chunk, node));
        }
        Some(e)
    }

    /// Appends a record; compacts when dead records dominate. Failures are logged: the queue
    /// keeps working in memory.
    fn append(&mut self, record: &str) {
        let Some(log) = self.log.as_mut() else {
            return;
        };
        if let Err(e) = log.file.write_all(record.as_bytes()) {
            tracing::warn!(path = %log.path.display(), error = %e, "repair queue append failed");
            return;
        }
        log.records += 1;
        if log.records > 2 * self.entries.len() + 1024 {
            let path = log.path.clone();
            match write_compact(&path, self) {
                Ok(fresh) => self.log = Some(fresh),
                Err(e) => tracing::warn!(error = %e, "repair queue compaction failed"),
            }
        }
    }
}

/// Writes the live entries of `q` to a fresh log at `path` and returns it open for appends.
fn write_compact(path: &Path, q: &Inner) -> Result<Log, StoreError> {
    let tmp = path.with_extension("log.tmp");
    let mut w = BufWriter::new(File::create(&tmp).map_err(StoreError::io("create", &tmp))?);
    for (_, _, c, n) in &q.order {
        if let Some(e) = q.entries.get(&(*c, *n)) {
            w.write_all(set_record(e).as_bytes())
                .map_err(StoreError::io("write", &tmp))?;
        }
    }
    let f = w
        .into_inner()
        .map_err(|e| StoreError::io("write", &tmp)(e.into_error()))?;
    f.sync_all().map_err(StoreError::io("fsync", &tmp))?;
    fs::rename(&tmp, path).map_err(StoreError::io("rename", &tmp))?;
    let file = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(StoreError::io("open", path))?;
    Ok(Log {
        path: path.to_path_buf(),
        file: BufWriter::new(file),
        records: q.entries.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(i: u8, node: u64) -> RepairHint {
        RepairHint {
            chunk: ChunkId::of(&[i]),
            node,
            reason: RepairReason::Missing,
        }
    }

    #[test]
    fn survives_reopen_with_backoff_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.log");
        let now = SystemTime::now() + Duration::from_secs(1);
        {
            let q = RepairQueue::open(&path).unwrap();
            assert!(q.push(hint(1, 2)));
            assert!(!q.push(hint(1, 2)), "deduplicated by (chunk, node)");
            assert!(q.push(hint(1, 3)));
            assert!(q.push(hint(2, 2)));
            q.done(ChunkId::of(&[2]), 2);
            assert_eq!(q.retry(ChunkId::of(&[1]), 3, now), 1);
            assert_eq!(q.retry(ChunkId::of(&[1]), 3, now), 2);
            q.flush();
        }
        let q = RepairQueue::open(&path).unwrap();
        assert_eq!(q.len(), 2);
        let due = q.due(now, 10);
        assert_eq!(due.len(), 1, "the retried entry waits: {due:?}");
        assert_eq!(due[0].hint, hint(1, 2));
        let later = q.due(now + Duration::from_secs(3), 10);
        assert_eq!(later.len(), 2);
        let retried = later.iter().find(|e| e.hint.node == 3).unwrap();
        assert_eq!(retried.attempts, 2);
        assert_eq!(retried.not_before_ms, millis(now) + 2000);
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn torn_tail_is_skipped_and_log_compacts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.log");
        {
            let q = RepairQueue::open(&path).unwrap();
            for round in 0..3 {
                for i in 0..200u8 {
                    q.push(hint(i, round));
                    q.done(ChunkId::of(&[i]), round);
                }
            }
            q.push(hint(7, 9));
            q.flush();
        }
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"S 12ab 3 mis").unwrap();
        drop(f);
        let q = RepairQueue::open(&path).unwrap();
        assert_eq!(q.snapshot(), vec![hint(7, 9)]);
        let lines = fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, 1, "compacted on open");
    }

    #[test]
    fn bounded() {
        let q = RepairQueue::default();
        for i in 0..=REPAIR_QUEUE_CAP as u64 {
            q.push(RepairHint {
                chunk: ChunkId::of(&i.to_le_bytes()),
                node: 1,
                reason: RepairReason::Missing,
            });
        }
        assert_eq!(q.len(), REPAIR_QUEUE_CAP);
        assert_eq!(q.dropped(), 1);
    }
}
