//! Configuration of `retryctl serve`: built-in defaults < config file (TOML) < environment <
//! command-line flags, resolved by one pure function ([`resolve`]) so the precedence is tested
//! by a table of cases.
//!
//! A typo in the config file is an error naming the key and its line, never silently ignored.

mod file;
mod storage;

pub use file::{ConfigError, FileConfig, parse_file, parse_listen};
pub use storage::{RedisSection, RedisSettings, StoreChoice, check_prefix, parse_store};

use crate::engine::{EngineSettings, default_strategy};
use crate::model::{RetryStrategy, parse_duration};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default listen address: loopback only, so an unconfigured service is never exposed.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

/// Who a caller is, from the token it presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Records attempts, asks for recommendations, claims due retries.
    Worker,
    /// Reads everything (console, dashboards, Prometheus).
    Viewer,
    /// Everything: overrides, policies, guardrails, strategy.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }
}

/// An access token from the config file (or `RETRYCTL_<ROLE>_TOKEN`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Shown in the audit log as `role:name`.
    pub name: String,
    pub role: Role,
    /// The secret callers send as `Authorization: Bearer <token>`.
    pub token: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}:{}, ****)", self.role.as_str(), self.name)
    }
}

/// Request limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest request body of single-item endpoints.
    pub body_bytes: usize,
    /// Largest request body of `POST /attempts`.
    pub batch_body_bytes: usize,
    /// Most attempts one `POST /attempts` may carry.
    pub batch_max_records: usize,
    /// A request that takes longer is answered 503.
    pub request_timeout: Duration,
    /// A bulk action matching more jobs than this needs `confirm` equal to the matched count.
    pub bulk_confirm_over: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 64 * 1024,
            batch_body_bytes: 16 * 1024 * 1024,
            batch_max_records: 100_000,
            request_timeout: Duration::from_secs(10),
            bulk_confirm_over: 100,
        }
    }
}

/// When the service raises alerts (`[alerts]`): the thresholds the alert rules read directly.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertThresholds {
    /// Retry storm: more retries than this per minute in one queue.
    pub retry_storm_per_minute: u32,
    /// Frequent guardrail overrides: more than this many per second, averaged over
    /// `guardrail_window` (the upstream rule is `rate(guardrail_overrides[5m]) > 10`).
    pub guardrail_overrides: u32,
    pub guardrail_window: Duration,
    /// Per-queue retry storm thresholds that replace `retry_storm_per_minute` for that queue.
    pub retry_storm_queues: BTreeMap<String, u32>,
    /// The window the fall-back-tier alerts look at.
    pub fallback_window: Duration,
    /// Recommendations needed in `fallback_window` before a fall-back share means anything.
    pub fallback_min_recommendations: u64,
    /// Share (0–1] of static-tier answers in the window that raises `fallback_tier:static`.
    pub fallback_static_share: f64,
    /// Share (0–1] of answers that fell back from the Bayesian / ML tier that raises
    /// `fallback_tier:bayesian` / `fallback_tier:ml`.
    pub fallback_share: f64,
    /// `ModelDriftDetected`: the watched ML model's drift score (largest PSI of a feature or
    /// of the prediction over the last window, beyond what a window of the training data
    /// showed) above this.
    pub drift_threshold: f64,
    /// `ModelCalibration`: the ML arm's live ECE above this, once `calibration_min_outcomes`
    /// retries it forecast have ended.
    pub calibration_ece: f64,
    pub calibration_min_outcomes: u64,
    /// How often the service evaluates the rules (not in the file: 1 s).
    pub evaluate_every: Duration,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self {
            retry_storm_per_minute: 600,
            guardrail_overrides: 10,
            guardrail_window: Duration::from_secs(300),
            retry_storm_queues: BTreeMap::new(),
            fallback_window: Duration::from_secs(300),
            fallback_min_recommendations: 20,
            fallback_static_share: 0.05,
            fallback_share: 0.5,
            drift_threshold: crate::engine::ml::drift::DEFAULT_THRESHOLD,
            calibration_ece: 0.1,
            calibration_min_outcomes: 200,
            evaluate_every: Duration::from_secs(1),
        }
    }
}

