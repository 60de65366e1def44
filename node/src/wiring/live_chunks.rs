//! Which chunks are live (for the reaper and the full repair pass): every manifest the
//! metadata layer references: the images' data, with the copies the cluster stores holding
//! it keep (recorded with each copy, so every node reads the same count), and what imports
//! still need (staged data, data an import decided on but has not yet given its image), at
//! the configured R.

use tessera_domain::stores::copy_policy;
use tessera_raft::Meta;
use tessera_replication::{ChunkId, LiveChunks, LiveManifest};

/// Why the live set could not be computed (the reaper then deletes nothing).
#[derive(Debug, thiserror::Error)]
pub enum LiveChunksError {
    /// The metadata layer failed.
    #[error("metadata: {0}")]
    Meta(#[from] tessera_raft::MetaError),
    /// The import records could not be read.
    #[error("imports: {0}")]
    Imports(#[from] tessera_domain::DomainError),
    /// An image record names a manifest that is not a chunk id.
    #[error("image record holds a malformed manifest id '{0}'")]
    BadManifestId(String),
}

/// Answers the reaper from the replicated metadata.
#[derive(Clone)]
pub struct MetaLiveChunks(pub Meta);

impl LiveChunks for MetaLiveChunks {
    type Error = LiveChunksError;

    async fn live_manifests(&self) -> Result<Vec<LiveManifest>, Self::Error> {
        let parse = |s: String| -> Result<ChunkId, LiveChunksError> {
            s.parse().map_err(|_| LiveChunksError::BadManifestId(s))
        };
        let mut live = Vec::new();
        for data in self.0.live_manifests().await? {
            let policies = data.stores.iter().map(copy_policy).collect();
            live.push(LiveManifest {
                id: parse(data.manifest)?,
                policies,
            });
        }
        for id in tessera_domain::import::live_manifests(&self.0).await? {
            live.push(LiveManifest::at_default(parse(id)?));
        }
        Ok(live)
    }
}
