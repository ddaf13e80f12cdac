use super::*;
use std::time::Duration;

fn defaults() -> Config {
    Config::defaults(PathBuf::from("/default/data"))
}

/// The configuration `text` gives over the defaults, with no environment or flags.
fn from_file(path: &str, text: &str) -> Result<Config, ConfigError> {
    let file = parse_file(path, text)?;
    resolve(
        defaults(),
        Some(file),
        &BTreeMap::new(),
        &Overrides::default(),
    )
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const FILE: &str = r#"
listen = "127.0.0.1:9000"
data = "/file/data"
snapshot_interval = "10s"

[strategy]
bayesian_threshold = 0.8

[retention]
days = 7
"#;

/// (case, file, env, flags) -> (listen, data dir, threshold, retention days, snapshot every)
#[test]
fn precedence_is_defaults_file_env_flags() {
    let flags = Overrides {
        listen: Some("127.0.0.1:9999".parse().unwrap()),
        data_dir: Some("/flag/data".into()),
        insecure: false,
        ..Overrides::default()
    };
    let threshold_env = [
        ("RETRYCTL_BAYESIAN_THRESHOLD", "0.9"),
        ("RETRYCTL_SNAPSHOT_INTERVAL", "5s"),
    ];
    type Row<'a> = (
        &'a str,
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        Overrides,
        (&'a str, &'a str, f64, u32, u64),
    );
    let table: [Row; 4] = [
        (
            "defaults",
            None,
            &[],
            Overrides::default(),
            ("127.0.0.1:7878", "/default/data", 0.7, 30, 30),
        ),
        (
            "file",
            Some(FILE),
            &[],
            Overrides::default(),
            ("127.0.0.1:9000", "/file/data", 0.8, 7, 10),
        ),
        (
            "env over file",
            Some(FILE),
            &threshold_env,
            Overrides::default(),
            ("127.0.0.1:9000", "/file/data", 0.9, 7, 5),
        ),
        (
            "flags over all",
            Some(FILE),
            &threshold_env,
            flags,
            ("127.0.0.1:9999", "/flag/data", 0.9, 7, 5),
        ),
    ];
    for (case, file, vars, flags, expected) in table {
        let file = file.map(|text| parse_file("test.toml", text).unwrap());
        let c = resolve(defaults(), file, &env(vars), &flags).unwrap();
        let got = (
            c.listen.to_string(),
            c.data_dir.display().to_string(),
            c.strategy.bayesian_threshold,
            c.strategy.data_collection.retention_days,
            c.housekeeping.snapshot_interval.as_secs(),
        );
        let want = (
            expected.0.to_string(),
            expected.1.to_string(),
            expected.2,
            expected.3,
            expected.4,
        );
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn errors_name_the_key_and_line() {
    let cases = [
        (
            "listen = \"x\"\nlisen = 1\n",
            "test.toml: line 2, column 1: unknown field `lisen`",
        ),
        (
            "[strategy]\nbayesian_threshold = \"high\"\n",
            "test.toml: line 2, column 22: invalid type",
        ),
        (
            "[[strategy.policies]]\nname = \"p\"\nmax_attempts = 2\njiter = \"full\"\n",
            "test.toml: line 4: unknown key `strategy.policies.0.jiter`",
        ),
        (
            "[limits]\nrequest_timeout = \"soon\"\n",
            "invalid `limits.request_timeout`: invalid duration",
        ),
        (
            "[strategy]\nbayesian_threshold = 1.5\n",
            "invalid `strategy.bayesian_threshold`",
        ),
        (
            "[[strategy.policies]]\nname = \"p\"\nmax_attempts = 2\njitter_percent = -3.0\n",
            "invalid `strategy.policies[0].jitter_percent`",
        ),
        (
            "[[tokens]]\nname = \"a\"\nrole = \"root\"\ntoken = \"0123456789\"\n",
            "test.toml: line 3, column 8: unknown variant `root`",
        ),
        (
            "[[tokens]]\nname = \"a\"\nrole = \"viewer\"\ntoken = \"short\"\n",
            "invalid `tokens[0].token`",
        ),
        (
            "[alerts]\nfallback_share = 1.5\n",
            "invalid `alerts.fallback_share`: must be a share in (0, 1]",
        ),
        (
            "[alerts]\nfallback_window = \"1h\"\n",
            "invalid `alerts.fallback_window`: must be at most 5m",
        ),
        (
            "[engine]\nseed = -1\n",
            "test.toml: line 2, column 8: invalid value: integer `-1`",
        ),
        (
            "[engine]\nmax_open_episodes = 0\n",
            "invalid `engine.max_open_episodes`: must be in 1..=10000000 (got 0)",
        ),
        (
            "[engine]\ncredibility = 1.5\n",
            "invalid `engine.credibility`: must be in (0, 1) (got 1.5)",
        ),
        (
            "[alerts]\nfallback_shares = 0.5\n",
            "test.toml: line 2, column 1: unknown field `fallback_shares`",
        ),
    ];
    for (text, expected) in cases {
        let message = from_file("test.toml", text).unwrap_err().to_string();
        assert!(message.starts_with(expected), "{text:?}\n got: {message}");
    }
}

#[test]
fn exposed_bind_needs_tokens_or_insecure() {
    let mut config = defaults();
    config.listen = "0.0.0.0:7878".parse().unwrap();
    let message = config.check_exposure().unwrap_err().to_string();
    assert!(message.contains("--insecure"), "{message}");
    config.insecure = true;
    assert!(config.check_exposure().is_ok());
    let env = env(&[("RETRYCTL_OPERATOR_TOKEN", "op-token-123")]);
    let flags = Overrides {
        listen: Some("0.0.0.0:7878".parse().unwrap()),
        ..Overrides::default()
    };
    let config = resolve(defaults(), None, &env, &flags).unwrap();
    assert!(config.check_exposure().is_ok());
    assert_eq!(config.tokens[0].role, Role::Operator);
    assert_eq!(
        defaults().housekeeping.prune_interval,
        Duration::from_secs(3600)
    );
}

#[test]
fn the_sample_config_in_assets_is_valid() {
    let text = include_str!("../../assets/retryctl.example.toml");
    let config = from_file("assets/retryctl.example.toml", text).unwrap();
    assert_eq!(config.tokens.len(), 3);
    assert!(
        config
            .strategy
            .policies
            .iter()
            .any(|p| p.name == "payments_declined")
    );
}

#[test]
fn fallback_alert_thresholds_are_read_from_the_file() {
    let text = "[alerts]\nfallback_window = \"2m\"\nfallback_min_recommendations = 5\nfallback_static_share = 0.25\nfallback_share = 0.75\n";
    let config = from_file("test.toml", text).unwrap();
    let a = &config.alerts;
    assert_eq!(a.fallback_window, Duration::from_secs(120));
    assert_eq!(a.fallback_min_recommendations, 5);
    assert_eq!((a.fallback_static_share, a.fallback_share), (0.25, 0.75));
    assert_eq!(defaults().alerts.fallback_min_recommendations, 20);
}

#[test]
fn the_cap_on_followed_jobs_is_read_from_the_file() {
    let config = from_file("test.toml", "[engine]\nmax_open_episodes = 50000\n").unwrap();
    assert_eq!(config.engine.max_open_episodes, 50_000);
    assert_eq!(defaults().engine.max_open_episodes, 200_000);
}

#[test]
fn the_snapshot_volume_is_read_from_the_file_and_the_environment() {
    let key = "snapshot_after_attempts";
    let config = from_file("test.toml", &format!("{key} = 5000\n")).unwrap();
    assert_eq!(config.housekeeping.snapshot_after_attempts, 5_000);
    assert_eq!(defaults().housekeeping.snapshot_after_attempts, 200_000);
    let vars = env(&[("RETRYCTL_SNAPSHOT_AFTER_ATTEMPTS", "700")]);
    let c = resolve(defaults(), None, &vars, &Overrides::default()).unwrap();
    assert_eq!(c.housekeeping.snapshot_after_attempts, 700);
    let zero = from_file("test.toml", &format!("{key} = 0\n")).unwrap_err();
    assert!(zero.to_string().contains("must be at least 1"), "{zero}");
    let vars = env(&[("RETRYCTL_SNAPSHOT_AFTER_ATTEMPTS", "0")]);
    assert!(resolve(defaults(), None, &vars, &Overrides::default()).is_err());
}

#[test]
fn the_engine_seed_is_read_from_the_file() {
    let config = from_file("test.toml", "[engine]\nseed = 42\n").unwrap();
    assert_eq!(config.engine.seed, Some(42));
    assert_eq!(
        defaults().engine.seed,
        None,
        "random at each start by default"
    );
}

#[test]
fn per_queue_storm_thresholds_are_read_from_the_file() {
    let text =
        "[alerts]\nretry_storm_per_minute = 50\n\n[alerts.retry_storm_queues]\npayments = 5\n";
    let a = from_file("retryctl.toml", text).unwrap().alerts;
    assert_eq!(a.retry_storm_per_minute, 50);
    assert_eq!(a.retry_storm_queues.get("payments"), Some(&5));
    assert_eq!(a.guardrail_overrides, 10);
    assert_eq!(a.guardrail_window, Duration::from_secs(300));
}

/// A temporary directory holding `secret` in a file named `name`.
fn secret_file(name: &str, secret: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, secret).unwrap();
    (dir, path)
}

#[test]
fn a_token_can_come_from_a_file_named_in_the_config() {
    let (_dir, path) = secret_file("op.token", "file-secret-123\n");
    let text = format!(
        "[[tokens]]\nname = \"ops\"\nrole = \"operator\"\ntoken_file = {:?}\n",
        path.display().to_string()
    );
    let mut file = parse_file("t.toml", &text).unwrap();
    file.read_token_files().unwrap();
    let config = resolve(
        defaults(),
        Some(file),
        &BTreeMap::new(),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(config.tokens[0].token, "file-secret-123", "newline trimmed");
    assert_eq!(config.tokens[0].role, Role::Operator);
}

#[test]
fn token_files_that_are_missing_short_or_doubled_are_named() {
    let (_dir, short) = secret_file("short.token", "abc\n");
    let cases = [
        (
            "token_file = \"/nonexistent/retryctl.token\"".to_string(),
            "invalid `tokens[0].token_file`: cannot read /nonexistent/retryctl.token",
        ),
        (
            format!("token_file = {:?}", short.display().to_string()),
            "invalid `tokens[0].token`: must be at least 8 characters",
        ),
        (
            format!(
                "token = \"inline-secret-1\"\ntoken_file = {:?}",
                short.display().to_string()
            ),
            "invalid `tokens[0].token_file`: set `token` or `token_file`, not both",
        ),
        (
            String::new(),
            "invalid `tokens[0].token`: missing: set `token` or `token_file`",
        ),
    ];
    for (line, expected) in cases {
        let text = format!("[[tokens]]\nname = \"a\"\nrole = \"viewer\"\n{line}\n");
        let message = parse_file("t.toml", &text)
            .and_then(|mut file| {
                file.read_token_files()?;
                resolve(
                    defaults(),
                    Some(file),
                    &BTreeMap::new(),
                    &Overrides::default(),
                )
            })
            .unwrap_err()
            .to_string();
        assert!(message.starts_with(expected), "{line:?}\n got: {message}");
    }
}

#[test]
fn a_token_can_come_from_a_file_named_in_the_environment() {
    let (_dir, path) = secret_file("viewer.token", "viewer-secret-9\n");
    let path = path.display().to_string();
    let mut vars = env(&[("RETRYCTL_VIEWER_TOKEN_FILE", &path)]);
    read_env_token_files(&mut vars).unwrap();
    let config = resolve(defaults(), None, &vars, &Overrides::default()).unwrap();
    assert_eq!(config.tokens[0].token, "viewer-secret-9");
    assert_eq!(config.tokens[0].role, Role::Viewer);

    let mut both = env(&[
        ("RETRYCTL_VIEWER_TOKEN_FILE", &path),
        ("RETRYCTL_VIEWER_TOKEN", "inline-secret-1"),
    ]);
    let message = read_env_token_files(&mut both).unwrap_err().to_string();
    assert!(message.contains("not both"), "{message}");
    let mut missing = env(&[("RETRYCTL_WORKER_TOKEN_FILE", "/nonexistent/w.token")]);
    let message = read_env_token_files(&mut missing).unwrap_err().to_string();
    assert!(
        message.contains("RETRYCTL_WORKER_TOKEN_FILE") && message.contains("/nonexistent"),
        "{message}"
    );
}

/// The fuzz tests of the config file (README "Fuzzing").
mod fuzz {
    use super::*;
    use crate::fuzz::{
        damage, edit, edited_toml, hostile_text, hostile_toml, nameable_keys, says_where,
    };
    use proptest::prelude::*;

    const SEED: &str = include_str!("../../assets/retryctl.example.toml");

    /// The file as `serve` reads it: parsed, then layered over the defaults. A `listen` host
    /// name is left out: resolving it asks DNS, which is no part of parsing.
    fn load(text: &str) -> Result<Config, ConfigError> {
        let mut file = parse_file("fuzz.toml", text)?;
        if file
            .listen
            .as_deref()
            .is_some_and(|l| l.parse::<SocketAddr>().is_err())
        {
            file.listen = None;
        }
        resolve(
            defaults(),
            Some(file),
            &BTreeMap::new(),
            &Overrides::default(),
        )
    }

    /// Every refusal says where: a line, or the key.
    fn explained(text: &str, e: &ConfigError) -> Result<(), TestCaseError> {
        match e {
            ConfigError::Syntax { line, message, .. } => {
                prop_assert!(*line >= 1 && *line <= text.lines().count().max(1), "{e}");
                prop_assert!(!message.trim().is_empty(), "{e}");
            }
            ConfigError::UnknownKey { key, .. } => prop_assert!(!key.is_empty(), "{e}"),
            ConfigError::Invalid { key, message } => {
                prop_assert!(!key.is_empty() && !message.trim().is_empty(), "{e}");
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn fuzz_config_any_text_is_a_config_or_says_where(text in hostile_text()) {
            if let Err(e) = load(&text) {
                explained(&text, &e)?;
            }
        }

        #[test]
        fn fuzz_config_damaged_files_say_where(damage in damage()) {
            let text = damage.apply(SEED);
            if let Err(e) = load(&text) {
                explained(&text, &e)?;
            }
        }

        /// One value replaced, removed or added: the refusal names a key on its path.
        #[test]
        fn fuzz_config_edited_files_name_the_key((at, change) in edit(hostile_toml())) {
            let Some((text, path)) = edited_toml(SEED, &at, &change) else {
                return Ok(());
            };
            if let Err(e) = load(&text) {
                explained(&text, &e)?;
                let keys = nameable_keys(&path, &change);
                prop_assert!(says_where(&e.to_string(), &keys), "edit {change:?} at {path:?}: {e}");
            }
        }
    }
}
