//! Cluster orchestration behind the admin API: the cluster status, drain-then-leave and the
//! full repair pass, the latter two run as jobs the worker runtime shows.

mod admin;
mod job;
mod leave;
mod repair;
mod status;

pub use admin::NodeAdmin;
pub use job::{Job, JobOutcome};
