//! Smart vs static over time, in the Analytics pane: the estimated difference in success after
//! retry as a headline, the smart and static estimates per step as two text sparklines on one
//! scale, and what was measured for the same jobs. Every figure is the service's
//! (`GET /smart-vs-static`); each line names its window.
//!
//! ```text
//! Smart vs static · last 24h
//!  +17 pts success after retry, estimated (281 jobs)
//!  smart   ▂▃▅▇█▇▇▇▆▆▇  82%
//!  static  ▁▁▂▃▃▃▂▂▂▂▃  65%
//!  scale 60%–90% · bar 1h
//!  measured smart 80% of 120 ended
//!  est. per job: retries 2.2 vs 3.1 −27% to success 10.0s vs 15.3s −34%
//! ```

use super::Ctx;
use super::flow::flow;
use crate::model::{CohortStep, SmartVsStatic};
use crate::present::fmt;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// Columns of a sparkline's label and of its value.
const LABEL: usize = 8;
const VALUE: usize = 5;
/// Steps a bar may sum, the fewest that fit: 10, 20, 30 minutes, 1, 1½, 2, 3, 4, 6 hours ….
const BAR_STEPS: [usize; 11] = [1, 2, 3, 6, 9, 12, 18, 24, 36, 72, 144];

/// The section's lines for a pane `width` columns wide.
pub fn lines<'a>(t: &SmartVsStatic, ctx: &Ctx, width: usize) -> Vec<Line<'a>> {
    let mut out = vec![Line::styled(
        format!("Smart vs static {} {}", ctx.glyphs.dot, window(t, ctx)),
        ctx.theme.title(),
    )];
    out.extend(flow(headline(t, ctx), width, 2, ctx.glyphs.ellipsis));
    if t.total.jobs > 0 {
        out.extend(sparklines(t, ctx, width));
    }
    out.extend(flow(measured(&t.total, ctx), width, 2, ctx.glyphs.ellipsis));
    out.extend(flow(savings(&t.total, ctx), width, 2, ctx.glyphs.ellipsis));
    out
}

/// `est. per job: retries 2.2 vs 3.1 −27% · to success 10.0s vs 15.3s −34%` (smart vs static,
/// the same jobs): the savings the shadow model can back. CPU time and money are not measured.
fn savings<'a>(total: &CohortStep, ctx: &Ctx) -> Groups<'a> {
    let dim = |t: String| Span::styled(t, ctx.theme.dim());
    let mut groups = Vec::new();
    let pairs = [
        ("retries", total.smart_retries, total.static_retries, false),
        (
            "to success",
            total.smart_time_to_success_ms,
            total.static_time_to_success_ms,
            true,
        ),
    ];
    for (label, smart, fixed, is_time) in pairs {
        let (Some(a), Some(b)) = (smart, fixed) else {
            continue;
        };
        let label = if groups.is_empty() {
            label.to_string()
        } else {
            format!("{} {label}", ctx.glyphs.dot)
        };
        let show = |v: f64| {
            if is_time {
                fmt::ms(v as u64)
            } else {
                format!("{v:.1}")
            }
        };
        let mut group = vec![
            dim(format!("{label} ")),
            Span::styled(show(a), ctx.theme.ok()),
            dim(" vs ".into()),
            Span::styled(show(b), ctx.theme.text()),
        ];
        if b > 0.0 {
            group.push(Span::styled(
                format!(" {}", change(a / b - 1.0, ctx)),
                ctx.theme.text(),
            ));
        }
        groups.push(group);
    }
    if !groups.is_empty() {
        groups.insert(0, vec![dim("est. per job:".into())]);
    }
    groups
}

/// `−27%`, `+4%`.
fn change(ratio: f64, ctx: &Ctx) -> String {
    let pct = (ratio * 100.0).round() as i64;
    let minus = if ctx.glyphs.ascii { "-" } else { "\u{2212}" };
    match pct {
        p if p < 0 => format!("{minus}{}%", -p),
        p => format!("+{p}%"),
    }
}

/// `last 24h` (the steps' span), or `since 05:03` when the service started within it.
fn window(t: &SmartVsStatic, ctx: &Ctx) -> String {
    let Some(from) = t.from else {
        return String::new();
    };
    let started = ctx.app.data.as_ref().map(|d| d.summary.started_at);
    if started.is_some_and(|s| from <= s) {
        return format!("since {}", from.format("%H:%M"));
    }
    let span = t.steps.len() as u64 * t.step_seconds;
    format!(
        "last {}",
        fmt::window(from, from + chrono::Duration::seconds(span as i64))
    )
}

type Groups<'a> = Vec<Vec<Span<'a>>>;

/// `+17 pts success after retry, estimated (281 jobs)`, or why there is no figure yet.
fn headline<'a>(t: &SmartVsStatic, ctx: &Ctx) -> Groups<'a> {
    let Some(d) = t.difference else {
        return vec![vec![Span::styled(
            "no job compared yet in the window",
            ctx.theme.dim(),
        )]];
    };
    let points = (d * 100.0).round() as i64;
    let minus = if ctx.glyphs.ascii { "-" } else { "\u{2212}" };
    let (text, style) = match points {
        p if p > 0 => (format!("+{p} pts"), ctx.theme.ok()),
        p if p < 0 => (format!("{minus}{} pts", -p), ctx.theme.warn()),
        _ => ("0 pts".to_string(), ctx.theme.text()),
    };
    vec![
        vec![Span::styled(text, style)],
        vec![Span::styled("success after retry,", ctx.theme.dim())],
        vec![Span::styled(
            format!("estimated ({} jobs)", fmt::count(t.total.jobs)),
            ctx.theme.dim(),
        )],
    ]
}

