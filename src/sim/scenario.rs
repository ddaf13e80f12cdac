//! Scenario files: synthetic failure workloads described in TOML (README "Scenario files").
//!
//! A scenario is a list of workloads. Each workload is a stream of *failing* jobs of one
//! (job type, error class, tenant, queue) whose first attempt fails on arrival, plus a failure
//! model saying when a retry of such a job succeeds. Every key is checked: an unknown key, a
//! wrong type or an impossible value is refused with the key path and the line it is on.

use crate::model::parse_duration;
use crate::model::position::line_and_column;
use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distr::{Distribution, Uniform};
use rand_distr::{Exp, LogNormal, Normal};
use serde::{Deserialize, Deserializer, de};
use std::fmt;
use std::path::Path;

/// A scenario file, parsed and checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawScenario")]
pub struct Scenario {
    /// Short name shown in reports (defaults to the file stem when loaded from a file).
    pub name: String,
    pub description: String,
    /// Wall-clock instant of scenario time 0 (sets `time_of_day` and record timestamps).
    pub start: DateTime<Utc>,
    /// Jobs arriving before this scenario time teach the learners and are not measured.
    pub warmup: SimDuration,
    /// Length of the measured period, after the warm-up.
    pub duration: SimDuration,
    pub workloads: Vec<Workload>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_start")]
    start: DateTime<Utc>,
    #[serde(default)]
    warmup: SimDuration,
    duration: SimDuration,
    #[serde(rename = "workload")]
    workloads: Vec<Workload>,
}

fn default_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

impl TryFrom<RawScenario> for Scenario {
    type Error = String;

    fn try_from(raw: RawScenario) -> Result<Self, String> {
        if raw.workloads.is_empty() {
            return Err("a scenario needs at least one [[workload]]".into());
        }
        if raw.duration.0 == 0 {
            return Err("`duration` must be longer than 0s".into());
        }
        let mut names: Vec<&str> = raw.workloads.iter().map(|w| w.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|p| p[0] == p[1]) {
            return Err(format!("two workloads are named `{}`", pair[0]));
        }
        Ok(Self {
            name: raw.name,
            description: raw.description,
            start: raw.start,
            warmup: raw.warmup,
            duration: raw.duration,
            workloads: raw.workloads,
        })
    }
}

impl Scenario {
    /// Scenario time (ms) at which arrivals stop.
    pub fn end_ms(&self) -> u64 {
        self.warmup.0.saturating_add(self.duration.0)
    }

    /// Parses scenario text; `origin` names the source in errors (a path or `<string>`).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let de = toml::Deserializer::parse(text).map_err(|e| located(origin, text, "", &e))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            located(origin, text, &key, e.inner())
        })
    }

    /// Reads and parses a scenario file; its name defaults to the file stem.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            file: origin.clone(),
            source,
        })?;
        let mut scenario = Self::parse(&text, &origin)?;
        if scenario.name.is_empty() {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            scenario.name = stem.unwrap_or(origin);
        }
        Ok(scenario)
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read the scenario: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// `key` is the dotted path of the offending key (`workload[0].failure.outage.recovery`),
    /// empty when the text is not TOML at all; `line` and `column` are 1-based.
    #[error("{file}:{line}:{column}: {}{message}", key_prefix(.key))]
    Invalid {
        file: String,
        key: String,
        line: usize,
        column: usize,
        message: String,
    },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() || key == "." {
        String::new()
    } else {
        format!("key `{key}`: ")
    }
}

fn located(origin: &str, text: &str, key: &str, err: &toml::de::Error) -> ScenarioError {
    let (line, column) = line_and_column(text, err.span().map_or(0, |s| s.start));
    ScenarioError::Invalid {
        file: origin.to_string(),
        key: key.to_string(),
        line,
        column,
        message: err.message().trim().to_string(),
    }
}

/// A duration in scenario files, written as a string (`"8s"`, `"2m30s"`, `"1h"`); held in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct SimDuration(pub u64);

impl SimDuration {
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SimDurationVisitor)
    }
}

