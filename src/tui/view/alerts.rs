//! Alerts: severity by symbol and bold as well as colour, acknowledged ones marked.

use super::{Ctx, summary_pane};
use crate::model::{Alert, Severity, Summary};
use crate::present::fmt;
use crate::tui::app::Pane;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

/// The Alerts tab (narrow layout).
pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let focused = ctx.app.focus == Pane::Alerts;
    let title = format!("Alerts{}", badge(ctx));
    summary_pane(frame, area, ctx, (&title, focused), |s, _| {
        lines(s, ctx, Some(ctx.app.alert_selected), false)
    });
}

/// Alerts active and not yet acknowledged: the ones nobody is handling.
pub fn unhandled(s: &Summary) -> usize {
    s.alerts
        .iter()
        .filter(|a| a.active && a.acked_at.is_none())
        .count()
}

/// ` (3)` after the Alerts tab's and pane's title while alerts are unhandled, else nothing.
pub fn badge(ctx: &Ctx) -> String {
    match ctx.app.data.as_ref().map(|d| unhandled(&d.summary)) {
        Some(n) if n > 0 => format!(" ({n})"),
        _ => String::new(),
    }
}

/// One line per alert (active first as the service orders them); `selected` is highlighted,
/// `active_only` hides resolved ones.
pub fn lines<'a>(
    s: &'a Summary,
    ctx: &Ctx,
    selected: Option<usize>,
    active_only: bool,
) -> Vec<Line<'a>> {
    let shown: Vec<(usize, &Alert)> = s
        .alerts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.active || !active_only)
        .collect();
    if shown.is_empty() {
        return vec![Line::styled(" no active alerts", ctx.theme.ok())];
    }
    shown
        .into_iter()
        .map(|(i, a)| {
            let line = line(a, ctx);
            if selected == Some(i) {
                line.style(ctx.theme.selected())
            } else {
                line
            }
        })
        .collect()
}

fn line<'a>(a: &'a Alert, ctx: &Ctx) -> Line<'a> {
    let g = ctx.glyphs;
    let (mark, label, style) = match a.severity {
        Severity::Critical => (g.critical, "CRIT", ctx.theme.critical()),
        Severity::Warning => (g.warning, "WARN", ctx.theme.warn()),
        Severity::Info => (g.info, "INFO", ctx.theme.info()),
    };
    // An acknowledged alert is being handled: it keeps its severity as a word, not the alarm.
    let badge = if a.acked_at.is_some() {
        Span::styled(
            format!(" {} ACK {} ", g.ok, label.to_lowercase()),
            ctx.theme.dim(),
        )
    } else {
        Span::styled(format!(" {mark} {label} "), style)
    };
    let mut spans = vec![
        badge,
        Span::styled(a.message.as_str(), ctx.theme.text()),
        Span::styled(
            format!("  {}", fmt::ago(a.raised_at, ctx.now)),
            ctx.theme.dim(),
        ),
    ];
    if let Some(by) = &a.acked_by {
        spans.push(Span::styled(format!("  acked by {by}"), ctx.theme.dim()));
    }
    if !a.active {
        spans.push(Span::styled("  resolved", ctx.theme.ok()));
    }
    Line::from(spans)
}
