//! Where an upload's bytes go: the cluster's chunk store (its ingest pipeline hashes and
//! chunks), or a store driver, fed through a bounded channel while the same two hashing
//! threads compute Glance's digests. The upload path ([`Glance::ingest`]) writes into a
//! [`Sink`] whatever the store, so its size cap, announced size and format inspector apply
//! to every store alike.
//!
//! [`Glance::ingest`]: crate::Glance

use super::driver::{redact, StoreDriver, StoreError};
use super::registry::{Backend, Store};
use crate::error::DomainError;
use bytes::{Bytes, BytesMut};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use tessera_raft::Location;
use tessera_replication::ingest::{gather, PIECE};
use tessera_replication::{Data, Hashes, Ingest, Ingested};
use tokio::task::JoinHandle;

/// Pieces queued between the upload and a store driver.
const DRIVER_QUEUE: usize = 4;

/// Bytes of an upload on their way into one store.
pub(crate) enum Sink {
    /// Into the chunk store.
    Chunks(Ingest),
    /// Into a store driver.
    Driver(DriverSink),
}

/// An upload into a store driver in progress.
pub(crate) struct DriverSink {
    driver: Arc<dyn StoreDriver>,
    store: String,
    hashes: Hashes,
    gathered: BytesMut,
    size: u64,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    /// The driver's `put`, until its end is taken (a JoinHandle may be awaited once).
    put: Option<JoinHandle<Result<String, StoreError>>>,
}

/// What an upload left in its store.
#[derive(Debug)]
pub(crate) enum Landed {
    /// A manifest in the chunk store.
    Chunks(Ingested),
    /// A location in a driver's store.
    Driver {
        /// Where it is.
        location: Location,
        /// Bytes.
        size: u64,
        /// MD5, hex.
        md5: String,
        /// SHA-512, hex.
        sha512: String,
    },
}

impl Landed {
    /// The chunk store's ingest result, when it landed there.
    pub(crate) fn into_chunks(self) -> Result<Ingested, DomainError> {
        match self {
            Landed::Chunks(i) => Ok(i),
            Landed::Driver { location, .. } => Err(DomainError::Internal(format!(
                "data meant for the chunk store landed in store {}",
                location.store
            ))),
        }
    }

    /// Bytes stored.
    pub(crate) fn size(&self) -> u64 {
        match self {
            Landed::Chunks(i) => i.size,
            Landed::Driver { size, .. } => *size,
        }
    }
}

impl Sink {
    /// Starts writing image `image_id` (of `announced` bytes, if known) into `store`.
    pub(crate) fn open(
        data: &Data,
        store: &Store,
        image_id: &str,
        announced: Option<u64>,
    ) -> Result<Sink, DomainError> {
        match &store.backend {
            Backend::Cluster { .. } => Ok(Sink::Chunks(
                data.ingest_under(store.policy(data.config().r)),
            )),
            Backend::Driver(driver) => Ok(Sink::Driver(DriverSink::start(
                driver.clone(),
                &store.id,
                image_id,
                announced,
            )?)),
        }
    }

    /// Writes the next bytes; waits while the store is behind.
    pub(crate) async fn write(&mut self, bytes: Bytes) -> Result<(), DomainError> {
        match self {
            Sink::Chunks(ingest) => Ok(ingest.write(bytes).await?),
            Sink::Driver(d) => d.write(bytes).await,
        }
    }

    /// Ends the upload; once this returns, the store holds all of it durably.
    pub(crate) async fn finish(self) -> Result<Landed, DomainError> {
        match self {
            Sink::Chunks(ingest) => Ok(Landed::Chunks(ingest.finish().await?)),
            Sink::Driver(d) => d.finish().await,
        }
    }

    /// Gives the upload up; the driver removes what it wrote (the chunk store's reaper takes
    /// unreferenced chunks).
    pub(crate) async fn abort(self) {
        if let Sink::Driver(mut d) = self {
            let _ =
                d.tx.send(Err(std::io::Error::other("upload abandoned")))
                    .await;
            drop(d.tx);
            let Some(put) = d.put.take() else {
                return; // Its end was seen already: it failed.
            };
            if let Ok(Ok(url)) = put.await {
                // The driver took the whole stream before it saw the error: undo it.
                tracing::warn!(store = %d.store, url = %redact(&url), "abandoned upload was stored; removing");
                if let Err(e) = d.driver.delete(&url).await {
                    tracing::warn!(store = %d.store, url = %redact(&url), error = %e, "could not remove it");
                }
            }
        }
    }
}

impl DriverSink {
    fn start(
        driver: Arc<dyn StoreDriver>,
        store: &str,
        image_id: &str,
        announced: Option<u64>,
    ) -> Result<DriverSink, DomainError> {
        let hashes = Hashes::start()?;
        let (tx, rx) = mpsc::channel(DRIVER_QUEUE);
        let image_id = image_id.to_string();
        let putter = driver.clone();
        let put = tokio::spawn(async move { putter.put(&image_id, rx.boxed(), announced).await });
        Ok(DriverSink {
            driver,
            store: store.to_string(),
            hashes,
            gathered: BytesMut::new(),
            size: 0,
            tx,
            put: Some(put),
        })
    }

    async fn write(&mut self, bytes: Bytes) -> Result<(), DomainError> {
        self.size += bytes.len() as u64;
        match gather(&mut self.gathered, bytes) {
            Some(piece) => self.send(piece).await,
            None => Ok(()),
        }
    }

    /// Sends `piece` to the hashes and the driver, in pieces of at most [`PIECE`] bytes.
    async fn send(&mut self, piece: Bytes) -> Result<(), DomainError> {
        let mut off = 0;
        while off < piece.len() {
            let part = piece.slice(off..piece.len().min(off + PIECE));
            off += part.len();
            if !self.hashes.feed(part.clone()).await {
                return Err(DomainError::Internal("hash worker died".into()));
            }
            if self.tx.send(Ok(part)).await.is_err() {
                // The driver stopped reading: it failed; its error says why.
                return Err(self.driver_error().await);
            }
        }
        Ok(())
    }

    /// Why the driver's `put` ended early.
    async fn driver_error(&mut self) -> DomainError {
        match self.join().await {
            Err(e) => e,
            Ok(url) => {
                // It took less than was sent: what it stored is not the image.
                if let Err(e) = self.driver.delete(&url).await {
                    tracing::warn!(store = %self.store, url = %redact(&url), error = %e, "could not remove a short write");
                }
                DomainError::Internal("store driver ended before the data".into())
            }
        }
    }

    /// The end of the driver's `put` (an error if it was taken already).
    async fn join(&mut self) -> Result<String, DomainError> {
        let Some(put) = self.put.take() else {
            return Err(DomainError::Internal("store driver already ended".into()));
        };
        match put.await {
            Ok(result) => Ok(result?),
            Err(e) => Err(DomainError::Internal(format!(
                "store driver task failed: {e}"
            ))),
        }
    }

    async fn finish(mut self) -> Result<Landed, DomainError> {
        let rest = self.gathered.split().freeze();
        self.send(rest).await?;
        self.tx.close_channel();
        let url = self.join().await?;
        let digests = match self.hashes.finish().await {
            Ok(d) => d,
            Err(e) => {
                if let Err(rm) = self.driver.delete(&url).await {
                    tracing::warn!(store = %self.store, url = %redact(&url), error = %rm, "could not remove an unhashed upload");
                }
                return Err(e.into());
            }
        };
        Ok(Landed::Driver {
            location: Location {
                store: self.store,
                url,
            },
            size: self.size,
            md5: digests.md5,
            sha512: digests.sha512,
        })
    }
}
