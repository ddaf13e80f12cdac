//! The `retryctl` binary: parse the command line, dispatch, turn errors into messages.

use anyhow::Context;
use clap::Parser;
use retryctl::cli::{Cli, Command, EvalArgs, ServeArgs, StoreKind, remote};
use retryctl::config::{self, Config};
use retryctl::server;
use retryctl::store::{self, StoreConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The console draws on the terminal and logs to a file instead (tui::run sets that up).
    if !matches!(cli.command, Command::Tui(_)) {
        init_logging();
    }
    // eval runs its own runtime when it talks to a service (--api), so it runs outside this one.
    let command = match cli.command {
        Command::Eval(args) => return exit_code(eval(&args)),
        command => command,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve(args) => serve(args).await,
            Command::Tui(args) => Ok(retryctl::tui::run(args).await?),
            Command::Status(args) => remote::status(args).await,
            Command::Preview(args) => remote::preview(args).await,
            Command::Override(args) => remote::override_job(args).await,
            Command::Export(args) => remote::export(args).await,
            Command::Import(args) => remote::import(args).await,
            Command::Completions(args) => remote::completions(args),
            Command::Eval(_) => unreachable!("eval runs before the runtime starts"),
        }
    });
    exit_code(result)
}

fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RETRYCTL_LOG` takes a filter like `info` or `retryctl=debug`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RETRYCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    config.check_exposure()?;
    let store_config = match args.store {
        StoreKind::Sqlite => StoreConfig::Sqlite {
            dir: config.data_dir.clone(),
        },
        StoreKind::Memory => StoreConfig::Memory,
    };
    let store = store::open(&store_config)
        .await
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (is it in use?)", config.listen))?;
    let address = listener.local_addr()?;
    let data_dir = config.data_dir.clone();
    let state = server::start_state(config, store).await?;
    tracing::info!(
        "retryctl {} listening on http://{address}{} (data: {}, store: {})",
        env!("CARGO_PKG_VERSION"),
        server::API_BASE,
        data_dir.display(),
        state.store.name()
    );
    server::run(state, listener, server::shutdown_signal()).await?;
    Ok(())
}

/// Runs the evaluation (in process, or with the learners in a service) and prints it.
fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    let dir = std::path::Path::new("./scenarios");
    let (config, format) = (args.config(), args.format());
    let out = match &args.api {
        Some(url) => retryctl::sim::eval_api_files(
            &args.scenarios,
            dir,
            &config,
            format,
            url,
            args.token.clone(),
        )?,
        None => retryctl::sim::eval_files(&args.scenarios, dir, &config, format)?,
    };
    print!("{out}");
    Ok(())
}

/// Defaults < file < environment < flags.
fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config file {}", path.display()))?;
            Some(config::parse_file(&path.display().to_string(), &text)?)
        }
        None => None,
    };
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(key, _)| config::ENV_KEYS.contains(&key.as_str()))
        .collect();
    let defaults = Config::defaults(default_data_dir());
    Ok(config::resolve(defaults, file, &env, &args.overrides())?)
}

/// The XDG data directory (`~/.local/share/retryctl` on Linux), else `./retryctl-data`.
fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "retryctl")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("retryctl-data"))
}
