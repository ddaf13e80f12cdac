//! The operator console (`retryctl tui`).
//!
//! One task owns the terminal and runs a biased `select!` over input, snapshots from the poller
//! task, results of actions, SIGTERM and a tick; the screen is redrawn after each of them
//! (ratatui sends only the cells that changed). Views only read state; `App` only changes UI
//! state and returns the [`app::Effect`] that this loop performs.

mod action;
mod config;
mod perform;
mod poller;
mod stream;
mod terminal;

// Public for the console's snapshot tests and render benches, which build an `App` from fixed
// data (`Keymap`, `Snapshot`), draw it with `view::render` in a `Theme` and compare the screen.
pub mod app;
pub mod keymap;
pub mod state;
pub mod theme;
pub mod view;

pub use config::TuiArgs;

use crate::client::Client;
use app::{App, AppConfig, Effect};
use config::ConsoleConfig;
use futures::StreamExt;
use keymap::Keymap;
use perform::Done;
use poller::{PollMsg, Watch};
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use std::sync::Arc;
use std::time::{Duration, Instant};
use theme::Theme;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, mpsc, watch};
use view::{Ctx, Glyphs};

/// Everything that can stop the console before it draws, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Keymap(#[from] keymap::KeymapError),
    #[error("{0}")]
    Theme(#[from] theme::ThemeError),
    #[error("{0}")]
    Client(#[from] crate::client::ClientError),
    #[error("keymap file {path}: {source}")]
    KeymapFile {
        path: String,
        source: std::io::Error,
    },
    #[error("log file {path}: {source}")]
    Log {
        path: String,
        source: std::io::Error,
    },
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Runs the console until the operator quits (or SIGTERM). Never exits because the service is
/// down: it shows `RECONNECTING IN Ns` and keeps the last data.
pub async fn run(args: TuiArgs) -> Result<(), TuiError> {
    let started = Instant::now();
    let cfg = config::load(&args)?;
    let keymap = load_keymap(&cfg)?;
    let theme = Theme::load(&cfg.theme, theme::no_color_from_env())?;
    let glyphs = Glyphs::choose(cfg.ascii);
    init_logging()?;
    let client = Client::new(&cfg.api, cfg.token.clone(), Duration::from_secs(5))?;
    let app = App::new(AppConfig {
        api: cfg.api.clone(),
        keymap,
        read_only: cfg.read_only,
        export_path: cfg.export_path.clone(),
    });
    tracing::info!(api = %cfg.api, "console starting");
    let mut term = terminal::take(cfg.mouse)?;
    let result = Console::new(app, client, &cfg, started)
        .run(&mut term, &theme, &glyphs)
        .await;
    let restored = terminal::give_back();
    tracing::info!("console stopped");
    result.and(restored.map_err(TuiError::from))
}

fn load_keymap(cfg: &ConsoleConfig) -> Result<Keymap, TuiError> {
    match &cfg.keymap {
        None => Ok(Keymap::defaults()?),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| TuiError::KeymapFile {
                path: path.display().to_string(),
                source,
            })?;
            Ok(Keymap::with_user(&path.display().to_string(), &text)?)
        }
    }
}

