//! Runtime settings of the background loops: the kinds of value a setting takes (duration,
//! byte rate, count), each with one parser and explicit bounds, and for each loop's config
//! which key sets which field.
//!
//! Both ways of changing a loop's settings go through here: the runtime API
//! (`Worker::set`, `PUT /tessera/v1/workers/NAME/settings/KEY`) and the node's config file
//! and flags, so a value one accepts the other accepts too.
//!
//! The text rules:
//! - a duration is a number of seconds (`30`, `0.5`) or a number with one unit, `ms`, `s`,
//!   `m`, `h` or `d` (`250ms`, `10m`, `1d`); never negative, NaN or infinite, and at most
//!   [`MAX_DURATION`] (365 days);
//! - a byte rate is bytes per second as a whole number, optionally with `KiB`, `MiB`, `GiB`
//!   or `TiB` (`33554432`, `32MiB`), at most [`MAX_BYTE_RATE`] (1 TiB/s);
//! - a count is a whole number within the setting's bounds.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::worker::named;
use crate::{AuditorConfig, ReaperConfig, ReplicatorConfig, WorkerError};

/// Longest duration any setting takes: anything longer is a typo (or `1e300`).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// Highest byte rate any setting takes (1 TiB/s: beyond any disk).
pub const MAX_BYTE_RATE: u64 = 1 << 40;

/// Why a setting's value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Not a duration at all (including NaN and infinities).
    #[error(
        "expected a duration: seconds, or a number with a unit ms, s, m, h or d \
         (e.g. 30, 250ms, 10m, 1d)"
    )]
    NotADuration,
    /// Not a byte rate at all.
    #[error("expected bytes per second: a whole number, optionally with KiB, MiB, GiB or TiB (e.g. 32MiB)")]
    NotAByteRate,
    /// Not a whole number.
    #[error("expected a whole number")]
    NotACount,
    /// Below the setting's lower bound (negative values included).
    #[error("must be at least {0}")]
    TooSmall(String),
    /// Above the setting's upper bound.
    #[error("must be at most {0}")]
    TooLarge(String),
    /// Breaks a rule between two settings of one loop (the reaper's grace must exceed its
    /// upload timeout, or an upload's first chunks may be reaped before it ends).
    #[error("must be {rule} ({bound})")]
    Order {
        /// The rule broken.
        rule: Order,
        /// The other setting's current value.
        bound: String,
    },
}

/// A rule between two settings of one loop, as [`ValueError::Order`] states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Order {
    /// The reaper's grace must exceed its upload timeout.
    #[error("greater than upload_timeout")]
    AboveUploadTimeout,
    /// The reaper's upload timeout must stay below its grace.
    #[error("less than grace")]
    BelowGrace,
}

/// Bounds of a duration setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    /// Shortest value accepted.
    pub min: Duration,
    /// Longest value accepted.
    pub max: Duration,
}

/// Units a duration may carry, with their length in milliseconds; `ms` before `s` and `m`,
/// which are its suffixes.
const DURATION_UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

impl DurationRange {
    /// Zero to [`MAX_DURATION`].
    pub const ANY: DurationRange = DurationRange::at_least(Duration::ZERO);

    /// `min` to [`MAX_DURATION`].
    pub const fn at_least(min: Duration) -> DurationRange {
        DurationRange {
            min,
            max: MAX_DURATION,
        }
    }

    /// Parses `text` by the duration rule of the module doc and checks the bounds.
    pub fn parse(&self, text: &str) -> Result<Duration, ValueError> {
        let text = text.trim();
        let (number, unit_ms) = DURATION_UNITS
            .iter()
            .find_map(|(unit, ms)| text.strip_suffix(unit).map(|n| (n.trim_end(), *ms)))
            .unwrap_or((text, 1_000));
        let number: f64 = number.parse().map_err(|_| ValueError::NotADuration)?;
        if !number.is_finite() {
            return Err(ValueError::NotADuration);
        }
        // Compare in seconds before building a Duration, which panics on overflow.
        let secs = number * unit_ms as f64 / 1_000.0;
        if secs < self.min.as_secs_f64() {
            return Err(ValueError::TooSmall(format_duration(self.min)));
        }
        if secs > self.max.as_secs_f64() {
            return Err(ValueError::TooLarge(format_duration(self.max)));
        }
        Duration::try_from_secs_f64(secs).map_err(|_| ValueError::NotADuration)
    }
}

