//! Which store the service uses (`--store`, `RETRYCTL_STORE`, `store =` in the file) and the
//! Redis settings (`[redis]`, `--redis-prefix`, `--require-durable`, `RETRYCTL_REDIS_*`).

use super::ConfigError;
use crate::model::{parse_duration, redact_url};
use serde::Deserialize;
use std::time::Duration;

/// The backend chosen.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum StoreChoice {
    /// SQLite in the data directory.
    #[default]
    Sqlite,
    /// Process memory (lost on exit).
    Memory,
    /// Redis at this URL (`redis://` or `rediss://`).
    Redis { url: String },
}

/// Never prints a password held in the URL.
impl std::fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite => f.write_str("Sqlite"),
            Self::Memory => f.write_str("Memory"),
            Self::Redis { url } => write!(f, "Redis({})", redact_url(url)),
        }
    }
}

/// Reads `sqlite`, `memory`, `redis://…` or `rediss://…`.
pub fn parse_store(text: &str) -> Result<StoreChoice, String> {
    let text = text.trim();
    match text {
        "sqlite" => Ok(StoreChoice::Sqlite),
        "memory" => Ok(StoreChoice::Memory),
        _ if text.starts_with("redis://") || text.starts_with("rediss://") => {
            Ok(StoreChoice::Redis { url: text.into() })
        }
        _ => Err(format!(
            "{:?} is not a store: use sqlite, memory, or redis://HOST:PORT/DB (rediss:// for TLS)",
            redact_url(text)
        )),
    }
}

/// Settings used when the store is Redis.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// Every key is `{prefix}:…`.
    pub prefix: String,
    /// Used when the URL carries none.
    pub password: Option<String>,
    /// Bound on every store call.
    pub timeout: Duration,
    /// Refuse to start unless Redis makes acknowledged writes durable.
    pub require_durable: bool,
}

/// The store's defaults (`store::redis::{DEFAULT_PREFIX, DEFAULT_TIMEOUT}`; config does not
/// depend on the store, so they are repeated here; `tests/redis_replicas.rs` keeps them equal).
pub const DEFAULT_PREFIX: &str = "retryctl";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1_000);

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.into(),
            password: None,
            timeout: DEFAULT_TIMEOUT,
            require_durable: false,
        }
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("prefix", &self.prefix)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("require_durable", &self.require_durable)
            .finish()
    }
}

/// `[redis]` in the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// Key prefix (the hash tag), default `retryctl`.
    pub prefix: Option<String>,
    /// Bound on every store call, e.g. `"1500ms"`; at most 10 s.
    pub timeout: Option<String>,
    /// Refuse to start unless Redis is configured for durable acknowledgements.
    pub require_durable: Option<bool>,
}

impl RedisSection {
    pub(super) fn apply(self, redis: &mut RedisSettings) -> Result<(), ConfigError> {
        if let Some(prefix) = self.prefix {
            redis.prefix = check_prefix("redis.prefix", &prefix)?;
        }
        if let Some(timeout) = &self.timeout {
            redis.timeout = check_timeout("redis.timeout", timeout)?;
        }
        if let Some(required) = self.require_durable {
            redis.require_durable = required;
        }
        Ok(())
    }
}

/// A prefix that can sit inside a hash tag: non-empty, no braces.
pub fn check_prefix(key: &str, prefix: &str) -> Result<String, ConfigError> {
    if prefix.is_empty() || prefix.contains(['{', '}']) {
        return Err(ConfigError::Invalid {
            key: key.into(),
            message: format!("{prefix:?} must be non-empty and hold no brace"),
        });
    }
    Ok(prefix.to_string())
}

/// A store-call timeout: positive, at most 10 s (a write must answer well within a client's
/// own timeout).
pub fn check_timeout(key: &str, text: &str) -> Result<Duration, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        key: key.into(),
        message,
    };
    let d = parse_duration(text).map_err(invalid)?;
    if d.is_zero() || d > Duration::from_secs(10) {
        return Err(invalid(format!(
            "{text:?} must be longer than 0 and at most 10s"
        )));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_parse_and_bad_ones_are_named() {
        assert_eq!(parse_store("sqlite"), Ok(StoreChoice::Sqlite));
        assert_eq!(parse_store(" memory "), Ok(StoreChoice::Memory));
        assert_eq!(
            parse_store("rediss://:pw@cache:6380/1"),
            Ok(StoreChoice::Redis {
                url: "rediss://:pw@cache:6380/1".into()
            })
        );
        let err = parse_store("postgres://:pw@db").unwrap_err();
        assert!(err.contains("not a store") && !err.contains("pw"), "{err}");
        let choice = parse_store("redis://:hunter2@cache").unwrap();
        assert!(!format!("{choice:?}").contains("hunter2"));
    }

    #[test]
    fn prefixes_and_timeouts_are_checked() {
        assert!(check_prefix("k", "team-a").is_ok());
        assert!(check_prefix("k", "").is_err());
        assert!(check_prefix("k", "a}b").is_err());
        assert_eq!(check_timeout("k", "2s"), Ok(Duration::from_secs(2)));
        assert!(check_timeout("k", "0s").is_err());
        assert!(check_timeout("k", "1m").is_err());
    }
}
