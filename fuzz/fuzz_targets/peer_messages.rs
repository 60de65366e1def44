//! A request payload from a peer, decoded as the node serves it: Raft RPCs, metadata calls
//! forwarded to the leader, chunk calls.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_node::cluster::PeerCall;
use tessera_node::transport::Service;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the service, as a frame's tag does.
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let service = match pick % 3 {
        0 => Service::Raft,
        1 => Service::Meta,
        _ => Service::Chunks,
    };
    if let Ok(call) = PeerCall::decode(service, payload) {
        // The handler logs forwarded calls with their debug form.
        let _ = format!("{call:?}");
    }
});
