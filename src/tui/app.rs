//! UI state and what each action does to it.
//!
//! [`App::dispatch`] and [`App::on_key`] only change UI state; when something must happen
//! outside (an API call, a file, quitting) they return an [`Effect`] that the loop in `tui.rs`
//! performs. Nothing here does I/O, so every behaviour is testable without a terminal.

mod alert_jump;
mod bulk;
mod detail;
mod errors;
mod form;
mod import;
mod jobs;
mod mouse;
mod paging;
mod pause;
mod sort;
mod stream;

pub use bulk::{
    BULK_ACTIONS, BulkConfirm, BulkField, BulkForm, done_text as bulk_done_text, verb as bulk_verb,
};
pub use form::{Input, OverrideField, OverrideForm, ReasonForm, Reasoned};
pub use import::{ImportCheck, import_done_text};
pub use mouse::HitAreas;
pub use paging::Pages;
pub use pause::{PauseField, PauseForm};
pub use sort::SortKey;
pub use stream::StreamView;

use super::action::Action;
use super::keymap::Keymap;
use super::state::{EventRing, JobInfo, Snapshot};
use crate::client::JobQuery;
use crate::model::{BulkRequest, OverrideRequest, PauseRequest, RetryPreview, ScheduledJob};
use crate::present::export::{ExportFormat, parse_export};
use crate::present::overrides::parse_override;
use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::HashMap;
use std::path::PathBuf;
use throbber_widgets_tui::ThrobberState;

/// The panes (wide layout) and tabs (narrow layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Strategy,
    Live,
    Analytics,
    Alerts,
}

impl Pane {
    pub const TABS: [Pane; 4] = [Pane::Strategy, Pane::Live, Pane::Analytics, Pane::Alerts];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Strategy => "Strategy",
            Pane::Live => "Live recommendations",
            Pane::Analytics => "Analytics",
            Pane::Alerts => "Alerts",
        }
    }
}

/// Where the poller stands with the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    /// No answer yet.
    Connecting,
    Connected,
    /// The last poll failed; the next try is at `retry_at`.
    Reconnecting {
        retry_at: DateTime<Utc>,
        error: String,
    },
}

/// What needs confirming before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Retrain {
        job_type: String,
        error_class: String,
    },
    /// The export's file exists: replace it?
    Overwrite(Export),
}

/// The dialog or overlay on top of the panes, if any.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    /// The key list, scrolled down by `scroll` rows.
    Help {
        scroll: usize,
    },
    Filter(Input),
    Override(OverrideForm),
    /// A reason for the audit log, asked before a kill or an acknowledgement.
    Reason(ReasonForm),
    Confirm(Confirm),
    Alerts,
    /// A job's planned attempts (or why there are none), scrolled down by `scroll` rows.
    Preview {
        result: Result<Box<RetryPreview>, String>,
        scroll: usize,
    },
    Loading(String),
    Export {
        path: Input,
        error: Option<String>,
    },
    /// The file of rules to import.
    Import {
        path: Input,
        error: Option<String>,
    },
    /// The service's dry run of the import, to confirm; the diff scrolled by `scroll` rows.
    ImportConfirm {
        check: Box<ImportCheck>,
        scroll: usize,
    },
    /// The bulk dialog over the applied filter.
    Bulk(BulkForm),
    /// The service's dry-run count, to confirm before the bulk action is sent.
    BulkConfirm(BulkConfirm),
    /// The pause dialog for the selected job's queue.
    Pause(PauseForm),
    /// The pauses in force, `selected` to resume.
    Resume {
        selected: usize,
    },
    /// The error stream's filter being typed.
    StreamFilter(Input),
    /// The top error classes of the last minutes, `selected` to filter the Live pane by.
    Errors {
        selected: usize,
    },
    /// A job's detail (or why it could not be read), scrolled down by `scroll` rows.
    Detail {
        job_id: String,
        result: Result<Box<JobInfo>, String>,
        scroll: usize,
    },
}

