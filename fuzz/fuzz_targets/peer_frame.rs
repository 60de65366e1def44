//! A request stream from a peer as the QUIC endpoint reads it: the frame header, the payload
//! (bounded by the declared length, whatever the stream holds), then the payload decoded for
//! the service the tag names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_node::cluster::PeerCall;
use tessera_node::transport::{decode_header, read_payload, Service, HEADER_LEN, MAX_FRAME};

fuzz_target!(|data: &[u8]| {
    let Some((header, mut rest)) = data.split_first_chunk::<HEADER_LEN>() else {
        return;
    };
    let Ok((tag, len)) = decode_header(*header) else {
        return;
    };
    assert!(len <= MAX_FRAME);
    // A slice is always ready, so the future completes on its first poll.
    let Ok(payload) = futures::executor::block_on(read_payload(&mut rest, len)) else {
        return;
    };
    assert!(payload.len() <= len);
    if payload.len() < len {
        // The endpoint refuses a stream that ended inside the frame.
        return;
    }
    if let Some(service) = Service::from_tag(tag) {
        let _ = PeerCall::decode(service, &payload);
    }
});
