//! Wiring of a clustered node: Raft and forwarded metadata calls and chunk transfers over the
//! QUIC transport, and the membership view that placement reads.

mod addresses;
mod chunks;
mod codec;
mod handler;
mod membership;
mod raft_net;

pub use addresses::Addresses;
pub use chunks::QuicChunks;
pub use handler::PeerHandler;
pub use membership::follow_membership;
pub use raft_net::QuicRaft;