/// A call to the service that an action asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Retrain {
        job_type: String,
        error_class: String,
    },
    /// The plan of the job with this id.
    Preview(String),
    Override {
        job_id: String,
        req: OverrideRequest,
    },
    Apply {
        job_id: String,
        use_static: bool,
    },
    RetryNow {
        job_id: String,
    },
    Kill {
        job_id: String,
        reason: String,
    },
    Ack {
        alert_id: String,
        reason: String,
    },
    /// The detail and audit entries of the job with this id.
    JobInfo(String),
    /// Count what a bulk action would change (`dry_run`).
    BulkDryRun(Box<BulkRequest>),
    /// The bulk action, confirmed; `filter` is the console filter it came from, `expected`
    /// the count the operator confirmed (the dry run's).
    Bulk {
        filter: String,
        req: Box<BulkRequest>,
        expected: u64,
    },
    Pause(Box<PauseRequest>),
    Resume {
        pause_id: String,
        scope: String,
        reason: String,
    },
    /// Read the file and ask the service what importing its strategy would change.
    ImportDryRun(PathBuf),
    /// Apply the strategy of a checked import.
    Import(Box<ImportCheck>),
}

impl Call {
    /// How the footer names this call.
    pub fn label(&self) -> String {
        match self {
            Call::Retrain {
                job_type,
                error_class,
            } => format!("retrain {job_type}/{error_class}"),
            Call::Preview(job_id) => format!("preview {job_id}"),
            Call::Override { job_id, .. } => override_label(job_id),
            Call::Apply {
                job_id,
                use_static: false,
            } => format!("apply {job_id}"),
            Call::Apply {
                job_id,
                use_static: true,
            } => format!("static backoff {job_id}"),
            Call::RetryNow { job_id } => format!("retry now {job_id}"),
            Call::Kill { job_id, .. } => format!("kill {job_id}"),
            Call::Ack { alert_id, .. } => format!("ack alert {alert_id}"),
            Call::JobInfo(job_id) => format!("detail {job_id}"),
            Call::BulkDryRun(req) => format!("bulk {} dry run", req.action.as_str()),
            Call::Bulk { req, .. } => format!("bulk {}", req.action.as_str()),
            Call::Pause(req) => format!("pause {}", req.queue),
            Call::Resume { scope, .. } => format!("resume {scope}"),
            Call::ImportDryRun(path) => format!("import check of {}", path.display()),
            Call::Import(check) => format!("import {}", check.path.display()),
        }
    }
}

/// How the footer names an override of `job_id` (its outcome starts with this).
fn override_label(job_id: &str) -> String {
    format!("override {job_id}")
}

/// How many rows of a scrolled list fit on screen, out of how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fit {
    pub visible: usize,
    pub total: usize,
}

impl Fit {
    /// The furthest the list can scroll: its last row at the bottom.
    pub fn max_scroll(self) -> usize {
        self.total.saturating_sub(self.visible)
    }
}

/// Something the loop must do for the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    Suspend,
    /// Poll now.
    Refresh,
    Call(Call),
    Export(Export),
    /// Put this text on the terminal's clipboard (OSC 52).
    Copy(String),
}

/// Writing the strategy to a file; an existing file is replaced only with `replace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub path: PathBuf,
    pub format: ExportFormat,
    pub replace: bool,
}

/// The result of the last action, shown in the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub text: String,
}

/// Settings the app starts with.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub api: String,
    pub keymap: Keymap,
    pub read_only: bool,
    pub export_path: String,
}

