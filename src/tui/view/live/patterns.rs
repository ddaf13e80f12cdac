//! The selected job's pattern analysis: how failures of its (job type, error class) ended over
//! the window the service says (24 hours, or since the service started), recovery time, and
//! the busiest 30 minutes of failures. Every figure here comes from `GET /patterns`.

use super::super::{Ctx, flow};
use crate::model::{Patterns, ScheduledJob};
use crate::present::fmt;
use ratatui::text::{Line, Span};

/// The analysis lines for `job` in `width` columns: its figures wrapped as whole groups when the
/// service answered for its kind, one line saying it is on its way while the answer is for
/// another kind, none when the service gave none. When the full labels take more than `rows`
/// rows, shorter labels are used (`ok` for `recovered`, `max` for `hit max`), so the figures
/// still fit on a small terminal (80×24 has two rows for them).
pub fn lines<'a>(job: &ScheduledJob, ctx: &Ctx, width: usize, rows: usize) -> Vec<Line<'a>> {
    let Some(p) = ctx.app.data.as_ref().and_then(|d| d.patterns.as_ref()) else {
        return Vec::new();
    };
    if p.job_type != job.job_type || p.error_class != job.error_class {
        return vec![Line::styled(" patterns (loading)", ctx.theme.dim())];
    }
    // Each figure wraps whole with its label; continuation lines are indented.
    let laid_out = |compact: bool| -> Vec<Line<'a>> {
        [outcomes(p, ctx, compact), timing(p, ctx, compact)]
            .into_iter()
            .flat_map(|groups| flow::flow(groups, width, 2, ctx.glyphs.ellipsis))
            .collect()
    };
    let full = laid_out(false);
    if full.len() <= rows {
        full
    } else {
        laid_out(true)
    }
}

type Groups<'a> = Vec<Vec<Span<'a>>>;

/// `last 24h: 58 failed · recovered ≤5s 23 ≤30s 9 >30s 4 · gave up 1 · hit max 3`, or
/// `24h: 58 failed · ok ≤5s 23 ≤30s 9 >30s 4 · gave up 1 · max 3` when `compact`.
fn outcomes<'a>(p: &Patterns, ctx: &Ctx, compact: bool) -> Groups<'a> {
    let (d, le) = (ctx.glyphs.dot, ctx.glyphs.le);
    let r = &p.recovered;
    let dim = |t: String| Span::styled(t, ctx.theme.dim());
    let text = |t: String| Span::styled(t, ctx.theme.text());
    let (last, recovered, hit_max) = if compact {
        ("", "ok", "max")
    } else {
        ("last ", "recovered", "hit max")
    };
    vec![
        vec![
            dim(format!("{last}{}:", fmt::window(p.from, p.to))),
            text(format!(" {} failed", p.failures)),
        ],
        vec![
            dim(format!("{d} {recovered} {le}5s ")),
            Span::styled(r.within_5s.to_string(), ctx.theme.ok()),
        ],
        vec![dim(format!("{le}30s ")), text(r.within_30s.to_string())],
        vec![dim(">30s ".into()), text(r.later.to_string())],
        vec![dim(format!("{d} gave up ")), text(p.given_up.to_string())],
        vec![
            dim(format!("{d} {hit_max} ")),
            Span::styled(p.hit_max_attempts.to_string(), ctx.theme.warn()),
        ],
    ]
}

/// `recovery 6.8s ± 3.2s p50 5.9s p90 11.2s · peak 09:30–10:00 31 failures` (`31 failed`
/// when `compact`).
fn timing<'a>(p: &Patterns, ctx: &Ctx, compact: bool) -> Groups<'a> {
    let d = ctx.glyphs.dot;
    let plus_minus = if ctx.glyphs.ascii { "+-" } else { "±" };
    let dim = |t: String| Span::styled(t, ctx.theme.dim());
    let text = |t: String| Span::styled(t, ctx.theme.text());
    let secs = |ms: f64| fmt::secs(ms / 1000.0);
    let mut groups = match &p.recovery {
        Some(r) => vec![
            vec![
                dim("recovery ".into()),
                text(format!(
                    "{} {plus_minus} {}",
                    secs(r.mean_ms),
                    secs(r.sd_ms)
                )),
            ],
            vec![dim("p50 ".into()), text(secs(r.median_ms))],
            vec![dim("p90 ".into()), text(secs(r.p90_ms))],
        ],
        None => vec![vec![dim("recovery: none recovered".into())]],
    };
    if let Some(peak) = &p.peak_failures {
        let dash = if ctx.glyphs.ascii { "-" } else { "–" };
        let (from, to) = (peak.from.format("%H:%M"), peak.to.format("%H:%M"));
        groups.push(vec![
            dim(format!("{d} peak ")),
            text(format!("{from}{dash}{to} ")),
            Span::styled(
                format!(
                    "{} {}",
                    peak.failures,
                    if compact { "failed" } else { "failures" }
                ),
                ctx.theme.warn(),
            ),
        ]);
    }
    groups
}
