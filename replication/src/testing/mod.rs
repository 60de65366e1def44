//! Test support, compiled only for tests and with the `testing` feature: [`ChannelPeers`],
//! an in-process [`crate::PeerChunks`] with injectable faults, and [`peer_chunks_suite`],
//! the tests every `PeerChunks` (this fake and the node's QUIC one) must pass.

mod channel;
mod suite;

pub use channel::{ChannelPeers, Fault, PeerStats, MAX_MESSAGE};
pub use suite::{peer_chunks_suite, Capabilities, PeerHarness, SuiteReport};
