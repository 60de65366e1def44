//! Observable background workers: each loop (replicator, auditor, reaper) implements
//! [`Worker`]; [`Workers`] runs them, reports their [`WorkerStatus`], and pauses, resumes and
//! retunes them at run time.
//!
//! A worker is driven one [`Worker::step`] at a time by its own task, which owns it: commands
//! (pause, resume, set) are applied between steps, so a worker never sees concurrent calls.
//! A worker paces itself with [`rate::TokenBucket`] and says so with [`Step::Throttled`].

pub mod rate;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::setting::ValueError;

/// What a worker is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Working through items.
    Busy,
    /// Nothing to do until its next period or a wake-up.
    Idle,
    /// Waiting because it reached its rate limit.
    Throttled,
    /// Paused by an operator.
    Paused,
    /// Its last step failed; it retries after a backoff.
    Error,
}

/// What one [`Worker::step`] did, and so how long the runner waits before the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Did some work; call again at once.
    Busy,
    /// Nothing to do; call again after this long (or sooner when woken).
    Idle(Duration),
    /// Over its rate limit; call again after this long.
    Throttled(Duration),
}

/// A failed step or a rejected setting, as text for the status report.
///
/// Text on purpose: it is what `tessera workers list` and the workers API show, and a step's
/// failure is kept as the worker's `last_error` long after its source is gone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// The step failed; the runner backs off and retries.
    #[error("{0}")]
    Failed(String),
    /// `set` named a key this worker does not have.
    #[error("worker {worker} has no setting {key:?} (settings: {known})")]
    UnknownKey {
        /// The worker.
        worker: String,
        /// The key asked for.
        key: String,
        /// The keys it has, comma-separated.
        known: String,
    },
    /// `set` gave a value the setting cannot take.
    #[error("bad value {value:?} for {key}: {reason}")]
    BadValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// Why it was refused.
        #[source]
        reason: ValueError,
    },
    /// No worker has that name.
    #[error("no worker named {0:?}")]
    NoSuchWorker(String),
    /// The worker's task has stopped.
    #[error("worker {0} has stopped")]
    Stopped(String),
}

/// Counters and progress a worker reports about itself (the runner adds state and errors).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkerReport {
    /// Items waiting (e.g. repair queue entries).
    pub queue_len: u64,
    /// Fraction of the current pass done, 0.0 to 1.0, when the worker works in passes.
    pub progress: Option<f64>,
    /// Items processed since start.
    pub items: u64,
    /// Bytes processed since start.
    pub bytes: u64,
    /// Full passes completed since start.
    pub passes: u64,
    /// Worker-specific counters (e.g. `quarantined`, `repaired`, `deleted`).
    pub counters: BTreeMap<String, u64>,
    /// Current settings, as `set` accepts them (e.g. `rate` = bytes/s).
    pub settings: BTreeMap<String, String>,
}

/// A report's counters or settings from `(name, value)` pairs.
pub fn named<V, const N: usize>(pairs: [(&str, V); N]) -> BTreeMap<String, V> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The full status of one worker, as `tessera workers list` and `/tessera/v1/workers` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerStatus {
    /// The worker's name.
    pub name: String,
    /// What it is doing.
    pub state: WorkerState,
    /// Steps that failed since start.
    pub errors: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When the last failure happened (seconds since the Unix epoch).
    pub last_error_at: Option<u64>,
    /// Items per second over the last busy stretch.
    pub rate: f64,
    /// What the worker reports about itself.
    #[serde(flatten)]
    pub report: WorkerReport,
}

/// One background loop.
pub trait Worker: Send + 'static {
    /// A stable, short name (`replicator`, `auditor`, `reaper`).
    fn name(&self) -> &str;

    /// Does one bounded unit of work (a bucket, a batch of chunks, a pass over few items).
    /// Must not run for long: pause and set are applied between steps.
    fn step(&mut self) -> BoxFuture<'_, Result<Step, WorkerError>>;

    /// Its counters, queue length, progress and settings.
    fn report(&self) -> WorkerReport;

    /// Changes a setting at run time (e.g. `rate`, `period`).
    fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError>;
}

/// Longest wait after a failed step (the backoff doubles from one second up to this).
const MAX_BACKOFF: Duration = Duration::from_secs(60);

enum Command {
    Pause,
    Resume,
    Wake,
    Set(String, String, oneshot::Sender<Result<(), WorkerError>>),
}

struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    status: Arc<Mutex<WorkerStatus>>,
    task: tokio::task::JoinHandle<()>,
}

