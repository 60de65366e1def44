//! A gossip datagram from a peer as the node takes it: foca's packet decoding with the
//! adverts riding as custom broadcasts (taken only from the node they describe), then the
//! timers it set and the snapshot the membership view reads. The same bytes are also decoded
//! as a bare advert.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tessera_node::cluster::{Advert, GossipCore, GossipTimings, Peer};

/// Node `id`'s peer address (the seeds were recorded with these).
fn addr(id: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + id as u16))
}

fuzz_target!(|data: &[u8]| {
    let _ = Advert::decode(data);
    let timings = GossipTimings {
        probe: Duration::from_millis(200),
        suspect: Duration::from_secs(1),
    };
    let now = Instant::now();
    let me = Peer {
        id: 1,
        addr: addr(1),
        bump: 1,
    };
    let mut core = GossipCore::new(me, timings, 1, now);
    core.handle_data(data, (addr(2), 2), now);
    let _ = core.take_outgoing();
    let later = now + Duration::from_secs(2);
    core.fire_timers(later);
    let _ = core.take_outgoing();
    let _ = core.snapshot(later);
});