/// A duration in the largest unit that states it exactly (`1d`, `90m`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}s", d.as_secs_f64());
    }
    if ms == 0 {
        return "0s".into();
    }
    let (unit, per) = DURATION_UNITS
        .iter()
        .rev()
        .find(|(_, per)| ms.is_multiple_of(u128::from(*per)))
        .copied()
        .unwrap_or(("ms", 1));
    format!("{}{unit}", ms / u128::from(per))
}

/// Bounds of a count setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRange {
    /// Smallest value accepted.
    pub min: u64,
    /// Largest value accepted.
    pub max: u64,
}

impl CountRange {
    /// Parses a whole number and checks the bounds.
    pub fn parse(&self, text: &str) -> Result<u64, ValueError> {
        let show = |n: u64| n.to_string();
        whole_in(
            text.trim(),
            1,
            (self.min, self.max),
            ValueError::NotACount,
            show,
        )
    }
}

/// Bounds of a byte-rate setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRateRange {
    /// Lowest rate accepted, in bytes per second.
    pub min: u64,
    /// Highest rate accepted, in bytes per second.
    pub max: u64,
}

/// Binary units a byte rate may carry.
const BYTE_UNITS: [(&str, u64); 4] = [
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

impl ByteRateRange {
    /// 1 B/s to [`MAX_BYTE_RATE`].
    pub const POSITIVE: ByteRateRange = ByteRateRange {
        min: 1,
        max: MAX_BYTE_RATE,
    };

    /// Parses bytes per second by the byte-rate rule of the module doc and checks the bounds.
    pub fn parse(&self, text: &str) -> Result<u64, ValueError> {
        let text = text.trim();
        let (number, unit) = BYTE_UNITS
            .iter()
            .find_map(|(unit, size)| text.strip_suffix(unit).map(|n| (n.trim_end(), *size)))
            .unwrap_or((text, 1));
        let bounds = (self.min, self.max);
        whole_in(number, unit, bounds, ValueError::NotAByteRate, format_bytes)
    }
}

/// A byte count in the largest binary unit that states it exactly (`32MiB`, `1000`).
pub fn format_bytes(n: u64) -> String {
    BYTE_UNITS
        .iter()
        .rev()
        .find(|(_, size)| n >= *size && n.is_multiple_of(*size))
        .map_or_else(
            || n.to_string(),
            |(unit, size)| format!("{}{unit}", n / size),
        )
}

/// `text` times `unit` if it is a whole number within `min..=max`. Numbers out of range
/// name the bound, written with `show`, even when they are not whole (`-1.5`, `1e300`).
fn whole_in(
    text: &str,
    unit: u64,
    (min, max): (u64, u64),
    not_whole: ValueError,
    show: fn(u64) -> String,
) -> Result<u64, ValueError> {
    let n = match text.parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => match text.parse::<f64>() {
            Ok(x) if x < 0.0 => return Err(ValueError::TooSmall(show(min))),
            Ok(x) if x.is_finite() && x >= u64::MAX as f64 => None,
            // Whole and within u64 (`1e3`), so the cast is exact.
            Ok(x) if x.fract() == 0.0 => Some(x as u64),
            // Fractions, NaN, infinities, words.
            _ => return Err(not_whole),
        },
    };
    match n.and_then(|n| n.checked_mul(unit)) {
        Some(n) if n < min => Err(ValueError::TooSmall(show(min))),
        Some(n) if n <= max => Ok(n),
        _ => Err(ValueError::TooLarge(show(max))),
    }
}

/// Turns a refused value into the worker error naming its key.
fn bad(key: &str, value: &str) -> impl FnOnce(ValueError) -> WorkerError {
    let (key, value) = (key.to_string(), value.to_string());
    move |reason| WorkerError::BadValue { key, value, reason }
}

