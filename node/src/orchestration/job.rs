//! One-shot cluster operations (a drain-then-leave, a full repair pass) run as jobs that the
//! worker runtime shows: busy while one runs, idle otherwise, with the phase as progress and
//! the last run's figures as counters, in `tessera workers list` and `/metrics`.
//!
//! The operation runs in its own task, not the request's, so a client that hangs up does not
//! cut a drain short; runs of one job are serialised, so a second request waits its turn.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use tessera_domain::DomainError;
use tessera_replication::{Step, Worker, WorkerError, WorkerReport, Workers};
use tokio::sync::watch;

/// How often a busy job's worker refreshes its status while the job runs.
const POLL: Duration = Duration::from_millis(250);
/// How long an idle job's worker sleeps; a new run wakes it.
const IDLE: Duration = Duration::from_secs(3600);

/// What a job reports about itself.
#[derive(Debug, Default)]
struct Progress {
    /// Runs waiting for the running one.
    waiting: u64,
    /// Whether a run is under way.
    running: bool,
    /// Fraction of the current run done (by phase).
    done: f64,
    /// Runs finished, successful or not.
    runs: u64,
    /// Runs that failed.
    failed: u64,
    /// Bytes moved by all runs.
    bytes: u64,
    /// Figures of the last run.
    counters: BTreeMap<String, u64>,
}

struct Shared {
    name: &'static str,
    progress: Mutex<Progress>,
    /// Bumped on every progress change, so the worker notices a run ending at once.
    changes: watch::Sender<u64>,
    /// Serialises runs.
    turn: tokio::sync::Mutex<()>,
}

/// A job's handle: starts runs and reports their phases.
#[derive(Clone)]
pub struct Job {
    shared: Arc<Shared>,
    workers: Workers,
}

/// What a run hands back to its job: its figures for the worker's counters.
pub trait JobOutcome {
    /// Bytes the run moved.
    fn bytes(&self) -> u64;
    /// Named figures of the run (chunks pushed, copies repaired, ...).
    fn counters(&self) -> BTreeMap<String, u64>;
}

impl Job {
    /// A job named `name`, registered with `workers` (where it shows as a worker).
    pub fn spawn(name: &'static str, workers: &Workers) -> Job {
        let shared = Arc::new(Shared {
            name,
            progress: Mutex::new(Progress::default()),
            changes: watch::channel(0).0,
            turn: tokio::sync::Mutex::new(()),
        });
        workers.spawn(JobWorker {
            shared: shared.clone(),
        });
        Job {
            shared,
            workers: workers.clone(),
        }
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        // Plain figures: a panic mid-update leaves nothing inconsistent worth refusing.
        self.shared
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self) {
        self.shared.changes.send_modify(|g| *g += 1);
    }

    /// Records that the current run reached `done` (0.0 to 1.0).
    pub fn phase(&self, done: f64) {
        self.progress().done = done.clamp(0.0, 1.0);
        self.changed();
    }

    /// Runs `op` in its own task once earlier runs finished, showing it as this job's work.
    pub async fn run<T, F>(&self, op: F) -> Result<T, DomainError>
    where
        T: JobOutcome + Send + 'static,
        F: Future<Output = Result<T, DomainError>> + Send + 'static,
    {
        self.progress().waiting += 1;
        self.changed();
        let job = self.clone();
        let task = tokio::spawn(async move {
            let _turn = job.shared.turn.lock().await;
            {
                let mut p = job.progress();
                p.waiting = p.waiting.saturating_sub(1);
                p.running = true;
                p.done = 0.0;
            }
            job.changed();
            // Missing is only possible at shutdown; the run goes ahead either way.
            let _ = job.workers.wake(job.shared.name);
            let result = op.await;
            {
                let mut p = job.progress();
                p.running = false;
                p.runs += 1;
                match &result {
                    Ok(outcome) => {
                        p.bytes += outcome.bytes();
                        p.counters = outcome.counters();
                    }
                    Err(_) => p.failed += 1,
                }
            }
            job.changed();
            result
        });
        task.await
            .map_err(|e| DomainError::Internal(format!("{} job stopped: {e}", self.shared.name)))?
    }
}

/// The job as the worker runtime sees it.
struct JobWorker {
    shared: Arc<Shared>,
}

impl Worker for JobWorker {
    fn name(&self) -> &str {
        self.shared.name
    }

    fn step(&mut self) -> BoxFuture<'_, Result<Step, WorkerError>> {
        Box::pin(async move {
            let mut changes = self.shared.changes.subscribe();
            let running = self
                .shared
                .progress
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .running;
            if !running {
                return Ok(Step::Idle(IDLE));
            }
            // Busy: look again when the run moves on, or after a moment.
            let _ = tokio::time::timeout(POLL, changes.changed()).await;
            Ok(Step::Busy)
        })
    }

    fn report(&self) -> WorkerReport {
        let p = self
            .shared
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut counters = p.counters.clone();
        counters.insert("failed_runs".into(), p.failed);
        WorkerReport {
            queue_len: p.waiting,
            progress: p.running.then_some(p.done),
            items: p.runs,
            bytes: p.bytes,
            passes: p.runs,
            counters,
            settings: BTreeMap::new(),
        }
    }

    fn set(&mut self, key: &str, _value: &str) -> Result<(), WorkerError> {
        Err(WorkerError::UnknownKey {
            worker: self.shared.name.into(),
            key: key.into(),
            known: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Moved(u64);

    impl JobOutcome for Moved {
        fn bytes(&self) -> u64 {
            self.0
        }
        fn counters(&self) -> BTreeMap<String, u64> {
            [("moved".to_string(), self.0)].into()
        }
    }

    async fn state_of(workers: &Workers, busy: bool) -> tessera_replication::WorkerStatus {
        let want = if busy {
            tessera_replication::WorkerState::Busy
        } else {
            tessera_replication::WorkerState::Idle
        };
        for _ in 0..100 {
            let s = workers.get("job").unwrap();
            if s.state == want {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job never became {want:?}: {:?}", workers.get("job"));
    }

    #[tokio::test]
    async fn a_run_shows_busy_with_its_phase_then_idle_with_its_figures() {
        let workers = Workers::new();
        let job = Job::spawn("job", &workers);
        state_of(&workers, false).await;
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let running = {
            let job = job.clone();
            let phased = job.clone();
            tokio::spawn(async move {
                job.run(async move {
                    phased.phase(0.5);
                    let _ = released.await;
                    Ok(Moved(42))
                })
                .await
            })
        };
        let busy = state_of(&workers, true).await;
        assert_eq!(busy.report.progress, Some(0.5));
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap().unwrap().0, 42);
        let idle = state_of(&workers, false).await;
        assert_eq!(idle.report.passes, 1);
        assert_eq!(idle.report.bytes, 42);
        assert_eq!(idle.report.counters["moved"], 42);
        assert_eq!(idle.report.counters["failed_runs"], 0);
        assert_eq!(idle.report.progress, None);
        // A failed run is counted and its error handed back.
        let err = job
            .run(async { Err::<Moved, _>(DomainError::Unavailable("no".into())) })
            .await;
        assert!(matches!(err, Err(DomainError::Unavailable(_))));
        workers.shutdown();
    }
}
