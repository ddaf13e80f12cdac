//! The incident dialogs: a bulk action on the filter (and its dry-run confirmation), a pause
//! of the selected job's queue, the pauses in force to resume.

use super::Ctx;
use super::overlay::{dialog, field, list_hint};
use crate::model::BulkAction;
use crate::present::fmt;
use crate::tui::app::{BULK_ACTIONS, BulkConfirm, BulkField, BulkForm, PauseField, PauseForm};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

fn error_line<'a>(ctx: &Ctx, error: Option<&str>) -> Option<Line<'a>> {
    error.map(|e| Line::styled(format!("{} {e}", ctx.glyphs.fail), ctx.theme.critical()))
}

/// A label and a row of choices, the chosen one highlighted (and bracketed without colour).
fn choices<'a>(label: &'a str, options: Vec<(String, bool)>, active: bool, ctx: &Ctx) -> Line<'a> {
    let mut spans = vec![Span::styled(format!("{label:>7} "), ctx.theme.dim())];
    for (text, chosen) in options {
        let (text, style) = match (chosen, active) {
            (true, true) => (format!("[{text}]"), ctx.theme.selected()),
            (true, false) => (format!("[{text}]"), ctx.theme.title()),
            (false, _) => (format!(" {text} "), ctx.theme.text()),
        };
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

fn short_action(a: BulkAction) -> &'static str {
    match a {
        BulkAction::RetryNow => "retry now",
        BulkAction::Kill => "kill",
        BulkAction::Override => "override",
        BulkAction::ApplyStatic => "static",
    }
}

pub fn bulk_form(frame: &mut Frame, area: Rect, ctx: &Ctx, form: &BulkForm) {
    let options = BULK_ACTIONS
        .iter()
        .map(|a| (short_action(*a).to_string(), *a == form.action))
        .collect();
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Every job matching ", ctx.theme.title()),
            Span::styled(form.filter.as_str(), ctx.theme.info()),
        ]),
        choices("action", options, form.field == BulkField::Action, ctx),
    ];
    if form.action == BulkAction::Override {
        let active = form.field == BulkField::Delay;
        lines.push(field("delay", &form.delay, active, ctx));
        lines.push(Line::styled(
            "        from now: 30s, 10m, 1h",
            ctx.theme.dim(),
        ));
    }
    let active = form.field == BulkField::Reason;
    lines.push(field("reason", &form.reason, active, ctx));
    lines.extend(error_line(ctx, form.error.as_deref()));
    let arrows = ctx.glyphs.up_down;
    lines.push(Line::styled(
        format!("{arrows} action  tab next field  enter count (dry run)  esc cancel"),
        ctx.theme.dim(),
    ));
    dialog(frame, area, ctx, "Bulk action", lines);
}

pub fn bulk_confirm(frame: &mut Frame, area: Rect, ctx: &Ctx, c: &BulkConfirm) {
    let finished = c.dry.matched.saturating_sub(c.dry.changed);
    let mut lines = vec![Line::styled(c.question(), ctx.theme.title())];
    let mut facts = format!("dry run by the service: {} match", c.dry.matched);
    if finished > 0 {
        facts.push_str(&format!(", {finished} finished (skipped)"));
    }
    lines.push(Line::styled(facts, ctx.theme.dim()));
    if c.form.action == BulkAction::Override {
        let delay = c.form.delay.text.trim();
        lines.push(Line::styled(
            format!("next attempt in {delay}"),
            ctx.theme.text(),
        ));
    }
    lines.push(Line::styled(
        format!("reason: {}", c.form.reason.text.trim()),
        ctx.theme.text(),
    ));
    if c.needs_typing() {
        let prompt = format!("type {} to confirm", c.dry.changed);
        lines.push(Line::from(vec![
            Span::styled(format!("{prompt}: "), ctx.theme.warn()),
            Span::styled(format!("{}_", c.typed.text), ctx.theme.selected()),
        ]));
    }
    lines.extend(error_line(ctx, c.error.as_deref()));
    let keys = if c.needs_typing() {
        "enter send  esc cancel"
    } else {
        "y / enter send  n / esc cancel"
    };
    lines.push(Line::styled(keys, ctx.theme.dim()));
    let title = format!("Confirm bulk {}", short_action(c.form.action));
    dialog(frame, area, ctx, &title, lines);
}

pub fn pause_form(frame: &mut Frame, area: Rect, ctx: &Ctx, form: &PauseForm) {
    let options = vec![
        (form.queue.clone(), !form.with_error),
        (
            format!("{}/{}", form.queue, form.error_class),
            form.with_error,
        ),
    ];
    let mut lines = vec![
        Line::styled(
            "Hold retries: due jobs wait, none is given up",
            ctx.theme.title(),
        ),
        choices("scope", options, form.field == PauseField::Scope, ctx),
        field(
            "for",
            &form.duration,
            form.field == PauseField::Duration,
            ctx,
        ),
        Line::styled("        10m, 1h30m; empty: until resumed", ctx.theme.dim()),
        field(
            "reason",
            &form.reason,
            form.field == PauseField::Reason,
            ctx,
        ),
    ];
    lines.extend(error_line(ctx, form.error.as_deref()));
    let arrows = ctx.glyphs.up_down;
    lines.push(Line::styled(
        format!("{arrows} scope  tab next field  enter pause  esc cancel"),
        ctx.theme.dim(),
    ));
    dialog(frame, area, ctx, "Pause", lines);
}

pub fn resume_list(frame: &mut Frame, area: Rect, ctx: &Ctx, selected: usize) {
    let pauses = ctx.app.data.as_ref().map(|d| &d.summary.pauses);
    let mut lines: Vec<Line> = pauses
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| {
            let until = match p.until {
                Some(u) => format!("for {}", fmt::secs(fmt::until(u, ctx.now).max(0.0))),
                None => "until resumed".into(),
            };
            let text = format!(
                " {}  {until}  {}  by {}",
                p.scope.label(),
                p.reason,
                p.actor
            );
            let style = if i == selected {
                ctx.theme.selected()
            } else {
                ctx.theme.text()
            };
            Line::styled(text, style)
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled(" no pause in force", ctx.theme.ok()));
    }
    lines.push(list_hint(ctx, "resume", ""));
    dialog(frame, area, ctx, "Pauses in force", lines);
}
