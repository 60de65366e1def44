//! This node's free-space watermarks: its chunk volume (the data dir) and its metadata volume
//! (`metadata_dir`, by default inside the data dir) each keep a reserve. The chunk store
//! refuses a chunk that would cross its reserve and gossip advertises the node as full below
//! it (placement then sends new copies elsewhere); below the metadata reserve the node
//! refuses metadata writes that grow the state and still takes deletes.

use std::io;
use std::path::{Path, PathBuf};
use tessera_raft::MetaSpace;
use tessera_replication::{FreeSpace, Reserve};

/// Default free space the chunk volume keeps: 256 MiB.
pub const DEFAULT_RESERVE_BYTES: u64 = 256 << 20;
/// Default free space the metadata volume keeps: 128 MiB.
pub const DEFAULT_METADATA_RESERVE_BYTES: u64 = 128 << 20;

/// The watermarks of a node (`metadata_dir`, `reserve_bytes`, `metadata_reserve_bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceConfig {
    /// Where the Raft log and state machine live.
    pub metadata_dir: PathBuf,
    /// Bytes the chunk volume keeps free.
    pub reserve_bytes: u64,
    /// Bytes the metadata volume keeps free.
    pub metadata_reserve_bytes: u64,
    /// TEST ONLY: the free bytes the chunk volume reports instead of measuring.
    pub unsafe_free_bytes: Option<u64>,
    /// TEST ONLY: the free bytes the metadata volume reports instead of measuring.
    pub unsafe_metadata_free_bytes: Option<u64>,
}

/// One volume of this node with its reserve.
#[derive(Debug, Clone)]
pub struct Volume {
    /// What the volume holds, for messages ("chunk", "metadata").
    what: &'static str,
    dir: PathBuf,
    reserve: u64,
    /// The test knob's figure, reported instead of the measured one.
    fixed: Option<u64>,
}

impl Volume {
    /// The volume of the chunk store in `dir`.
    pub fn chunks(cfg: &SpaceConfig, dir: &Path) -> Volume {
        Volume {
            what: "chunk",
            dir: dir.to_path_buf(),
            reserve: cfg.reserve_bytes,
            fixed: cfg.unsafe_free_bytes,
        }
    }

    /// The metadata volume.
    pub fn metadata(cfg: &SpaceConfig) -> Volume {
        Volume {
            what: "metadata",
            dir: cfg.metadata_dir.clone(),
            reserve: cfg.metadata_reserve_bytes,
            fixed: cfg.unsafe_metadata_free_bytes,
        }
    }

    /// Bytes that must stay free.
    pub fn reserve_bytes(&self) -> u64 {
        self.reserve
    }

    /// The chunk store's watermark on this volume.
    pub fn store_reserve(&self) -> Reserve {
        Reserve {
            free: std::sync::Arc::new(self.clone()),
            bytes: self.reserve,
        }
    }
}

impl FreeSpace for Volume {
    fn available(&self) -> io::Result<u64> {
        match self.fixed {
            Some(free) => Ok(free),
            None => fs2::available_space(&self.dir),
        }
    }
}

impl MetaSpace for Volume {
    fn check_room(&self) -> Result<(), String> {
        match self.available() {
            Ok(free) if free >= self.reserve => Ok(()),
            Ok(free) => {
                let msg = format!(
                    "Metadata storage is full: this node's {} volume ({}) has {free} bytes \
                     free, below its reserve of {} bytes; only deletes are accepted until \
                     space is freed",
                    self.what,
                    self.dir.display(),
                    self.reserve
                );
                tracing::warn!(free, reserve = self.reserve, dir = %self.dir.display(), "metadata write refused: volume below its reserve");
                Err(msg)
            }
            Err(e) => {
                // A volume that cannot be measured is no reason to stop every write; the
                // write itself fails if the disk is really gone.
                tracing::warn!(error = %e, dir = %self.dir.display(), "cannot measure the metadata volume");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, free: Option<u64>) -> SpaceConfig {
        SpaceConfig {
            metadata_dir: dir.to_path_buf(),
            reserve_bytes: 1000,
            metadata_reserve_bytes: 500,
            unsafe_free_bytes: free,
            unsafe_metadata_free_bytes: free,
        }
    }

    #[test]
    fn the_metadata_volume_refuses_growth_below_its_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let low = Volume::metadata(&config(dir.path(), Some(499)));
        let err = low.check_room().unwrap_err();
        assert!(
            err.contains("499 bytes free, below its reserve of 500"),
            "{err}"
        );
        assert!(Volume::metadata(&config(dir.path(), Some(500)))
            .check_room()
            .is_ok());
        // Measured: a real disk has more than 500 bytes free.
        assert!(Volume::metadata(&config(dir.path(), None))
            .check_room()
            .is_ok());
    }

    #[test]
    fn the_chunk_volume_reports_the_knob_or_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let knob = Volume::chunks(&config(dir.path(), Some(42)), dir.path());
        assert_eq!(knob.available().unwrap(), 42);
        assert_eq!(knob.store_reserve().refuses(0).unwrap(), Some(42));
        let real = Volume::chunks(&config(dir.path(), None), dir.path());
        assert!(real.available().unwrap() > 1000);
        assert!(Volume::chunks(
            &config(&dir.path().join("gone"), None),
            &dir.path().join("gone")
        )
        .available()
        .is_err());
    }
}
