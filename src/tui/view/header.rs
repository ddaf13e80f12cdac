//! Header: service URL, connection state, `DEGRADED: <reason>` while the store refuses writes,
//! role, the state banner (emergency stop, paused scopes, circuits not closed), status text
//! `(errors - processed / total)`.
//!
//! The connection state, the degraded state, the banner and the status text show at every
//! width; the rest of the first line is dropped, least useful first, until they fit.

use super::{Ctx, flow};
use crate::model::Summary;
use crate::present::fmt;
use crate::tui::app::Conn;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use throbber_widgets_tui::Throbber;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let width = usize::from(area.width);
    let second = flow::fit_line(second_line(ctx), width, ctx.glyphs.ellipsis);
    let lines = vec![first_line(ctx, width), second];
    frame.render_widget(Paragraph::new(lines), area);
}

/// A part of the first line and the rank it is dropped in (0: never; higher goes first).
struct Part<'a> {
    spans: Vec<Span<'a>>,
    drop_rank: u8,
}

fn part(drop_rank: u8, spans: Vec<Span<'_>>) -> Part<'_> {
    Part { spans, drop_rank }
}

fn first_line<'a>(ctx: &'a Ctx, width: usize) -> Line<'a> {
    let mut parts = without_extras(parts(ctx, Form::Long), width);
    for form in [Form::Short, Form::Tight, Form::Bare] {
        if used(&parts) > width {
            parts = without_extras(self::parts(ctx, form), width);
        }
    }
    Line::from(parts.into_iter().flat_map(|p| p.spans).collect::<Vec<_>>())
}

fn used(parts: &[Part]) -> usize {
    parts.iter().flat_map(|p| &p.spans).map(Span::width).sum()
}

/// Drops optional parts, highest rank first, until the line fits (or only the kept ones remain).
fn without_extras(mut parts: Vec<Part<'_>>, width: usize) -> Vec<Part<'_>> {
    while used(&parts) > width {
        let worst = parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.drop_rank > 0)
            .max_by_key(|(_, p)| p.drop_rank)
            .map(|(i, _)| i);
        let Some(worst) = worst else { break };
        parts.remove(worst);
    }
    parts
}

/// How terse the first line's kept parts are: `Short` words and single gaps, then `Tight`
/// badges without padding, then `Bare`: `DEGRADED` without its reason (the store alert has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    Long,
    Short,
    Tight,
    Bare,
}

/// The first line's parts in screen order, in the given form.
fn parts<'a>(ctx: &'a Ctx, form: Form) -> Vec<Part<'a>> {
    let short = form >= Form::Short;
    let tight = form >= Form::Tight;
    let t = ctx.theme;
    let gap = if short { " " } else { "  " };
    let mut parts = vec![
        part(4, vec![Span::styled(" retryctl", t.title())]),
        part(
            5,
            vec![Span::raw(" "), Span::styled(ctx.app.api.as_str(), t.info())],
        ),
        part(0, connection(ctx, short)),
    ];
    if let Some(data) = &ctx.app.data {
        parts.extend(degraded(&data.summary, ctx, form).map(|spans| part(0, spans)));
    }
    if let Some(role) = ctx.app.role() {
        parts.push(part(
            3,
            vec![
                Span::styled(format!("{gap}role "), t.dim()),
                Span::styled(role, t.text()),
            ],
        ));
    }
    if ctx.app.refusal().is_some() {
        parts.push(part(
            2,
            vec![Span::styled(format!("{gap}READ-ONLY"), t.warn())],
        ));
    }
    if let Some(data) = &ctx.app.data {
        let s = &data.summary;
        if s.guardrails.emergency_stop {
            let pad = if tight { "" } else { " " };
            let badge = format!("{pad}{} E-STOP{pad}", ctx.glyphs.critical);
            parts.push(part(
                0,
                vec![Span::raw(gap), Span::styled(badge, t.critical().reversed())],
            ));
        }
        parts.extend(banner(s, ctx, form).into_iter().map(|spans| part(0, spans)));
        let status = format!(
            "({} - {} / {})",
            s.status.errors, s.status.processed, s.status.total
        );
        parts.push(part(
            0,
            vec![Span::raw(gap), Span::styled(status, t.title())],
        ));
    }
    parts
}

