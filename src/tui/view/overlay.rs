//! Dialogs and overlays drawn over the panes: help, confirmations, override, export, alerts,
//! preview.

use super::{Ctx, alerts, analytics, block, flow, import, incident, job};
use crate::model::RetryPreview;
use crate::present::fmt;
use crate::present::overrides::DELAY_HINT;
use crate::tui::action::Action;
use crate::tui::app::{
    App, Confirm, Fit, Input, Mode, OverrideField, OverrideForm, ReasonForm, Reasoned,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    match &ctx.app.mode {
        Mode::Normal | Mode::Filter(_) | Mode::StreamFilter(_) => {}
        Mode::Help { scroll } => help(frame, area, ctx, *scroll),
        Mode::Confirm(c) => confirm(frame, area, ctx, c),
        Mode::Override(form) => override_form(frame, area, ctx, form),
        Mode::Reason(form) => reason_form(frame, area, ctx, form),
        Mode::Export { path, error } => export(frame, area, ctx, path, error.as_deref()),
        Mode::Import { path, error } => import::file_form(frame, area, ctx, path, error.as_deref()),
        Mode::ImportConfirm { check, scroll } => import::confirm(frame, area, ctx, check, *scroll),
        Mode::Alerts => alerts_dialog(frame, area, ctx),
        Mode::Errors { selected } => errors_dialog(frame, area, ctx, *selected),
        Mode::Preview {
            result: Ok(p),
            scroll,
        } => preview(frame, area, ctx, p, *scroll),
        Mode::Preview { result: Err(e), .. } => dialog(
            frame,
            area,
            ctx,
            "Preview failed",
            vec![Line::styled(e.as_str(), ctx.theme.critical())],
        ),
        Mode::Bulk(form) => incident::bulk_form(frame, area, ctx, form),
        Mode::BulkConfirm(c) => incident::bulk_confirm(frame, area, ctx, c),
        Mode::Pause(form) => incident::pause_form(frame, area, ctx, form),
        Mode::Resume { selected } => incident::resume_list(frame, area, ctx, *selected),
        Mode::Detail {
            result: Ok(info),
            scroll,
            ..
        } => job::render(frame, area, ctx, info, *scroll),
        Mode::Detail { result: Err(e), .. } => dialog(
            frame,
            area,
            ctx,
            "Job detail",
            vec![Line::styled(e.as_str(), ctx.theme.critical())],
        ),
        Mode::Loading(what) => dialog(
            frame,
            area,
            ctx,
            "Working",
            vec![Line::from(format!("{what}…"))],
        ),
    }
}

/// A box of the given size (clamped to the screen) in the middle of `area`.
fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

/// Columns a dialog leaves free at the screen's edges.
const DIALOG_MARGIN: u16 = 4;

/// A framed box in the middle of the screen, as wide as its widest line allows and tall
/// enough for every line once wrapped at spaces: nothing is cut mid-word or left below.
pub(super) fn dialog(frame: &mut Frame, area: Rect, ctx: &Ctx, title: &str, lines: Vec<Line>) {
    let width = lines
        .iter()
        .map(Line::width)
        .max()
        .unwrap_or(20)
        .max(title.len() + 6) as u16
        + 4;
    let width = width.min(area.width.saturating_sub(DIALOG_MARGIN));
    let inner = usize::from(width.saturating_sub(2));
    let lines: Vec<Line> = lines
        .into_iter()
        .flat_map(|l| flow::wrap_line(l, inner))
        .collect();
    let rect = centred(area, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    let p = Paragraph::new(lines).block(block(title, true, ctx));
    frame.render_widget(p, rect);
}

pub(super) fn key(ctx: &Ctx, action: Action) -> String {
    ctx.app.keymap.label(action)
}

/// The last line of a list dialog: move, what Apply does (`apply_does`), then `extra` (e.g.
/// "a acknowledge") and close.
pub(super) fn list_hint(ctx: &Ctx, apply_does: &str, extra: &str) -> Line<'static> {
    Line::styled(
        format!(
            "{} move  {} {apply_does}  {extra}{} close",
            ctx.glyphs.up_down,
            key(ctx, Action::Apply),
            key(ctx, Action::Cancel)
        ),
        ctx.theme.dim(),
    )
}

