//! Wire frames: a one-byte tag, a big-endian u32 length, then the payload.
//!
//! A request's tag names its [`Service`]; a reply's tag says success or error.

use super::error::LinkError;
use std::net::SocketAddr;

/// Largest payload of one frame; bigger transfers are split by the caller (chunks are 4 MiB).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Bytes before the payload: tag and length.
pub const HEADER_LEN: usize = 5;

/// Reply tag: the handler succeeded; the payload is its answer.
pub(crate) const REPLY_OK: u8 = 0;
/// Reply tag: the handler failed; the payload is a UTF-8 error message.
pub(crate) const REPLY_ERR: u8 = 0xff;

/// Which subsystem a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Service {
    /// Raft RPCs (append entries, votes, snapshots).
    Raft = 1,
    /// Metadata calls forwarded to the leader.
    Meta = 2,
    /// Chunk reads, writes and audits.
    Chunks = 3,
}

impl Service {
    /// The tag on the wire.
    pub fn tag(self) -> u8 {
        self as u8
    }

    /// The service for a wire tag, if any.
    pub fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(Self::Raft),
            2 => Some(Self::Meta),
            3 => Some(Self::Chunks),
            _ => None,
        }
    }
}

/// Encodes a frame header; fails past [`MAX_FRAME`].
pub(crate) fn encode_header(tag: u8, len: usize) -> Result<[u8; HEADER_LEN], LinkError> {
    if len > MAX_FRAME {
        return Err(LinkError::FrameTooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    let mut header = [0u8; HEADER_LEN];
    header[0] = tag;
    // MAX_FRAME < u32::MAX, so the cast cannot truncate.
    header[1..].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(header)
}

/// Decodes a frame header into (tag, payload length); fails past [`MAX_FRAME`].
pub fn decode_header(header: [u8; HEADER_LEN]) -> Result<(u8, usize), LinkError> {
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_FRAME {
        return Err(LinkError::FrameTooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    Ok((header[0], len))
}

/// Writes one frame and finishes the stream (one frame each way per stream).
pub(crate) async fn write_frame(
    send: &mut quinn::SendStream,
    peer: SocketAddr,
    tag: u8,
    payload: &[u8],
) -> Result<(), LinkError> {
    let header = encode_header(tag, payload.len())?;
    send.write_all(&header)
        .await
        .map_err(|e| write_error(peer, e))?;
    send.write_all(payload)
        .await
        .map_err(|e| write_error(peer, e))?;
    // Only fails if the stream was already finished or reset, which this module never does.
    send.finish().map_err(|_| LinkError::Protocol {
        peer,
        reason: "stream closed before the frame was finished".into(),
    })
}

/// Reads exactly one frame.
pub(crate) async fn read_frame(
    recv: &mut quinn::RecvStream,
    peer: SocketAddr,
) -> Result<(u8, Vec<u8>), LinkError> {
    let mut header = [0u8; HEADER_LEN];
    recv.read_exact(&mut header)
        .await
        .map_err(|e| read_error(peer, e))?;
    let (tag, len) = decode_header(header)?;
    let payload = read_payload(recv, len)
        .await
        .map_err(|e| match e.into_inner() {
            Some(inner) => match inner.downcast::<quinn::ReadError>() {
                Ok(read) => read_error(peer, quinn::ReadExactError::ReadError(*read)),
                Err(other) => LinkError::Protocol {
                    peer,
                    reason: other.to_string(),
                },
            },
            None => LinkError::Protocol {
                peer,
                reason: "stream read failed".into(),
            },
        })?;
    if payload.len() < len {
        return Err(read_error(
            peer,
            quinn::ReadExactError::FinishedEarly(payload.len()),
        ));
    }
    Ok((tag, payload))
}

/// Bytes reserved for a payload before any of it arrived; the buffer grows (doubling) as data
/// comes, so a declared length costs nothing until the peer actually sends it.
const FIRST_RESERVE: usize = 64 * 1024;

/// Reads up to `len` bytes (fewer if the stream ends first), allocating as they arrive.
pub async fn read_payload<R: tokio::io::AsyncRead + Unpin>(
    recv: &mut R,
    len: usize,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut payload = Vec::with_capacity(len.min(FIRST_RESERVE));
    // MAX_FRAME < u64::MAX, so the cast is exact.
    recv.take(len as u64).read_to_end(&mut payload).await?;
    Ok(payload)
}

fn write_error(peer: SocketAddr, e: quinn::WriteError) -> LinkError {
    match e {
        quinn::WriteError::ConnectionLost(c) => LinkError::from_connection(peer, c),
        quinn::WriteError::Stopped(code) => LinkError::StreamReset {
            peer,
            code: code.into_inner(),
        },
        other => LinkError::Protocol {
            peer,
            reason: other.to_string(),
        },
    }
}

fn read_error(peer: SocketAddr, e: quinn::ReadExactError) -> LinkError {
    match e {
        quinn::ReadExactError::FinishedEarly(n) => LinkError::Protocol {
            peer,
            reason: format!("stream ended inside a frame ({n} bytes read)"),
        },
        quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(c)) => {
            LinkError::from_connection(peer, c)
        }
        quinn::ReadExactError::ReadError(quinn::ReadError::Reset(code)) => LinkError::StreamReset {
            peer,
            code: code.into_inner(),
        },
        quinn::ReadExactError::ReadError(other) => LinkError::Protocol {
            peer,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let header = encode_header(Service::Chunks.tag(), 4 << 20).unwrap();
        assert_eq!(decode_header(header).unwrap(), (3, 4 << 20));
        assert_eq!(encode_header(REPLY_OK, 0).unwrap(), [0, 0, 0, 0, 0]);
    }

    #[test]
    fn oversized_frames_are_typed_errors() {
        assert!(matches!(
            encode_header(1, MAX_FRAME + 1),
            Err(LinkError::FrameTooLarge { .. })
        ));
        assert!(encode_header(1, MAX_FRAME).is_ok());
        assert!(matches!(
            decode_header([1, 0xff, 0xff, 0xff, 0xff]),
            Err(LinkError::FrameTooLarge { .. })
        ));
    }

    /// A reader that offers `data` a KiB at a time and records the largest buffer it was
    /// handed: what the frame reader had allocated by then.
    struct Trickle {
        data: Vec<u8>,
        offered: Vec<usize>,
    }

    impl tokio::io::AsyncRead for Trickle {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let me = &mut *self;
            me.offered.push(buf.remaining());
            let n = me.data.len().min(1024).min(buf.remaining());
            buf.put_slice(&me.data[..n]);
            me.data.drain(..n);
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// A peer declaring a 64 MiB frame and sending 10 KiB costs this node about 64 KiB, not
    /// 64 MiB (the whole declared length used to be allocated before any data came).
    #[tokio::test]
    async fn frame_memory_grows_with_the_data_received() {
        let mut peer = Trickle {
            data: vec![7; 10 * 1024],
            offered: Vec::new(),
        };
        let got = read_payload(&mut peer, MAX_FRAME).await.unwrap();
        assert_eq!(got.len(), 10 * 1024, "a short stream gives what came");
        let most = peer.offered.iter().max().copied().unwrap();
        assert!(most <= FIRST_RESERVE, "{most} bytes offered");
        let mut whole = Trickle {
            data: (0..300_000u32).map(|i| i as u8).collect(),
            offered: Vec::new(),
        };
        let got = read_payload(&mut whole, 300_000).await.unwrap();
        assert_eq!(got, (0..300_000u32).map(|i| i as u8).collect::<Vec<_>>());
    }

    #[test]
    fn service_tags_round_trip() {
        for s in [
            Service::Raft,
            Service::Meta,
            Service::Chunks,
            Service::Chunks,
        ] {
            assert_eq!(Service::from_tag(s.tag()), Some(s));
        }
        assert_eq!(Service::from_tag(0), None);
        assert_eq!(Service::from_tag(REPLY_ERR), None);
    }
}