/// The whole UI state.
#[derive(Debug)]
pub struct App {
    pub api: String,
    pub keymap: Keymap,
    pub read_only: bool,
    pub conn: Conn,
    pub data: Option<Snapshot>,
    /// The recent events of the live stream, kept across polls and reconnects.
    pub events: EventRing,
    pub focus: Pane,
    pub mode: Mode,
    /// Free text and `queue:`/`state:`/`error:` terms of the job filter.
    pub filter: String,
    /// The order of the job list.
    pub sort: SortKey,
    /// Which page of the filter's jobs is shown.
    pub pages: Pages,
    /// The live error stream's focus, position and filter.
    pub stream: StreamView,
    /// Rows of the error stream, set by the loop from the layout (0 when it is not shown).
    pub stream_rows: usize,
    /// Where the last frame drew what the mouse can point at (set by the view).
    pub hits: std::cell::Cell<HitAreas>,
    /// The last filter the service answered; a refused filter falls back to it.
    filter_good: String,
    /// Why the service refused the filter the operator typed last, shown by the filter.
    pub filter_error: Option<String>,
    /// Index into `visible` of the selected job, and its id: the selection follows the id
    /// across refreshes until the operator moves it or the job leaves the list.
    pub selected: usize,
    pub selected_id: Option<String>,
    /// Indices into the snapshot's jobs that pass the free-text filter.
    pub visible: Vec<usize>,
    pub alert_selected: usize,
    pub last: Option<Outcome>,
    /// One spinner per job in backoff, and the header's.
    pub throbbers: HashMap<String, ThrobberState>,
    pub spinner: ThrobberState,
    /// Set by the loop from the terminal width: three panes or tabs.
    pub wide: bool,
    /// Rows of the job table, set by the loop from the layout (page up/down).
    pub page_rows: usize,
    /// How much of the help list fits, set by the loop from the layout (scrolling).
    pub help_fit: Fit,
    /// How much of the open preview's plan fits, set by the loop from the layout.
    pub preview_fit: Fit,
    export_path: String,
    /// The override dialog as sent, reopened with the service's answer if it refuses.
    sent_override: Option<OverrideForm>,
    /// How far the open job detail can scroll (set by the view when it draws).
    pub detail_max: std::cell::Cell<usize>,
    /// How far the import's diff can scroll (set by the view when it draws).
    pub import_max: std::cell::Cell<usize>,
    /// The bulk dialog whose dry run is on its way.
    sent_bulk: Option<BulkForm>,
    /// Set when the service restarted while the console watched it (its `started_at`
    /// changed): its counters started again from zero.
    pub restart_seen: bool,
    /// Rows the Analytics pane is scrolled down, and the furthest it can go (set by the
    /// view when it draws, since only the view knows how many rows the pane's text takes).
    pub analytics_scroll: usize,
    pub analytics_max: std::cell::Cell<usize>,
}

impl App {
    pub fn new(cfg: AppConfig) -> App {
        App {
            api: cfg.api,
            keymap: cfg.keymap,
            read_only: cfg.read_only,
            conn: Conn::Connecting,
            data: None,
            events: EventRing::default(),
            focus: Pane::Live,
            mode: Mode::Normal,
            filter: String::new(),
            sort: SortKey::default(),
            pages: Pages::default(),
            stream: StreamView::default(),
            stream_rows: 0,
            hits: std::cell::Cell::new(HitAreas::default()),
            filter_good: String::new(),
            filter_error: None,
            selected: 0,
            selected_id: None,
            visible: Vec::new(),
            alert_selected: 0,
            last: None,
            throbbers: HashMap::new(),
            spinner: ThrobberState::default(),
            wide: true,
            page_rows: 10,
            help_fit: Fit::default(),
            preview_fit: Fit::default(),
            export_path: cfg.export_path,
            sent_override: None,
            sent_bulk: None,
            detail_max: std::cell::Cell::new(0),
            import_max: std::cell::Cell::new(0),
            restart_seen: false,
            analytics_scroll: 0,
            analytics_max: std::cell::Cell::new(0),
        }
    }

    /// New data from the poller.
    pub fn on_snapshot(&mut self, mut snap: Snapshot) {
        self.events.extend(std::mem::take(&mut snap.events));
        let started = |d: &Snapshot| d.summary.started_at;
        if self
            .data
            .as_ref()
            .is_some_and(|d| started(d) != started(&snap))
        {
            self.restart_seen = true;
        }
        self.data = Some(snap);
        // A failure from while the service was unreachable is stale once it answers again.
        let reconnected = matches!(self.conn, Conn::Reconnecting { .. });
        if reconnected && self.last.as_ref().is_some_and(|o| !o.ok) {
            self.last = None;
        }
        self.conn = Conn::Connected;
        self.refilter();
        self.sync_throbbers();
    }

    /// The poller could not reach the service; the last data stays, marked stale.
    pub fn on_disconnected(&mut self, error: String, retry_at: DateTime<Utc>) {
        self.conn = Conn::Reconnecting { retry_at, error };
    }

