//! The TOML config file: its schema, and errors that name the key and the line.

use super::{Config, Role, Token, at_least_one, check_fraction, positive};
use crate::engine::EngineSettings;
use crate::model::position::line_and_column;
use crate::model::{PolicyGuardrails, RetryPolicy, parse_duration, validate};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What went wrong with the configuration; every variant names the key.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// The file is not valid TOML or a value has the wrong type or an unknown key.
    #[error("{path}: line {line}, column {column}: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key the schema does not know (a typo, most likely).
    #[error(
        "{path}: line {line}: unknown key `{key}`; see README.md \"Configuration\" for the keys"
    )]
    UnknownKey {
        path: String,
        line: usize,
        key: String,
    },
    /// A value of the right type that is not acceptable.
    #[error("invalid `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// The config file as written (`deny_unknown_fields` everywhere we own the schema).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `host:port` to listen on.
    pub listen: Option<String>,
    /// Data directory (SQLite database, snapshots).
    pub data: Option<PathBuf>,
    /// `sqlite`, `memory` or `redis://HOST:PORT/DB`.
    pub store: Option<String>,
    /// `[redis]`: settings used when the store is Redis.
    pub redis: Option<super::RedisSection>,
    /// Access tokens; with none, only a loopback bind is allowed.
    #[serde(default)]
    pub tokens: Vec<FileToken>,
    pub strategy: Option<StrategySection>,
    pub engine: Option<EngineSettings>,
    pub limits: Option<LimitsSection>,
    pub alerts: Option<AlertsSection>,
    pub retention: Option<RetentionSection>,
    /// How often the engine's learning is snapshotted, e.g. `"30s"`.
    pub snapshot_interval: Option<String>,
    /// Attempts recorded after which a snapshot is taken before the interval is up.
    pub snapshot_after_attempts: Option<u64>,
}

/// `[[tokens]]` as written: the secret inline (`token`) or in a file of its own (`token_file`,
/// read at start-up by [`FileConfig::read_token_files`], so the secret need not sit in the
/// config file, the environment or argv).
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileToken {
    pub name: String,
    pub role: Role,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
}

impl std::fmt::Debug for FileToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileToken({}:{}, ****)", self.role.as_str(), self.name)
    }
}

/// Reads a secret from a file: surrounding whitespace (the trailing newline editors and
/// `echo` add) is not part of it.
pub fn read_secret_file(key: &str, path: &std::path::Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
        key: key.into(),
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(text.trim().to_string())
}

/// `[strategy]`: what a first start seeds the strategy with.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StrategySection {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub bayesian_threshold: Option<f64>,
    /// Replaces the shipped default policies when given.
    pub policies: Option<Vec<RetryPolicy>>,
    pub guardrails: Option<PolicyGuardrails>,
}

/// `[limits]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub body_bytes: Option<usize>,
    pub batch_body_bytes: Option<usize>,
    pub batch_max_records: Option<usize>,
    pub request_timeout: Option<String>,
    pub bulk_confirm_over: Option<u64>,
}

/// `[alerts]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    pub retry_storm_per_minute: Option<u32>,
    pub guardrail_overrides: Option<u32>,
    pub guardrail_window: Option<String>,
    /// `[alerts.retry_storm_queues]`: `queue = retries per minute`.
    pub retry_storm_queues: Option<std::collections::BTreeMap<String, u32>>,
    pub fallback_window: Option<String>,
    pub fallback_min_recommendations: Option<u64>,
    pub fallback_static_share: Option<f64>,
    pub fallback_share: Option<f64>,
    pub drift_threshold: Option<f64>,
    pub calibration_ece: Option<f64>,
    pub calibration_min_outcomes: Option<u64>,
}

/// `[retention]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// Attempts older than this many days are dropped.
    pub days: Option<u32>,
    /// How often to prune, e.g. `"1h"`.
    pub interval: Option<String>,
}

/// Parses config text; `path` is only used in messages.
pub fn parse_file(path: &str, text: &str) -> Result<FileConfig, ConfigError> {
    let syntax = |e: toml::de::Error| syntax_error(path, text, &e);
    let de = toml::Deserializer::parse(text).map_err(syntax)?;
    let mut unknown = Vec::new();
    let file: FileConfig =
        serde_ignored::deserialize(de, |p| unknown.push(key_path(&p))).map_err(syntax)?;
    if let Some(key) = unknown.into_iter().next() {
        let leaf = key.rsplit('.').next().unwrap_or(&key).to_string();
        return Err(ConfigError::UnknownKey {
            path: path.into(),
            line: line_of_key(text, &leaf),
            key,
        });
    }
    Ok(file)
}

