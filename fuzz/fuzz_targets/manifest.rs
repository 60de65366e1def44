//! A manifest chunk as a node reads it back: decoded, then every byte range located; a
//! manifest that decodes encodes back to the same manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_replication::{ChunkId, Manifest};

fuzz_target!(|data: &[u8]| {
    let id = ChunkId::of(data);
    let Ok(m) = Manifest::decode(&id, data) else {
        return;
    };
    let again = Manifest::decode(&id, &m.encode()).expect("a decoded manifest re-encodes");
    assert_eq!(again, m);
    let size = m.size();
    let spans = m.locate(0..size).expect("the whole image is a valid range");
    let covered: u64 = spans.iter().map(|s| u64::from(s.end - s.start)).sum();
    assert_eq!(covered, size);
    for s in &spans {
        assert!(s.start < s.end && s.end <= s.chunk_len);
    }
    let (a, b) = (size / 3, size - size / 4);
    let part: u64 = m
        .locate(a..b)
        .expect("a range inside the image")
        .iter()
        .map(|s| u64::from(s.end - s.start))
        .sum();
    assert_eq!(part, b - a);
    assert!(m.locate(0..size.saturating_add(1)).is_err() || size == u64::MAX);
});
