//! A download's `Range` header against an image size: whatever the header, a range it
//! grants lies inside the image and is not empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_api::parse_range;

fuzz_target!(|data: &[u8]| {
    // The first eight bytes are the image size, the rest the header value.
    let Some((size, value)) = data.split_first_chunk::<8>() else {
        return;
    };
    let size = u64::from_le_bytes(*size);
    let Ok(value) = std::str::from_utf8(value) else {
        return;
    };
    if let Ok((start, end)) = parse_range(value, size) {
        assert!(
            start < end && end <= size,
            "{value:?} of {size}: {start}..{end}"
        );
    }
});