/// The default of [`Housekeeping::snapshot_after_attempts`]. Start-up replays what came after
/// the last snapshot (about 150,000 attempts/s on 2 cores from SQLite, `benches/startup.sh`;
/// 8–9 µs of CPU an attempt from Redis, README "Redis: many replicas"), so this keeps a
/// start-up near a second or two at any ingestion rate.
pub const DEFAULT_SNAPSHOT_AFTER_ATTEMPTS: u64 = 200_000;

/// Background housekeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Housekeeping {
    /// How often what the engine learned is snapshotted to the store.
    pub snapshot_interval: Duration,
    /// Attempts recorded (on a shared log: appended by any replica) since the last snapshot
    /// after which the next one is taken without waiting for the interval; start-up replays
    /// about this many attempts at most.
    pub snapshot_after_attempts: u64,
    /// How often attempts older than `retention_days` are pruned.
    pub prune_interval: Duration,
}

impl Default for Housekeeping {
    fn default() -> Self {
        Self {
            snapshot_interval: Duration::from_secs(30),
            snapshot_after_attempts: DEFAULT_SNAPSHOT_AFTER_ATTEMPTS,
            prune_interval: Duration::from_secs(3600),
        }
    }
}

/// The resolved configuration the service runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The backend: SQLite in `data_dir` (default), memory, or Redis.
    pub store: StoreChoice,
    /// Used when `store` is Redis.
    pub redis: RedisSettings,
    /// Allow a non-loopback bind without tokens.
    pub insecure: bool,
    pub tokens: Vec<Token>,
    /// The strategy used when the store holds none yet (a stored one, changed through the API,
    /// wins at start-up).
    pub strategy: RetryStrategy,
    pub engine: EngineSettings,
    pub limits: Limits,
    pub alerts: AlertThresholds,
    pub housekeeping: Housekeeping,
}

impl Config {
    /// Built-in defaults, with `data_dir` as given (the XDG data dir in the binary).
    pub fn defaults(data_dir: PathBuf) -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("constant address parses"),
            data_dir,
            store: StoreChoice::default(),
            redis: RedisSettings::default(),
            insecure: false,
            tokens: Vec::new(),
            strategy: default_strategy(),
            engine: EngineSettings::default(),
            limits: Limits::default(),
            alerts: AlertThresholds::default(),
            housekeeping: Housekeeping::default(),
        }
    }

    /// Whether callers must present a token (any is configured).
    pub fn auth_required(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Refuses a non-loopback bind without tokens unless `insecure`: without tokens every caller
    /// is an operator, so anyone who could reach the port could change the strategy.
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        if self.listen.ip().is_loopback() || self.auth_required() || self.insecure {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            key: "listen".into(),
            message: format!(
                "{} is not a loopback address and no tokens are configured: anyone who can reach \
                 it could change the retry strategy. Add [[tokens]] to the config file (or set \
                 RETRYCTL_OPERATOR_TOKEN), bind 127.0.0.1, or pass --insecure",
                self.listen
            ),
        })
    }
}

/// The values the command line (flags, or their `RETRYCTL_*` variables via clap) supplies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub insecure: bool,
    pub store: Option<StoreChoice>,
    pub redis_prefix: Option<String>,
    pub require_durable: bool,
}

/// Environment variables read beyond the flags' own, for settings that have no flag.
pub const ENV_KEYS: [&str; 11] = [
    "RETRYCTL_OPERATOR_TOKEN",
    "RETRYCTL_VIEWER_TOKEN",
    "RETRYCTL_WORKER_TOKEN",
    "RETRYCTL_OPERATOR_TOKEN_FILE",
    "RETRYCTL_VIEWER_TOKEN_FILE",
    "RETRYCTL_WORKER_TOKEN_FILE",
    "RETRYCTL_BAYESIAN_THRESHOLD",
    "RETRYCTL_RETENTION_DAYS",
    "RETRYCTL_SNAPSHOT_INTERVAL",
    "RETRYCTL_SNAPSHOT_AFTER_ATTEMPTS",
    "RETRYCTL_REDIS_PASSWORD",
];