/// Logs go to a file, never to the screen the console draws on.
fn init_logging() -> Result<(), TuiError> {
    let path = config::log_file();
    let err = |source| TuiError::Log {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(err)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RETRYCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A subscriber set earlier (tests) wins; ours only matters for the real binary.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    Ok(())
}

/// The loop's state: the app, the channels to the poller and to action tasks.
struct Console {
    app: App,
    client: Client,
    fps: u32,
    refresh: Arc<Notify>,
    wants: watch::Sender<Watch>,
    polls: mpsc::Receiver<PollMsg>,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    started: Instant,
    /// When the first snapshot arrived, until the frame showing it is drawn.
    first_data: Option<Instant>,
    first_data_drawn: bool,
}

impl Console {
    fn new(app: App, client: Client, cfg: &ConsoleConfig, started: Instant) -> Console {
        let refresh = Arc::new(Notify::new());
        let (wants, wants_rx) = watch::channel(app.watch());
        let (poll_tx, polls) = mpsc::channel(4);
        let (done_tx, done_rx) = mpsc::channel(16);
        tokio::spawn(poller::run(
            client.clone(),
            cfg.refresh,
            wants_rx,
            refresh.clone(),
            poll_tx,
        ));
        Console {
            app,
            client,
            fps: cfg.fps,
            refresh,
            wants,
            polls,
            done_tx,
            done_rx,
            started,
            first_data: None,
            first_data_drawn: false,
        }
    }

    async fn run(
        mut self,
        term: &mut DefaultTerminal,
        theme: &Theme,
        glyphs: &Glyphs,
    ) -> Result<(), TuiError> {
        let mut events = EventStream::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1) / self.fps);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut sigterm = signal(SignalKind::terminate())?;
        loop {
            self.draw(term, theme, glyphs)?;
            let effect = tokio::select! {
                biased;
                event = events.next() => match event {
                    Some(Ok(event)) => self.on_event(event),
                    Some(Err(e)) => return Err(e.into()),
                    None => Some(Effect::Quit),
                },
                Some(msg) = self.polls.recv() => { self.on_poll(msg); None }
                Some(done) = self.done_rx.recv() => { self.on_done(done); None }
                _ = sigterm.recv() => Some(Effect::Quit),
                _ = tick.tick() => { self.app.on_tick(); None }
            };
            match effect {
                Some(Effect::Quit) => return Ok(()),
                Some(Effect::Suspend) => suspend(term)?,
                Some(other) => self.perform(other),
                None => {}
            }
            self.wants.send_if_modified(|w| {
                let new = self.app.watch();
                let changed = *w != new;
                *w = new;
                changed
            });
        }
    }

    fn draw(
        &mut self,
        term: &mut DefaultTerminal,
        theme: &Theme,
        glyphs: &Glyphs,
    ) -> Result<(), TuiError> {
        let size = term.size()?;
        view::fit(&mut self.app, size.width, size.height);
        let ctx = Ctx {
            app: &self.app,
            theme,
            glyphs,
            now: chrono::Utc::now(),
        };
        term.draw(|f| view::render(f, &ctx))?;
        if let (false, Some(arrived)) = (self.first_data_drawn, self.first_data) {
            self.first_data_drawn = true;
            let since_start_ms = self.started.elapsed().as_secs_f64() * 1000.0;
            let after_answer_ms = arrived.elapsed().as_secs_f64() * 1000.0;
            tracing::info!(since_start_ms, after_answer_ms, "first frame with data");
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event) -> Option<Effect> {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                self.app.on_key(key, chrono::Utc::now())
            }
            Event::Mouse(mouse) => self.app.on_mouse(mouse),
            // Resize: the next draw picks the layout for the new size.
            _ => None,
        }
    }

    fn on_poll(&mut self, msg: PollMsg) {
        match msg {
            PollMsg::Snapshot(snap, query) => {
                self.first_data.get_or_insert_with(Instant::now);
                self.app.on_snapshot(*snap);
                self.app.on_filter_answered(&query);
            }
            PollMsg::FilterRefused { query, error } => self.app.on_filter_refused(&query, error),
            PollMsg::Down { error, retry_at } => self.app.on_disconnected(error, retry_at),
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Outcome { ok, text } => self.app.on_outcome(ok, text),
            Done::Preview(p) => self.app.on_preview(p),
            Done::BulkCounted(result) => self.app.on_bulk_counted(result),
            Done::JobInfo(job_id, result) => self.app.on_job_info(job_id, result),
            Done::ExportExists { path, format } => self.app.on_export_exists(path, format),
            Done::ImportChecked(result) => self.app.on_import_checked(result),
        }
        self.refresh.notify_one();
    }

    fn perform(&mut self, effect: Effect) {
        let (client, tx) = (self.client.clone(), self.done_tx.clone());
        match effect {
            Effect::Refresh => self.refresh.notify_one(),
            Effect::Call(call) => perform::spawn_call(client, call, tx),
            Effect::Export(export) => perform::spawn_export(client, export, tx),
            Effect::Copy(text) => {
                let result = terminal::copy(&text);
                self.app.on_copied(&text, result);
            }
            Effect::Quit | Effect::Suspend => {}
        }
    }
}

/// Ctrl+Z: give the terminal back, stop like any shell job, take it again on `fg`.
fn suspend(term: &mut DefaultTerminal) -> Result<(), TuiError> {
    terminal::give_back()?;
    signal_hook::low_level::raise(signal_hook::consts::SIGTSTP)?;
    // Execution continues here after SIGCONT.
    terminal::hold()?;
    term.clear()?;
    Ok(())
}
