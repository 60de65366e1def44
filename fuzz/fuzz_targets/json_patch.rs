//! An image update's body (`PATCH /v2/images/{id}`) through the node's path: the JSON patch
//! parser, then the operations applied to a real image's view, the schema check and the
//! view written back to the record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_api::patch::{self, V20, V21};
use tessera_api::schema::validate_image;
use tessera_api::view::{apply_view, image_json};
use tessera_domain::stores::Stores;
use tessera_raft::Image;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the media type (both are accepted by the route).
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let media = if pick & 1 == 0 { V21 } else { V20 };
    let Ok(ops) = patch::parse(body, media) else {
        return;
    };
    let mut img = Image::new(
        "9b1c1f6e-5c4e-4f9a-9d0a-3c1f6a0f2b7e".into(),
        Some("project".into()),
        1_700_000_000,
    );
    let mut view = image_json(&img, &Stores::default());
    if patch::apply(&mut view, &ops).is_err() {
        return;
    }
    if validate_image(&serde_json::Value::Object(view.clone())).is_err() {
        return;
    }
    let _ = apply_view(&mut img, &view);
});
