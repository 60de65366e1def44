//! The task executor: a worker on every node that starts pending tasks, takes over tasks
//! whose node stopped renewing its lease, and removes finished tasks once they expire.
//!
//! Each task runs in its own tokio task while the executor's steps stay short; a claim
//! (compare-and-set on the task's revision) makes sure one node at a time runs a task. A
//! task interrupted too often is failed with a message instead of being retried forever.

use super::claim::{claimable, Claim};
use super::{now_micros, Decision, ImageTask, Task};
use crate::docs::{self, Written};
use crate::error::DomainError;
use crate::import;
use crate::locations;
use crate::service::Glance;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_raft::Expect;
use tessera_replication::setting::DurationRange;
use tessera_replication::worker::named;
use tessera_replication::{Step, Worker, WorkerError, WorkerReport};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// The executor's worker name (`tessera workers list`).
pub const TASKS_WORKER: &str = "tasks";

/// How the executor runs tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorConfig {
    /// How long a claim holds without renewal; a dead node's tasks are taken over after it.
    pub lease: Duration,
    /// How often the executor looks for work when not woken.
    pub poll: Duration,
    /// Tasks this node runs at once.
    pub max_running: usize,
    /// Glance's `[task] task_time_to_live`: how long a finished task is kept.
    pub time_to_live: Duration,
    /// Starts of one task after which it is failed rather than run again.
    pub max_attempts: u32,
}

/// A lease shorter than a second would be renewed in a spin.
const AT_LEAST_1S: DurationRange = DurationRange::at_least(Duration::from_secs(1));

impl ExecutorConfig {
    /// Sets `lease` or `time_to_live` (durations, at least 1s), as the file, the flags and
    /// the workers API give them.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
        let parsed = AT_LEAST_1S
            .parse(value)
            .map_err(|reason| WorkerError::BadValue {
                key: key.into(),
                value: value.into(),
                reason,
            });
        match key {
            "lease" => self.lease = parsed?,
            "time_to_live" => self.time_to_live = parsed?,
            _ => {
                return Err(WorkerError::UnknownKey {
                    worker: TASKS_WORKER.into(),
                    key: key.into(),
                    known: "lease, time_to_live".into(),
                })
            }
        }
        Ok(())
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            max_running: 2,
            time_to_live: super::TIME_TO_LIVE,
            max_attempts: 3,
        }
    }
}

/// What the executor counts (shared with the tasks it spawned).
type Counters = Arc<Mutex<BTreeMap<String, u64>>>;

fn bump(counters: &Counters, name: &str) {
    if let Ok(mut c) = counters.lock() {
        *c.entry(name.to_string()).or_default() += 1;
    }
}

/// The worker.
pub struct TaskExecutor {
    glance: Glance,
    config: ExecutorConfig,
    running: HashMap<String, JoinHandle<()>>,
    counters: Counters,
}

impl TaskExecutor {
    /// An executor running tasks through `glance`.
    pub fn new(glance: Glance, config: ExecutorConfig) -> Self {
        TaskExecutor {
            glance,
            config,
            running: HashMap::new(),
            counters: Arc::default(),
        }
    }

    fn in_charge(&self) -> bool {
        let meta = self.glance.meta();
        meta.current_leader() == Some(meta.node_id())
    }

