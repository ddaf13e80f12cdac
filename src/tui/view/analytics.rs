//! Analytics & alerts: monotonic counters (as `/metrics` has them), rates, smart-vs-static,
//! the backoff histogram, active alerts and global limits. Every number is the service's.

use super::{Ctx, alerts, block, fmt};
use crate::model::Summary;
use crate::tui::app::Pane;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let focused = matches!(ctx.app.focus, Pane::Analytics | Pane::Alerts);
    let outer = block("Analytics & alerts", focused, ctx);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let Some(data) = &ctx.app.data else {
        frame.render_widget(
            Paragraph::new(Line::styled("no data yet", ctx.theme.dim())),
            inner,
        );
        return;
    };
    let s = &data.summary;
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    counters(&mut lines, s, ctx);
    rates(&mut lines, s, ctx);
    comparison(&mut lines, s, ctx);
    histogram(&mut lines, s, ctx, width);
    limits(&mut lines, s, ctx);
    lines.push(Line::styled("Alerts", ctx.theme.title()));
    lines.extend(alerts::lines(s, ctx, None, true));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn kv<'a>(label: &str, value: String, ctx: &Ctx) -> [Span<'a>; 2] {
    [
        Span::styled(format!(" {label:<9}"), ctx.theme.dim()),
        Span::styled(format!("{value:>8}"), ctx.theme.text()),
    ]
}

fn counters(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx) {
    let c = &s.counters;
    let get = |k: &str| c.attempts_by_outcome.get(k).copied().unwrap_or(0);
    lines.push(Line::styled(
        "Counters (since start, as /metrics)",
        ctx.theme.title(),
    ));
    let rows = [
        (
            "success",
            fmt::count(get("success")),
            "failures",
            fmt::count(get("failure")),
        ),
        (
            "retries",
            fmt::count(c.retries),
            "uptime",
            fmt::secs(s.uptime_seconds as f64),
        ),
        (
            "overrides",
            fmt::count(c.overrides),
            "fallbacks",
            fmt::count(c.fallbacks),
        ),
    ];
    for (a, av, b, bv) in rows {
        lines.push(Line::from([kv(a, av, ctx), kv(b, bv, ctx)].concat()));
    }
}

fn rates(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx) {
    let r = &s.rates;
    lines.push(Line::styled("Rates", ctx.theme.title()));
    lines.push(Line::from(
        [
            kv("rec/s", format!("{:.1}", r.recommendations_per_second), ctx),
            kv("att/s", format!("{:.1}", r.attempts_per_second), ctx),
        ]
        .concat(),
    ));
    lines.push(Line::from(
        [
            kv("retry/min", format!("{:.0}", r.retries_per_minute), ctx),
            kv("ok 5m", fmt::pct(r.retry_success_rate_5m), ctx),
        ]
        .concat(),
    ));
}

fn comparison(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx) {
    let c = &s.comparison;
    lines.push(Line::styled("Smart vs static (shadow)", ctx.theme.title()));
    lines.push(Line::from(vec![
        Span::styled(" wait ", ctx.theme.dim()),
        Span::styled(fmt::ms(c.smart_total_delay_ms), ctx.theme.ok()),
        Span::styled(" vs ", ctx.theme.dim()),
        Span::styled(fmt::ms(c.static_total_delay_ms), ctx.theme.text()),
        Span::styled("  P ", ctx.theme.dim()),
        Span::styled(format!("{:.2}", c.smart_mean_success), ctx.theme.ok()),
        Span::styled(" vs ", ctx.theme.dim()),
        Span::styled(format!("{:.2}", c.static_mean_success), ctx.theme.text()),
    ]));
    lines.push(Line::from(vec![
        Span::styled(" retries avoided ", ctx.theme.dim()),
        Span::styled(fmt::count(c.retries_avoided), ctx.theme.ok()),
        Span::styled(
            format!(" of {} decisions", fmt::count(c.recommendations)),
            ctx.theme.dim(),
        ),
    ]));
}

/// The service sends a cumulative histogram (like Prometheus); each bar is one bucket.
fn histogram(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx, width: usize) {
    lines.push(Line::styled("Recommended backoff", ctx.theme.title()));
    let mut previous = 0;
    let per_bucket: Vec<(String, u64)> = s
        .backoff_histogram
        .iter()
        .map(|b| {
            let n = b.count.saturating_sub(previous);
            previous = b.count;
            let le = if b.le_seconds.is_finite() && b.le_seconds < 1e12 {
                format!(
                    "{}{}",
                    ctx.glyphs.le,
                    fmt::ms((b.le_seconds * 1000.0) as u64)
                )
            } else {
                "more".to_string()
            };
            (le, n)
        })
        .collect();
    let max = per_bucket.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let bar_width = width.saturating_sub(16).clamp(4, 24);
    for (le, n) in per_bucket {
        lines.push(Line::from(vec![
            Span::styled(format!(" {le:>7} "), ctx.theme.dim()),
            Span::styled(
                ctx.glyphs.bar(n as f64 / max as f64, bar_width),
                ctx.theme.bar(),
            ),
            Span::styled(format!(" {}", fmt::count(n)), ctx.theme.text()),
        ]));
    }
}

fn limits(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx) {
    lines.push(Line::styled("Global limits", ctx.theme.title()));
    let stop = if s.guardrails.emergency_stop {
        Span::styled("ON", ctx.theme.critical())
    } else {
        Span::styled("off", ctx.theme.ok())
    };
    lines.push(Line::from(vec![
        Span::styled(" emergency stop ", ctx.theme.dim()),
        stop,
    ]));
    for c in &s.circuits {
        let style = match c.state.as_str() {
            "closed" => ctx.theme.ok(),
            "open" => ctx.theme.critical(),
            _ => ctx.theme.warn(),
        };
        let probe = c
            .probe_at
            .filter(|p| *p > ctx.now)
            .map(|p| format!(" probe in {}", fmt::whole_secs(fmt::until(p, ctx.now))))
            .unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!(" {}/{} ", c.queue, c.error_class), ctx.theme.dim()),
            Span::styled(c.state.to_uppercase(), style),
            Span::styled(
                format!(" {} failing{probe}", fmt::pct(c.failure_rate)),
                ctx.theme.text(),
            ),
        ]));
    }
}