/// Replaces each `RETRYCTL_<ROLE>_TOKEN_FILE` in `env` with `RETRYCTL_<ROLE>_TOKEN` holding
/// the file's content, so a token can come from a mounted secret instead of the environment.
/// Setting both for one role is an error.
pub fn read_env_token_files(env: &mut BTreeMap<String, String>) -> Result<(), ConfigError> {
    for role in [Role::Operator, Role::Viewer, Role::Worker] {
        let key = format!("RETRYCTL_{}_TOKEN", role.as_str().to_uppercase());
        let file_key = format!("{key}_FILE");
        let Some(path) = env.remove(&file_key).filter(|p| !p.is_empty()) else {
            continue;
        };
        if env.get(&key).is_some_and(|t| !t.is_empty()) {
            return Err(ConfigError::Invalid {
                key: file_key,
                message: format!("set {key} or {key}_FILE, not both"),
            });
        }
        let secret = file::read_secret_file(&file_key, std::path::Path::new(&path))?;
        env.insert(key, secret);
    }
    Ok(())
}

/// Layers defaults < file < env < flags. Pure: the caller reads the file and the environment.
pub fn resolve(
    defaults: Config,
    file: Option<FileConfig>,
    env: &BTreeMap<String, String>,
    flags: &Overrides,
) -> Result<Config, ConfigError> {
    let mut config = defaults;
    if let Some(file) = file {
        file.apply(&mut config)?;
    }
    apply_env(&mut config, env)?;
    if let Some(listen) = flags.listen {
        config.listen = listen;
    }
    if let Some(dir) = &flags.data_dir {
        config.data_dir = dir.clone();
    }
    config.insecure |= flags.insecure;
    if let Some(store) = &flags.store {
        config.store = store.clone();
    }
    if let Some(prefix) = &flags.redis_prefix {
        config.redis.prefix = check_prefix("--redis-prefix", prefix)?;
    }
    config.redis.require_durable |= flags.require_durable;
    Ok(config)
}

fn apply_env(config: &mut Config, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for role in [Role::Operator, Role::Viewer, Role::Worker] {
        let key = format!("RETRYCTL_{}_TOKEN", role.as_str().to_uppercase());
        if let Some(token) = env.get(&key).filter(|t| !t.is_empty()) {
            config.tokens.push(Token {
                name: format!("env-{}", role.as_str()),
                role,
                token: token.clone(),
            });
        }
    }
    if let Some(value) = env.get("RETRYCTL_BAYESIAN_THRESHOLD") {
        config.strategy.bayesian_threshold = env_number(value, "RETRYCTL_BAYESIAN_THRESHOLD")?;
        check_fraction(
            "RETRYCTL_BAYESIAN_THRESHOLD",
            config.strategy.bayesian_threshold,
        )?;
    }
    if let Some(value) = env.get("RETRYCTL_RETENTION_DAYS") {
        config.strategy.data_collection.retention_days =
            env_number(value, "RETRYCTL_RETENTION_DAYS")?;
    }
    if let Some(password) = env.get("RETRYCTL_REDIS_PASSWORD").filter(|p| !p.is_empty()) {
        config.redis.password = Some(password.clone());
    }
    if let Some(value) = env.get("RETRYCTL_SNAPSHOT_INTERVAL") {
        config.housekeeping.snapshot_interval = env_duration(value, "RETRYCTL_SNAPSHOT_INTERVAL")?;
    }
    if let Some(value) = env.get("RETRYCTL_SNAPSHOT_AFTER_ATTEMPTS") {
        let key = "RETRYCTL_SNAPSHOT_AFTER_ATTEMPTS";
        config.housekeeping.snapshot_after_attempts = at_least_one(key, env_number(value, key)?)?;
    }
    Ok(())
}

fn env_number<T: std::str::FromStr>(value: &str, key: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse().map_err(|e| ConfigError::Invalid {
        key: key.into(),
        message: format!("{value:?} is not a valid number: {e}"),
    })
}

fn env_duration(value: &str, key: &str) -> Result<Duration, ConfigError> {
    let d = parse_duration(value).map_err(|message| ConfigError::Invalid {
        key: key.into(),
        message,
    })?;
    positive(key, d)
}

/// `n`, unless it is zero (a count that must be at least one).
pub(crate) fn at_least_one(key: &str, n: u64) -> Result<u64, ConfigError> {
    if n == 0 {
        return Err(ConfigError::Invalid {
            key: key.into(),
            message: "must be at least 1".into(),
        });
    }
    Ok(n)
}

pub(crate) fn positive(key: &str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        return Err(ConfigError::Invalid {
            key: key.into(),
            message: "must be longer than zero".into(),
        });
    }
    Ok(d)
}

pub(crate) fn check_fraction(key: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        key: key.into(),
        message: format!("must be a number between 0 and 1 (got {value})"),
    })
}

#[cfg(test)]
mod tests;
