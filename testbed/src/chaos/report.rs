//! The chaos report: what ran, what was injected, what the checkers found.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::faults::{FaultKind, Injected, Planned};
use super::workload::Recorded;
use super::Options;
use crate::check::{Findings, History};

/// Latency summary of one kind of operation.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median, ms.
    pub p50_ms: u64,
    /// 99th percentile, ms.
    pub p99_ms: u64,
    /// Slowest, ms.
    pub max_ms: u64,
}

/// Counts and latencies of one kind of operation.
#[derive(Debug, Clone, Serialize)]
pub struct OpSummary {
    /// By outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Latencies.
    pub latency: Latency,
}

/// A whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Seed of workload and faults.
    pub seed: u64,
    /// Nodes.
    pub nodes: usize,
    /// Clients.
    pub clients: usize,
    /// Seconds the workload ran.
    pub workload_secs: f64,
    /// Faults asked for but not available here.
    pub skipped_faults: Vec<FaultKind>,
    /// Faults injected, by kind.
    pub fault_counts: BTreeMap<String, u64>,
    /// The schedule drawn from the seed.
    pub schedule: Vec<Planned>,
    /// What was injected, in order.
    pub timeline: Vec<Injected>,
    /// Operations by kind.
    pub operations: BTreeMap<String, OpSummary>,
    /// What the checkers found.
    pub findings: Findings,
    /// Whether the cluster's metadata converged after healing (the problem if not).
    pub convergence: Result<(), String>,
    /// Whether every active image's chunks reached R and unreferenced chunks were reaped.
    pub chunk_convergence: Result<(), String>,
    /// Nodes down or panicked at the end.
    pub liveness: Vec<String>,
    /// The recorded history, for `testbed check --history`.
    pub history: History,
}

impl Report {
    /// Assembles the report.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        o: &Options,
        workload_secs: f64,
        schedule: Vec<Planned>,
        timeline: Vec<Injected>,
        recorded: Recorded,
        findings: Findings,
        convergence: Result<(), String>,
        chunk_convergence: Result<(), String>,
        liveness: Vec<String>,
    ) -> Report {
        let mut fault_counts = BTreeMap::new();
        for i in timeline.iter().filter(|i| i.error.is_none()) {
            *fault_counts.entry(i.planned.kind.name()).or_default() += 1;
        }
        let operations = recorded
            .stats
            .into_iter()
            .map(|(kind, mut s)| {
                s.latencies_ms.sort_unstable();
                let at = |q: f64| {
                    let i = ((s.latencies_ms.len() as f64 - 1.0) * q).round() as usize;
                    s.latencies_ms.get(i).copied().unwrap_or(0)
                };
                let latency = Latency {
                    p50_ms: at(0.5),
                    p99_ms: at(0.99),
                    max_ms: s.latencies_ms.last().copied().unwrap_or(0),
                };
                (
                    kind.to_string(),
                    OpSummary {
                        outcomes: s.outcomes,
                        latency,
                    },
                )
            })
            .collect();
        Report {
            seed: o.seed,
            nodes: o.nodes,
            clients: o.clients,
            workload_secs,
            skipped_faults: Vec::new(),
            fault_counts,
            schedule,
            timeline,
            operations,
            findings,
            convergence,
            chunk_convergence,
            liveness,
            history: recorded.history,
        }
    }

    /// Whether nothing was violated.
    pub fn passed(&self) -> bool {
        self.findings.violations.is_empty()
            && self.convergence.is_ok()
            && self.chunk_convergence.is_ok()
            && self.liveness.is_empty()
    }

    /// A short human summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let ops: u64 = self
            .operations
            .values()
            .flat_map(|o| o.outcomes.values())
            .sum();
        let _ = writeln!(
            s,
            "chaos seed {} on {} nodes, {} clients, {:.0} s: {} operations on {} images",
            self.seed, self.nodes, self.clients, self.workload_secs, ops, self.findings.images
        );
        for (kind, o) in &self.operations {
            let _ = writeln!(
                s,
                "  {kind:<11} {:?} p50 {} ms p99 {} ms",
                o.outcomes, o.latency.p50_ms, o.latency.p99_ms
            );
        }
        let _ = writeln!(
            s,
            "  faults: {:?} (skipped: {:?})",
            self.fault_counts, self.skipped_faults
        );
        for i in self.timeline.iter().filter(|i| i.error.is_some()) {
            let _ = writeln!(s, "  fault error: {:?}: {:?}", i.planned.kind, i.error);
        }
        if !self.findings.undecided.is_empty() {
            let _ = writeln!(s, "  undecided images: {}", self.findings.undecided.len());
        }
        for v in &self.findings.violations {
            let _ = writeln!(
                s,
                "  VIOLATION [{}] image {}: {}",
                v.checker, v.image, v.message
            );
        }
        if let Err(e) = &self.convergence {
            let _ = writeln!(s, "  VIOLATION [convergence] {e}");
        }
        if let Err(e) = &self.chunk_convergence {
            let _ = writeln!(s, "  VIOLATION [chunks] {e}");
        }
        for l in &self.liveness {
            let _ = writeln!(s, "  VIOLATION [liveness] {l}");
        }
        let _ = write!(s, "{}", if self.passed() { "PASSED" } else { "FAILED" });
        s
    }
}
