//! What the object-storage drivers (Swift, S3) share: their option errors, the HTTP client,
//! server answers and transport failures as [`StoreError`]s, byte ranges, and cutting an image
//! stream into segments without holding more than one segment.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use tessera_domain::stores::driver::{redact, ByteStream, StoreError};

/// One mebibyte: Glance gives object sizes in (binary) megabytes.
pub(crate) const MIB: u64 = 1024 * 1024;

/// Why a store's options could not be turned into a driver.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store's table does not deserialize into the driver's options.
    #[error("invalid store options: {0}")]
    Options(#[from] toml::de::Error),
    /// An option has a value the driver cannot use.
    #[error("invalid store option {0}")]
    Invalid(String),
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The HTTP client of one object store: no overall timeout (an image may take an hour), but
/// a stalled server is given up on.
pub(crate) fn http_client() -> Result<reqwest::Client, OpenError> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .build()?)
}

/// A request that did not get an answer (refused or dropped connection, timeout).
pub(crate) fn transport_error(what: &str, e: &reqwest::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {e}"))
}

/// The error a server's non-success `status` stands for; `what` names the request.
pub(crate) fn status_error(what: &str, status: StatusCode) -> StoreError {
    match status {
        StatusCode::NOT_FOUND => StoreError::NotFound(what.to_owned()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => StoreError::Refused(format!(
            "{what}: {status} (check the store's credentials and rights)"
        )),
        s if s.is_server_error() => StoreError::Unavailable(format!("{what}: {status}")),
        s => StoreError::Refused(format!("{what}: {s}")),
    }
}

/// The `Range` header value for `len` (> 0) bytes (to the end when `None`) from `offset`; `None`
/// when that is the whole object.
pub(crate) fn range_header(offset: u64, len: Option<u64>) -> Option<String> {
    match len {
        None if offset == 0 => None,
        None => Some(format!("bytes={offset}-")),
        Some(n) => Some(format!("bytes={offset}-{}", (offset + n).saturating_sub(1))),
    }
}

/// A read's answer as a stream of at most `len` bytes (a server may send a whole object when
/// the range covers it), its failures as I/O errors.
pub(crate) fn body_stream(resp: reqwest::Response, len: Option<u64>) -> ByteStream {
    let body = resp.bytes_stream().map(|r| r.map_err(io::Error::other));
    let Some(len) = len else {
        return body.boxed();
    };
    body.scan(len, |left, piece| {
        if *left == 0 {
            return futures::future::ready(None);
        }
        let piece = piece.map(|mut b| {
            b.truncate(usize::try_from(*left).unwrap_or(usize::MAX));
            *left -= b.len() as u64;
            b
        });
        futures::future::ready(Some(piece))
    })
    .boxed()
}

/// The body of a ranged read of `location` from `service`, or why the answer is not one.
pub(crate) fn ranged_body(
    resp: reqwest::Response,
    service: &str,
    location: &str,
    offset: u64,
    len: Option<u64>,
) -> Result<ByteStream, StoreError> {
    match resp.status() {
        StatusCode::PARTIAL_CONTENT => Ok(body_stream(resp, len)),
        // A whole object answers a range that starts at its first byte.
        StatusCode::OK if offset == 0 => Ok(body_stream(resp, len)),
        StatusCode::OK => Err(StoreError::Unavailable(format!(
            "{service} ignored the byte range asked for"
        ))),
        StatusCode::RANGE_NOT_SATISFIABLE => Err(StoreError::Refused(format!(
            "offset {offset} is past the end of {}",
            redact(location)
        ))),
        s => Err(status_error(&redact(location), s)),
    }
}

/// An empty read (a zero-length range).
pub(crate) fn empty_stream() -> ByteStream {
    futures::stream::empty().boxed()
}

/// Whether `name` may name an object: one non-empty path segment.
pub(crate) fn check_object_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(StoreError::Refused(format!("bad object name {name:?}")));
    }
    Ok(())
}

/// An image stream read one segment at a time: pieces never cross a segment boundary, and
/// nothing is read ahead but the piece that tells whether more data follows.
pub(crate) struct Segmenter {
    source: ByteStream,
    pending: Option<Bytes>,
}

