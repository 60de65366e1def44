//! A task's scratch folder under the node's data dir (`import-scratch/{task}`), removed when
//! the run ends however it ends (a later run of the same task starts it afresh).

use super::internal;
use crate::service::Glance;
use futures::StreamExt;
use std::path::{Path, PathBuf};
use tessera_replication::ChunkId;
use tokio::io::AsyncWriteExt;

/// A scratch folder, removed on drop.
pub(super) struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// Makes the empty folder of `task` under `root`.
    pub(super) async fn create(root: &Path, task: &str) -> std::io::Result<Scratch> {
        let dir = root.join(task);
        if tokio::fs::metadata(&dir).await.is_ok() {
            // Left by a run of this task on this node that was cut short.
            tokio::fs::remove_dir_all(&dir).await?;
        }
        tokio::fs::create_dir_all(&dir).await?;
        Ok(Scratch { dir })
    }

    /// A path in the folder.
    pub(super) fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "scratch folder left behind");
        }
    }
}

/// Writes the bytes of `manifest` from the chunk store to `path`.
pub(super) async fn write_manifest(
    glance: &Glance,
    manifest: &str,
    path: &Path,
) -> Result<(), String> {
    let id: ChunkId = manifest
        .parse()
        .map_err(|e| internal("bad manifest id", &e))?;
    let manifest = glance
        .data
        .manifest(&id)
        .await
        .map_err(|e| internal("cannot read the data", &e))?;
    let size = manifest.size();
    let mut body = std::pin::pin!(glance.data.read_range(manifest, 0, size));
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| internal("cannot write the scratch file", &e))?;
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| internal("cannot read the data", &e))?;
        file.write_all(&piece)
            .await
            .map_err(|e| internal("cannot write the scratch file", &e))?;
    }
    file.flush()
        .await
        .map_err(|e| internal("cannot write the scratch file", &e))
}