/// The running workers of a node.
#[derive(Clone, Default)]
pub struct Workers {
    handles: Arc<Mutex<BTreeMap<String, Handle>>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("names", &lock(&self.handles).keys().collect::<Vec<_>>())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Workers {
    /// No workers yet.
    pub fn new() -> Workers {
        Workers::default()
    }

    /// Starts `worker` on its own task (replacing a worker of the same name).
    pub fn spawn(&self, worker: impl Worker) {
        let name = worker.name().to_string();
        let status = Arc::new(Mutex::new(WorkerStatus {
            name: name.clone(),
            state: WorkerState::Idle,
            errors: 0,
            last_error: None,
            last_error_at: None,
            rate: 0.0,
            report: worker.report(),
        }));
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(worker, rx, status.clone()));
        if let Some(old) = lock(&self.handles).insert(
            name,
            Handle {
                commands: tx,
                status,
                task,
            },
        ) {
            old.task.abort();
        }
    }

    /// Status of every worker, by name.
    pub fn list(&self) -> Vec<WorkerStatus> {
        lock(&self.handles)
            .values()
            .map(|h| lock(&h.status).clone())
            .collect()
    }

    /// Status of one worker.
    pub fn get(&self, name: &str) -> Result<WorkerStatus, WorkerError> {
        self.with(name, |h| Ok(lock(&h.status).clone()))
    }

    /// Pauses a worker after its current step.
    pub fn pause(&self, name: &str) -> Result<(), WorkerError> {
        self.send(name, Command::Pause)
    }

    /// Resumes a paused worker where it stopped.
    pub fn resume(&self, name: &str) -> Result<(), WorkerError> {
        self.send(name, Command::Resume)
    }

    /// Ends an idle wait early (e.g. new items were queued).
    pub fn wake(&self, name: &str) -> Result<(), WorkerError> {
        self.send(name, Command::Wake)
    }

    /// Changes a worker's setting; resolves once the worker accepted or refused it.
    pub async fn set(&self, name: &str, key: &str, value: &str) -> Result<(), WorkerError> {
        let (tx, rx) = oneshot::channel();
        self.send(name, Command::Set(key.into(), value.into(), tx))?;
        rx.await
            .map_err(|_| WorkerError::Stopped(name.to_string()))?
    }

    /// Stops every worker.
    pub fn shutdown(&self) {
        for (_, h) in std::mem::take(&mut *lock(&self.handles)) {
            h.task.abort();
        }
    }

    fn send(&self, name: &str, cmd: Command) -> Result<(), WorkerError> {
        self.with(name, |h| {
            h.commands
                .send(cmd)
                .map_err(|_| WorkerError::Stopped(name.to_string()))
        })
    }

    fn with<T>(
        &self,
        name: &str,
        f: impl FnOnce(&Handle) -> Result<T, WorkerError>,
    ) -> Result<T, WorkerError> {
        match lock(&self.handles).get(name) {
            Some(h) => f(h),
            None => Err(WorkerError::NoSuchWorker(name.to_string())),
        }
    }
}

/// Drives one worker until its handle is dropped.
async fn run(
    mut worker: impl Worker,
    mut commands: mpsc::UnboundedReceiver<Command>,
    status: Arc<Mutex<WorkerStatus>>,
) {
    let mut paused = false;
    let mut backoff = Duration::from_secs(1);
    let mut busy_since: Option<(tokio::time::Instant, u64)> = None;
    loop {
        // Apply every pending command before the next step.
        while let Ok(cmd) = commands.try_recv() {
            apply(&mut worker, cmd, &mut paused, &status);
        }
        if paused {
            lock(&status).state = WorkerState::Paused;
            match commands.recv().await {
                Some(cmd) => apply(&mut worker, cmd, &mut paused, &status),
                None => return,
            }
            continue;
        }
        let result = worker.step().await;
        let report = worker.report();
        let wait = {
            let mut s = lock(&status);
            let now = tokio::time::Instant::now();
            let (state, wait) = match &result {
                Ok(Step::Busy) => {
                    backoff = Duration::from_secs(1);
                    (WorkerState::Busy, None)
                }
                Ok(Step::Idle(d)) => {
                    backoff = Duration::from_secs(1);
                    (WorkerState::Idle, Some(*d))
                }
                Ok(Step::Throttled(d)) => (WorkerState::Throttled, Some(*d)),
                Err(e) => {
                    tracing::warn!(worker = worker.name(), error = %e, "worker step failed");
                    s.errors += 1;
                    s.last_error = Some(e.to_string());
                    s.last_error_at = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .ok()
                        .map(|d| d.as_secs());
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    (WorkerState::Error, Some(wait))
                }
            };
            match (state, busy_since) {
                (WorkerState::Idle, _) => busy_since = None,
                (_, None) => busy_since = Some((now, report.items)),
                (_, Some((since, items))) => {
                    let secs = now.duration_since(since).as_secs_f64();
                    if secs > 0.0 {
                        s.rate = report.items.saturating_sub(items) as f64 / secs;
                    }
                }
            }
            s.state = state;
            s.report = report;
            wait
        };
        let Some(wait) = wait else {
            tokio::task::yield_now().await;
            continue;
        };
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                cmd = commands.recv() => match cmd {
                    None => return,
                    Some(Command::Wake) => break,
                    Some(cmd) => {
                        apply(&mut worker, cmd, &mut paused, &status);
                        if paused { break; }
                    }
                },
            }
        }
    }
}

