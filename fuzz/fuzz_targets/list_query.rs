//! An image list's query string (`GET /v2/images?...`) through the list query parser, as an
//! admin or as a project member.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_api::list::parse_query;
use tessera_raft::Viewer;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the viewer; the route hands the parser the raw query as a string.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    let viewer = Viewer {
        project: (pick & 1 == 0).then(|| "project".to_string()),
        admin: pick & 2 != 0,
    };
    let _ = parse_query(raw, viewer);
});
