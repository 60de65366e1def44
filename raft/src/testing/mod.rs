//! Test support, compiled only for tests and with the `testing` feature: [`LocalTransport`],
//! an in-process [`crate::RaftTransport`], and [`transport_suite`], the tests every
//! `RaftTransport` (this fake and the node's QUIC one) must pass.

mod local;
mod suite;

pub use local::{LocalTransport, MAX_MESSAGE};
pub use suite::{transport_suite, Capabilities, HarnessNode, RaftHarness, SuiteReport};
