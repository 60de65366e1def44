//! A node's claim on a task: taken with a compare-and-set, renewed while the task runs, and
//! the only way its runner changes the task. Every write expects the revision the runner
//! wrote last; a conflict means another node took the task over (after this node's lease
//! ran out) and this runner must stop without touching anything else.

use super::{lease::Lease, now_micros, Task, TaskStatus};
use crate::docs::{self, Stored, Written};
use crate::error::DomainError;
use std::time::Duration;
use tessera_raft::{Expect, Meta};
use tokio::sync::Mutex;

/// Why a runner's write of its task did not apply.
#[derive(Debug, thiserror::Error)]
pub enum Fenced {
    /// Another node took the task over; this runner must stop.
    #[error("task {0} was taken over by another node")]
    Lost(String),
    /// The write failed (the cluster is unavailable, say); the lease may still hold.
    #[error(transparent)]
    Failed(#[from] DomainError),
}

/// The claim of this node on one task.
pub struct Claim {
    meta: Meta,
    id: String,
    node: u64,
    lease: Duration,
    current: Mutex<(u64, Task)>,
}

/// Whether `task` may be started by an executor at `now`: pending or processing, and no
/// live lease on it.
pub fn claimable(task: &Task, now: i64) -> bool {
    !task.status.is_final() && task.lease.is_none_or(|l| l.expired(now))
}

impl Claim {
    /// Takes `task` for `node` for `lease` if it is still claimable at the revision read;
    /// `None` when another node got there first or it is no longer claimable.
    pub async fn take(
        meta: &Meta,
        task: Stored<Task>,
        node: u64,
        lease: Duration,
    ) -> Result<Option<Claim>, DomainError> {
        let now = now_micros();
        if !claimable(&task.value, now) {
            return Ok(None);
        }
        let mut next = task.value.clone();
        next.status = TaskStatus::Processing;
        next.lease = Some(Lease {
            node,
            until: now + micros(lease),
        });
        next.attempts += 1;
        next.updated_at = now;
        let op = docs::put(&task.id, Expect::Revision(task.revision), &next)?;
        match docs::write(meta, vec![op]).await? {
            Written::Applied(after) => {
                let revision = after.first().and_then(|d| d.as_ref()).map(|d| d.revision);
                Ok(revision.map(|r| Claim {
                    meta: meta.clone(),
                    id: task.id,
                    node,
                    lease,
                    current: Mutex::new((r, next)),
                }))
            }
            Written::Conflict(_) => Ok(None),
        }
    }

    /// The task's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The task as this runner last wrote it.
    pub async fn task(&self) -> Task {
        self.current.lock().await.1.clone()
    }

    /// Changes the task with `change`, extending the lease, if this node still holds it.
    pub async fn update(&self, change: impl FnOnce(&mut Task)) -> Result<Task, Fenced> {
        let mut current = self.current.lock().await;
        let (revision, task) = &*current;
        let mut next = task.clone();
        change(&mut next);
        let now = now_micros();
        next.updated_at = now;
        if !next.status.is_final() {
            next.lease = Some(Lease {
                node: self.node,
                until: now + micros(self.lease),
            });
        }
        let op = docs::put(&self.id, Expect::Revision(*revision), &next)?;
        match docs::write(&self.meta, vec![op]).await? {
            Written::Applied(after) => {
                let revision = after
                    .first()
                    .and_then(|d| d.as_ref())
                    .map(|d| d.revision)
                    .ok_or_else(|| DomainError::Internal(format!("task {} vanished", self.id)))?;
                *current = (revision, next.clone());
                Ok(next)
            }
            Written::Conflict(_) => Err(Fenced::Lost(self.id.clone())),
        }
    }

    /// Extends the lease.
    pub async fn renew(&self) -> Result<(), Fenced> {
        self.update(|_| {}).await.map(|_| ())
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
