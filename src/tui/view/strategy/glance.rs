//! The Strategy pane's first lines: today at a glance, and one status line per queue (the
//! tier deciding its retries and a mark with the reason). Every figure comes from `/summary`
//! and says the window it covers.

use super::super::Ctx;
use super::{heading, pair, wrap};
use crate::model::{QueueMark, QueueStatus, Summary};
use crate::present::fmt;
use ratatui::text::{Line, Span};

/// `Today since 00:00` and its figures, wrapped as whole units.
pub fn today(s: &Summary, ctx: &Ctx, width: usize) -> Vec<Line<'static>> {
    let t = &s.today;
    let since = t.from.map_or("today".to_string(), |f| {
        format!("since {}", f.format("%H:%M"))
    });
    let mut groups = vec![
        vec![Span::styled(format!("Today {since}"), ctx.theme.title())],
        pair("retries", fmt::count(t.retries), ctx),
    ];
    if let Some(change) = t.retries_vs_static {
        let sign = if change > 0.0 { "+" } else { "" };
        groups.push(pair(
            "vs static",
            format!("{sign}{} est.", fmt::pct(change)),
            ctx,
        ));
        groups.push(vec![Span::styled(
            format!("({} jobs since start)", t.comparison_jobs),
            ctx.theme.dim(),
        )]);
    }
    if let (Some(mean), Some(sd)) = (t.mean_delay_ms, t.sd_delay_ms) {
        let plus_minus = if ctx.glyphs.ascii { "+-" } else { "±" };
        let delay = format!(
            "{} {plus_minus} {} ({})",
            fmt::secs(mean / 1000.0),
            fmt::secs(sd / 1000.0),
            t.delays
        );
        groups.push(pair("avg delay", delay, ctx));
    }
    wrap(groups, width, ctx)
}

/// The heading of the queue lines, with their window.
pub fn queues_heading(s: &Summary, ctx: &Ctx) -> Vec<Line<'static>> {
    let window = fmt::secs(s.queue_status.window_seconds as f64);
    let mut line = heading("Queues", ctx);
    line.push_span(Span::styled(format!(" last {window}"), ctx.theme.dim()));
    if s.queue_status.queues.is_empty() {
        line.push_span(Span::styled(": none active", ctx.theme.dim()));
    }
    vec![line]
}

/// ` ✓ payments bayesian: normal`, one item per queue.
pub fn queues(s: &Summary, ctx: &Ctx, width: usize) -> Vec<Vec<Line<'static>>> {
    s.queue_status
        .queues
        .iter()
        .map(|q| {
            let (mark, style) = mark(q.mark, ctx);
            let name = if q.queue.is_empty() {
                "(default)"
            } else {
                &q.queue
            };
            let groups = vec![
                vec![
                    Span::styled(mark.to_string(), style),
                    Span::styled(format!(" {name}"), ctx.theme.text()),
                ],
                vec![Span::styled(deciding(q), ctx.theme.info())],
                vec![Span::styled(q.reason.clone(), style)],
            ];
            wrap(groups, width, ctx)
        })
        .collect()
}

fn mark<'a>(m: QueueMark, ctx: &'a Ctx) -> (&'a str, ratatui::style::Style) {
    match m {
        QueueMark::Normal => (ctx.glyphs.ok, ctx.theme.ok()),
        QueueMark::Warning => (ctx.glyphs.warning, ctx.theme.warn()),
        QueueMark::Changing => (ctx.glyphs.arrow, ctx.theme.info()),
    }
}

/// `bayesian`, `ml v3`, or `idle` when the queue had no recommendation in the window.
fn deciding(q: &QueueStatus) -> String {
    match (q.strategy, &q.model_version) {
        (Some(m), Some(v)) => format!("{} {v}", m.as_str()),
        (Some(m), None) => m.as_str().to_string(),
        (None, _) => "idle".to_string(),
    }
}
