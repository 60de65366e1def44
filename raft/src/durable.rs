//! Making sled writes durable.
//!
//! sled 0.34 `flush()` writes its log with `sync_file_range` on Linux, which neither flushes
//! the drive cache nor file metadata, so a power loss can drop "flushed" data. After every
//! `flush()` we therefore `fdatasync` the sled data file (`<dir>/db`) through our own file
//! handle (fsync works on the inode, whichever descriptor is used), plus any blob files sled
//! wrote for oversized values (`<dir>/blobs/*`, immutable once written, so each is synced
//! once) and the blobs directory entry list. sled recovers a crash-consistent prefix of its
//! log, so syncing after a write also makes every earlier write (state machine, snapshot)
//! durable.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Flushes a sled database and fsyncs its files.
#[derive(Clone)]
pub struct Durable {
    db: sled::Db,
    dir: PathBuf,
    /// Blob files already synced (blob files are never rewritten in place).
    synced_blobs: Arc<Mutex<HashSet<std::ffi::OsString>>>,
}

impl Durable {
    /// Wraps `db`, which lives in directory `dir`.
    pub fn new(db: sled::Db, dir: &Path) -> Self {
        Durable {
            db,
            dir: dir.to_path_buf(),
            synced_blobs: Arc::default(),
        }
    }

    /// Blocks until every write issued before this call is on stable storage.
    pub fn sync(&self) -> io::Result<()> {
        self.db.flush().map_err(io::Error::other)?;
        File::open(self.dir.join("db"))?.sync_data()?;
        let blobs = self.dir.join("blobs");
        let Ok(read) = std::fs::read_dir(&blobs) else {
            return Ok(());
        };
        let mut synced = self
            .synced_blobs
            .lock()
            .map_err(|_| io::Error::other("blob sync set poisoned"))?;
        let mut any = false;
        for ent in read {
            let ent = ent?;
            if synced.contains(&ent.file_name()) {
                continue;
            }
            // A blob may be removed concurrently by sled's GC; that is fine.
            if let Ok(f) = File::open(ent.path()) {
                f.sync_data()?;
                synced.insert(ent.file_name());
                any = true;
            }
        }
        if any {
            sync_dir(&blobs)?;
        }
        Ok(())
    }

    /// Async wrapper: runs [`Durable::sync`] on the blocking pool.
    pub async fn sync_async(&self) -> io::Result<()> {
        let d = self.clone();
        tokio::task::spawn_blocking(move || d.sync())
            .await
            .map_err(io::Error::other)?
    }
}

/// fsyncs a directory so newly created entries in it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