/// What the keys alone do not say: the filter's matching rule and the header's status text.
const HELP_NOTES: [&str; 3] = [
    " filter queue:X state:Y error:Z: exact match",
    " other filter words: part of id/type/queue/error",
    " header (E - P / T): failed - ended / seen failing",
];
/// Rows around the help list: its border, the notes, the hint line and a margin above and below.
const HELP_CHROME: u16 = 5 + HELP_NOTES.len() as u16;
/// From this width on the help list is laid out in two columns.
const HELP_TWO_COLUMNS: u16 = 100;

/// How many rows of the help list fit in a terminal of this size, out of how many.
pub fn help_fit(app: &App, width: u16, height: u16) -> Fit {
    let total = help_rows(app.offered().len(), width);
    Fit {
        visible: total.min(usize::from(height.saturating_sub(HELP_CHROME)).max(1)),
        total,
    }
}

/// Rows the help takes for `entries` keys: two columns when wide enough.
fn help_rows(entries: usize, width: u16) -> usize {
    if width >= HELP_TWO_COLUMNS {
        entries.div_ceil(2)
    } else {
        entries
    }
}

/// Generated from the live keymap, so a rebinding shows up here; scrolls when it does not fit.
/// A console that may not change the service lists only what it offers.
fn help(frame: &mut Frame, area: Rect, ctx: &Ctx, scroll: usize) {
    let entries: Vec<(String, &str)> = ctx
        .app
        .offered()
        .into_iter()
        .map(|a| (key(ctx, a), a.describe()))
        .collect();
    let key_width = entries.iter().map(|(k, _)| k.len()).max().unwrap_or(4);
    let rows = help_rows(entries.len(), area.width);
    let cell = |i: usize| -> Vec<Span> {
        entries.get(i).map_or(vec![], |(k, d)| {
            vec![
                Span::styled(format!(" {k:>key_width$} "), ctx.theme.accent()),
                Span::styled(format!("{d:<34}"), ctx.theme.text()),
            ]
        })
    };
    let fit = help_fit(ctx.app, area.width, area.height);
    let scroll = scroll.min(fit.max_scroll());
    let mut lines: Vec<Line> = (scroll..scroll + fit.visible)
        .map(|r| {
            let mut spans = cell(r);
            if rows < entries.len() {
                spans.extend(cell(r + rows));
            }
            Line::from(spans)
        })
        .collect();
    lines.extend(HELP_NOTES.map(|n| Line::styled(n, ctx.theme.dim())));
    let all_fits = "any key closes this help; keys come from keymap.toml";
    lines.push(scroll_hint(ctx, fit, scroll, all_fits));
    dialog(frame, area, ctx, "Keys", lines);
}

/// What is out of view and the keys that bring it in, or how to close when all fits.
fn scroll_hint<'a>(ctx: &Ctx, fit: Fit, scroll: usize, all_fits: &str) -> Line<'a> {
    let below = fit.max_scroll() - scroll;
    let keys = |a: [Action; 3]| a.map(|a| key(ctx, a)).join(", ");
    let dot = ctx.glyphs.dot;
    let text = if below > 0 {
        let how = keys([Action::Down, Action::PageDown, Action::Bottom]);
        format!(" {below} more below ({how}) {dot} esc closes")
    } else if scroll > 0 {
        let how = keys([Action::Up, Action::PageUp, Action::Top]);
        format!(" {scroll} more above ({how}) {dot} esc closes")
    } else {
        format!(" {all_fits}")
    };
    Line::styled(text, ctx.theme.dim())
}

