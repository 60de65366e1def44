//! The wiring between `raft` and `replication`: the metadata layer answering the traits the
//! chunk store's loops declare (which chunks are live, which image records linger, which
//! images the cache may hold).

mod cache_images;
mod image_records;
mod live_chunks;

pub use cache_images::MetaCacheImages;
pub use image_records::MetaImageRecords;
pub use live_chunks::{LiveChunksError, MetaLiveChunks};