/// `strategy.?.policies.?.0.jiter` (serde_ignored marks `Option`s with `?`) as written.
fn key_path(path: &serde_ignored::Path) -> String {
    path.to_string()
        .split('.')
        .filter(|segment| *segment != "?")
        .collect::<Vec<_>>()
        .join(".")
}

fn syntax_error(path: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = line_and_column(text, e.span().map_or(0, |s| s.start));
    let source_line = text.lines().nth(line - 1).unwrap_or("").trim();
    ConfigError::Syntax {
        path: path.into(),
        line,
        column,
        message: format!("{} (in `{source_line}`)", e.message().trim()),
    }
}

/// 1-based line where `key = ...` is written (0 if it cannot be found).
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

fn duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    let d = parse_duration(text).map_err(|message| ConfigError::Invalid {
        key: key.into(),
        message,
    })?;
    positive(key, d)
}

impl FileConfig {
    /// Replaces each `token_file` with the secret it holds. The only step that reads files;
    /// [`FileConfig::apply`] stays pure.
    pub fn read_token_files(&mut self) -> Result<(), ConfigError> {
        for (i, token) in self.tokens.iter_mut().enumerate() {
            if token.token.is_some() {
                continue;
            }
            if let Some(path) = token.token_file.take() {
                let key = format!("tokens[{i}].token_file");
                token.token = Some(read_secret_file(&key, &path)?);
            }
        }
        Ok(())
    }

    /// Writes what the file sets over `config`.
    pub(super) fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(listen) = &self.listen {
            config.listen = parse_listen(listen)?;
        }
        if let Some(data) = self.data {
            config.data_dir = data;
        }
        if let Some(store) = &self.store {
            config.store = super::parse_store(store).map_err(|message| ConfigError::Invalid {
                key: "store".into(),
                message,
            })?;
        }
        if let Some(redis) = self.redis {
            redis.apply(&mut config.redis)?;
        }
        config.tokens.extend(check_tokens(self.tokens)?);
        if let Some(strategy) = self.strategy {
            strategy.apply(config)?;
        }
        if let Some(engine) = self.engine {
            engine.validate().map_err(|e| ConfigError::Invalid {
                key: format!("engine.{}", e.field),
                message: e.message,
            })?;
            config.engine = engine;
        }
        if let Some(limits) = self.limits {
            limits.apply(config)?;
        }
        if let Some(alerts) = self.alerts {
            alerts.apply(config)?;
        }
        if let Some(retention) = self.retention {
            retention.apply(config)?;
        }
        if let Some(interval) = &self.snapshot_interval {
            config.housekeeping.snapshot_interval = duration("snapshot_interval", interval)?;
        }
        if let Some(n) = self.snapshot_after_attempts {
            config.housekeeping.snapshot_after_attempts =
                at_least_one("snapshot_after_attempts", n)?;
        }
        Ok(())
    }
}

/// Parses a `host:port` listen address; a host name (`localhost:7878`) is resolved.
pub fn parse_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    let invalid = |why: String| ConfigError::Invalid {
        key: "listen".into(),
        message: format!("{text:?} is not an address like 127.0.0.1:7878 ({why})"),
    };
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    std::net::ToSocketAddrs::to_socket_addrs(text)
        .map_err(|e| invalid(e.to_string()))?
        .next()
        .ok_or_else(|| invalid("the host name has no address".into()))
}

fn check_tokens(tokens: Vec<FileToken>) -> Result<Vec<Token>, ConfigError> {
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| check_token(i, token))
        .collect()
}

fn check_token(i: usize, written: FileToken) -> Result<Token, ConfigError> {
    let invalid = |field: &str, message: &str| ConfigError::Invalid {
        key: format!("tokens[{i}].{field}"),
        message: message.into(),
    };
    if written.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    let secret = match (written.token, written.token_file) {
        (Some(secret), None) => secret,
        (Some(_), Some(_)) => {
            return Err(invalid(
                "token_file",
                "set `token` or `token_file`, not both",
            ));
        }
        (None, Some(path)) => {
            return Err(invalid(
                "token_file",
                &format!(
                    "{} was not read (FileConfig::read_token_files)",
                    path.display()
                ),
            ));
        }
        (None, None) => {
            return Err(invalid(
                "token",
                "missing: set `token` or `token_file` (a file holding the token)",
            ));
        }
    };
    if secret.trim().len() < 8 {
        return Err(invalid("token", "must be at least 8 characters"));
    }
    Ok(Token {
        name: written.name,
        role: written.role,
        token: secret,
    })
}