fn confirm(frame: &mut Frame, area: Rect, ctx: &Ctx, what: &Confirm) {
    let question = match what {
        Confirm::Retrain {
            job_type,
            error_class,
        } => {
            format!("Retrain the model for {job_type}/{error_class} now?")
        }
        Confirm::Overwrite(export) => {
            format!("{} exists. Replace it?", export.path.display())
        }
    };
    let lines = vec![
        Line::styled(question, ctx.theme.title()),
        Line::styled("y / enter: yes    n / esc: no", ctx.theme.dim()),
    ];
    dialog(frame, area, ctx, "Confirm", lines);
}

pub(super) fn field<'a>(label: &'a str, input: &'a Input, active: bool, ctx: &Ctx) -> Line<'a> {
    let cursor = if active { "_" } else { "" };
    let style = if active {
        ctx.theme.selected()
    } else {
        ctx.theme.text()
    };
    Line::from(vec![
        Span::styled(format!("{label:>7} "), ctx.theme.dim()),
        Span::styled(format!("{}{cursor}", input.text), style),
    ])
}

fn override_form(frame: &mut Frame, area: Rect, ctx: &Ctx, form: &OverrideForm) {
    let mut lines = vec![
        Line::styled(
            format!("Next attempt of {}", form.job_id),
            ctx.theme.title(),
        ),
        field(
            "delay",
            &form.delay,
            form.field == OverrideField::Delay,
            ctx,
        ),
        Line::styled(format!("        {DELAY_HINT}"), ctx.theme.dim()),
        field(
            "reason",
            &form.reason,
            form.field == OverrideField::Reason,
            ctx,
        ),
    ];
    if let Some(e) = &form.error {
        lines.push(Line::styled(
            format!("{} {e}", ctx.glyphs.fail),
            ctx.theme.critical(),
        ));
    }
    lines.push(Line::styled(
        "tab next field  enter send  esc cancel",
        ctx.theme.dim(),
    ));
    dialog(frame, area, ctx, "Override delay", lines);
}

fn reason_form(frame: &mut Frame, area: Rect, ctx: &Ctx, form: &ReasonForm) {
    let (title, question) = match &form.what {
        Reasoned::Kill { job_id } => (
            "Kill",
            format!("Kill {job_id}? It will not be retried again."),
        ),
        Reasoned::Ack { alert_id, message } => {
            ("Acknowledge", format!("Acknowledge {alert_id}: {message}"))
        }
        Reasoned::Resume { pause_id, scope } => (
            "Resume",
            format!("Resume {scope} ({pause_id})? Its due jobs are handed out again."),
        ),
    };
    let mut lines = vec![
        Line::styled(question, ctx.theme.title()),
        field("reason", &form.reason, true, ctx),
    ];
    if let Some(e) = &form.error {
        lines.push(Line::styled(
            format!("{} {e}", ctx.glyphs.fail),
            ctx.theme.critical(),
        ));
    }
    lines.push(Line::styled(
        "the reason goes to the audit log  enter send  esc cancel",
        ctx.theme.dim(),
    ));
    dialog(frame, area, ctx, title, lines);
}

fn export(frame: &mut Frame, area: Rect, ctx: &Ctx, path: &Input, error: Option<&str>) {
    let mut lines = vec![
        Line::styled(
            "Export the service configuration (strategy, policies, guardrails)",
            ctx.theme.title(),
        ),
        field("file", path, true, ctx),
        Line::styled(
            "        .toml, .json or .yaml decides the format",
            ctx.theme.dim(),
        ),
    ];
    if let Some(e) = error {
        lines.push(Line::styled(
            format!("{} {e}", ctx.glyphs.fail),
            ctx.theme.critical(),
        ));
    }
    lines.push(Line::styled("enter write  esc cancel", ctx.theme.dim()));
    dialog(frame, area, ctx, "Export", lines);
}

fn alerts_dialog(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let Some(data) = &ctx.app.data else {
        return dialog(frame, area, ctx, "Alerts", vec![Line::from("no data yet")]);
    };
    let mut lines = alerts::lines(&data.summary, ctx, Some(ctx.app.alert_selected), false);
    let acknowledge = format!("{} acknowledge  ", key(ctx, Action::AckAlert));
    lines.push(list_hint(ctx, "show its jobs", &acknowledge));
    dialog(frame, area, ctx, "Alerts", lines);
}