/// The error for a key a worker does not have.
fn unknown(worker: &str, key: &str, known: &str) -> WorkerError {
    WorkerError::UnknownKey {
        worker: worker.into(),
        key: key.into(),
        known: known.into(),
    }
}

/// A duration as a report shows it: seconds, which `set` accepts back.
fn secs(d: Duration) -> String {
    d.as_secs_f64().to_string()
}

/// At least a second: a shorter period would spin.
const AT_LEAST_1S: DurationRange = DurationRange::at_least(Duration::from_secs(1));

impl AuditorConfig {
    /// Sets `rate` (a byte rate, at least 1 B/s) or `period` (a duration, at least 1s).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
        match key {
            "rate" => {
                self.rate = ByteRateRange::POSITIVE
                    .parse(value)
                    .map_err(bad(key, value))?
            }
            "period" => self.period = AT_LEAST_1S.parse(value).map_err(bad(key, value))?,
            _ => return Err(unknown("auditor", key, "rate, period")),
        }
        Ok(())
    }

    /// The settings `set` takes, with their current values.
    pub fn settings(&self) -> BTreeMap<String, String> {
        named([
            ("rate", self.rate.to_string()),
            ("period", secs(self.period)),
        ])
    }
}

impl ReaperConfig {
    /// Checks the rule between settings: `grace` exceeds `upload_timeout`. Copies of an
    /// upload's chunks on other nodes are referenced by no manifest until the upload ends,
    /// so a grace shorter than the longest upload lets the reaper delete acknowledged data.
    pub fn check(&self) -> Result<(), WorkerError> {
        self.order("grace")
            .map_err(bad("grace", &format_duration(self.grace)))
    }

    /// The rule between `grace` and `upload_timeout`, worded for a change of `key`.
    fn order(&self, key: &str) -> Result<(), ValueError> {
        if self.grace > self.upload_timeout {
            Ok(())
        } else if key == "upload_timeout" {
            Err(ValueError::Order {
                rule: Order::BelowGrace,
                bound: format_duration(self.grace),
            })
        } else {
            Err(ValueError::Order {
                rule: Order::AboveUploadTimeout,
                bound: format_duration(self.upload_timeout),
            })
        }
    }

    /// Sets `interval` (a duration, at least 1s), `grace`, `scrub_time` or `upload_timeout`
    /// (durations), and checks `grace` against `upload_timeout` as [`ReaperConfig::check`]
    /// does when either changes; a refused value changes nothing.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
        let mut next = *self;
        next.assign(key, value)?;
        if key == "grace" || key == "upload_timeout" {
            next.order(key).map_err(bad(key, value))?;
        }
        *self = next;
        Ok(())
    }

    /// Sets one setting by its own bounds only (the node's config sets them all, then checks
    /// the rule between them once).
    pub fn assign(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
        let (field, range) = match key {
            "interval" => (&mut self.interval, AT_LEAST_1S),
            "grace" => (&mut self.grace, DurationRange::ANY),
            "scrub_time" => (&mut self.scrub_time, DurationRange::ANY),
            "upload_timeout" => (&mut self.upload_timeout, AT_LEAST_1S),
            _ => {
                return Err(unknown(
                    "reaper",
                    key,
                    "interval, grace, scrub_time, upload_timeout",
                ))
            }
        };
        *field = range.parse(value).map_err(bad(key, value))?;
        Ok(())
    }

    /// The settings `set` takes, with their current values.
    pub fn settings(&self) -> BTreeMap<String, String> {
        named([
            ("interval", secs(self.interval)),
            ("grace", secs(self.grace)),
            ("scrub_time", secs(self.scrub_time)),
            ("upload_timeout", secs(self.upload_timeout)),
        ])
    }
}

/// Queue entries or handoff chunks per replicator step: a step must stay short.
const BATCH: CountRange = CountRange {
    min: 1,
    max: 10_000,
};

