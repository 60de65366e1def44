//! The node's three background loops, each a [`crate::worker::Worker`] run by
//! [`crate::worker::Workers`]: the replicator (repair queue, anti-entropy, handoff), the auditor
//! (paced re-hashing of local chunks) and the reaper (unreferenced chunks, pending-delete
//! images, stale uploads).

pub mod auditor;
pub mod reaper;
pub mod replicator;
