//! Analytics & alerts: per-queue sparklines over the last minutes (see [`super::series`]),
//! monotonic counters (as `/metrics` has them), rates, the top error classes, smart-vs-static
//! over the last day (see [`super::trend`]) and per job since the service started,
//! the backoff histogram, active alerts, and the configuration (strategy per queue, global
//! limits, export and import). Every number is the service's.

use super::flow::flow;
use super::{Ctx, alerts, block, series, summary_pane};
use crate::model::{
    CircuitView, ErrorClassCount, PolicyGuardrails, QueueMark, QueueStatus, Summary,
};
use crate::present::fmt;
use crate::tui::action::Action;
use crate::tui::app::Pane;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let focused = matches!(ctx.app.focus, Pane::Analytics | Pane::Alerts);
    let data = ctx.app.data.as_ref();
    let series_data = data.and_then(|d| d.series.as_ref());
    let [top, area] = Layout::vertical([
        Constraint::Length(series::height(series_data, area.height)),
        Constraint::Min(0),
    ])
    .areas(area);
    if let Some(s) = series_data.filter(|_| top.height > 0) {
        let title = series::title(s);
        let outer = block(&title, focused, ctx);
        series::render(frame, outer.inner(top), ctx, s);
        frame.render_widget(outer, top);
    }
    let errors = series_data.map(|s| s.top_error_classes.as_slice());
    let trend = data.and_then(|d| d.trend.as_ref());
    let title = format!("Analytics & alerts{}", super::alerts::badge(ctx));
    summary_pane(frame, area, ctx, (&title, focused), |s, inner| {
        let width = usize::from(inner.width);
        // The design's order: the success-rate improvement and the savings first.
        let [per_job, avoided] = comparison(s, ctx);
        let mut lines = match trend {
            Some(t) => super::trend::lines(t, ctx, width),
            None => {
                let mut lines = vec![heading("Smart vs static (shadow)", ctx)];
                lines.extend(wrap(per_job, width, ctx));
                lines
            }
        };
        lines.extend(wrap(avoided, width, ctx));
        lines.push(counters_heading(s, ctx));
        lines.extend(wrap(counters(s, ctx), width, ctx));
        lines.push(heading("Rates", ctx));
        lines.extend(wrap(rates(s, ctx), width, ctx));
        if let Some(errors) = errors {
            top_errors(&mut lines, errors, ctx, width);
        }
        histogram(&mut lines, s, ctx, width);
        lines.push(heading("Alerts", ctx));
        lines.extend(alerts::lines(s, ctx, None, true));
        configuration(&mut lines, s, ctx, width);
        scrolled(lines, usize::from(inner.height), ctx)
    });
}

/// The rows that fit from the pane's scroll position on; when some do not fit, the last row
/// says how many are above and below and which keys scroll.
fn scrolled<'a>(mut lines: Vec<Line<'a>>, height: usize, ctx: &Ctx) -> Vec<Line<'a>> {
    if lines.len() <= height || height < 2 {
        ctx.app.analytics_max.set(0);
        return lines;
    }
    let room = height - 1;
    let max = lines.len() - room;
    ctx.app.analytics_max.set(max);
    let at = ctx.app.analytics_scroll.min(max);
    let below = max - at;
    let mut shown: Vec<Line> = lines.drain(at..at + room).collect();
    let more = match (at, below) {
        (0, b) => format!("{b} more below"),
        (a, 0) => format!("{a} more above"),
        (a, b) => format!("{a} above, {b} below"),
    };
    // Focused, the movement keys scroll; otherwise Tab brings the focus here first.
    let keys = if ctx.app.focus == Pane::Analytics {
        format!(" ({})", ctx.glyphs.up_down)
    } else {
        " (tab)".to_string()
    };
    shown.push(Line::styled(format!(" {more}{keys}"), ctx.theme.dim()));
    shown
}

/// The counters are the running service's: they start from zero when it starts. The heading
/// says since when, and says so loudly once the console has seen the service restart (so a
/// drop is never silent while the header's status text, read from the store, carries on).
fn counters_heading<'a>(s: &Summary, ctx: &Ctx) -> Line<'a> {
    let since = s.started_at.format("%H:%M");
    if ctx.app.restart_seen {
        Line::from(vec![
            Span::styled("Counters ", ctx.theme.title()),
            Span::styled(format!("since restart {since}"), ctx.theme.warn()),
        ])
    } else {
        Line::styled(format!("Counters since start {since}"), ctx.theme.title())
    }
}

fn heading<'a>(text: &'static str, ctx: &Ctx) -> Line<'a> {
    Line::styled(text, ctx.theme.title())
}

/// Groups side by side as far as the pane is wide, each whole on a line of its own if need be.
fn wrap<'a>(groups: Vec<Vec<Span<'a>>>, width: usize, ctx: &Ctx) -> Vec<Line<'a>> {
    flow(groups, width, 1, ctx.glyphs.ellipsis)
}