impl ReplicatorConfig {
    /// Sets `interval` or `handoff_grace` (durations) or `batch` (a count, 1 to 10000).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
        match key {
            "interval" => {
                self.interval = DurationRange::ANY.parse(value).map_err(bad(key, value))?
            }
            "handoff_grace" => {
                self.handoff_grace = DurationRange::ANY.parse(value).map_err(bad(key, value))?
            }
            "batch" => {
                // BATCH.max fits a usize on every target.
                self.batch = BATCH.parse(value).map_err(bad(key, value))? as usize;
            }
            _ => return Err(unknown("replicator", key, "interval, batch, handoff_grace")),
        }
        Ok(())
    }

    /// The settings `set` takes, with their current values.
    pub fn settings(&self) -> BTreeMap<String, String> {
        named([
            ("interval", secs(self.interval)),
            ("batch", self.batch.to_string()),
            ("handoff_grace", secs(self.handoff_grace)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn durations_take_seconds_or_one_unit() {
        let any = DurationRange::ANY;
        assert_eq!(any.parse("30"), Ok(secs(30)));
        assert_eq!(any.parse(" 0.5 "), Ok(Duration::from_millis(500)));
        assert_eq!(any.parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(any.parse("30s"), Ok(secs(30)));
        assert_eq!(any.parse("10m"), Ok(secs(600)));
        assert_eq!(any.parse("2h"), Ok(secs(7200)));
        assert_eq!(any.parse("1d"), Ok(secs(86_400)));
        assert_eq!(any.parse("1.5 h"), Ok(secs(5400)));
        assert_eq!(any.parse("0"), Ok(Duration::ZERO));
        assert_eq!(any.parse("365d"), Ok(MAX_DURATION));
    }

    #[test]
    fn durations_refuse_negative_nan_infinite_and_absurd() {
        let any = DurationRange::ANY;
        assert_eq!(any.parse("-1"), Err(ValueError::TooSmall("0s".into())));
        assert_eq!(any.parse("NaN"), Err(ValueError::NotADuration));
        assert_eq!(any.parse("inf"), Err(ValueError::NotADuration));
        assert_eq!(any.parse("1e300"), Err(ValueError::TooLarge("365d".into())));
        assert_eq!(any.parse("366d"), Err(ValueError::TooLarge("365d".into())));
        assert_eq!(any.parse("soon"), Err(ValueError::NotADuration));
        assert_eq!(any.parse("10 parsecs"), Err(ValueError::NotADuration));
        assert_eq!(any.parse(""), Err(ValueError::NotADuration));
        assert_eq!(
            AT_LEAST_1S.parse("0"),
            Err(ValueError::TooSmall("1s".into()))
        );
        assert_eq!(
            ValueError::TooLarge("365d".into()).to_string(),
            "must be at most 365d"
        );
    }

    #[test]
    fn durations_print_in_their_largest_exact_unit() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(secs(90)), "90s");
        assert_eq!(format_duration(secs(5400)), "90m");
        assert_eq!(format_duration(MAX_DURATION), "365d");
    }

    #[test]
    fn byte_rates_and_counts_are_whole_and_bounded() {
        let rate = ByteRateRange::POSITIVE;
        assert_eq!(rate.parse("33554432"), Ok(32 << 20));
        assert_eq!(rate.parse("32MiB"), Ok(32 << 20));
        assert_eq!(rate.parse("1TiB"), Ok(MAX_BYTE_RATE));
        assert_eq!(rate.parse("0"), Err(ValueError::TooSmall("1".into())));
        assert_eq!(rate.parse("-5"), Err(ValueError::TooSmall("1".into())));
        assert_eq!(rate.parse("2TiB"), Err(ValueError::TooLarge("1TiB".into())));
        assert_eq!(
            rate.parse("1e300"),
            Err(ValueError::TooLarge("1TiB".into()))
        );
        assert_eq!(
            rate.parse("99999999999999999999999MiB"),
            Err(ValueError::TooLarge("1TiB".into()))
        );
        assert_eq!(rate.parse("1.5MiB"), Err(ValueError::NotAByteRate));
        assert_eq!(rate.parse("NaN"), Err(ValueError::NotAByteRate));
        assert_eq!(rate.parse("fast"), Err(ValueError::NotAByteRate));
        assert_eq!(BATCH.parse("32"), Ok(32));
        assert_eq!(BATCH.parse("0"), Err(ValueError::TooSmall("1".into())));
        assert_eq!(
            BATCH.parse("1e300"),
            Err(ValueError::TooLarge("10000".into()))
        );
        assert_eq!(BATCH.parse("1e3"), Ok(1000));
        assert_eq!(BATCH.parse("2.5"), Err(ValueError::NotACount));
        assert_eq!(BATCH.parse("NaN"), Err(ValueError::NotACount));
    }

    /// Every setting of every loop: a valid value, then negative, NaN, 1e300, garbage and
    /// an unknown key, each refused with the reason.
    fn check_worker_settings<C: std::fmt::Debug + Clone + PartialEq>(
        mut config: C,
        set: fn(&mut C, &str, &str) -> Result<(), WorkerError>,
        valid: &[(&str, &str)],
    ) {
        for (key, value) in valid {
            set(&mut config, key, value).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
            let before = config.clone();
            for bad in ["-1", "NaN", "1e300", "garbage", "inf", ""] {
                match set(&mut config, key, bad) {
                    Err(WorkerError::BadValue { key: k, value, .. }) => {
                        assert_eq!((k.as_str(), value.as_str()), (*key, bad));
                    }
                    other => panic!("{key}={bad}: {other:?}"),
                }
                assert_eq!(config, before, "a refused value changes nothing");
            }
        }
        assert!(matches!(
            set(&mut config, "speed", "1"),
            Err(WorkerError::UnknownKey { .. })
        ));
    }

    #[test]
    fn every_worker_setting_is_checked() {
        check_worker_settings(
            AuditorConfig::default(),
            AuditorConfig::set,
            &[("rate", "64MiB"), ("period", "12h")],
        );
        check_worker_settings(
            ReaperConfig::default(),
            ReaperConfig::set,
            &[
                ("interval", "5m"),
                ("upload_timeout", "3h"),
                ("grace", "1d"),
                ("scrub_time", "0"),
            ],
        );
        check_worker_settings(
            ReplicatorConfig::default(),
            ReplicatorConfig::set,
            &[
                ("interval", "0.5"),
                ("batch", "64"),
                ("handoff_grace", "10m"),
            ],
        );
        let mut r = ReplicatorConfig::default();
        r.set("handoff_grace", "45").unwrap();
        r.set("batch", "7").unwrap();
        assert_eq!((r.handoff_grace, r.batch), (secs(45), 7));
        let e = r.set("handoff_grace", "1e300").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad value \"1e300\" for handoff_grace: must be at most 365d"
        );
    }

    /// Through the runtime, as the API calls it: a refused value is an error, and the worker
    /// keeps running (`1e300` used to panic the replicator's task, hence a 503).
    #[tokio::test]
    async fn a_refused_setting_leaves_the_worker_running() {
        let dir = tempfile::tempdir().unwrap();
        let data = crate::Data::open(&dir.path().join("chunks")).unwrap();
        let workers = crate::Workers::new();
        workers.spawn(crate::Replicator::new(&data, ReplicatorConfig::default()));
        let audit_state = dir.path().join("auditor.json");
        let auditor = crate::Auditor::open(data, audit_state, AuditorConfig::default()).unwrap();
        workers.spawn(auditor);
        for (worker, key) in [
            ("replicator", "handoff_grace"),
            ("replicator", "interval"),
            ("auditor", "period"),
            ("auditor", "rate"),
        ] {
            let err = workers.set(worker, key, "1e300").await.unwrap_err();
            assert!(
                matches!(err, WorkerError::BadValue { .. }),
                "{worker}.{key}: {err}"
            );
            assert!(err.to_string().contains("must be at most"), "{err}");
        }
        workers
            .set("replicator", "handoff_grace", "10m")
            .await
            .unwrap();
        let status = workers.get("replicator").unwrap();
        assert_eq!(status.report.settings["handoff_grace"], "600");
        // Reported as `set` takes them: whole seconds as before, fractions exactly.
        workers.set("auditor", "period", "1.5").await.unwrap();
        let status = workers.get("auditor").unwrap();
        assert_eq!(status.report.settings["period"], "1.5");
        workers.shutdown();
    }
}
