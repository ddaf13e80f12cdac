//! `retryctl eval`: retry strategies compared offline, in virtual time, on failure scenarios.
//!
//! Which scenarios run: the files named on the command line; else every `*.toml` in
//! `--scenario-dir`; else every `*.toml` in `./scenarios` when that directory exists (a source
//! checkout, where edits to the shipped files take effect at once); else the scenarios shipped
//! with retryctl, embedded in the binary, so an installed `retryctl eval` works from any
//! working directory.

use crate::engine::CostWeights;
use crate::engine::ml::ModelKind;
use crate::sim::eval::EvalConfig;
use crate::sim::report::Format;
use crate::sim::scenario::Scenario;
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

/// The files of `scenarios/`, embedded: (file stem, TOML text).
const SHIPPED: &[(&str, &str)] = &[
    (
        "db-maintenance",
        include_str!("../../scenarios/db-maintenance.toml"),
    ),
    ("demo", include_str!("../../scenarios/demo.toml")),
    ("drift", include_str!("../../scenarios/drift.toml")),
    ("flaky", include_str!("../../scenarios/flaky.toml")),
    (
        "incident-burst",
        include_str!("../../scenarios/incident-burst.toml"),
    ),
    ("mixed-day", include_str!("../../scenarios/mixed-day.toml")),
    (
        "noisy-neighbour",
        include_str!("../../scenarios/noisy-neighbour.toml"),
    ),
    (
        "payment-503",
        include_str!("../../scenarios/payment-503.toml"),
    ),
    (
        "rate-limit-hint",
        include_str!("../../scenarios/rate-limit-hint.toml"),
    ),
    (
        "rate-limit-no-hint",
        include_str!("../../scenarios/rate-limit-no-hint.toml"),
    ),
    (
        "validation",
        include_str!("../../scenarios/validation.toml"),
    ),
];

/// The directory looked for when no scenario and no `--scenario-dir` is given.
const LOCAL_DIR: &str = "./scenarios";
/// Options of `retryctl eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// Scenario files [default: every *.toml in --scenario-dir, else in ./scenarios if it
    /// exists, else the scenarios shipped with retryctl]
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,

    /// Directory whose *.toml files are run when no SCENARIO is given
    #[arg(long, value_name = "DIR", env = "RETRYCTL_SCENARIO_DIR")]
    pub scenario_dir: Option<PathBuf>,

    /// Print JSON instead of a table
    #[arg(long, conflicts_with = "csv", env = "RETRYCTL_EVAL_JSON")]
    pub json: bool,

    /// Print CSV (one row per scenario and strategy) instead of a table
    #[arg(long, env = "RETRYCTL_EVAL_CSV")]
    pub csv: bool,

    /// Seed of the scenarios' randomness and of every strategy's own
    #[arg(long, default_value_t = 42, env = "RETRYCTL_EVAL_SEED")]
    pub seed: u64,

    /// Cost of one retry
    #[arg(long, value_name = "COST", default_value_t = 1.0, value_parser = non_negative,
          env = "RETRYCTL_EVAL_COST_PER_RETRY")]
    pub cost_per_retry: f64,

    /// Cost of each second between a job's first failure and its success or abandonment
    #[arg(long, value_name = "COST", default_value_t = 0.05, value_parser = non_negative,
          env = "RETRYCTL_EVAL_COST_PER_SECOND")]
    pub cost_per_second: f64,

    /// Cost of a job that never succeeds
    #[arg(long, value_name = "COST", default_value_t = 100.0, value_parser = non_negative,
          env = "RETRYCTL_EVAL_COST_GIVE_UP")]
    pub cost_give_up: f64,

    /// All three cost weights at once, e.g. `per_attempt=2,per_second=1,give_up=600`; a key
    /// given here wins over --cost-per-retry, --cost-per-second and --cost-give-up
    #[arg(long, value_name = "WEIGHTS", value_parser = cost_weights, env = "RETRYCTL_EVAL_COST")]
    pub cost: Option<CostOverride>,

    /// Model of the `ml` strategy, trained on each scenario's warm-up by the service's training
    /// code; `off` leaves the strategy out (it does not run with --api)
    #[arg(long, value_enum, value_name = "MODEL", default_value_t = MlModel::GradientBoost,
          env = "RETRYCTL_EVAL_ML_MODEL")]
    pub ml_model: MlModel,

    /// Run the rules and Bayesian strategies in the service at this URL (records stamped with
    /// virtual time) instead of in process; the run's cost weights become the service's for the
    /// run (PUT /engine/cost, put back at the end)
    #[arg(long, value_name = "URL", env = "RETRYCTL_EVAL_API")]
    pub api: Option<String>,

    /// Bearer token for --api: an operator token when the service requires tokens (eval
    /// switches the Bayesian tier off and on through PUT /strategy)
    #[arg(long, env = "RETRYCTL_TOKEN", hide_env_values = true, requires = "api")]
    pub token: Option<String>,
}

