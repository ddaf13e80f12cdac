//! Header: service URL, connection state, role, status text `(errors - processed / total)`.

use super::Ctx;
use crate::present::fmt;
use crate::tui::app::Conn;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use throbber_widgets_tui::Throbber;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let lines = vec![first_line(ctx), second_line(ctx)];
    frame.render_widget(Paragraph::new(lines), area);
}

fn first_line<'a>(ctx: &'a Ctx) -> Line<'a> {
    let t = ctx.theme;
    let mut spans = vec![
        Span::styled(" retryctl ", t.title()),
        Span::styled(ctx.app.api.as_str(), t.info()),
        Span::raw("  "),
    ];
    spans.extend(connection(ctx));
    if let Some(role) = ctx.app.role() {
        spans.push(Span::styled("  role ", t.dim()));
        spans.push(Span::styled(role, t.text()));
    }
    if ctx.app.refusal().is_some() {
        spans.push(Span::styled("  READ-ONLY", t.warn()));
    }
    if let Some(data) = &ctx.app.data {
        let s = data.summary.status;
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            format!("({} - {} / {})", s.errors, s.processed, s.total),
            t.title(),
        ));
    }
    Line::from(spans)
}

/// `● CONNECTED`, or a spinner and `RECONNECTING IN 3s` with the age of the data kept.
fn connection<'a>(ctx: &'a Ctx) -> Vec<Span<'a>> {
    let t = ctx.theme;
    let spinner = || {
        Throbber::default()
            .throbber_set(ctx.glyphs.spinner.clone())
            .throbber_style(t.accent())
            .to_symbol_span(&ctx.app.spinner)
    };
    match &ctx.app.conn {
        Conn::Connected => vec![Span::styled(
            format!("{} CONNECTED", ctx.glyphs.info),
            t.ok(),
        )],
        Conn::Connecting => vec![spinner(), Span::styled("CONNECTING", t.warn())],
        Conn::Reconnecting { retry_at, .. } => {
            let secs = fmt::until(*retry_at, ctx.now).max(0.0).ceil();
            let mut spans = vec![
                spinner(),
                Span::styled(format!("RECONNECTING IN {secs:.0}s"), t.warn()),
            ];
            if let Some(data) = &ctx.app.data {
                spans.push(Span::styled(
                    format!("  STALE: data from {}", fmt::ago(data.fetched_at, ctx.now)),
                    t.critical(),
                ));
            }
            spans
        }
    }
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
    let mut text = format!(
        " {} {} {d} strategy {} {d} tier {} {d} store {} {d} up {}",
        s.service,
        s.version,
        s.strategy_name,
        s.active_tier.as_str(),
        s.store,
        fmt::secs(s.uptime_seconds as f64)
    );
    if s.degraded {
        text.push_str(&format!(" {d} DEGRADED"));
    }
    Line::styled(text, t.dim())
}