/// A counter or rate: label and right-aligned value, the same width for all so they line up.
fn kv<'a>(label: &str, value: String, ctx: &Ctx) -> Vec<Span<'a>> {
    vec![
        Span::styled(format!("{label:<9}"), ctx.theme.dim()),
        Span::styled(format!("{value:>8}"), ctx.theme.text()),
    ]
}

fn counters<'a>(s: &Summary, ctx: &Ctx) -> Vec<Vec<Span<'a>>> {
    let c = &s.counters;
    let get = |k: &str| c.attempts_by_outcome.get(k).copied().unwrap_or(0);
    vec![
        kv("success", fmt::count(get("success")), ctx),
        kv("failures", fmt::count(get("failure")), ctx),
        kv("retries", fmt::count(c.retries), ctx),
        kv("uptime", fmt::secs(s.uptime_seconds as f64), ctx),
        kv("overrides", fmt::count(c.overrides), ctx),
        kv("fallbacks", fmt::count(c.fallbacks), ctx),
    ]
}

fn rates<'a>(s: &Summary, ctx: &Ctx) -> Vec<Vec<Span<'a>>> {
    let r = &s.rates;
    vec![
        kv("rec/s", format!("{:.1}", r.recommendations_per_second), ctx),
        kv("att/s", format!("{:.1}", r.attempts_per_second), ctx),
        kv("retry/min", format!("{:.0}", r.retries_per_minute), ctx),
        kv("ok 5m", fmt::pct(r.retry_success_rate_5m), ctx),
    ]
}

/// The error classes with the most failures in the series' window, most first; the key that
/// opens them as a list to filter the Live pane by one.
fn top_errors(lines: &mut Vec<Line>, errors: &[ErrorClassCount], ctx: &Ctx, width: usize) {
    let key = super::short_key(ctx, Action::Errors);
    lines.push(Line::from(vec![
        Span::styled("Top errors", ctx.theme.title()),
        Span::styled(format!(" ({key} to filter)"), ctx.theme.dim()),
    ]));
    if errors.is_empty() {
        lines.push(Line::styled(" no failures in the window", ctx.theme.dim()));
    }
    for e in errors {
        lines.push(error_row(e, width, ctx, false));
    }
}

/// ` connection_refused      412`: the class and its failures, the count right-aligned.
pub fn error_row<'a>(e: &ErrorClassCount, width: usize, ctx: &Ctx, selected: bool) -> Line<'a> {
    let count = fmt::count(e.failures);
    let name_width = width.saturating_sub(count.len() + 2).max(1);
    let name = super::flow::fit_line(
        Line::from(e.error_class.clone()),
        name_width,
        ctx.glyphs.ellipsis,
    );
    let name = name.to_string();
    let style = if selected {
        ctx.theme.selected()
    } else {
        ctx.theme.text()
    };
    Line::from(vec![
        Span::styled(format!(" {name:<name_width$}"), style),
        Span::styled(format!(" {count}"), ctx.theme.warn()),
    ])
}

/// Two sentences: what a job can expect (estimated by the service, smart vs static) and the
/// retries avoided, each wrapped on its own.
fn comparison<'a>(s: &Summary, ctx: &Ctx) -> [Vec<Vec<Span<'a>>>; 2] {
    let c = &s.comparison;
    let (dim, ok, text) = (ctx.theme.dim(), ctx.theme.ok(), ctx.theme.text());
    let versus = |label: &str, smart: String, fixed: String| {
        vec![
            Span::styled(format!("{label} "), dim),
            Span::styled(smart, ok),
            Span::styled(" vs ", dim),
            Span::styled(fixed, text),
        ]
    };
    let (smart, fixed) = (&c.smart, &c.static_backoff);
    let wait = vec![
        vec![Span::styled("per job since start,", dim)],
        vec![Span::styled(
            format!("estimated ({} jobs):", fmt::count(c.jobs)),
            dim,
        )],
        versus(
            "retries",
            format!("{:.1}", smart.attempts),
            format!("{:.1}", fixed.attempts),
        ),
        versus(
            "success in",
            fmt::ms(smart.time_to_success_ms as u64),
            fmt::ms(fixed.time_to_success_ms as u64),
        ),
        versus("give up", fmt::pct(smart.give_up), fmt::pct(fixed.give_up)),
    ];
    let avoided = vec![
        vec![
            Span::styled("retries avoided ", dim),
            Span::styled(fmt::count(c.retries_avoided), ok),
        ],
        vec![Span::styled(
            format!("of {} decisions since start", fmt::count(c.recommendations)),
            dim,
        )],
    ];
    [wait, avoided]
}