    async fn pass(&mut self) -> Result<Step, DomainError> {
        self.running.retain(|_, h| !h.is_finished());
        let now = now_micros();
        let tasks = docs::list_local::<Task>(self.glance.meta(), "")?;
        let mut started = false;
        for task in tasks {
            if self.in_charge() && task.value.expires_at.is_some_and(|e| e <= now) {
                self.expire(&task.id, task.revision, task.value.image_id.as_deref())
                    .await?;
                continue;
            }
            if self.running.len() >= self.config.max_running
                || self.running.contains_key(&task.id)
                || !claimable(&task.value, now)
            {
                continue;
            }
            let taking_over = task.value.lease.is_some();
            let id = task.id.clone();
            let node = self.glance.meta().node_id();
            let Some(claim) =
                Claim::take(self.glance.meta(), task, node, self.config.lease).await?
            else {
                continue;
            };
            bump(
                &self.counters,
                if taking_over { "taken_over" } else { "started" },
            );
            let span = tracing::info_span!("task", task_id = %id);
            let run = run(
                self.glance.clone(),
                claim,
                self.config,
                self.counters.clone(),
            );
            self.running.insert(id, tokio::spawn(run.instrument(span)));
            started = true;
        }
        if self.in_charge() {
            import::sweep_stages(&self.glance).await?;
        }
        Ok(if started {
            Step::Busy
        } else {
            Step::Idle(self.config.poll)
        })
    }

    /// Removes an expired task and its image index entry.
    async fn expire(
        &self,
        id: &str,
        revision: u64,
        image: Option<&str>,
    ) -> Result<(), DomainError> {
        let mut ops = vec![docs::remove::<Task>(id, Expect::Revision(revision))];
        if let Some(image) = image {
            ops.push(docs::remove::<ImageTask>(
                &super::image_task_id(image, id),
                Expect::Any,
            ));
        }
        if let Written::Applied(_) = docs::write(self.glance.meta(), ops).await? {
            tracing::info!(task_id = %id, "expired task removed");
            bump(&self.counters, "expired");
        }
        Ok(())
    }
}

/// Runs one claimed task to its end, renewing the claim meanwhile; stops at once when the
/// claim is lost.
async fn run(glance: Glance, claim: Claim, config: ExecutorConfig, counters: Counters) {
    let task = claim.task().await;
    let ttl = i64::try_from(config.time_to_live.as_micros()).unwrap_or(i64::MAX);
    let work = async {
        if task.attempts > config.max_attempts && task.decision.is_none() {
            let message = format!(
                "Task was interrupted {} times (its node stopped); giving up.",
                task.attempts - 1
            );
            claim
                .update(|t| t.decision = Some(Decision::Failed(message)))
                .await?;
        }
        if task.kind == locations::LOCATION_IMPORT {
            locations::run_task(&glance, &claim, ttl).await
        } else {
            import::run_task(&glance, &claim, ttl).await
        }
    };
    let renew = async {
        loop {
            tokio::time::sleep(config.lease / 3).await;
            if let Err(e) = claim.renew().await {
                return e;
            }
        }
    };
    let outcome = tokio::select! {
        done = work => done,
        lost = renew => Err(lost),
    };
    match outcome {
        Ok(finished) => {
            tracing::info!(status = finished.as_str(), "task finished");
            bump(&counters, finished.as_str());
        }
        Err(e) => {
            // Lost or unreachable: the lease runs out and a node takes the task over.
            tracing::warn!(error = %e, "task stopped before finishing");
            bump(&counters, "interrupted");
        }
    }
}

impl Worker for TaskExecutor {
    fn name(&self) -> &str {
        TASKS_WORKER
    }

    fn step(&mut self) -> BoxFuture<'_, Result<Step, WorkerError>> {
        async move {
            self.pass()
                .await
                .map_err(|e| WorkerError::Failed(e.to_string()))
        }
        .boxed()
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
        self.config.set(key, value)
    }

    fn report(&self) -> WorkerReport {
        let counters = self.counters.lock().map(|c| c.clone()).unwrap_or_default();
        WorkerReport {
            queue_len: self.running.len() as u64,
            items: counters.values().sum(),
            counters,
            settings: named([
                ("lease", self.config.lease.as_secs().to_string()),
                (
                    "time_to_live",
                    self.config.time_to_live.as_secs().to_string(),
                ),
            ]),
            ..WorkerReport::default()
        }
    }
}

impl Drop for TaskExecutor {
    fn drop(&mut self) {
        // A stopping node leaves its tasks to the lease: another node takes them over.
        for h in self.running.values() {
            h.abort();
        }
    }
}
