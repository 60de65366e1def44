//! This node's free disk space and chunk totals for its gossip advert, refreshed in the
//! background so a gossip tick only reads the last figures.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_replication::ChunkStore;
use tokio::sync::watch;

/// Shortest pause between two refreshes.
const MIN_PAUSE: Duration = Duration::from_secs(2);
/// Pausing this many times a refresh's duration keeps a slow filesystem's statfs from
/// costing more than 2% of one core.
const PAUSE_FACTOR: u32 = 50;

/// Last measured totals of this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalTotals {
    /// Bytes available to the chunk store on the data dir's filesystem.
    pub free_bytes: u64,
    /// Chunks in the local store.
    pub chunks: u64,
    /// Bytes of those chunks.
    pub chunk_bytes: u64,
}

/// Measures `data_dir` and `store` now (blocking).
fn measure(data_dir: &std::path::Path, store: &ChunkStore) -> Result<LocalTotals, String> {
    let free_bytes = fs2::available_space(data_dir)
        .map_err(|e| format!("free space of {}: {e}", data_dir.display()))?;
    let chunks = store.totals();
    Ok(LocalTotals {
        free_bytes,
        chunks: chunks.count,
        chunk_bytes: chunks.bytes,
    })
}

/// Refreshes `totals` until every receiver is gone.
pub async fn refresh_totals(
    totals: watch::Sender<LocalTotals>,
    data_dir: PathBuf,
    store: Arc<ChunkStore>,
) {
    let data_dir = Arc::new(data_dir);
    loop {
        let started = Instant::now();
        let (dir, st) = (data_dir.clone(), store.clone());
        match tokio::task::spawn_blocking(move || measure(&dir, &st)).await {
            Ok(Ok(t)) => {
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
        let t = measure(dir.path(), &store).unwrap();
        assert_eq!((t.chunks, t.chunk_bytes), (2, 1005));
        assert!(t.free_bytes > 0);
        assert!(measure(&dir.path().join("missing"), &store).is_err());
    }
}