impl EvalArgs {
    /// The evaluation settings these flags ask for.
    pub fn config(&self) -> EvalConfig {
        let o = self.cost.clone().unwrap_or_default();
        EvalConfig {
            seed: self.seed,
            cost: CostWeights {
                per_attempt: o.per_attempt.unwrap_or(self.cost_per_retry),
                per_second: o.per_second.unwrap_or(self.cost_per_second),
                give_up_penalty: o.give_up.unwrap_or(self.cost_give_up),
            },
            ml_model: match self.ml_model {
                MlModel::GradientBoost => Some(ModelKind::GradientBoost),
                MlModel::Logistic => Some(ModelKind::Logistic),
                MlModel::Off => None,
            },
            ..EvalConfig::default()
        }
    }

    /// The output format these flags ask for.
    pub fn format(&self) -> Format {
        match (self.json, self.csv) {
            (true, _) => Format::Json,
            (_, true) => Format::Csv,
            _ => Format::Table,
        }
    }
}

/// `--ml-model`: the model kind of the `ml` strategy, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MlModel {
    GradientBoost,
    Logistic,
    Off,
}

/// The weights `--cost` names; the others come from their own flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostOverride {
    pub per_attempt: Option<f64>,
    pub per_second: Option<f64>,
    pub give_up: Option<f64>,
}

fn cost_weights(text: &str) -> Result<CostOverride, String> {
    let mut o = CostOverride::default();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got `{pair}`"))?;
        let value = Some(non_negative(value.trim())?);
        match key.trim() {
            "per_attempt" => o.per_attempt = value,
            "per_second" => o.per_second = value,
            "give_up" => o.give_up = value,
            other => {
                return Err(format!(
                    "unknown cost weight `{other}`: use per_attempt, per_second or give_up"
                ));
            }
        }
    }
    Ok(o)
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a number >= 0, got `{text}`")),
    }
}

/// Runs the evaluation (in process, or with the learners in a service) and prints it.
pub fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    let scenarios = scenarios(args)?;
    let (config, format) = (args.config(), args.format());
    if args.api.is_some() && config.ml_model.is_some() {
        eprintln!(
            "note: the ml strategy runs in process only: the report over --api leaves it out"
        );
    }
    let out = match &args.api {
        Some(url) => crate::sim::eval_api(&scenarios, &config, format, url, args.token.clone())?,
        None => crate::sim::eval(&scenarios, &config, format)?,
    };
    print!("{out}");
    Ok(())
}

/// The scenarios to run, all loaded before any runs so a typo fails fast.
fn scenarios(args: &EvalArgs) -> anyhow::Result<Vec<Scenario>> {
    if !args.scenarios.is_empty() {
        return load(&args.scenarios);
    }
    if let Some(dir) = &args.scenario_dir {
        return load(&scenario_files(dir)?);
    }
    let local = Path::new(LOCAL_DIR);
    if local.is_dir() {
        return load(&scenario_files(local)?);
    }
    shipped()
}

fn load(paths: &[PathBuf]) -> anyhow::Result<Vec<Scenario>> {
    Ok(paths
        .iter()
        .map(|p| Scenario::load(p))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Every `*.toml` in `dir`, sorted by name.
fn scenario_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("scenario directory {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!(
            "no scenario given and {} holds no *.toml file: pass scenario files, \
             e.g. `retryctl eval scenarios/payment-503.toml`",
            dir.display()
        );
    }
    Ok(files)
}

/// The embedded copies of the shipped scenarios, each named after its file.
fn shipped() -> anyhow::Result<Vec<Scenario>> {
    SHIPPED
        .iter()
        .map(|(stem, text)| {
            let mut scenario = Scenario::parse(text, &format!("scenarios/{stem}.toml"))?;
            if scenario.name.is_empty() {
                scenario.name = stem.to_string();
            }
            Ok(scenario)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_file_is_embedded_and_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let on_disk: Vec<String> = scenario_files(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        let embedded: Vec<&str> = SHIPPED.iter().map(|(stem, _)| *stem).collect();
        assert_eq!(on_disk, embedded, "add new scenarios/ files to SHIPPED");
        let loaded = load(&scenario_files(&dir).unwrap()).unwrap();
        let names = |s: &[Scenario]| s.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&shipped().unwrap()), names(&loaded));
    }

    #[test]
    fn cost_weights_parse_by_name_and_refuse_unknown_keys() {
        let o = cost_weights("per_attempt=2, per_second=1,give_up=600").unwrap();
        assert_eq!(
            (o.per_attempt, o.per_second, o.give_up),
            (Some(2.0), Some(1.0), Some(600.0))
        );
        assert_eq!(cost_weights("per_second=0.5").unwrap().per_attempt, None);
        assert!(
            cost_weights("per_try=1")
                .unwrap_err()
                .contains("per_attempt")
        );
        assert!(cost_weights("give_up=-1").is_err());
        assert!(cost_weights("give_up").is_err());
    }
}