    /// Advances every spinner one step.
    pub fn on_tick(&mut self) {
        self.spinner.calc_next();
        self.throbbers
            .values_mut()
            .for_each(ThrobberState::calc_next);
    }

    /// The result of a call the loop made for us.
    pub fn on_outcome(&mut self, ok: bool, text: String) {
        if matches!(self.mode, Mode::Loading(_)) {
            self.mode = Mode::Normal;
        }
        let answers = |f: &mut OverrideForm| text.starts_with(&override_label(&f.job_id));
        if let Some(mut form) = self.sent_override.take_if(answers) {
            // A refused override comes back with what was typed, so it can be corrected.
            if !ok {
                form.error = Some(text.clone());
                self.mode = Mode::Override(form);
            }
        }
        self.last = Some(Outcome { ok, text });
    }

    /// The export's file exists: ask before replacing it.
    pub fn on_export_exists(&mut self, path: PathBuf, format: ExportFormat) {
        self.mode = Mode::Confirm(Confirm::Overwrite(Export {
            path,
            format,
            replace: true,
        }));
    }

    /// A preview arrived (or failed).
    pub fn on_preview(&mut self, preview: Result<Box<RetryPreview>, String>) {
        if matches!(self.mode, Mode::Loading(_)) {
            self.mode = Mode::Preview {
                result: preview,
                scroll: 0,
            };
        }
    }

    /// What the poller should fetch: the server-side part of the filter and the selection.
    pub fn watch(&self) -> (JobQuery, Option<String>) {
        (self.job_query(), self.selected_id.clone())
    }

    /// The selected job, if any.
    pub fn selected_job(&self) -> Option<&ScheduledJob> {
        let data = self.data.as_ref()?;
        self.visible.get(self.selected).map(|&i| &data.jobs.jobs[i])
    }

    /// The role the service says our token has, when known.
    pub fn role(&self) -> Option<&str> {
        self.data.as_ref().map(|d| d.summary.role.as_str())
    }

    /// Why actions that change the service are refused, if they are.
    pub fn refusal(&self) -> Option<String> {
        if self.read_only {
            return Some("read-only console (--read-only): nothing was sent".into());
        }
        match self.role() {
            Some("operator") | None => None,
            Some(role) => Some(format!(
                "read-only: your token has the {role} role (operator needed); nothing was sent"
            )),
        }
    }

    /// Whether the console offers `action` (lists it in the footer, help and panes): actions
    /// that change the service are hidden while they would be refused.
    pub fn offers(&self, action: Action) -> bool {
        !action.mutates() || self.refusal().is_none()
    }

    /// The actions this console offers, in the keymap's order.
    pub fn offered(&self) -> Vec<Action> {
        Action::ALL
            .into_iter()
            .filter(|a| self.offers(*a))
            .collect()
    }

    /// Handles one key press in whatever mode the UI is in.
    pub fn on_key(&mut self, key: KeyEvent, now: DateTime<Utc>) -> Option<Effect> {
        let action = self.keymap.action(&key);
        if is_ctrl_quit(action, &key) {
            return Some(Effect::Quit);
        }
        match &mut self.mode {
            Mode::Normal => action.and_then(|a| self.dispatch(a)),
            Mode::Filter(_)
            | Mode::StreamFilter(_)
            | Mode::Override(_)
            | Mode::Reason(_)
            | Mode::Export { .. }
            | Mode::Import { .. }
            | Mode::Bulk(_)
            | Mode::Pause(_) => self.on_text_key(key, now),
            Mode::BulkConfirm(_) => self.on_bulk_confirm_key(key),
            Mode::ImportConfirm { .. } => self.on_import_confirm_key(key),
            Mode::Confirm(_) => self.on_confirm_key(key),
            Mode::Loading(_) => {
                self.mode = Mode::Normal;
                None
            }
            _ => self.on_list_action(action),
        }
    }

