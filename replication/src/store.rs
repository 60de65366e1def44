//! Local content-addressed chunk store.
//!
//! Layout under the store's directory:
//! - `chunks/ab/cd/<hex>`: one file per chunk, `ab`/`cd` the first two hex byte pairs of its id;
//! - `tmp/`: chunks being written (temp name, fsynced, then renamed into place);
//! - `quarantine/`: chunks whose bytes no longer match their id.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::error::StoreError;
use crate::id::ChunkId;
use crate::lease::Leases;
use crate::space::Reserve;

/// One stored chunk as seen by [`ChunkStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkEntry {
    /// The chunk's id.
    pub id: ChunkId,
    /// Size of the chunk file in bytes.
    pub len: u64,
    /// Last modification time (write, or dedup touch).
    pub mtime: SystemTime,
}

/// How many chunks the store holds and their bytes, kept up to date by every change so
/// status calls need not walk the chunk tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreTotals {
    /// Chunks held.
    pub count: u64,
    /// Bytes of those chunks.
    pub bytes: u64,
}

/// Counts of removed temp files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Number of files removed.
    pub files: usize,
    /// Bytes those files held.
    pub bytes: u64,
}

/// A content-addressed store of chunks in one directory.
#[derive(Debug)]
pub struct ChunkStore {
    chunks: PathBuf,
    tmp: PathBuf,
    quarantine: PathBuf,
    /// Ids an in-flight ingest wrote or reused; the reaper never deletes them.
    /// The lock also serialises "exists? touch" in `put` against reaper deletes.
    pins: Mutex<HashMap<ChunkId, usize>>,
    /// Ids other nodes' in-flight uploads hold here; the reaper skips them until they expire.
    leases: Leases,
    seq: AtomicU64,
    /// Seeded by one walk at open, then changed with each chunk file written or removed
    /// (under the `pins` lock, which every such change holds).
    totals: Mutex<StoreTotals>,
    /// The free space a new chunk may not take the volume below, once the node set it.
    reserve: RwLock<Option<Reserve>>,
}

impl ChunkStore {
    /// Opens (creating if needed) a store rooted at `dir`.
    pub fn open(dir: &Path) -> Result<ChunkStore, StoreError> {
        let store = ChunkStore {
            chunks: dir.join("chunks"),
            tmp: dir.join("tmp"),
            quarantine: dir.join("quarantine"),
            pins: Mutex::new(HashMap::new()),
            leases: Leases::default(),
            seq: AtomicU64::new(0),
            totals: Mutex::new(StoreTotals::default()),
            reserve: RwLock::new(None),
        };
        for d in [&store.chunks, &store.tmp, &store.quarantine] {
            fs::create_dir_all(d).map_err(StoreError::io("create dir", d))?;
        }
        sync_dir(dir)?;
        let chunks = store.list()?;
        *store.lock_totals() = StoreTotals {
            count: chunks.len() as u64,
            bytes: chunks.iter().map(|c| c.len).sum(),
        };
        Ok(store)
    }

    /// Refuses new chunks that would take the store's volume below `reserve` from now on.
    pub fn set_reserve(&self, reserve: Reserve) {
        *self.reserve.write().unwrap_or_else(|p| p.into_inner()) = Some(reserve);
    }

    /// [`StoreError::Full`] if `len` more bytes would take the volume below the reserve.
    fn check_room(&self, len: usize) -> Result<(), StoreError> {
        let reserve = self.reserve.read().unwrap_or_else(|p| p.into_inner());
        let Some(reserve) = reserve.as_ref() else {
            return Ok(());
        };
        match reserve.refuses(len as u64) {
            Ok(None) => Ok(()),
            Ok(Some(free)) => Err(StoreError::Full {
                len,
                free,
                reserve: reserve.bytes,
            }),
            Err(e) => Err(StoreError::io("measure free space of", &self.chunks)(e)),
        }
    }

    /// How many chunks the store holds and their bytes.
    pub fn totals(&self) -> StoreTotals {
        *self.lock_totals()
    }

    fn lock_totals(&self) -> MutexGuard<'_, StoreTotals> {
        // Two counters: a panic between their updates leaves them off by one chunk at worst.
        self.totals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a chunk file of `len` bytes in (`added`) or out.
    fn count(&self, len: u64, added: bool) {
        let mut t = self.lock_totals();
        if added {
            t.count += 1;
            t.bytes += len;
        } else {
            t.count = t.count.saturating_sub(1);
            t.bytes = t.bytes.saturating_sub(len);
        }
    }