struct SimDurationVisitor;

impl de::Visitor<'_> for SimDurationVisitor {
    type Value = SimDuration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration string such as \"8s\", \"250ms\" or \"2m30s\"")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<SimDuration, E> {
        let d = parse_duration(s).map_err(E::custom)?;
        Ok(SimDuration(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        ))
    }
}

/// One stream of failing jobs.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawWorkload")]
pub struct Workload {
    pub name: String,
    pub job_type: String,
    pub error_class: String,
    pub error_code: String,
    pub queue: String,
    pub tenant: Option<String>,
    pub arrival: Arrival,
    /// Scenario time at which this workload starts and stops producing jobs.
    pub from: SimDuration,
    pub until: Option<SimDuration>,
    pub failure: FailureModel,
}

/// How failing jobs arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// A Poisson process with this many jobs per second.
    Rate(f64),
    /// Exactly this many jobs at uniformly random times in the active period.
    Count(u64),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: String,
    job_type: String,
    error_class: String,
    #[serde(default)]
    error_code: String,
    #[serde(default = "default_queue")]
    queue: String,
    tenant: Option<String>,
    rate: Option<f64>,
    count: Option<u64>,
    #[serde(default)]
    from: SimDuration,
    until: Option<SimDuration>,
    failure: FailureModel,
}

fn default_queue() -> String {
    "default".into()
}

impl TryFrom<RawWorkload> for Workload {
    type Error = String;

    fn try_from(raw: RawWorkload) -> Result<Self, String> {
        let arrival = match (raw.rate, raw.count) {
            (Some(r), None) if r.is_finite() && r > 0.0 => Arrival::Rate(r),
            (Some(r), None) => return Err(format!("`rate` must be a positive number (got {r})")),
            (None, Some(n)) if n > 0 => Arrival::Count(n),
            (None, Some(_)) => return Err("`count` must be at least 1".into()),
            _ => return Err("give exactly one of `rate` (jobs per second) or `count`".into()),
        };
        for (key, value) in [("name", &raw.name), ("job_type", &raw.job_type)] {
            if value.trim().is_empty() {
                return Err(format!("`{key}` must not be empty"));
            }
        }
        if raw.until.is_some_and(|u| u <= raw.from) {
            return Err("`until` must be later than `from`".into());
        }
        raw.failure.check_top_level()?;
        Ok(Self {
            name: raw.name,
            job_type: raw.job_type,
            error_class: raw.error_class,
            error_code: raw.error_code,
            queue: raw.queue,
            tenant: raw.tenant,
            arrival,
            from: raw.from,
            until: raw.until,
            failure: raw.failure,
        })
    }
}

/// When a retry of a failing job succeeds.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FailureModel {
    /// The dependency recovers `recovery` after the job's first failure.
    Outage { recovery: Recovery },
    /// Fixed reset windows in scenario time: a retry in a later window than the failure
    /// succeeds. `retry_after` puts the time to the reset in the failure (a Retry-After hint).
    RateLimit {
        window: SimDuration,
        #[serde(default)]
        offset: SimDuration,
        #[serde(default)]
        retry_after: bool,
    },
    /// Each retry succeeds independently with probability `success`.
    Flaky { success: Probability },
    /// Never recovers (validation errors).
    Permanent,
    /// Downtime windows in scenario time; only jobs that run inside one fail, and they
    /// succeed from the window's end.
    Maintenance {
        start: SimDuration,
        length: SimDuration,
        every: Option<SimDuration>,
    },
    /// The failure pattern changes from `before` to `after` at scenario time `at` or after
    /// the workload's `at_failures`-th failing job.
    Drift {
        at: Option<SimDuration>,
        at_failures: Option<u64>,
        before: Box<FailureModel>,
        after: Box<FailureModel>,
    },
}