    /// An action in a mode that shows a list or a scrolled text (the normal mode included):
    /// what a key bound to it does, and what the mouse wheel does there.
    pub(super) fn on_list_action(&mut self, action: Option<Action>) -> Option<Effect> {
        match &self.mode {
            Mode::Normal => action.and_then(|a| self.dispatch(a)),
            Mode::Resume { .. } => self.on_resume_key(action),
            Mode::Detail { .. } => self.on_detail_key(action),
            Mode::Alerts => self.on_alerts_key(action),
            Mode::Errors { .. } => self.on_errors_key(action),
            Mode::Help { .. } | Mode::Preview { .. } => self.on_scroll_key(action),
            // Dialogs with text or a confirmation take keys, not the wheel.
            _ => None,
        }
    }

    /// What an action does in the normal mode.
    pub fn dispatch(&mut self, action: Action) -> Option<Effect> {
        if self.stream.focused
            && self.focus == Pane::Live
            && let Some(effect) = self.on_stream_action(action)
        {
            return effect;
        }
        // On the Alerts tab, Enter shows the selected alert's jobs: it changes nothing.
        if action == Action::Apply && self.focus == Pane::Alerts {
            return self.jump_to_alert();
        }
        // On Analytics, Enter opens the error classes to filter by: it changes nothing either.
        if action == Action::Apply && self.focus == Pane::Analytics {
            return self.open_errors();
        }
        if action.mutates()
            && let Some(why) = self.refusal()
        {
            self.last = Some(Outcome {
                ok: false,
                text: why,
            });
            return None;
        }
        match action {
            Action::Quit => Some(Effect::Quit),
            Action::Suspend => Some(Effect::Suspend),
            Action::Refresh => Some(Effect::Refresh),
            Action::Help => self.open(Mode::Help { scroll: 0 }),
            Action::Cancel => self.clear_filter(),
            Action::Alerts => self.open(Mode::Alerts),
            Action::Filter => self.open(Mode::Filter(Input::with(&self.filter))),
            Action::Export => self.open(Mode::Export {
                path: Input::with(&self.export_path),
                error: None,
            }),
            Action::NextPane => self.cycle_focus(1),
            Action::PrevPane => self.cycle_focus(-1),
            Action::TabStrategy => self.focus_pane(Pane::Strategy),
            Action::TabLive => self.focus_pane(Pane::Live),
            Action::TabAnalytics => self.focus_pane(Pane::Analytics),
            Action::TabAlerts => self.focus_pane(Pane::Alerts),
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => self.move_by(action),
            Action::Top | Action::Bottom => self.move_by(action),
            Action::AckAlert => self.ack_selected_alert(),
            Action::Import => self.open_import(),
            Action::Bulk => self.open_bulk(),
            Action::Pause => self.open_pause(),
            Action::Resume => self.open_resume(),
            Action::Detail => self.open_detail(),
            Action::CopyId => self.copy_selected_id(),
            Action::Sort => self.next_sort(),
            Action::Errors => self.open_errors(),
            Action::NextPage => self.next_page(),
            Action::PrevPage => self.prev_page(),
            Action::Stream => self.toggle_stream(),
            _ => self.job_action(action),
        }
    }

    fn open(&mut self, mode: Mode) -> Option<Effect> {
        self.mode = mode;
        None
    }

    fn focus_pane(&mut self, pane: Pane) -> Option<Effect> {
        self.stream.focused &= pane == Pane::Live;
        // Alerts are part of the Analytics pane when all three panes are shown.
        self.focus = if self.wide && pane == Pane::Alerts {
            Pane::Analytics
        } else {
            pane
        };
        None
    }

    fn cycle_focus(&mut self, step: isize) -> Option<Effect> {
        let panes: &[Pane] = if self.wide {
            &Pane::TABS[..3]
        } else {
            &Pane::TABS
        };
        let at = panes.iter().position(|p| *p == self.focus).unwrap_or(0) as isize;
        let n = panes.len() as isize;
        self.focus = panes[((at + step).rem_euclid(n)) as usize];
        self.stream.focused &= self.focus == Pane::Live;
        None
    }

