//! The results table: one row per workload with Tessera, Glance and the machine's ceiling,
//! rendered as Markdown and JSON, plus the targets checked against the ratios.

use crate::stats::Samples;
use serde::Serialize;

/// One measured quantity.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was measured.
    pub workload: String,
    /// Unit of every figure in the row.
    pub unit: &'static str,
    /// Whether more is better (throughput) or less (latency, memory, CPU).
    pub higher_is_better: bool,
    /// Tessera's measurements.
    pub tessera: Samples,
    /// The real Glance's measurements (empty when not run).
    pub glance: Samples,
    /// The machine's ceiling for this workload, if one applies.
    pub ceiling: Samples,
    /// Which ceiling.
    pub ceiling_name: Option<&'static str>,
}

impl Row {
    /// An empty row.
    pub fn new(workload: impl Into<String>, unit: &'static str, higher_is_better: bool) -> Row {
        Row {
            workload: workload.into(),
            unit,
            higher_is_better,
            tessera: Samples::default(),
            glance: Samples::default(),
            ceiling: Samples::default(),
            ceiling_name: None,
        }
    }

    /// Tessera's median over Glance's median.
    pub fn vs_glance(&self) -> Option<f64> {
        Some(self.tessera.median()? / self.glance.median()?)
    }

    /// Tessera's median over the ceiling's median.
    pub fn vs_ceiling(&self) -> Option<f64> {
        Some(self.tessera.median()? / self.ceiling.median()?)
    }
}

/// A target from the issue and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The target as the issue states it.
    pub goal: String,
    /// The measured figure it is judged on.
    pub measured: Option<f64>,
    /// Whether it was met (None: not measured in this run).
    pub met: Option<bool>,
}

impl Target {
    /// A target met when `measured` is at least `min`.
    pub fn at_least(goal: &str, measured: Option<f64>, min: f64) -> Target {
        Target {
            goal: goal.into(),
            measured,
            met: measured.map(|m| m >= min),
        }
    }

    /// A target met when `measured` is at most `max`.
    pub fn at_most(goal: &str, measured: Option<f64>, max: f64) -> Target {
        Target {
            goal: goal.into(),
            measured,
            met: measured.map(|m| m <= max),
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When and how the run was made.
    pub context: Vec<String>,
    /// Measurements, in run order.
    pub rows: Vec<Row>,
    /// The targets.
    pub targets: Vec<Target>,
}

/// A figure with about three significant digits.
fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// "median (min–max)" of the samples, or "–".
fn cell(s: &Samples) -> String {
    match (s.median(), s.range()) {
        (Some(m), Some((lo, hi))) if s.0.len() > 1 => {
            format!("{} ({}–{})", num(m), num(lo), num(hi))
        }
        (Some(m), _) => num(m),
        _ => "–".into(),
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{}×", num(r)))
}

impl Report {
    /// The table, the targets and the context as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| workload | unit | Tessera | Glance | ceiling | Tessera/Glance | Tessera/ceiling |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let unit = format!("{} {}", r.unit, if r.higher_is_better { "↑" } else { "↓" });
            let ceiling = match r.ceiling_name {
                Some(name) if r.ceiling.median().is_some() => {
                    format!("{} ({name})", cell(&r.ceiling))
                }
                _ => cell(&r.ceiling),
            };
            out.push_str(&format!(
                "| {} | {unit} | {} | {} | {ceiling} | {} | {} |\n",
                r.workload,
                cell(&r.tessera),
                cell(&r.glance),
                ratio(r.vs_glance()),
                ratio(r.vs_ceiling()),
            ));
        }
        out.push_str(
            "\nCells: median (min–max) over the rounds. ↑ more is better, ↓ less is better.\n\n",
        );
        out.push_str("| target | measured | met |\n|---|---|---|\n");
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            };
            let measured = t.measured.map_or("–".into(), num);
            out.push_str(&format!("| {} | {measured} | {met} |\n", t.goal));
        }
        out.push('\n');
        for c in &self.context {
            out.push_str(&format!("- {c}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_ratios_and_missing_cells() {
        let mut r = Row::new("upload", "MB/s", true);
        r.tessera = Samples(vec![300.0, 200.0, 400.0]);
        r.glance = Samples(vec![100.0]);
        let report = Report {
            context: vec!["test".into()],
            rows: vec![r.clone()],
            targets: vec![Target::at_least("upload ≥ 3× Glance", r.vs_glance(), 3.0)],
        };
        let md = report.markdown();
        assert!(
            md.contains("| upload | MB/s ↑ | 300 (200–400) | 100 | – | 3.00× | – |"),
            "{md}"
        );
        assert!(md.contains("| upload ≥ 3× Glance | 3.00 | yes |"), "{md}");
    }
}
