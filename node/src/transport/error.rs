//! Typed failures of the peer transport.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Why the mutual-TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds no item of the expected kind.
    #[error("{path}: {source}")]
    Pem {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        source: rustls_pki_types::pem::Error,
    },
    /// The CA certificate was rejected as a trust root.
    #[error("bad CA certificate: {0}")]
    BadCa(String),
    /// rustls refused the configuration (e.g. the key does not match the certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The TLS configuration cannot carry QUIC (no TLS 1.3 AES-128-GCM suite).
    #[error("TLS configuration unusable for QUIC: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
}

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The UDP socket could not be bound (or no tokio runtime is running).
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// The TLS configuration is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A connection attempt could not even start (endpoint closed, bad address, ...).
    #[error("cannot connect to {peer}: {source}")]
    Connect {
        /// The peer dialled.
        peer: SocketAddr,
        /// quinn's reason.
        source: quinn::ConnectError,
    },
    /// The peer did not complete a handshake within the connect timeout.
    #[error("no handshake with {peer} within {after:?}")]
    ConnectTimeout {
        /// The peer dialled.
        peer: SocketAddr,
        /// The connect timeout.
        after: Duration,
    },
    /// The TLS handshake was refused by either side (e.g. a certificate not from the cluster CA).
    #[error("TLS handshake with {peer} refused: {reason}")]
    Refused {
        /// The peer.
        peer: SocketAddr,
        /// The TLS alert or verifier complaint.
        reason: String,
    },
    /// The connection failed or was lost.
    #[error("connection to {peer} lost: {source}")]
    Connection {
        /// The peer.
        peer: SocketAddr,
        /// quinn's reason.
        source: quinn::ConnectionError,
    },
    /// The peer reset or stopped the stream of this call.
    #[error("stream to {peer} reset by the peer (code {code})")]
    StreamReset {
        /// The peer.
        peer: SocketAddr,
        /// The QUIC application error code.
        code: u64,
    },
    /// The call did not complete within its timeout.
    #[error("call to {peer} timed out after {after:?}")]
    Timeout {
        /// The peer.
        peer: SocketAddr,
        /// The timeout that expired.
        after: Duration,
    },
    /// A frame is larger than the protocol allows.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// The frame's payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The peer sent something that is not a valid frame.
    #[error("malformed frame from {peer}: {reason}")]
    Protocol {
        /// The peer.
        peer: SocketAddr,
        /// What was wrong.
        reason: String,
    },
    /// The peer's handler answered with an error.
    #[error("{peer} answered with an error: {message}")]
    Remote {
        /// The peer.
        peer: SocketAddr,
        /// The handler's error message.
        message: String,
    },
    /// A datagram is larger than gossip may send.
    #[error("datagram of {len} bytes exceeds the {max}-byte limit")]
    DatagramTooLarge {
        /// The datagram's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The datagram could not be sent on the connection.
    #[error("cannot send a datagram to {peer}: {source}")]
    Datagram {
        /// The peer.
        peer: SocketAddr,
        /// quinn's reason.
        source: quinn::SendDatagramError,
    },
}

impl LinkError {
    /// Classifies a connection failure: a TLS alert or verifier error means "refused".
    pub(crate) fn from_connection(peer: SocketAddr, source: quinn::ConnectionError) -> Self {
        use quinn::ConnectionError as E;
        // QUIC carries TLS alerts as CRYPTO_ERROR codes 0x100-0x1ff (RFC 9001 §4.8).
        let tls_code = |code: quinn::TransportErrorCode| (0x100..=0x1ff).contains(&u64::from(code));
        match &source {
            E::TransportError(e) if tls_code(e.code) => Self::Refused {
                peer,
                reason: e.to_string(),
            },
            E::ConnectionClosed(close) if tls_code(close.error_code) => Self::Refused {
                peer,
                reason: close.to_string(),
            },
            _ => Self::Connection { peer, source },
        }
    }
}