    /// Actions on the selected job.
    fn job_action(&mut self, action: Action) -> Option<Effect> {
        let Some(job) = self.selected_job().cloned() else {
            self.last = Some(Outcome {
                ok: false,
                text: "no job selected".into(),
            });
            return None;
        };
        let job_id = job.job_id.clone();
        let call = match action {
            Action::Apply => Call::Apply {
                job_id,
                use_static: false,
            },
            Action::UseStatic => Call::Apply {
                job_id,
                use_static: true,
            },
            Action::RetryNow => Call::RetryNow { job_id },
            Action::Override => return self.open(Mode::Override(OverrideForm::new(&job_id))),
            Action::Kill => {
                let form = ReasonForm::new(Reasoned::Kill { job_id });
                return self.open(Mode::Reason(form));
            }
            Action::Retrain => {
                let (job_type, error_class) = (job.job_type, job.error_class);
                return self.open(Mode::Confirm(Confirm::Retrain {
                    job_type,
                    error_class,
                }));
            }
            Action::Preview => {
                self.mode = Mode::Loading(format!("previewing {job_id}"));
                Call::Preview(job_id)
            }
            _ => return None,
        };
        Some(Effect::Call(call))
    }

    /// Movement keys scroll the help or the preview; any other key closes it.
    fn on_scroll_key(&mut self, action: Option<Action>) -> Option<Effect> {
        let (scroll, fit) = match &mut self.mode {
            Mode::Help { scroll } => (scroll, self.help_fit),
            Mode::Preview { scroll, .. } => (scroll, self.preview_fit),
            _ => return None,
        };
        match action {
            Some(Action::Up) => *scroll = scroll.saturating_sub(1),
            Some(Action::Down) => *scroll += 1,
            Some(Action::PageUp) => *scroll = scroll.saturating_sub(fit.visible.max(1)),
            Some(Action::PageDown) => *scroll += fit.visible.max(1),
            Some(Action::Top) => *scroll = 0,
            Some(Action::Bottom) => *scroll = fit.max_scroll(),
            _ => {
                self.mode = Mode::Normal;
                return None;
            }
        }
        *scroll = (*scroll).min(fit.max_scroll());
        None
    }

