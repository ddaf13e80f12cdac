//! Starting the service: shared by `retryctl serve` and `retryctl demo` (which embeds it).

use super::ServeArgs;
use crate::config::{self, Config, StoreChoice};
use crate::server::{self, AppState};
use crate::store::redis::RedisConfig;
use crate::store::{self, StoreConfig};
use anyhow::Context;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// A service ready to serve: its state (store open, engine restored) and its bound socket.
pub struct Service {
    pub state: AppState,
    pub listener: TcpListener,
    pub address: SocketAddr,
}

impl Service {
    /// Resolves the configuration, opens the store, binds the socket and restores the engine.
    pub async fn start(args: &ServeArgs) -> anyhow::Result<Service> {
        Self::start_with(args, None).await
    }

    /// [`Service::start`] with a config file's `(name, text)` used when `--config` names none.
    pub async fn start_with(
        args: &ServeArgs,
        default_file: Option<(&str, &str)>,
    ) -> anyhow::Result<Service> {
        let config = load_config(args, default_file)?;
        config.check_exposure()?;
        let (store_config, place) = store_config(&config);
        let store = store::open(&store_config)
            .await
            .with_context(|| format!("cannot open the store {place}"))?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (is it in use?)", config.listen))?;
        let address = listener.local_addr()?;
        // The bound address (a port 0 resolved) names this replica among others.
        let mut config = config;
        config.listen = address;
        let state = start_state_patiently(config, store).await?;
        tracing::info!(
            "retryctl {} listening on http://{address}{} (store: {} {place})",
            env!("CARGO_PKG_VERSION"),
            server::API_BASE,
            state.store.name()
        );
        Ok(Service {
            state,
            listener,
            address,
        })
    }

    /// The URL clients use (`http://ADDR`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Serves until `shutdown` resolves, then saves what was learned.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        server::run(self.state, self.listener, shutdown).await?;
        Ok(())
    }
}

/// The store the config names, and where it is for messages (never with a password).
fn store_config(config: &Config) -> (StoreConfig, String) {
    match &config.store {
        StoreChoice::Sqlite => (
            StoreConfig::Sqlite {
                dir: config.data_dir.clone(),
            },
            format!("in {}", config.data_dir.display()),
        ),
        StoreChoice::Memory => (StoreConfig::Memory, "in memory".into()),
        StoreChoice::Redis { url } => {
            let settings = &config.redis;
            let redis = RedisConfig {
                url: url.clone(),
                password: settings.password.clone(),
                prefix: settings.prefix.clone(),
                timeout: settings.timeout,
                require_durable: settings.require_durable,
            };
            let place = format!("at {} (keys {{{}}}:…)", redis.redacted_url(), redis.prefix);
            (StoreConfig::Redis(redis), place)
        }
    }
}

/// How long start-up keeps trying while the store does not answer (a Redis restarting, a disk
/// whose fsyncs stall for a moment) before giving up.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// [`server::start_state`], tried again every second while the store is unavailable, for up to
/// [`START_PATIENCE`]; other errors (a bad strategy, corrupt data) end start-up at once.
async fn start_state_patiently(
    config: Config,
    store: Arc<dyn store::Store>,
) -> Result<AppState, server::StartError> {
    let started = Instant::now();
    loop {
        match server::start_state(config.clone(), store.clone()).await {
            Err(server::StartError::Store(e))
                if matches!(e, store::StoreError::Unavailable { .. })
                    && started.elapsed() < START_PATIENCE =>
            {
                tracing::warn!(error = %e, "the store does not answer; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            result => return result,
        }
    }
}

/// `retryctl serve`: until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    Service::start(&args)
        .await?
        .run(server::shutdown_signal())
        .await
}

/// Defaults < file < environment < flags.
fn load_config(args: &ServeArgs, default_file: Option<(&str, &str)>) -> anyhow::Result<Config> {
    let file = match (&args.config, default_file) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config file {}", path.display()))?;
            let mut file = config::parse_file(&path.display().to_string(), &text)?;
            file.read_token_files()?;
            Some(file)
        }
        (None, Some((name, text))) => Some(config::parse_file(name, text)?),
        (None, None) => None,
    };
    let mut env: BTreeMap<String, String> = std::env::vars()
        .filter(|(key, _)| config::ENV_KEYS.contains(&key.as_str()))
        .collect();
    config::read_env_token_files(&mut env)?;
    let defaults = Config::defaults(default_data_dir());
    Ok(config::resolve(defaults, file, &env, &args.overrides())?)
}

/// The XDG data directory (`~/.local/share/retryctl` on Linux), else `./retryctl-data`.
fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "retryctl")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("retryctl-data"))
}