    /// Path of the file holding chunk `id` (whether or not it exists).
    pub fn path_of(&self, id: &ChunkId) -> PathBuf {
        let hex = id.to_hex();
        self.chunks.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    /// Stores `data`, returning its id and whether a new file was written.
    pub fn put(&self, data: &[u8]) -> Result<(ChunkId, bool), StoreError> {
        let id = ChunkId::of(data);
        let written = self.put_verified(&id, data)?;
        Ok((id, written))
    }

    /// Stores `data` whose BLAKE3 hash the caller already computed as `id`.
    ///
    /// Idempotent: an existing chunk is not rewritten, only its mtime is refreshed (so a reaper
    /// grace period restarts). Returns whether a new file was written.
    pub(crate) fn put_verified(&self, id: &ChunkId, data: &[u8]) -> Result<bool, StoreError> {
        let path = self.path_of(id);
        {
            let _g = self.lock_pins();
            match File::open(&path) {
                Ok(f) => {
                    f.set_modified(SystemTime::now())
                        .map_err(StoreError::io("touch", &path))?;
                    return Ok(false);
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("open", &path)(e)),
            }
        }
        // Only a new file takes space: a chunk already held is touched above whatever the disk.
        self.check_room(data.len())?;
        let tmp = self.tmp.join(format!(
            "{}.{}.{}.tmp",
            id.to_hex(),
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        ));
        let res = self.write_new(&tmp, &path, data);
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res.map(|()| true)
    }

    fn write_new(&self, tmp: &Path, path: &Path, data: &[u8]) -> Result<(), StoreError> {
        let mut f = match File::create_new(tmp) {
            // The store's folders were removed under a running node (an operator wiping a
            // bad disk's contents): recreate them and carry on; the replicator refills it.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                for d in [&self.tmp, &self.quarantine, &self.chunks] {
                    fs::create_dir_all(d).map_err(StoreError::io("create dir", d))?;
                }
                // Whatever the store held went with its folders.
                *self.lock_totals() = StoreTotals::default();
                File::create_new(tmp)
            }
            other => other,
        }
        .map_err(StoreError::io("create", tmp))?;
        f.write_all(data).map_err(StoreError::io("write", tmp))?;
        f.sync_all().map_err(StoreError::io("fsync", tmp))?;
        drop(f);
        let leaf = path.parent().unwrap_or(&self.chunks);
        if !leaf.is_dir() {
            fs::create_dir_all(leaf).map_err(StoreError::io("create dir", leaf))?;
            if let Some(mid) = leaf.parent() {
                sync_dir(mid)?;
            }
            sync_dir(&self.chunks)?;
        }
        {
            // Two writers of one new chunk both get here: only the first rename adds it.
            let _g = self.lock_pins();
            let existed = path.exists();
            fs::rename(tmp, path).map_err(StoreError::io("rename", tmp))?;
            if !existed {
                self.count(data.len() as u64, true);
            }
        }
        sync_dir(leaf)
    }

    /// Reads chunk `id`, verifying its BLAKE3 hash; a corrupt chunk is moved to quarantine.
    pub fn get(&self, id: &ChunkId) -> Result<Bytes, StoreError> {
        let path = self.path_of(id);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(StoreError::NotFound(*id)),
            Err(e) => return Err(StoreError::io("read", &path)(e)),
        };
        let actual = ChunkId::of(&data);
        if actual != *id {
            self.quarantine(id)?;
            return Err(StoreError::Corrupt { id: *id, actual });
        }
        Ok(Bytes::from(data))
    }

    /// Moves chunk `id` to the quarantine folder (named `<hex>.<unix nanos>`).
    pub fn quarantine(&self, id: &ChunkId) -> Result<(), StoreError> {
        let path = self.path_of(id);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dest = self.quarantine.join(format!("{}.{nanos}", id.to_hex()));
        let _g = self.lock_pins();
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match fs::rename(&path, &dest) {
            Ok(()) => {
                self.count(len, false);
                tracing::warn!(chunk = %id, dest = %dest.display(), "chunk quarantined");
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("quarantine", &path)(e)),
        }
    }

    /// Whether chunk `id` is present (without verifying it).
    pub fn has(&self, id: &ChunkId) -> Result<bool, StoreError> {
        let path = self.path_of(id);
        match fs::metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io("stat", &path)(e)),
        }
    }

    /// Deletes chunk `id`; returns whether it existed.
    pub fn delete(&self, id: &ChunkId) -> Result<bool, StoreError> {
        let path = self.path_of(id);
        let _g = self.lock_pins();
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let removed = remove_if_exists(&path)?;
        if removed {
            self.count(len, false);
        }
        Ok(removed)
    }

    /// Lists every stored chunk with its size and mtime (files with foreign names are skipped).
    pub fn list(&self) -> Result<Vec<ChunkEntry>, StoreError> {
        let mut out = Vec::new();
        for (id, file) in self.files(&read_dir(&self.chunks)?)? {
            out.extend(entry(id, &file)?);
        }
        Ok(out)
    }

    /// Ids of every stored chunk (names only: no stat, no hashing).
    pub fn list_ids(&self) -> Result<Vec<ChunkId>, StoreError> {
        let files = self.files(&read_dir(&self.chunks)?)?;
        Ok(files.into_iter().map(|(id, _)| id).collect())
    }

    /// Ids of the stored chunks whose first byte is `bucket` (one top-level directory).
    pub fn list_bucket(&self, bucket: u8) -> Result<Vec<ChunkId>, StoreError> {
        let top = self.chunks.join(hex::encode([bucket]));
        let files = self.files(&[top])?;
        Ok(files.into_iter().map(|(id, _)| id).collect())
    }

    /// Chunk files (id and path) under the given top-level fan-out directories.
    fn files(&self, tops: &[PathBuf]) -> Result<Vec<(ChunkId, PathBuf)>, StoreError> {
        let mut out = Vec::new();
        for l1 in tops {
            for l2 in read_dir(l1)? {
                for file in read_dir(&l2)? {
                    if let Some(id) = file
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.parse::<ChunkId>().ok())
                    {
                        out.push((id, file));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Up to `limit` stored chunks with ids greater than `after` (all if `None`), in id order.
    ///
    /// Reads only the fan-out folders at or past `after`, so walking a large store batch by
    /// batch costs little per batch.
    pub fn list_after(
        &self,
        after: Option<&ChunkId>,
        limit: usize,
    ) -> Result<Vec<ChunkEntry>, StoreError> {
        let hex = after.map(ChunkId::to_hex);
        let (p1, p2) = match &hex {
            Some(h) => (&h[0..2], &h[2..4]),
            None => ("", ""),
        };
        let mut out = Vec::new();
        for l1 in sorted_names(&self.chunks)? {
            if l1.as_str() < p1 {
                continue;
            }
            let d1 = self.chunks.join(&l1);
            for l2 in sorted_names(&d1)? {
                if l1 == p1 && l2.as_str() < p2 {
                    continue;
                }
                let d2 = d1.join(&l2);
                for name in sorted_names(&d2)? {
                    let Ok(id) = name.parse::<ChunkId>() else {
                        continue;
                    };
                    if after.is_some_and(|a| id <= *a) {
                        continue;
                    }
                    let file = d2.join(&name);
                    out.extend(entry(id, &file)?);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Removes temp files not modified for `older_than` (left by crashed or aborted writes).
    pub fn clean_tmp(&self, older_than: Duration) -> Result<Removed, StoreError> {
        let cutoff = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(UNIX_EPOCH);
        let mut removed = Removed::default();
        for file in read_dir(&self.tmp)? {
            let meta = match fs::metadata(&file) {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("stat", &file)(e)),
            };
            let mtime = meta.modified().map_err(StoreError::io("mtime", &file))?;
            if meta.is_file() && mtime < cutoff && remove_if_exists(&file)? {
                removed.files += 1;
                removed.bytes += meta.len();
            }
        }
        Ok(removed)
    }

    /// Refreshes the mtime of chunk `id` if present (restarting its reaper grace period).
    pub fn touch(&self, id: &ChunkId) -> Result<(), StoreError> {
        let path = self.path_of(id);
        let _g = self.lock_pins();
        match File::open(&path) {
            Ok(f) => f
                .set_modified(SystemTime::now())
                .map_err(StoreError::io("touch", &path)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("open", &path)(e)),
        }
    }

    /// Holds `ids` back from the reaper for `ttl` (an upload on another node needs them).
    pub(crate) fn lease(&self, ids: &[ChunkId], ttl: Duration) {
        self.leases.lease(ids, ttl);
    }

    /// Deletes chunk `id` unless it is pinned, leased or was modified at or after `cutoff`.
    /// Returns the bytes freed, if deleted.
    pub(crate) fn delete_if_reapable(
        &self,
        id: &ChunkId,
        cutoff: SystemTime,
    ) -> Result<Option<u64>, StoreError> {
        let path = self.path_of(id);
        let pins = self.lock_pins();
        if pins.contains_key(id) || self.leases.held(id) {
            return Ok(None);
        }
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("stat", &path)(e)),
        };
        let mtime = meta.modified().map_err(StoreError::io("mtime", &path))?;
        if mtime >= cutoff {
            return Ok(None);
        }
        let removed = remove_if_exists(&path)?;
        if removed {
            self.count(meta.len(), false);
        }
        Ok(removed.then_some(meta.len()))
    }

    fn lock_pins(&self) -> MutexGuard<'_, HashMap<ChunkId, usize>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.pins.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pin(&self, id: ChunkId) {
        *self.lock_pins().entry(id).or_insert(0) += 1;
    }

    fn unpin(&self, id: &ChunkId) {
        let mut pins = self.lock_pins();
        if let Some(n) = pins.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                pins.remove(id);
            }
        }
    }
}

/// Chunk ids held back from the reaper while an ingest is in flight; released on drop.
#[derive(Debug)]
pub(crate) struct Pins {
    store: Arc<ChunkStore>,
    ids: Vec<ChunkId>,
}

impl Pins {
    /// An empty pin set over `store`.
    pub(crate) fn new(store: Arc<ChunkStore>) -> Pins {
        Pins {
            store,
            ids: Vec::new(),
        }
    }

    /// Pins `id` until this set is dropped.
    pub(crate) fn add(&mut self, id: ChunkId) {
        self.store.pin(id);
        self.ids.push(id);
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        for id in &self.ids {
            self.store.unpin(id);
        }
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("read dir", dir)(e)),
    };
    rd.map(|e| e.map(|e| e.path()).map_err(StoreError::io("read dir", dir)))
        .collect()
}