    fn on_confirm_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let yes = matches!(
            key.code,
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
        );
        let Mode::Confirm(what) = std::mem::replace(&mut self.mode, Mode::Normal) else {
            return None;
        };
        if !yes {
            self.last = Some(Outcome {
                ok: true,
                text: "cancelled".into(),
            });
            return None;
        }
        Some(Effect::Call(match what {
            Confirm::Retrain {
                job_type,
                error_class,
            } => Call::Retrain {
                job_type,
                error_class,
            },
            Confirm::Overwrite(export) => return Some(Effect::Export(export)),
        }))
    }

    fn on_alerts_key(&mut self, action: Option<Action>) -> Option<Effect> {
        let count = self.data.as_ref().map_or(0, |d| d.summary.alerts.len());
        match action? {
            Action::Up => self.alert_selected = self.alert_selected.saturating_sub(1),
            Action::Down => {
                self.alert_selected = (self.alert_selected + 1).min(count.saturating_sub(1))
            }
            Action::AckAlert => return self.dispatch(Action::AckAlert),
            Action::Apply => return self.jump_to_alert(),
            Action::Cancel | Action::Alerts => self.mode = Mode::Normal,
            Action::Quit => return Some(Effect::Quit),
            Action::Refresh => return Some(Effect::Refresh),
            _ => {}
        }
        None
    }

    fn ack_selected_alert(&mut self) -> Option<Effect> {
        let alert = self
            .data
            .as_ref()
            .and_then(|d| d.summary.alerts.get(self.alert_selected));
        match alert {
            Some(a) => {
                let what = Reasoned::Ack {
                    alert_id: a.id.clone(),
                    message: a.message.clone(),
                };
                self.open(Mode::Reason(ReasonForm::new(what)))
            }
            None => {
                self.last = Some(Outcome {
                    ok: false,
                    text: "no alert selected".into(),
                });
                None
            }
        }
    }

    fn on_text_key(&mut self, key: KeyEvent, now: DateTime<Utc>) -> Option<Effect> {
        match key.code {
            KeyCode::Esc => self.cancelled(),
            KeyCode::Enter => self.submit_text(now),
            KeyCode::Tab | KeyCode::BackTab => {
                let step = if key.code == KeyCode::Tab { 1 } else { -1 };
                match &mut self.mode {
                    Mode::Override(form) => form.next_field(),
                    Mode::Bulk(form) => form.next_field(step),
                    Mode::Pause(form) => form.next_field(step),
                    _ => {}
                }
                None
            }
            KeyCode::Up | KeyCode::Down | KeyCode::Left | KeyCode::Right => {
                let step = if matches!(key.code, KeyCode::Up | KeyCode::Left) {
                    -1
                } else {
                    1
                };
                self.on_choice_key(step);
                None
            }
            KeyCode::Backspace => {
                self.current_input().map(Input::pop);
                None
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.current_input().map(Input::clear);
                None
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                if let Some(input) = self.current_input() {
                    input.push(c);
                }
                None
            }
            _ => None,
        }
    }

    fn current_input(&mut self) -> Option<&mut Input> {
        match &mut self.mode {
            Mode::Filter(input) | Mode::StreamFilter(input) => Some(input),
            Mode::Override(form) => Some(form.current()),
            Mode::Reason(form) => Some(&mut form.reason),
            Mode::Export { path, .. } | Mode::Import { path, .. } => Some(path),
            Mode::Bulk(form) => form.current(),
            Mode::Pause(form) => form.current(),
            _ => None,
        }
    }

    /// Arrow keys on a dialog's choice field change the choice: the bulk action, the pause's
    /// scope. Elsewhere they do nothing.
    fn on_choice_key(&mut self, step: isize) {
        match &mut self.mode {
            Mode::Bulk(form) if form.field == BulkField::Action => form.cycle_action(step),
            Mode::Pause(form) if form.field == PauseField::Scope => {
                form.with_error = !form.with_error
            }
            _ => {}
        }
    }

    /// Sends the kill or acknowledgement with its reason; an empty reason is refused.
    fn submit_reason(&mut self, mut form: ReasonForm) -> Option<Effect> {
        let reason = form.reason.text.trim().to_string();
        if reason.is_empty() {
            form.error = Some("a reason is required: it goes to the audit log".into());
            return self.open(Mode::Reason(form));
        }
        Some(Effect::Call(match form.what {
            Reasoned::Kill { job_id } => Call::Kill { job_id, reason },
            Reasoned::Ack { alert_id, .. } => Call::Ack { alert_id, reason },
            Reasoned::Resume { pause_id, scope } => Call::Resume {
                pause_id,
                scope,
                reason,
            },
        }))
    }

    fn submit_text(&mut self, now: DateTime<Utc>) -> Option<Effect> {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Filter(input) => self.apply_filter(input.text.trim()),
            Mode::StreamFilter(input) => {
                self.filter_stream(&input.text);
                None
            }
            Mode::Override(mut form) => {
                match parse_override(&form.delay.text, &form.reason.text, now) {
                    Ok(req) => {
                        self.mode = Mode::Loading(format!("sending override {}", form.job_id));
                        let job_id = form.job_id.clone();
                        self.sent_override = Some(form);
                        Some(Effect::Call(Call::Override { job_id, req }))
                    }
                    Err(why) => {
                        form.error = Some(why);
                        self.open(Mode::Override(form))
                    }
                }
            }
            Mode::Reason(form) => self.submit_reason(form),
            Mode::Bulk(form) => self.submit_bulk(form),
            Mode::Pause(form) => self.submit_pause(form),
            Mode::Import { path, .. } => self.submit_import(path),
            Mode::Export { path, .. } => match parse_export(&path.text) {
                Ok((file, format)) => {
                    self.export_path = path.text.trim().to_string();
                    Some(Effect::Export(Export {
                        path: file,
                        format,
                        replace: false,
                    }))
                }
                Err(why) => self.open(Mode::Export {
                    path,
                    error: Some(why),
                }),
            },
            other => self.open(other),
        }
    }
}

/// Ctrl+C (or whatever ctrl key quits) works even while typing into a dialog.
fn is_ctrl_quit(action: Option<Action>, key: &KeyEvent) -> bool {
    action == Some(Action::Quit) && key.modifiers.contains(KeyModifiers::CONTROL)
}

#[cfg(test)]
mod tests;
