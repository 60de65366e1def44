//! Image data through the disk-format inspector as an upload streams it: fed in pieces of
//! sizes the input picks, it must say exactly what it says of the same bytes fed whole; then
//! Glance's upload rules for every inspectable disk format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_domain::inspector::{verdict, Inspector, INSPECTABLE};

fuzz_target!(|data: &[u8]| {
    // The first byte sets the piece size (1..=256 bytes); the rest is the image.
    let Some((&step, image)) = data.split_first() else {
        return;
    };
    let mut whole = Inspector::new();
    whole.feed(image);
    let whole = whole.finish();
    let mut pieces = Inspector::new();
    for piece in image.chunks(usize::from(step) + 1) {
        pieces.feed(piece);
    }
    assert_eq!(
        pieces.finish(),
        whole,
        "pieces of {} bytes",
        usize::from(step) + 1
    );
    for disk in INSPECTABLE {
        for require in [false, true] {
            let _ = verdict(&whole, Some(disk), Some("bare"), require);
        }
    }
});