impl FailureModel {
    fn check_top_level(&self) -> Result<(), String> {
        match self {
            Self::RateLimit { window, .. } if window.0 == 0 => {
                Err("`failure.rate_limit.window` must be longer than 0s".into())
            }
            Self::Maintenance { length, every, .. }
                if length.0 == 0 || every.is_some_and(|e| e <= *length) =>
            {
                Err("maintenance `length` must be > 0s and shorter than `every`".into())
            }
            Self::Drift {
                at,
                at_failures,
                before,
                after,
            } => {
                if at.is_some() == at_failures.is_some() {
                    return Err("a drift needs exactly one of `at` or `at_failures`".into());
                }
                for side in [before, after] {
                    if matches!(**side, Self::Drift { .. }) {
                        return Err("a drift cannot contain another drift".into());
                    }
                    side.check_top_level()?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A probability in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct Probability(pub f64);

impl TryFrom<f64> for Probability {
    type Error = String;

    fn try_from(p: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&p) {
            Ok(Self(p))
        } else {
            Err(format!("must be a probability between 0 and 1 (got {p})"))
        }
    }
}

/// The distribution of an outage's length (time from first failure to recovery), ready to sample.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRecovery")]
pub struct Recovery {
    sampler: Sampler,
    min_ms: u64,
    max_ms: u64,
}

#[derive(Debug, Clone)]
enum Sampler {
    Uniform(Uniform<f64>),
    LogNormal(LogNormal<f64>),
    Normal(Normal<f64>),
    Exp(Exp<f64>),
}

impl Recovery {
    /// Draws one outage length in milliseconds (at least 1 ms, within the configured bounds).
    pub fn sample_ms<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let secs = match &self.sampler {
            Sampler::Uniform(d) => d.sample(rng),
            Sampler::LogNormal(d) => d.sample(rng),
            Sampler::Normal(d) => d.sample(rng),
            Sampler::Exp(d) => d.sample(rng),
        };
        let ms = (secs * 1000.0).round().max(0.0) as u64;
        ms.clamp(self.min_ms.max(1), self.max_ms.max(1))
    }
}

/// The scenario file's spelling: `recovery.<kind> = { ... }`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawRecovery {
    /// Uniform between `min` and `max`.
    Uniform { min: SimDuration, max: SimDuration },
    /// Log-normal with the given median and shape `sigma` (standard deviation of the log).
    Lognormal { median: SimDuration, sigma: f64 },
    /// Normal, clamped to [`min`, `max`].
    Normal {
        mean: SimDuration,
        std_dev: SimDuration,
        #[serde(default)]
        min: SimDuration,
        max: Option<SimDuration>,
    },
    /// Exponential with the given mean.
    Exponential { mean: SimDuration },
}

impl TryFrom<RawRecovery> for Recovery {
    type Error = String;

    fn try_from(raw: RawRecovery) -> Result<Self, String> {
        let (sampler, min_ms, max_ms) = match raw {
            RawRecovery::Uniform { min, max } => {
                let d = Uniform::new_inclusive(min.as_secs_f64(), max.as_secs_f64())
                    .map_err(|e| format!("uniform needs `min` <= `max`: {e}"))?;
                (Sampler::Uniform(d), 0, u64::MAX)
            }
            RawRecovery::Lognormal { median, sigma } => {
                if median.0 == 0 || !(sigma.is_finite() && sigma > 0.0) {
                    return Err("lognormal needs `median` > 0s and `sigma` > 0".into());
                }
                let d = LogNormal::new(median.as_secs_f64().ln(), sigma)
                    .map_err(|e| format!("lognormal: {e}"))?;
                (Sampler::LogNormal(d), 0, u64::MAX)
            }
            RawRecovery::Normal {
                mean,
                std_dev,
                min,
                max,
            } => {
                let max = max.map_or(u64::MAX, |m| m.0);
                if max < min.0 {
                    return Err("normal `max` must not be below `min`".into());
                }
                let d = Normal::new(mean.as_secs_f64(), std_dev.as_secs_f64())
                    .map_err(|e| format!("normal: {e}"))?;
                (Sampler::Normal(d), min.0, max)
            }
            RawRecovery::Exponential { mean } => {
                if mean.0 == 0 {
                    return Err("exponential needs `mean` > 0s".into());
                }
                let d = Exp::new(1.0 / mean.as_secs_f64())
                    .map_err(|e| format!("exponential needs `mean` > 0s: {e}"))?;
                (Sampler::Exp(d), 0, u64::MAX)
            }
        };
        Ok(Self {
            sampler,
            min_ms,
            max_ms,
        })
    }
}

/// The fuzz tests of scenario files (README "Fuzzing").
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz::{
        damage, edit, edited_toml, hostile_text, hostile_toml, nameable_keys, says_where,
    };
    use proptest::prelude::*;

    /// The shipped scenarios: every one a valid document to damage.
    const SEEDS: [&str; 11] = [
        include_str!("../../scenarios/db-maintenance.toml"),
        include_str!("../../scenarios/demo.toml"),
        include_str!("../../scenarios/drift.toml"),
        include_str!("../../scenarios/flaky.toml"),
        include_str!("../../scenarios/incident-burst.toml"),
        include_str!("../../scenarios/mixed-day.toml"),
        include_str!("../../scenarios/noisy-neighbour.toml"),
        include_str!("../../scenarios/payment-503.toml"),
        include_str!("../../scenarios/rate-limit-hint.toml"),
        include_str!("../../scenarios/rate-limit-no-hint.toml"),
        include_str!("../../scenarios/validation.toml"),
    ];

    /// Parses `text` and reads the end of its arrivals, as `eval` and `simulate` do first.
    fn load(text: &str) -> Result<u64, ScenarioError> {
        Scenario::parse(text, "fuzz.toml").map(|s| s.end_ms())
    }

    /// A refusal names the file, a line of it and what is wrong.
    fn explained(text: &str, e: &ScenarioError) -> Result<(), TestCaseError> {
        let ScenarioError::Invalid {
            file,
            line,
            message,
            ..
        } = e
        else {
            return Err(TestCaseError::fail(format!("not a parse error: {e}")));
        };
        prop_assert_eq!(file.as_str(), "fuzz.toml");
        prop_assert!(*line >= 1 && *line <= text.lines().count().max(1), "{e}");
        prop_assert!(!message.trim().is_empty(), "{e}");
        Ok(())
    }

    /// Found by reading what `fuzz_files_*` parse: two long spans overflowed `end_ms`.
    #[test]
    fn the_longest_spans_end_without_overflow() {
        let text = "warmup = \"300000000y\"\nduration = \"300000000y\"\n\
                    [[workload]]\nname = \"a\"\njob_type = \"t\"\nerror_class = \"e\"\n\
                    count = 1\nfailure = \"permanent\"\n";
        assert_eq!(load(text).unwrap(), u64::MAX);
    }

    #[test]
    fn every_seed_is_valid() {
        for text in SEEDS {
            load(text).unwrap();
        }
    }

    proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn fuzz_files_any_scenario_text_parses_or_says_where(text in hostile_text()) {
            if let Err(e) = load(&text) {
                explained(&text, &e)?;
            }
        }

        #[test]
        fn fuzz_files_damaged_scenarios_say_where(
            which in any::<prop::sample::Index>(),
            damage in damage(),
        ) {
            let text = damage.apply(SEEDS[which.index(SEEDS.len())]);
            if let Err(e) = load(&text) {
                explained(&text, &e)?;
            }
        }

        /// One value replaced, removed or added: the refusal names a key on its path.
        #[test]
        fn fuzz_files_edited_scenarios_name_the_key(
            which in any::<prop::sample::Index>(),
            (at, change) in edit(hostile_toml()),
        ) {
            let seed = SEEDS[which.index(SEEDS.len())];
            let Some((text, path)) = edited_toml(seed, &at, &change) else {
                return Ok(());
            };
            if let Err(e) = load(&text) {
                explained(&text, &e)?;
                let keys = nameable_keys(&path, &change);
                prop_assert!(says_where(&e.to_string(), &keys),
                    "edit {change:?} at {path:?}: {e}");
            }
        }
    }
}
