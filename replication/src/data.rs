//! [`Data`]: the node-facing handle over the chunk store and the cluster (ingest, manifests,
//! reads). A single node is a cluster of one ([`Data::open`]); [`Data::clustered`] replicates.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::watch;

use crate::error::DataError;
use crate::id::ChunkId;
use crate::ingest::Ingest;
use crate::loops::replicator::queue::RepairQueue;
use crate::manifest::{Manifest, Span};
use crate::peer::{ChunkService, NoPeers, PeerChunks};
use crate::placement::NodeInfo;
use crate::policy::Policy;
use crate::quorum::{Quorum, QuorumConfig};
use crate::store::ChunkStore;

/// Chunks read ahead of the consumer by [`Data::read_range`].
pub const READ_AHEAD: usize = 2;

/// Node id [`Data::open`] gives the node of a cluster of one.
pub const LOCAL_NODE: u64 = 0;

/// File of the persistent repair queue, in the chunk store's directory.
pub const REPAIR_QUEUE_FILE: &str = "repair-queue.log";

/// Cheap-to-clone handle over a node's chunk store and its view of the cluster.
#[derive(Debug, Clone)]
pub struct Data {
    quorum: Arc<Quorum>,
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
            QuorumConfig::default(),
        )
    }

    /// Opens the chunk store in `dir` as node `self_id` of a cluster whose members (with
    /// liveness, zone and weight; this node included) `membership` tracks, reaching the other
    /// nodes' stores through `peers`. The repair queue persists in `dir/repair-queue.log`.
    pub fn clustered(
        dir: &Path,
        self_id: u64,
        membership: watch::Receiver<Vec<NodeInfo>>,
        peers: Arc<dyn PeerChunks>,
        config: QuorumConfig,
    ) -> Result<Data, DataError> {
        let store = Arc::new(ChunkStore::open(dir)?);
        let repairs = RepairQueue::open(&dir.join(REPAIR_QUEUE_FILE))?;
        Ok(Data {
            quorum: Arc::new(Quorum {
                store,
                self_id,
                membership,
                peers,
                config,
                repairs,
                draining: Default::default(),
                orphans: Default::default(),
                replicas: Default::default(),
            }),
        })
    }

    /// The underlying chunk store.
    pub fn store(&self) -> &Arc<ChunkStore> {
        &self.quorum.store
    }

    /// This node's id.
    pub fn self_id(&self) -> u64 {
        self.quorum.self_id
    }

    /// The replication settings.
    pub fn config(&self) -> &QuorumConfig {
        &self.quorum.config
    }

    /// Chunks this node found missing, corrupt or unwritten on some node.
    pub fn repairs(&self) -> &RepairQueue {
        &self.quorum.repairs
    }

    /// The other nodes' chunk stores.
    pub(crate) fn peers(&self) -> &Arc<dyn PeerChunks> {
        &self.quorum.peers
    }

    /// The server-side handler for peers' requests against this node's store.
    pub fn chunk_service(&self) -> ChunkService {
        ChunkService::new(self.quorum.clone())
    }

    /// The shared state behind this handle (for the replicator).
    pub(crate) fn quorum(&self) -> &Arc<Quorum> {
        &self.quorum
    }

    /// The membership view placement reads.
    pub fn membership(&self) -> watch::Receiver<Vec<NodeInfo>> {
        self.quorum.membership.clone()
    }

    /// Starts (or stops) draining: this node stops being a placement target in its own view,
    /// so its uploads go elsewhere and its replicator pushes every local chunk to the other
    /// targets (keeping its own copies until it is removed).
    pub fn set_draining(&self, draining: bool) {
        self.quorum
            .draining
            .store(draining, std::sync::atomic::Ordering::SeqCst);
    }

    /// Current placement targets of chunk `id`, best first.
    pub fn placement(&self, id: &ChunkId) -> Vec<u64> {
        self.quorum.targets(id)
    }

    /// Starts ingesting a new image at the configured R anywhere (`write` and `finish` run
    /// on a tokio runtime).
    pub fn ingest(&self) -> Ingest {
        self.ingest_under(Policy::everywhere(self.quorum.config.r))
    }

    /// Starts ingesting a new image whose chunks are placed under `policy`, W the majority
    /// of its copies.
    pub fn ingest_under(&self, policy: Policy) -> Ingest {
        Ingest::start(self.quorum.clone(), policy)
    }

    /// Reads chunk `id` from the local store or, failing that, from a live node; verified.
    pub async fn fetch_chunk(&self, id: &ChunkId) -> Result<Bytes, DataError> {
        self.quorum.fetch(*id).await
    }

    /// Stores chunk bytes on their placement targets (W of them must confirm); returns the id.
    pub async fn put_chunk(&self, bytes: Bytes) -> Result<ChunkId, DataError> {
        let (bytes, id) = tokio::task::spawn_blocking(move || {
            let id = ChunkId::of(&bytes);
            (bytes, id)
        })
        .await?;
        self.quorum
            .replicate(id, bytes, None, self.quorum.needs_of(&id))
            .await?;
        Ok(id)
    }

    /// Loads and decodes manifest `id` (local copy or a live node's; BLAKE3-verified).
    pub async fn manifest(&self, id: &ChunkId) -> Result<Manifest, DataError> {
        let bytes = self.quorum.fetch(*id).await?;
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
        let quorum = self.quorum.clone();
        let spans = match manifest.locate(start..end_exclusive) {
            Ok(spans) => spans,
            Err(e) => return futures::stream::iter(vec![Err(e)]).left_stream(),
        };
        futures::stream::iter(spans)
            .map(move |span| read_span(quorum.clone(), span))
            .buffered(READ_AHEAD)
            .right_stream()
    }
}

async fn read_span(quorum: Arc<Quorum>, span: Span) -> Result<Bytes, DataError> {
    let chunk = quorum.fetch(span.id).await?;
    if chunk.len() != span.chunk_len as usize {
        return Err(DataError::LengthMismatch {
            id: span.id,
            expected: span.chunk_len,
            actual: chunk.len(),
        });
    }
    Ok(chunk.slice(span.start as usize..span.end as usize))
}
