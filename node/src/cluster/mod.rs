//! Wiring of a clustered node: Raft and forwarded metadata calls and chunk transfers over the
//! QUIC transport, gossip (SWIM) over its datagrams, and the membership view placement reads.

mod addresses;
mod advert;
mod chunks;
mod codec;
mod gossip;
mod gossip_task;
mod handler;
mod local_stats;
mod membership;
mod meta_space;
mod raft_net;
mod report;

pub use addresses::Addresses;
pub use advert::{Advert, MAX_LABEL};
pub use chunks::QuicChunks;
pub use gossip::{GossipCore, GossipTimings, Peer};
pub use gossip_task::{Gossip, GossipTask, INBOX};
pub use handler::{GossipFrom, PeerCall, PeerHandler};
pub use membership::follow_membership;
pub use meta_space::ClusterMetaSpace;
pub use raft_net::QuicRaft;
pub use report::{GossipReport, GossipReports};
