//! This node's free disk space and chunk totals for its gossip advert, refreshed in the
//! background so a gossip tick only reads the last figures.

use crate::space::Volume;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_replication::{ChunkStore, FreeSpace};
use tokio::sync::watch;

/// Shortest pause between two refreshes.
const MIN_PAUSE: Duration = Duration::from_secs(2);
/// Pausing this many times a refresh's duration keeps a slow filesystem's statfs from
/// costing more than 2% of one core.
const PAUSE_FACTOR: u32 = 50;

/// Last measured totals of this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalTotals {
    /// Bytes available to the chunk store on its volume.
    pub free_bytes: u64,
    /// Whether those are below the volume's reserve (the node takes no new chunks).
    pub full: bool,
    /// Whether the metadata volume is below its reserve.
    pub metadata_full: bool,
    /// Chunks in the local store.
    pub chunks: u64,
    /// Bytes of those chunks.
    pub chunk_bytes: u64,
}

/// Measures the chunk volume, the metadata volume and `store` now (blocking).
fn measure([volume, metadata]: &[Volume; 2], store: &ChunkStore) -> Result<LocalTotals, String> {
    let free_bytes = volume
        .available()
        .map_err(|e| format!("free space of the chunk volume: {e}"))?;
    let chunks = store.totals();
    Ok(LocalTotals {
        free_bytes,
        full: free_bytes < volume.reserve_bytes(),
        // Unmeasurable is not full: the metadata store's own writes fail if the disk is gone.
        metadata_full: metadata
            .available()
            .is_ok_and(|free| free < metadata.reserve_bytes()),
        chunks: chunks.count,
        chunk_bytes: chunks.bytes,
    })
}

/// Refreshes `totals` until every receiver is gone.
pub async fn refresh_totals(
    totals: watch::Sender<LocalTotals>,
    volumes: [Volume; 2],
    store: Arc<ChunkStore>,
) {
    let volumes = Arc::new(volumes);
    let mut was_full = false;
    loop {
        let started = Instant::now();
        let (vol, st) = (volumes.clone(), store.clone());
        match tokio::task::spawn_blocking(move || measure(&vol, &st)).await {
            Ok(Ok(t)) => {
                if t.full != was_full {
                    was_full = t.full;
                    if t.full {
                        tracing::warn!(
                            free = t.free_bytes,
                            reserve = volumes[0].reserve_bytes(),
                            "chunk volume below its reserve: taking no new chunks"
                        );
                    } else {
                        tracing::info!(free = t.free_bytes, "chunk volume above its reserve again");
                    }
                }
                totals.send_replace(t);
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot measure local totals"),
            Err(e) => tracing::warn!(error = %e, "local totals task failed"),
        }
        if totals.is_closed() {
            return;
        }
        tokio::time::sleep(MIN_PAUSE.max(started.elapsed() * PAUSE_FACTOR)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_chunks_and_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(&dir.path().join("chunks")).unwrap();
        store.put(b"hello").unwrap();
        store.put(&[7u8; 1000]).unwrap();
        let space = |dir: &std::path::Path, free: Option<u64>| crate::space::SpaceConfig {
            metadata_dir: dir.to_path_buf(),
            reserve_bytes: 1 << 20,
            metadata_reserve_bytes: 1 << 20,
            unsafe_free_bytes: free,
            unsafe_metadata_free_bytes: free,
        };
        let volume = |free| {
            let cfg = space(dir.path(), free);
            [Volume::chunks(&cfg, dir.path()), Volume::metadata(&cfg)]
        };
        let t = measure(&volume(None), &store).unwrap();
        assert_eq!((t.chunks, t.chunk_bytes), (2, 1005));
        assert!(t.free_bytes > 0);
        assert!(!t.full && !t.metadata_full);
        let t = measure(&volume(Some((1 << 20) - 1)), &store).unwrap();
        assert_eq!(
            (t.free_bytes, t.full, t.metadata_full),
            ((1 << 20) - 1, true, true)
        );
        let missing = dir.path().join("missing");
        let cfg = space(&missing, None);
        let gone = [Volume::chunks(&cfg, &missing), Volume::metadata(&cfg)];
        assert!(measure(&gone, &store).is_err());
    }
}