impl StrategySection {
    fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
        let strategy = &mut config.strategy;
        if let Some(name) = self.name {
            strategy.name = name;
        }
        if let Some(enabled) = self.enabled {
            strategy.enabled = enabled;
        }
        if let Some(threshold) = self.bayesian_threshold {
            check_fraction("strategy.bayesian_threshold", threshold)?;
            strategy.bayesian_threshold = threshold;
        }
        if let Some(policies) = self.policies {
            strategy.policies = policies;
        }
        if let Some(guardrails) = self.guardrails {
            strategy.guardrails = guardrails;
        }
        validate::strategy(strategy).map_err(|e| ConfigError::Invalid {
            key: format!("strategy.{}", e.field),
            message: e.message,
        })
    }
}

impl LimitsSection {
    fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
        let limits = &mut config.limits;
        let nonzero = |key: &str, v: usize| {
            if v == 0 {
                Err(ConfigError::Invalid {
                    key: format!("limits.{key}"),
                    message: "must be greater than zero".into(),
                })
            } else {
                Ok(v)
            }
        };
        if let Some(v) = self.body_bytes {
            limits.body_bytes = nonzero("body_bytes", v)?;
        }
        if let Some(v) = self.batch_body_bytes {
            limits.batch_body_bytes = nonzero("batch_body_bytes", v)?;
        }
        if let Some(v) = self.batch_max_records {
            limits.batch_max_records = nonzero("batch_max_records", v)?;
        }
        if let Some(t) = &self.request_timeout {
            limits.request_timeout = duration("limits.request_timeout", t)?;
        }
        if let Some(v) = self.bulk_confirm_over {
            limits.bulk_confirm_over = v;
        }
        Ok(())
    }
}

impl AlertsSection {
    fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
        let alerts = &mut config.alerts;
        if let Some(v) = self.retry_storm_per_minute {
            alerts.retry_storm_per_minute = v;
        }
        if let Some(v) = self.guardrail_overrides {
            alerts.guardrail_overrides = v;
        }
        if let Some(w) = &self.guardrail_window {
            alerts.guardrail_window = duration("alerts.guardrail_window", w)?;
        }
        alerts
            .retry_storm_queues
            .extend(self.retry_storm_queues.unwrap_or_default());
        if let Some(w) = &self.fallback_window {
            alerts.fallback_window = at_most_5m("alerts.fallback_window", w)?;
        }
        if let Some(n) = self.fallback_min_recommendations {
            alerts.fallback_min_recommendations = n;
        }
        if let Some(v) = self.fallback_static_share {
            alerts.fallback_static_share = share("alerts.fallback_static_share", v)?;
        }
        if let Some(v) = self.fallback_share {
            alerts.fallback_share = share("alerts.fallback_share", v)?;
        }
        if let Some(v) = self.drift_threshold {
            alerts.drift_threshold = above_zero("alerts.drift_threshold", v)?;
        }
        if let Some(v) = self.calibration_ece {
            alerts.calibration_ece = share("alerts.calibration_ece", v)?;
        }
        if let Some(n) = self.calibration_min_outcomes {
            alerts.calibration_min_outcomes = n;
        }
        Ok(())
    }
}

/// A finite number above zero.
fn above_zero(key: &str, v: f64) -> Result<f64, ConfigError> {
    if v.is_finite() && v > 0.0 {
        return Ok(v);
    }
    Err(ConfigError::Invalid {
        key: key.to_string(),
        message: format!("must be a number above 0 (got {v})"),
    })
}

/// A duration the service's rate windows can cover (they keep five minutes).
fn at_most_5m(key: &str, text: &str) -> Result<Duration, ConfigError> {
    let d = duration(key, text)?;
    if d > Duration::from_secs(300) {
        return Err(ConfigError::Invalid {
            key: key.into(),
            message: format!("must be at most 5m (got {text:?})"),
        });
    }
    Ok(d)
}

/// A share in (0, 1].
fn share(key: &str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            key: key.into(),
            message: format!("must be a share in (0, 1], e.g. 0.5 (got {value})"),
        })
    }
}

impl RetentionSection {
    fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(days) = self.days {
            config.strategy.data_collection.retention_days = days;
        }
        if let Some(i) = &self.interval {
            config.housekeeping.prune_interval = duration("retention.interval", i)?;
        }
        Ok(())
    }
}
