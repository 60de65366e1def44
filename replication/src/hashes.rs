//! Glance's two digests of an image, MD5 (`checksum`) and SHA-512 (`os_hash_value`), each on
//! its own thread behind a bounded channel, so hashing keeps pace with the network and
//! backpressure reaches the writer. The chunk store's ingest uses it, and so does every upload
//! to a store that is not the chunk store.

use std::thread;

use bytes::Bytes;
use md5::{Digest, Md5};
use sha2::Sha512;
use tokio::sync::{mpsc, oneshot};

use crate::error::DataError;

/// Pieces each hashing channel may hold.
pub const QUEUE: usize = 8;

/// A piece of the image for a worker thread, or its end.
pub(crate) enum Msg {
    /// The next bytes.
    Data(Bytes),
    /// No more bytes: report the result.
    End,
}

/// The MD5 and SHA-512 of bytes fed in order.
pub struct Hashes {
    md5_tx: mpsc::Sender<Msg>,
    sha_tx: mpsc::Sender<Msg>,
    md5_rx: oneshot::Receiver<String>,
    sha_rx: oneshot::Receiver<String>,
}

impl std::fmt::Debug for Hashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashes").finish_non_exhaustive()
    }
}

/// The two digests, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// MD5 (Glance's `checksum`).
    pub md5: String,
    /// SHA-512 (Glance's `os_hash_value`).
    pub sha512: String,
}

impl Hashes {
    /// Starts the two hashing threads.
    pub fn start() -> Result<Hashes, DataError> {
        let (md5_tx, md5_rx) = spawn::<Md5>("ingest-md5")?;
        let (sha_tx, sha_rx) = spawn::<Sha512>("ingest-sha512")?;
        Ok(Hashes {
            md5_tx,
            sha_tx,
            md5_rx,
            sha_rx,
        })
    }

    /// Hashes `piece` next (a zero-copy handle is shared by both threads); waits while a
    /// thread is behind. False if a thread is gone.
    pub async fn feed(&mut self, piece: Bytes) -> bool {
        self.md5_tx.send(Msg::Data(piece.clone())).await.is_ok()
            && self.sha_tx.send(Msg::Data(piece)).await.is_ok()
    }

    /// Ends the input and returns the digests.
    pub async fn finish(self) -> Result<Digests, DataError> {
        let sent =
            self.md5_tx.send(Msg::End).await.is_ok() && self.sha_tx.send(Msg::End).await.is_ok();
        if !sent {
            return Err(DataError::Pipeline("hash worker died"));
        }
        let md5 = self
            .md5_rx
            .await
            .map_err(|_| DataError::Pipeline("md5 worker died"))?;
        let sha512 = self
            .sha_rx
            .await
            .map_err(|_| DataError::Pipeline("sha512 worker died"))?;
        Ok(Digests { md5, sha512 })
    }
}

fn spawn<D: Digest>(
    name: &str,
) -> Result<(mpsc::Sender<Msg>, oneshot::Receiver<String>), DataError> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (out, result) = oneshot::channel();
    thread::Builder::new()
        .name(name.into())
        .spawn(move || hash_worker::<D>(rx, out))
        .map_err(DataError::Spawn)?;
    Ok((tx, result))
}

/// Hashes pieces until `End` (then reports the hex digest) or until the channel closes (abort).
fn hash_worker<D: Digest>(mut rx: mpsc::Receiver<Msg>, out: oneshot::Sender<String>) {
    let mut h = D::new();
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Data(b) => h.update(&b),
            Msg::End => {
                let _ = out.send(hex::encode(h.finalize()));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn digests_match_glances() {
        let mut h = Hashes::start().unwrap();
        assert!(h.feed(Bytes::from_static(b"hel")).await);
        assert!(h.feed(Bytes::from_static(b"lo")).await);
        let d = h.finish().await.unwrap();
        assert_eq!(d.md5, "5d41402abc4b2a76b9719d911017c592");
        assert!(d.sha512.starts_with("9b71d224bd62f3785d96d46ad3ea3d73"));
    }
}
