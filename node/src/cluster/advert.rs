//! What each node advertises over gossip: its addresses, zone, capacity, free space, version,
//! local chunk totals and whether its chunk volume is below its reserve, as a versioned
//! custom broadcast.

use super::codec::{decode, encode};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Longest zone or node name accepted, so an advert always fits a gossip datagram.
pub const MAX_LABEL: usize = 64;

/// One node's advertisement; a newer `seq` from the same node replaces an older one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advert {
    /// The node's Raft id.
    pub node: u64,
    /// Grows with every advert of the node (milliseconds since the epoch, or one more than
    /// the previous when the clock did not move), so restarts do not look stale.
    pub seq: u64,
    /// The node's name (its certificate name).
    pub name: String,
    /// Address of its Glance API.
    pub api: SocketAddr,
    /// Address of its QUIC peer endpoint.
    pub peer: SocketAddr,
    /// Failure domain.
    pub zone: String,
    /// Placement weight.
    pub capacity: u64,
    /// Bytes free for the chunk store on the data dir's filesystem.
    pub free_bytes: u64,
    /// Software version.
    pub version: String,
    /// Chunks held locally.
    pub chunks: u64,
    /// Bytes of the chunks held locally.
    pub chunk_bytes: u64,
    /// Whether the chunk volume is below its reserve: placement sends it no new copies.
    /// Last and defaulted, so an advert from a node that predates it still decodes.
    #[serde(default)]
    pub full: bool,
    /// Whether the metadata volume is below its reserve: the cluster takes no growing write.
    #[serde(default)]
    pub metadata_full: bool,
}

impl Advert {
    /// The broadcast bytes.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        encode(self)
    }

    /// Decodes broadcast bytes from a peer.
    pub fn decode(bytes: &[u8]) -> Result<Advert, String> {
        decode(bytes)
    }

    /// The next sequence number after `previous` at wall-clock `now_ms`.
    pub fn next_seq(previous: u64, now_ms: u64) -> u64 {
        now_ms.max(previous.saturating_add(1))
    }
}

/// An advert of `node` whose name and zone are `label_len` bytes long.
#[cfg(test)]
pub(crate) fn test_advert(node: u64, label_len: usize) -> Advert {
    let label = "z".repeat(label_len);
    let addr: SocketAddr = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
        .parse()
        .unwrap();
    Advert {
        node,
        seq: 0,
        name: label.clone(),
        api: addr,
        peer: addr,
        zone: label,
        capacity: u64::MAX,
        free_bytes: u64::MAX,
        version: "1000.1000.1000-rc.1000".into(),
        chunks: u64::MAX,
        chunk_bytes: u64::MAX,
        full: true,
        metadata_full: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_advert_round_trips_in_a_fraction_of_a_datagram() {
        let a = Advert {
            seq: u64::MAX,
            ..test_advert(u64::MAX, MAX_LABEL)
        };
        let bytes = a.encode().unwrap();
        // Several adverts must fit one gossip datagram next to the membership updates.
        assert!(bytes.len() < 320, "{} bytes", bytes.len());
        assert_eq!(Advert::decode(&bytes).unwrap(), a);
        assert!(Advert::decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn seq_grows_even_when_the_clock_does_not() {
        assert_eq!(Advert::next_seq(0, 1000), 1000);
        assert_eq!(Advert::next_seq(1000, 1000), 1001);
        assert_eq!(Advert::next_seq(5000, 1000), 5001);
    }

    #[test]
    fn an_advert_from_a_node_without_the_full_flag_decodes_as_not_full() {
        /// The advert as nodes before the free-space watermarks sent it.
        #[derive(Serialize)]
        struct Before {
            node: u64,
            seq: u64,
            name: String,
            api: SocketAddr,
            peer: SocketAddr,
            zone: String,
            capacity: u64,
            free_bytes: u64,
            version: String,
            chunks: u64,
            chunk_bytes: u64,
        }
        let a = test_advert(7, 4);
        let old = Before {
            node: a.node,
            seq: a.seq,
            name: a.name.clone(),
            api: a.api,
            peer: a.peer,
            zone: a.zone.clone(),
            capacity: a.capacity,
            free_bytes: a.free_bytes,
            version: a.version.clone(),
            chunks: a.chunks,
            chunk_bytes: a.chunk_bytes,
        };
        let got = Advert::decode(&encode(&old).unwrap()).unwrap();
        assert_eq!(
            got,
            Advert {
                full: false,
                metadata_full: false,
                ..a
            }
        );
    }
}