fn apply(worker: &mut impl Worker, cmd: Command, paused: &mut bool, status: &Mutex<WorkerStatus>) {
    match cmd {
        Command::Pause => *paused = true,
        Command::Resume => *paused = false,
        Command::Wake => {}
        Command::Set(key, value, reply) => {
            let result = worker.set(&key, &value);
            if let Err(e) = &result {
                tracing::info!(worker = worker.name(), %key, %value, error = %e, "setting refused");
            }
            // Show the new setting at once, even while paused or idle.
            lock(status).report = worker.report();
            // The asker may have gone; the setting stands either way.
            let _ = reply.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setting::CountRange;

    /// Counts steps; `Idle` after `per_pass` steps.
    struct Counter {
        steps: u64,
        per_pass: u64,
        fail_next: bool,
    }

    impl Worker for Counter {
        fn name(&self) -> &str {
            "counter"
        }

        fn step(&mut self) -> BoxFuture<'_, Result<Step, WorkerError>> {
            Box::pin(async move {
                if std::mem::take(&mut self.fail_next) {
                    return Err(WorkerError::Failed("disk on fire".into()));
                }
                self.steps += 1;
                if self.steps.is_multiple_of(self.per_pass) {
                    Ok(Step::Idle(Duration::from_millis(5)))
                } else {
                    Ok(Step::Busy)
                }
            })
        }

        fn report(&self) -> WorkerReport {
            WorkerReport {
                items: self.steps,
                settings: [("per_pass".to_string(), self.per_pass.to_string())].into(),
                ..WorkerReport::default()
            }
        }

        fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
            match key {
                "per_pass" => {
                    let range = CountRange { min: 1, max: 100 };
                    self.per_pass = range.parse(value).map_err(|reason| WorkerError::BadValue {
                        key: key.into(),
                        value: value.into(),
                        reason,
                    })?;
                    Ok(())
                }
                "fail" => {
                    self.fail_next = true;
                    Ok(())
                }
                _ => Err(WorkerError::UnknownKey {
                    worker: "counter".into(),
                    key: key.into(),
                    known: "per_pass".into(),
                }),
            }
        }
    }

    async fn eventually(workers: &Workers, what: &str, f: impl Fn(&WorkerStatus) -> bool) {
        for _ in 0..500 {
            if f(&workers.get("counter").expect("counter runs")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("never {what}: {:?}", workers.get("counter"));
    }

    #[tokio::test]
    async fn pause_stops_and_resume_continues_where_it_was() {
        let workers = Workers::new();
        workers.spawn(Counter {
            steps: 0,
            per_pass: 10,
            fail_next: false,
        });
        eventually(&workers, "worked", |s| s.report.items >= 20).await;
        workers.pause("counter").expect("pause");
        eventually(&workers, "paused", |s| s.state == WorkerState::Paused).await;
        let at = workers.get("counter").expect("status").report.items;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(workers.get("counter").expect("status").report.items, at);
        workers.resume("counter").expect("resume");
        eventually(&workers, "resumed", |s| s.report.items > at).await;
    }

    #[tokio::test]
    async fn settings_apply_or_are_refused_with_a_reason() {
        let workers = Workers::new();
        workers.spawn(Counter {
            steps: 0,
            per_pass: 10,
            fail_next: false,
        });
        workers.set("counter", "per_pass", "3").await.expect("set");
        eventually(&workers, "retuned", |s| {
            s.report.settings.get("per_pass").map(String::as_str) == Some("3")
        })
        .await;
        let err = workers.set("counter", "speed", "9").await.unwrap_err();
        assert!(matches!(err, WorkerError::UnknownKey { .. }), "{err}");
        let err = workers.set("counter", "per_pass", "x").await.unwrap_err();
        assert!(matches!(err, WorkerError::BadValue { .. }), "{err}");
        assert!(matches!(
            workers.pause("nobody"),
            Err(WorkerError::NoSuchWorker(_))
        ));
    }

    #[tokio::test]
    async fn a_failed_step_is_reported_and_retried() {
        let workers = Workers::new();
        workers.spawn(Counter {
            steps: 0,
            per_pass: 1,
            fail_next: false,
        });
        workers.set("counter", "fail", "").await.expect("set");
        eventually(&workers, "failed", |s| s.errors == 1).await;
        let s = workers.get("counter").expect("status");
        assert_eq!(s.last_error.as_deref(), Some("disk on fire"));
        assert!(s.last_error_at.is_some());
        workers.wake("counter").expect("wake");
        eventually(&workers, "recovered", |s| s.state == WorkerState::Idle).await;
        workers.shutdown();
        assert!(workers.list().is_empty());
    }
}
