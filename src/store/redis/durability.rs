//! Whether Redis makes an acknowledged write durable: `appendonly yes` (every write goes to the
//! append-only file), `appendfsync always` (fsynced before Redis answers) and
//! `maxmemory-policy noeviction` (Redis never drops our keys to make room; a full Redis refuses
//! writes instead, which the service reports as degraded). Checked at start-up: a setting that
//! falls short is a warning, or refuses start-up with `require_durable`.

use super::{RedisStore, err, timeout_error};
use crate::store::{StoreError, StoreResult};
use std::collections::BTreeMap;

/// The settings that make an acknowledgement durable, with the value each must have.
pub const REQUIRED: [(&str, &str); 3] = [
    ("appendonly", "yes"),
    ("appendfsync", "always"),
    ("maxmemory-policy", "noeviction"),
];

/// What falls short in `settings` (as `CONFIG GET` returned them), one sentence each.
pub fn shortfalls(settings: &BTreeMap<String, String>) -> Vec<String> {
    REQUIRED
        .iter()
        .filter_map(|(name, want)| match settings.get(*name) {
            Some(have) if have == want => None,
            Some(have) => Some(format!("{name} is {have:?}, not {want:?}")),
            None => Some(format!("{name} could not be read")),
        })
        .collect()
}

/// Reads the settings and warns about (or, with `require_durable`, refuses) any shortfall. A
/// Redis that refuses `CONFIG GET` (some managed services) counts as a shortfall.
pub async fn check(store: &RedisStore, require_durable: bool) -> StoreResult<()> {
    let mut settings = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, _) in REQUIRED {
        let mut conn = store.conn();
        let mut config_get = redis::cmd("CONFIG");
        config_get.arg("GET").arg(name);
        let call = config_get.query_async::<Vec<String>>(&mut conn);
        let Ok(read) = tokio::time::timeout(store.timeout, call).await else {
            return Err(timeout_error("read the durability settings"));
        };
        match read {
            Ok(pair) if pair.len() == 2 => {
                settings.insert(pair[0].clone(), pair[1].clone());
            }
            Ok(_) => {}
            Err(e) if e.is_io_error() || e.is_timeout() => {
                return Err(err("read the durability settings")(e));
            }
            Err(e) => problems.push(format!("CONFIG GET {name} was refused ({e})")),
        }
    }
    problems.extend(shortfalls(&settings));
    if problems.is_empty() {
        tracing::info!("redis durability settings: appendonly yes, appendfsync always, noeviction");
        return Ok(());
    }
    let text = format!(
        "Redis may lose acknowledged attempts: {}. Set appendonly yes, appendfsync always and \
         maxmemory-policy noeviction (see README \"Redis\")",
        problems.join("; ")
    );
    if require_durable {
        return Err(StoreError::Invalid {
            field: "store".into(),
            message: format!("{text}; refusing to start (--require-durable)"),
        });
    }
    tracing::warn!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_missing_or_wrong_setting_is_named() {
        let mut settings: BTreeMap<String, String> = REQUIRED
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(shortfalls(&settings).is_empty());
        settings.insert("appendfsync".into(), "everysec".into());
        settings.remove("maxmemory-policy");
        assert_eq!(
            shortfalls(&settings),
            vec![
                "appendfsync is \"everysec\", not \"always\"".to_string(),
                "maxmemory-policy could not be read".to_string()
            ]
        );
    }
}
