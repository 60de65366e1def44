//! Node-to-node transport: QUIC (quinn) with mutual TLS under the cluster CA.
//!
//! One endpoint per node both dials and serves. A call is one bidirectional stream carrying
//! one request frame and one reply frame; gossip rides on unreliable QUIC datagrams.

mod endpoint;
mod error;
mod frame;
mod tls;

#[cfg(test)]
mod tests;

pub use endpoint::{Handler, PeerIdentity, Transport, TransportOptions, MAX_DATAGRAM};
pub use error::{LinkError, TlsError};
pub use frame::{decode_header, read_payload, Service, HEADER_LEN, MAX_FRAME};
pub use tls::PeerTls;