/// File names in `dir`, sorted (non-UTF-8 names are skipped; a missing dir is empty).
fn sorted_names(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = read_dir(dir)?
        .into_iter()
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect();
    names.sort_unstable();
    Ok(names)
}

fn remove_if_exists(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("remove", path)(e)),
    }
}

/// Replaces the file at `path` with `data` atomically and durably (temp file in the same
/// folder, fsync, rename, fsync of the folder): a crash leaves the old or the new contents.
pub fn write_file_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(data)?;
            f.sync_all()
        })
        .map_err(StoreError::io("write", &tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(StoreError::io("rename", &tmp)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("fsync dir", dir))
}

/// The entry of chunk `id` stored in `file`; `None` if it was deleted meanwhile.
fn entry(id: ChunkId, file: &Path) -> Result<Option<ChunkEntry>, StoreError> {
    let meta = match fs::metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("stat", file)(e)),
    };
    let mtime = meta.modified().map_err(StoreError::io("mtime", file))?;
    Ok(Some(ChunkEntry {
        id,
        len: meta.len(),
        mtime,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept totals, checked against a walk of the chunk tree.
    fn assert_totals(store: &ChunkStore, count: u64, bytes: u64) {
        assert_eq!(store.totals(), StoreTotals { count, bytes });
        let listed = store.list().unwrap();
        assert_eq!(listed.len() as u64, count);
        assert_eq!(listed.iter().map(|c| c.len).sum::<u64>(), bytes);
    }

    #[test]
    fn totals_follow_puts_deletes_quarantine_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path()).unwrap();
        assert_totals(&store, 0, 0);
        let (a, _) = store.put(&[1u8; 100]).unwrap();
        let (b, _) = store.put(&[2u8; 30]).unwrap();
        let (c, _) = store.put(&[3u8; 7]).unwrap();
        // A second copy of a held chunk changes nothing.
        store.put(&[1u8; 100]).unwrap();
        assert_totals(&store, 3, 137);
        assert!(store.delete(&b).unwrap());
        assert!(!store.delete(&b).unwrap());
        assert_totals(&store, 2, 107);
        fs::write(store.path_of(&c), b"rotten!").unwrap();
        assert!(store.get(&c).is_err());
        assert_totals(&store, 1, 100);
        // Reaped: old enough and unpinned.
        let later = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(store.delete_if_reapable(&a, later).unwrap(), Some(100));
        assert_totals(&store, 0, 0);
        store.put(&[4u8; 50]).unwrap();
        drop(store);
        // Seeded from the disk at open.
        let store = ChunkStore::open(dir.path()).unwrap();
        assert_totals(&store, 1, 50);
    }

    #[test]
    fn concurrent_puts_of_one_chunk_count_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(ChunkStore::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || store.put(&[9u8; 4096]).unwrap())
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_totals(&store, 1, 4096);
    }

    #[test]
    fn put_get_has_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = ChunkStore::open(dir.path()).unwrap();
        let (id, new) = s.put(b"hello world").unwrap();
        assert!(new);
        let hex = id.to_hex();
        assert!(dir
            .path()
            .join("chunks")
            .join(&hex[..2])
            .join(&hex[2..4])
            .join(&hex)
            .is_file());
        assert_eq!(s.put(b"hello world").unwrap(), (id, false));
        assert!(s.has(&id).unwrap());
        assert_eq!(&s.get(&id).unwrap()[..], b"hello world");
        assert_eq!(s.list().unwrap().len(), 1);
        assert_eq!(s.list().unwrap()[0].len, 11);
        assert!(s.delete(&id).unwrap());
        assert!(!s.delete(&id).unwrap());
        assert!(!s.has(&id).unwrap());
        assert!(matches!(s.get(&id), Err(StoreError::NotFound(x)) if x == id));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn idempotent_put_does_not_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let s = ChunkStore::open(dir.path()).unwrap();
        let (id, _) = s.put(b"abc").unwrap();
        let p = s.path_of(&id);
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::open(&p).unwrap().set_modified(old).unwrap();
        let ino = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&p).unwrap());
        assert!(!s.put(b"abc").unwrap().1);
        let meta = fs::metadata(&p).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&meta), ino);
        assert!(meta.modified().unwrap() > old + Duration::from_secs(3000));
    }

    #[test]
    fn list_after_walks_in_id_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = ChunkStore::open(dir.path()).unwrap();
        let mut ids: Vec<ChunkId> = (0..50u32)
            .map(|i| s.put(&i.to_le_bytes()).unwrap().0)
            .collect();
        ids.sort();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let batch = s.list_after(cursor.as_ref(), 7).unwrap();
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= 7);
            cursor = batch.last().map(|e| e.id);
            seen.extend(batch.into_iter().map(|e| e.id));
        }
        assert_eq!(seen, ids);
        assert_eq!(s.list_after(ids.last(), 10).unwrap(), Vec::new());
    }

    #[test]
    fn corrupt_chunk_is_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let s = ChunkStore::open(dir.path()).unwrap();
        let (id, _) = s.put(b"precious bytes").unwrap();
        fs::write(s.path_of(&id), b"precious bytez").unwrap();
        match s.get(&id) {
            Err(StoreError::Corrupt { id: got, actual }) => {
                assert_eq!(got, id);
                assert_eq!(actual, ChunkId::of(b"precious bytez"));
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(!s.has(&id).unwrap());
        let q: Vec<_> = fs::read_dir(dir.path().join("quarantine"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(q.len(), 1);
        assert!(q[0].starts_with(&id.to_hex()));
        // A fresh put repairs it.
        assert!(s.put(b"precious bytes").unwrap().1);
        assert_eq!(&s.get(&id).unwrap()[..], b"precious bytes");
    }

    #[test]
    fn clean_tmp_removes_only_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = ChunkStore::open(dir.path()).unwrap();
        let old = dir.path().join("tmp/old.tmp");
        let young = dir.path().join("tmp/young.tmp");
        fs::write(&old, b"12345").unwrap();
        fs::write(&young, b"1").unwrap();
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(600))
            .unwrap();
        let r = s.clean_tmp(Duration::from_secs(60)).unwrap();
        assert_eq!(r, Removed { files: 1, bytes: 5 });
        assert!(!old.exists());
        assert!(young.exists());
    }

    #[test]
    fn pinned_chunks_are_not_reapable() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(ChunkStore::open(dir.path()).unwrap());
        let (id, _) = s.put(b"pinned").unwrap();
        let future = SystemTime::now() + Duration::from_secs(10);
        let mut pins = Pins::new(s.clone());
        pins.add(id);
        assert_eq!(s.delete_if_reapable(&id, future).unwrap(), None);
        drop(pins);
        assert_eq!(s.delete_if_reapable(&id, future).unwrap(), Some(6));
        assert!(!s.has(&id).unwrap());
    }

    #[test]
    fn a_new_chunk_may_not_cross_the_reserve_but_a_held_one_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path()).unwrap();
        let (held, _) = store.put(b"held before the disk filled").unwrap();
        store.set_reserve(Reserve {
            free: Arc::new(crate::FixedSpace(1000)),
            bytes: 900,
        });
        assert!(
            store.put(&[1u8; 100]).is_ok(),
            "exactly down to the reserve"
        );
        match store.put(&[2u8; 101]) {
            Err(StoreError::Full { len, free, reserve }) => {
                assert_eq!((len, free, reserve), (101, 1000, 900))
            }
            other => panic!("{other:?}"),
        }
        assert!(!store.has(&ChunkId::of(&[2u8; 101])).unwrap());
        assert_eq!(
            store.put(b"held before the disk filled").unwrap(),
            (held, false)
        );
        assert_eq!(store.totals().count, 2);
        assert_eq!(
            fs::read_dir(&store.tmp).unwrap().count(),
            0,
            "no temp file left"
        );
    }
}
