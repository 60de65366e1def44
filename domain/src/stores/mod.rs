//! Several stores (Glance's multi-store, `enabled_backends`): the driver interface every
//! backend implements ([`driver`]), the registry of configured stores with their default and
//! weights ([`registry`]), and the image operations that span stores: choosing where an
//! upload goes, reading from the best copy, deleting one copy, copying to more stores.
//!
//! The cluster's replicated chunk store is a store like the others to the API, but it is
//! built in: its copy of an image is the record's `data` (a manifest), every other store's
//! copy a [`Location`](tessera_raft::Location) in the record's `locations`.

pub mod driver;
mod ops;
pub mod registry;
pub(crate) mod sink;

pub use driver::{redact, ByteStream, StoreDriver, StoreError};
pub use ops::Source;
pub use registry::{copy_policy, Backend, Store, StoreKind, Stores, StoresError, CLUSTER_STORE};
pub(crate) use sink::Sink;