/// `● CONNECTED`, or a spinner and `RECONNECTING IN 3s` with the age of the data kept; the
/// `short` form is `● OK` / `RECONN 3s STALE 2s`.
fn connection<'a>(ctx: &'a Ctx, short: bool) -> Vec<Span<'a>> {
    let t = ctx.theme;
    let spinner = || {
        Throbber::default()
            .throbber_set(ctx.glyphs.spinner.clone())
            .throbber_style(t.accent())
            .to_symbol_span(&ctx.app.spinner)
    };
    let mut spans = vec![Span::raw(if short { " " } else { "  " })];
    match &ctx.app.conn {
        Conn::Connected => {
            let word = if short { "OK" } else { "CONNECTED" };
            spans.push(Span::styled(format!("{} {word}", ctx.glyphs.info), t.ok()));
        }
        Conn::Connecting => spans.extend([spinner(), Span::styled("CONNECTING", t.warn())]),
        Conn::Reconnecting { retry_at, .. } => {
            let secs = fmt::until(*retry_at, ctx.now).max(0.0).ceil();
            let (retry, stale) = if short {
                ("RECONN", " STALE")
            } else {
                ("RECONNECTING IN", "  STALE: data from")
            };
            spans.extend([
                spinner(),
                Span::styled(format!("{retry} {secs:.0}s"), t.warn()),
            ]);
            if let Some(data) = &ctx.app.data {
                let age = -fmt::until(data.fetched_at, ctx.now);
                let age = if short {
                    fmt::whole_secs(age)
                } else {
                    fmt::ago(data.fetched_at, ctx.now)
                };
                spans.push(Span::styled(format!("{stale} {age}"), t.critical()));
            }
        }
    }
    spans
}

/// Scopes the operator paused and circuits not closed (open, or half-open waiting for a
/// probe), counted: what holds retries back right now. Nothing while all is normal.
fn banner<'a>(s: &Summary, ctx: &Ctx, form: Form) -> Vec<Vec<Span<'a>>> {
    let short = form >= Form::Short;
    let gap = if short { " " } else { "  " };
    let pad = if form >= Form::Tight { "" } else { " " };
    let mut parts = Vec::new();
    let paused = s.pauses.len();
    if paused > 0 {
        let text = format!("{pad}{paused} PAUSED{pad}");
        parts.push(vec![
            Span::raw(gap),
            Span::styled(text, ctx.theme.warn().reversed()),
        ]);
    }
    let open = s.circuits.iter().filter(|c| c.state != "closed").count();
    if open > 0 {
        let word = match (short, open) {
            (true, _) => "OPEN",
            (false, 1) => "CIRCUIT OPEN",
            (false, _) => "CIRCUITS OPEN",
        };
        parts.push(vec![
            Span::raw(gap),
            Span::styled(
                format!("{pad}{open} {word}{pad}"),
                ctx.theme.critical().reversed(),
            ),
        ]);
    }
    parts
}

/// `DEGRADED: store full` while the service's store refuses writes (the reason from the service;
/// a bare `DEGRADED` from a service that gives none).
fn degraded<'a>(s: &'a Summary, ctx: &Ctx, form: Form) -> Option<Vec<Span<'a>>> {
    if !s.degraded {
        return None;
    }
    let text = match &s.degradation {
        Some(d) if form != Form::Bare => format!("DEGRADED: {}", d.reason),
        _ => "DEGRADED".into(),
    };
    let gap = if form >= Form::Short { " " } else { "  " };
    Some(vec![
        Span::raw(gap),
        Span::styled(text, ctx.theme.critical().reversed()),
    ])
}

fn second_line<'a>(ctx: &'a Ctx) -> Line<'a> {
    let t = ctx.theme;
    let d = ctx.glyphs.dot;
    if let Conn::Reconnecting { error, .. } = &ctx.app.conn {
        return Line::styled(format!(" {error}"), t.dim());
    }
    let Some(data) = &ctx.app.data else {
        return Line::styled(" waiting for the first answer from the service", t.dim());
    };
    let s = &data.summary;
    let text = format!(
        " {} {} {d} strategy {} {d} tier {} {d} store {} {d} up {}",
        s.service,
        s.version,
        s.strategy_name,
        s.active_tier.as_str(),
        s.store,
        fmt::secs(s.uptime_seconds as f64)
    );
    Line::styled(text, t.dim())
}
