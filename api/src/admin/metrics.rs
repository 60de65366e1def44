//! `GET /metrics` (admin only): every worker's status in the Prometheus text format.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tessera_replication::{WorkerState, WorkerStatus};

use super::require_admin;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::AppState;

/// `GET /metrics`.
pub async fn metrics(
    State(st): State<AppState>,
    who: Identity,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&st, &who, "metrics")?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render_metrics(&st.workers.list()),
    ))
}

const STATES: [(WorkerState, &str); 5] = [
    (WorkerState::Busy, "busy"),
    (WorkerState::Idle, "idle"),
    (WorkerState::Throttled, "throttled"),
    (WorkerState::Paused, "paused"),
    (WorkerState::Error, "error"),
];

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of `workers`: one family per figure, one sample per worker.
pub fn render_metrics(workers: &[WorkerStatus]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    };
    let w = |s: &WorkerStatus| format!("worker=\"{}\"", label(&s.name));
    let each = |f: &dyn Fn(&WorkerStatus) -> f64| -> Vec<(String, f64)> {
        workers.iter().map(|s| (w(s), f(s))).collect()
    };
    family(
        "tessera_worker_state",
        "gauge",
        "1 for the state each background worker is in, 0 for the others.",
        workers
            .iter()
            .flat_map(|s| {
                STATES.iter().map(move |(st, name)| {
                    let v = if s.state == *st { 1.0 } else { 0.0 };
                    (format!("{},state=\"{name}\"", w(s)), v)
                })
            })
            .collect(),
    );
    family(
        "tessera_worker_queue_len",
        "gauge",
        "Items waiting for each worker.",
        each(&|s| s.report.queue_len as f64),
    );
    family(
        "tessera_worker_progress",
        "gauge",
        "Fraction of the current pass done (workers that work in passes).",
        workers
            .iter()
            .filter_map(|s| s.report.progress.map(|p| (w(s), p)))
            .collect(),
    );
    family(
        "tessera_worker_rate",
        "gauge",
        "Items per second over the last busy stretch.",
        each(&|s| s.rate),
    );
    family(
        "tessera_worker_items_total",
        "counter",
        "Items processed since the node started.",
        each(&|s| s.report.items as f64),
    );
    family(
        "tessera_worker_bytes_total",
        "counter",
        "Bytes processed since the node started.",
        each(&|s| s.report.bytes as f64),
    );
    family(
        "tessera_worker_passes_total",
        "counter",
        "Full passes completed since the node started.",
        each(&|s| s.report.passes as f64),
    );
    family(
        "tessera_worker_errors_total",
        "counter",
        "Failed steps since the node started.",
        each(&|s| s.errors as f64),
    );
    family(
        "tessera_worker_events_total",
        "counter",
        "Worker-specific counters (quarantined, deleted, scrubbed, ...).",
        workers
            .iter()
            .flat_map(|s| {
                s.report
                    .counters
                    .iter()
                    .map(move |(k, v)| (format!("{},counter=\"{}\"", w(s), label(k)), *v as f64))
            })
            .collect(),
    );
    family(
        "tessera_worker_setting",
        "gauge",
        "Numeric settings of each worker (rate in bytes/s, times in seconds).",
        workers
            .iter()
            .flat_map(|s| {
                s.report.settings.iter().filter_map(move |(k, v)| {
                    let v = v.parse::<f64>().ok()?;
                    Some((format!("{},key=\"{}\"", w(s), label(k)), v))
                })
            })
            .collect(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_replication::WorkerReport;

    #[test]
    fn metrics_render_one_sample_per_worker_and_figure() {
        let status = WorkerStatus {
            name: "auditor".into(),
            state: WorkerState::Throttled,
            errors: 2,
            last_error: None,
            last_error_at: None,
            rate: 1.5,
            report: WorkerReport {
                progress: Some(0.25),
                items: 10,
                bytes: 4096,
                counters: [("quarantined".to_string(), 1)].into(),
                settings: [
                    ("rate".to_string(), "1024".to_string()),
                    ("mode".to_string(), "x".to_string()),
                ]
                .into(),
                ..WorkerReport::default()
            },
        };
        let text = render_metrics(&[status]);
        for line in [
            "# TYPE tessera_worker_state gauge",
            "tessera_worker_state{worker=\"auditor\",state=\"throttled\"} 1",
            "tessera_worker_state{worker=\"auditor\",state=\"busy\"} 0",
            "tessera_worker_progress{worker=\"auditor\"} 0.25",
            "tessera_worker_items_total{worker=\"auditor\"} 10",
            "tessera_worker_bytes_total{worker=\"auditor\"} 4096",
            "tessera_worker_errors_total{worker=\"auditor\"} 2",
            "tessera_worker_events_total{worker=\"auditor\",counter=\"quarantined\"} 1",
            "tessera_worker_setting{worker=\"auditor\",key=\"rate\"} 1024",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("key=\"mode\""));
        assert_eq!(label("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
