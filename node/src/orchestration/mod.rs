//! Cluster orchestration behind the admin API: the cluster status, drain-then-leave, the
//! full repair pass (these two run as jobs the worker runtime shows) and chunk verification.

mod admin;
mod job;
mod leave;
mod repair;
mod status;
mod verify;

pub use admin::NodeAdmin;
pub use job::{Job, JobOutcome};