/// The two estimate lines on one scale (the lowest to the highest value shown), and a line
/// naming the scale and what one bar covers.
fn sparklines<'a>(t: &SmartVsStatic, ctx: &Ctx, width: usize) -> Vec<Line<'a>> {
    let room = width.saturating_sub(LABEL + VALUE + 1).max(1);
    let needed = t.steps.len().div_ceil(room).max(1);
    // Bars of whole hours or simple fractions of them, where the width allows.
    let per = BAR_STEPS
        .into_iter()
        .find(|&n| n >= needed)
        .unwrap_or(needed);
    let smart = buckets(&t.steps, per, |s| s.smart_estimated);
    let fixed = buckets(&t.steps, per, |s| s.static_estimated);
    let values = smart.iter().chain(&fixed).flatten().copied();
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let rows = [
        ("smart", &smart, t.total.smart_estimated, ctx.theme.ok()),
        ("static", &fixed, t.total.static_estimated, ctx.theme.bar()),
    ];
    let mut out: Vec<Line> = rows
        .into_iter()
        .map(|(label, bars, total, style)| {
            // The newest bar ends next to the value, as in the series box.
            let spark = format!("{:>room$}", spark(bars, (lo, hi), ctx));
            row(label, spark, total, style, ctx)
        })
        .collect();
    let dash = if ctx.glyphs.ascii { "-" } else { "–" };
    let bar = minutes(per as u64 * t.step_seconds / 60);
    let scale = format!(
        " scale {}{dash}{} {} bar {bar}",
        fmt::pct(lo),
        fmt::pct(hi),
        ctx.glyphs.dot
    );
    out.push(Line::styled(scale, ctx.theme.dim()));
    out
}

/// `30m`, `1h`, `1h30m`.
fn minutes(m: u64) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

fn row<'a>(label: &str, spark: String, total: Option<f64>, style: Style, ctx: &Ctx) -> Line<'a> {
    let value = total.map(fmt::pct).unwrap_or_default();
    Line::from(vec![
        Span::styled(format!(" {label:<w$}", w = LABEL - 1), ctx.theme.dim()),
        Span::styled(spark, style),
        Span::styled(format!(" {value:>w$}", w = VALUE - 1), ctx.theme.text()),
    ])
}

/// Steps (oldest first) grouped `per` to a bar counted back from the newest, each bar the
/// jobs-weighted mean of `value` over its steps; `None` where no job was compared.
fn buckets(
    steps: &[CohortStep],
    per: usize,
    value: impl Fn(&CohortStep) -> Option<f64>,
) -> Vec<Option<f64>> {
    let mut bars: Vec<Option<f64>> = steps
        .rchunks(per)
        .map(|chunk| {
            let jobs: u64 = chunk.iter().map(|s| s.jobs).sum();
            let sum: f64 = chunk
                .iter()
                .filter_map(|s| value(s).map(|v| v * s.jobs as f64))
                .sum();
            (jobs > 0).then(|| sum / jobs as f64)
        })
        .collect();
    bars.reverse();
    bars
}

/// One character per bar: the lowest level at `lo`, the highest at `hi`, a blank where there
/// is no value.
fn spark(bars: &[Option<f64>], (lo, hi): (f64, f64), ctx: &Ctx) -> String {
    let s = &ctx.glyphs.spark;
    let levels = [
        s.one_eighth,
        s.one_quarter,
        s.three_eighths,
        s.half,
        s.five_eighths,
        s.three_quarters,
        s.seven_eighths,
        s.full,
    ];
    let span = hi - lo;
    bars.iter()
        .map(|b| match b {
            None => s.empty,
            // One value only: a middle bar.
            Some(_) if span <= f64::EPSILON => levels[3],
            Some(v) => {
                let at = ((v - lo) / span * (levels.len() - 1) as f64).round() as usize;
                levels[at.min(levels.len() - 1)]
            }
        })
        .collect()
}

/// `measured smart 80% of 120 ended`: how the same jobs actually ended so far.
fn measured<'a>(total: &CohortStep, ctx: &Ctx) -> Groups<'a> {
    let dim = |t: String| Span::styled(t, ctx.theme.dim());
    match total.smart_measured {
        Some(rate) => vec![
            vec![
                dim("measured smart ".into()),
                Span::styled(fmt::pct(rate), ctx.theme.text()),
            ],
            vec![dim(format!("of {} ended", fmt::count(total.ended)))],
        ],
        None => vec![vec![dim("measured: no followed job ended yet".into())]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(jobs: u64, smart: f64) -> CohortStep {
        CohortStep {
            jobs,
            smart_estimated: (jobs > 0).then_some(smart),
            ..CohortStep::default()
        }
    }

    #[test]
    fn bar_spans_read_in_hours_and_minutes() {
        assert_eq!(minutes(30), "30m");
        assert_eq!(minutes(60), "1h");
        assert_eq!(minutes(90), "1h30m");
    }

    #[test]
    fn bars_weigh_steps_by_jobs_from_the_newest() {
        let steps = [step(1, 0.2), step(0, 0.0), step(1, 0.4), step(3, 0.8)];
        let bars = buckets(&steps, 2, |s| s.smart_estimated);
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0], Some(0.2));
        let newest = bars[1].unwrap();
        assert!((newest - (0.4 + 2.4) / 4.0).abs() < 1e-12, "{newest}");
        assert_eq!(buckets(&[step(0, 0.0)], 1, |s| s.smart_estimated), [None]);
    }
}
