//! [`Data`]: the node-facing handle over the chunk store and the cluster (ingest, manifests,
//! reads). A single node is a cluster of one ([`Data::open`]); [`Data::clustered`] replicates.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::watch;

use crate::cluster::{Cluster, RepairQueue, ReplicationConfig};
use crate::error::DataError;
use crate::id::ChunkId;
use crate::ingest::Ingest;
use crate::manifest::{Manifest, Span};
use crate::peer::{ChunkService, NoPeers, PeerChunks};
use crate::placement::NodeInfo;
use crate::store::ChunkStore;

/// Chunks read ahead of the consumer by [`Data::read_range`].
pub const READ_AHEAD: usize = 2;

/// Node id [`Data::open`] gives the node of a cluster of one.
pub const LOCAL_NODE: u64 = 0;

/// Cheap-to-clone handle over a node's chunk store and its view of the cluster.
#[derive(Debug, Clone)]
pub struct Data {
    cluster: Arc<Cluster>,
}

impl Data {
    /// Opens (creating if needed) the chunk store in `dir`, as a cluster of one.
    pub fn open(dir: &Path) -> Result<Data, DataError> {
        let (_, membership) = watch::channel(vec![NodeInfo::new(LOCAL_NODE, "", 1)]);
        Data::clustered(
            dir,
            LOCAL_NODE,
            membership,
            Arc::new(NoPeers),
            ReplicationConfig::default(),
        )
    }

    /// Opens the chunk store in `dir` as node `self_id` of a cluster whose members (with
    /// liveness, zone and weight; this node included) `membership` tracks, reaching the other
    /// nodes' stores through `peers`.
    pub fn clustered(
        dir: &Path,
        self_id: u64,
        membership: watch::Receiver<Vec<NodeInfo>>,
        peers: Arc<dyn PeerChunks>,
        config: ReplicationConfig,
    ) -> Result<Data, DataError> {
        Ok(Data {
            cluster: Arc::new(Cluster {
                store: Arc::new(ChunkStore::open(dir)?),
                self_id,
                membership,
                peers,
                config,
                repairs: RepairQueue::default(),
            }),
        })
    }

    /// The underlying chunk store.
    pub fn store(&self) -> &Arc<ChunkStore> {
        &self.cluster.store
    }

    /// This node's id.
    pub fn self_id(&self) -> u64 {
        self.cluster.self_id
    }

    /// The replication settings.
    pub fn config(&self) -> &ReplicationConfig {
        &self.cluster.config
    }

    /// Chunks this node found missing, corrupt or unwritten on some node.
    pub fn repairs(&self) -> &RepairQueue {
        &self.cluster.repairs
    }

    /// The other nodes' chunk stores.
    pub(crate) fn peers(&self) -> &Arc<dyn PeerChunks> {
        &self.cluster.peers
    }

    /// The server-side handler for peers' requests against this node's store.
    pub fn chunk_service(&self) -> ChunkService {
        ChunkService::new(self.cluster.store.clone())
    }

    /// Current placement targets of chunk `id`, best first.
    pub fn placement(&self, id: &ChunkId) -> Vec<u64> {
        self.cluster.targets(id)
    }

    /// Starts ingesting a new image (`write` and `finish` run on a tokio runtime).
    pub fn ingest(&self) -> Ingest {
        Ingest::start(self.cluster.clone())
    }

    /// Reads chunk `id` from the local store or, failing that, from a live node; verified.
    pub async fn fetch_chunk(&self, id: &ChunkId) -> Result<Bytes, DataError> {
        self.cluster.fetch(*id).await
    }

    /// Stores chunk bytes on their placement targets (W of them must confirm); returns the id.
    pub async fn put_chunk(&self, bytes: Bytes) -> Result<ChunkId, DataError> {
        let (bytes, id) = tokio::task::spawn_blocking(move || {
            let id = ChunkId::of(&bytes);
            (bytes, id)
        })
        .await?;
        self.cluster.replicate(id, bytes).await?;
        Ok(id)
    }

    /// Loads and decodes manifest `id` (local copy or a live node's; BLAKE3-verified).
    pub async fn manifest(&self, id: &ChunkId) -> Result<Manifest, DataError> {
        let bytes = self.cluster.fetch(*id).await?;
        let id = *id;
        tokio::task::spawn_blocking(move || Manifest::decode(&id, &bytes)).await?
    }

    /// Streams bytes `start..end_exclusive` of the image, reading (and verifying) only the
    /// chunks that cover the range, a few chunks ahead of the consumer.
    pub fn read_range(
        &self,
        manifest: Manifest,
        start: u64,
        end_exclusive: u64,
    ) -> impl Stream<Item = Result<Bytes, DataError>> + Send + 'static {
        let cluster = self.cluster.clone();
        let spans = match manifest.locate(start..end_exclusive) {
            Ok(spans) => spans,
            Err(e) => return futures::stream::iter(vec![Err(e)]).left_stream(),
        };
        futures::stream::iter(spans)
            .map(move |span| read_span(cluster.clone(), span))
            .buffered(READ_AHEAD)
            .right_stream()
    }
}

async fn read_span(cluster: Arc<Cluster>, span: Span) -> Result<Bytes, DataError> {
    let chunk = cluster.fetch(span.id).await?;
    if chunk.len() != span.chunk_len as usize {
        return Err(DataError::LengthMismatch {
            id: span.id,
            expected: span.chunk_len,
            actual: chunk.len(),
        });
    }
    Ok(chunk.slice(span.start as usize..span.end as usize))
}
