//! [`Data`]: the node-facing handle over the local chunk store (ingest, manifests, reads).

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::error::DataError;
use crate::id::ChunkId;
use crate::ingest::Ingest;
use crate::manifest::{Manifest, Span};
use crate::store::ChunkStore;

/// Chunks read ahead of the consumer by [`Data::read_range`].
pub const READ_AHEAD: usize = 2;

/// Cheap-to-clone handle over a node's chunk store.
#[derive(Debug, Clone)]
pub struct Data {
    store: Arc<ChunkStore>,
}

impl Data {
    /// Opens (creating if needed) the chunk store in `dir`.
    pub fn open(dir: &Path) -> Result<Data, DataError> {
        Ok(Data {
            store: Arc::new(ChunkStore::open(dir)?),
        })
    }

    /// The underlying chunk store.
    pub fn store(&self) -> &Arc<ChunkStore> {
        &self.store
    }

    /// Starts ingesting a new image.
    pub fn ingest(&self) -> Ingest {
        Ingest::start(self.store.clone())
    }

    /// Loads and decodes manifest `id` from the local store (BLAKE3-verified).
    pub async fn manifest(&self, id: &ChunkId) -> Result<Manifest, DataError> {
        let store = self.store.clone();
        let id = *id;
        let bytes = tokio::task::spawn_blocking(move || store.get(&id)).await??;
        Manifest::decode(&id, &bytes)
    }

    /// Streams bytes `start..end_exclusive` of the image, reading (and verifying) only the
    /// chunks that cover the range, a few chunks ahead of the consumer.
    pub fn read_range(
        &self,
        manifest: Manifest,
        start: u64,
        end_exclusive: u64,
    ) -> impl Stream<Item = Result<Bytes, DataError>> + Send + 'static {
        let store = self.store.clone();
        let spans = match manifest.locate(start..end_exclusive) {
            Ok(spans) => spans,
            Err(e) => return futures::stream::iter(vec![Err(e)]).left_stream(),
        };
        futures::stream::iter(spans)
            .map(move |span| read_span(store.clone(), span))
            .buffered(READ_AHEAD)
            .right_stream()
    }
}

async fn read_span(store: Arc<ChunkStore>, span: Span) -> Result<Bytes, DataError> {
    let chunk = tokio::task::spawn_blocking(move || store.get(&span.id)).await??;
    if chunk.len() != span.chunk_len as usize {
        return Err(DataError::LengthMismatch {
            id: span.id,
            expected: span.chunk_len,
            actual: chunk.len(),
        });
    }
    Ok(chunk.slice(span.start as usize..span.end as usize))
}