/// The service sends a cumulative histogram (like Prometheus); each bar is one bucket.
fn histogram(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx, width: usize) {
    lines.push(heading("Recommended backoff", ctx));
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

/// The design's Configuration block: the strategy deciding each queue, the global limits,
/// emergency stop and circuits, and the keys that export and import the configuration.
fn configuration(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx, width: usize) {
    lines.push(heading("Configuration", ctx));
    let window = fmt::secs(s.queue_status.window_seconds as f64);
    lines.push(Line::styled(
        format!(" strategy per queue, last {window}"),
        ctx.theme.dim(),
    ));
    for q in &s.queue_status.queues {
        lines.extend(flow(queue_strategy(q, ctx), width, 3, ctx.glyphs.ellipsis));
    }
    if s.queue_status.queues.is_empty() {
        lines.push(Line::styled(
            " no queue decided in the window",
            ctx.theme.dim(),
        ));
    }
    lines.extend(wrap(global_limits(&s.guardrails, ctx), width, ctx));
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
        // Continuation lines indented under the circuit's name.
        lines.extend(flow(
            circuit(c, &s.guardrails, ctx),
            width,
            3,
            ctx.glyphs.ellipsis,
        ));
    }
    let mut keys = vec![format!(
        "{} export config",
        super::short_key(ctx, Action::Export)
    )];
    if ctx.app.offers(Action::Import) {
        keys.push(format!(
            "{} import rules",
            super::short_key(ctx, Action::Import)
        ));
    }
    let keys = keys
        .into_iter()
        .map(|k| vec![Span::styled(k, ctx.theme.dim())]);
    lines.extend(wrap(keys.collect(), width, ctx));
}

/// `payments bayesian`, `batch bayesian → ml v4 in canary (10 %)` (the service's reason for a
/// changing mark: the upgrade pending).
fn queue_strategy<'a>(q: &QueueStatus, ctx: &Ctx) -> Vec<Vec<Span<'a>>> {
    let name = if q.queue.is_empty() {
        "default"
    } else {
        &q.queue
    };
    let tier = match (&q.strategy, &q.model_version) {
        (Some(m), Some(v)) => format!("{} {v}", m.as_str()),
        (Some(m), None) => m.as_str().to_string(),
        (None, _) => "no decisions".to_string(),
    };
    let mut groups = vec![
        vec![Span::styled(name.to_string(), ctx.theme.dim())],
        vec![Span::styled(tier, ctx.theme.text())],
    ];
    if q.mark == QueueMark::Changing {
        groups.push(vec![Span::styled(
            format!("{} {}", ctx.glyphs.arrow, q.reason),
            ctx.theme.warn(),
        )]);
    }
    groups
}

/// `max attempts 10`, `delay 500ms→5m00s`, `retries ≤20% of traffic`, `budget 2.0/s`.
fn global_limits<'a>(g: &PolicyGuardrails, ctx: &Ctx) -> Vec<Vec<Span<'a>>> {
    let dim = |t: String| Span::styled(t, ctx.theme.dim());
    let text = |t: String| Span::styled(t, ctx.theme.text());
    let mut groups = vec![
        vec![
            dim("max attempts ".into()),
            text(g.max_attempts.to_string()),
        ],
        vec![
            dim("delay ".into()),
            text(format!(
                "{}{}{}",
                fmt::ms(g.min_delay_ms),
                ctx.glyphs.arrow,
                fmt::ms(g.max_delay_ms)
            )),
        ],
        vec![
            dim("retries ".into()),
            text(format!(
                "{}{}",
                ctx.glyphs.le,
                fmt::pct(g.max_budget_percent / 100.0)
            )),
            dim(" of traffic".into()),
        ],
    ];
    if g.retry_budget.enabled {
        groups.push(vec![
            dim("budget ".into()),
            text(format!(
                "{:.0}/min",
                g.retry_budget.refill_per_second * 60.0
            )),
            dim(" per queue".into()),
        ]);
    }
    groups
}

/// `queue/class STATE 97% failing probe in 22s` (a closed one: `opens at 95% of 50+`, the
/// failure rate and attempts in the window that open it), as groups that wrap whole.
fn circuit<'a>(c: &CircuitView, guardrails: &PolicyGuardrails, ctx: &Ctx) -> Vec<Vec<Span<'a>>> {
    let style = match c.state.as_str() {
        "closed" => ctx.theme.ok(),
        "open" => ctx.theme.critical(),
        _ => ctx.theme.warn(),
    };
    let text = |t: String| vec![Span::styled(t, ctx.theme.text())];
    let mut groups = vec![
        vec![Span::styled(
            format!("{}/{}", c.queue, c.error_class),
            ctx.theme.dim(),
        )],
        vec![Span::styled(c.state.to_uppercase(), style)],
        text(format!("{} failing", fmt::pct(c.failure_rate))),
    ];
    if c.state == "closed" {
        let cb = &guardrails.circuit_breaker;
        groups.push(vec![Span::styled(
            format!(
                "opens at {} of {}+",
                fmt::pct(cb.failure_rate_threshold),
                cb.min_samples
            ),
            ctx.theme.dim(),
        )]);
    }
    if let Some(p) = c.probe_at.filter(|p| *p > ctx.now) {
        groups.push(text(format!(
            "probe in {}",
            fmt::whole_secs(fmt::until(p, ctx.now))
        )));
    }
    groups
}
