//! Store drivers that do I/O (Glance's store backends), built from the `[stores]` config.

mod object_io;
pub mod s3;
pub mod swift;

pub use object_io::OpenError;