impl Segmenter {
    /// Reads `source`.
    pub(crate) fn new(source: ByteStream) -> Self {
        Self {
            source,
            pending: None,
        }
    }

    /// Whether any byte is left (reads one piece ahead to know).
    pub(crate) async fn has_more(&mut self) -> io::Result<bool> {
        if self.pending.is_some() {
            return Ok(true);
        }
        while let Some(piece) = self.source.next().await {
            let piece = piece?;
            if !piece.is_empty() {
                self.pending = Some(piece);
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The next piece of at most `max` (> 0) bytes, `None` at the end of the image.
    async fn piece(&mut self, max: u64) -> Option<io::Result<Bytes>> {
        match self.has_more().await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => return Some(Err(e)),
        }
        let mut piece = self.pending.take()?;
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if piece.len() > max {
            self.pending = Some(piece.split_off(max));
        }
        Some(Ok(piece))
    }

    /// The next segment of at most `max` bytes, in memory (empty at the end of the image).
    pub(crate) async fn collect(&mut self, max: u64) -> Result<Bytes, StoreError> {
        let mut segment = BytesMut::new();
        while (segment.len() as u64) < max {
            match self.piece(max - segment.len() as u64).await {
                None => break,
                Some(Ok(piece)) => segment.extend_from_slice(&piece),
                Some(Err(e)) => return Err(source_error(&e)),
            }
        }
        Ok(segment.freeze())
    }

    /// Sends the next segment of at most `max` bytes as the streamed body of the request
    /// `send` makes, holding only a few pieces at a time; returns its answer and the bytes sent.
    pub(crate) async fn stream_into<F, Fut, T>(
        &mut self,
        max: u64,
        send: F,
    ) -> Result<(T, u64), StoreError>
    where
        F: FnOnce(reqwest::Body) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let (mut tx, rx) = futures::channel::mpsc::channel::<io::Result<Bytes>>(2);
        let request = send(reqwest::Body::wrap_stream(rx));
        let pump = async {
            let mut sent = 0u64;
            while sent < max {
                match self.piece(max - sent).await {
                    None => break,
                    Some(Ok(piece)) => {
                        sent += piece.len() as u64;
                        // The request ended early (its answer says why): stop feeding it.
                        if tx.send(Ok(piece)).await.is_err() {
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        let error = source_error(&e);
                        // Failing the body aborts the request, so the server keeps nothing.
                        let _ = tx.send(Err(e)).await;
                        return Err(error);
                    }
                }
            }
            drop(tx);
            Ok(sent)
        };
        let (answer, pumped) = futures::join!(request, pump);
        let sent = pumped?;
        Ok((answer?, sent))
    }
}

/// The image's own stream failed (the client went away, or a checker stopped it).
fn source_error(e: &io::Error) -> StoreError {
    StoreError::Unavailable(format!("reading the image data: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(pieces: &[&'static [u8]]) -> ByteStream {
        let pieces: Vec<io::Result<Bytes>> =
            pieces.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures::stream::iter(pieces).boxed()
    }

    #[tokio::test]
    async fn segments_cut_pieces_at_their_boundary() {
        let mut s = Segmenter::new(stream(&[b"abc", b"", b"defgh", b"ij"]));
        assert_eq!(s.collect(4).await.ok(), Some(Bytes::from_static(b"abcd")));
        assert_eq!(s.collect(4).await.ok(), Some(Bytes::from_static(b"efgh")));
        assert!(s.has_more().await.unwrap_or(false));
        assert_eq!(s.collect(4).await.ok(), Some(Bytes::from_static(b"ij")));
        assert!(!s.has_more().await.unwrap_or(true));
        assert_eq!(s.collect(4).await.ok(), Some(Bytes::new()));
    }

    #[tokio::test]
    async fn a_failing_source_fails_the_segment() {
        let failing: ByteStream = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Err(io::Error::other("client gone")),
        ])
        .boxed();
        let mut s = Segmenter::new(failing);
        assert!(matches!(
            s.collect(10).await,
            Err(StoreError::Unavailable(_))
        ));
    }

    #[test]
    fn ranges() {
        assert_eq!(range_header(0, None), None);
        assert_eq!(range_header(5, None).as_deref(), Some("bytes=5-"));
        assert_eq!(range_header(5, Some(10)).as_deref(), Some("bytes=5-14"));
    }
}
