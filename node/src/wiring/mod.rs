//! The wiring between `raft` and `replication`: the metadata layer answering the traits the
//! chunk store's loops declare (which chunks are live, which image records linger).

mod image_records;
mod live_chunks;

pub use image_records::MetaImageRecords;
pub use live_chunks::{LiveChunksError, MetaLiveChunks};
