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

// Only what the node uses is re-exported; `TransportOptions`, `MAX_FRAME` and `call` join
// the list when something outside the tests needs them.
pub use endpoint::{Handler, Transport, MAX_DATAGRAM};
pub use error::TransportError;
pub use frame::Service;
pub use tls::PeerTls;