/// The top error classes with their failures, the selected one marked, to filter by.
fn errors_dialog(frame: &mut Frame, area: Rect, ctx: &Ctx, selected: usize) {
    let window = ctx.app.data.as_ref().and_then(|d| d.series.as_ref());
    let title = window.map_or("Failures by error class".to_string(), |s| {
        format!("Failures by error class, last {}", super::series::window(s))
    });
    let errors = ctx.app.top_errors();
    let width = errors
        .iter()
        .map(|e| e.error_class.chars().count() + 8)
        .max()
        .unwrap_or(20)
        .clamp(title.len(), usize::from(area.width.saturating_sub(10)));
    let mut lines: Vec<Line> = errors
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mark = if i == selected { "›" } else { " " };
            let mut row = analytics::error_row(e, width, ctx, i == selected);
            row.spans.insert(0, Span::styled(mark, ctx.theme.accent()));
            row
        })
        .collect();
    lines.push(list_hint(ctx, "filter the Live pane by it", ""));
    dialog(frame, area, ctx, &title, lines);
}

/// Rows around the preview's plan: its border, title and hint lines and a margin.
const PREVIEW_CHROME: u16 = 6;

/// How many planned attempts of the open preview fit in a terminal this tall, out of how many.
pub fn preview_fit(mode: &Mode, height: u16) -> Fit {
    let total = match mode {
        Mode::Preview { result: Ok(p), .. } => p.timeline.len(),
        _ => 0,
    };
    Fit {
        visible: total.min(usize::from(height.saturating_sub(PREVIEW_CHROME)).max(1)),
        total,
    }
}

fn preview(frame: &mut Frame, area: Rect, ctx: &Ctx, p: &RetryPreview, scroll: usize) {
    let mut lines = vec![Line::styled(
        format!("{} after attempt {}", p.job_id, p.current_attempt),
        ctx.theme.title(),
    )];
    let fit = preview_fit(&ctx.app.mode, area.height);
    let scroll = scroll.min(fit.max_scroll());
    let room = usize::from(area.width.saturating_sub(DIALOG_MARGIN + 2));
    let recs = p
        .recommendations
        .iter()
        .map(Some)
        .chain(std::iter::repeat(None));
    for (step, rec) in p.timeline.iter().zip(recs).skip(scroll).take(fit.visible) {
        let offset = fmt::until(step.scheduled_time, ctx.now);
        let reason = rec.map_or(step.rationale.as_str(), |r| r.rationale.as_str());
        let method = fmt::step_method(step);
        // A rationale names its method first ("bayesian (queue/class): …"): the column has it.
        let reason = reason.strip_prefix(method).map_or(reason, str::trim_start);
        let row = Line::from(vec![
            Span::styled(format!(" #{:<2} ", step.attempt_number), ctx.theme.text()),
            Span::styled(format!("+{:<8}", fmt::secs(offset)), ctx.theme.warn()),
            Span::styled(
                format!(" wait {:<7}", fmt::ms(step.delay_ms)),
                ctx.theme.dim(),
            ),
            Span::styled(
                format!(" {:>4} ", fmt::pct(step.estimated_success)),
                ctx.theme.ok(),
            ),
            Span::styled(format!("{method:<8} "), ctx.theme.info()),
            Span::styled(reason, ctx.theme.dim()),
        ]);
        // One row per attempt, so the rows counted for scrolling are the rows drawn.
        lines.push(flow::fit_line(row, room, ctx.glyphs.ellipsis));
    }
    if p.timeline.is_empty() {
        lines.push(Line::styled(
            " no further attempts: the service would stop here",
            ctx.theme.critical(),
        ));
    }
    lines.push(scroll_hint(ctx, fit, scroll, "any key closes"));
    dialog(frame, area, ctx, "Preview", lines);
}
