//! The selected job: recommendation, timeline of planned attempts, the pattern analysis of its
//! kind, rationale, similar cases, override, and the keys that act on it. When rows are short
//! the rationale keeps one row and the pattern analysis gives up its rows first.

use super::super::{Ctx, block, flow};
use crate::model::{JobDetail, ScheduledJob, TimelineEntry};
use crate::present::fmt;
use crate::tui::action::Action;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let Some(job) = ctx.app.selected_job() else {
        let p = Paragraph::new(Line::styled(" no job selected", ctx.theme.dim()));
        frame.render_widget(p.block(block("Selected job", false, ctx)), area);
        return;
    };
    let detail = ctx
        .app
        .data
        .as_ref()
        .and_then(|d| d.detail.as_ref())
        .filter(|d| d.job.job_id == job.job_id);
    let mut lines = vec![identity(job, ctx), recommendation(job, ctx)];
    lines.push(timeline(job, detail, ctx));
    let mut rest: Vec<Line> = guardrails(job, ctx).into_iter().collect();
    rest.push(similar(job, ctx));
    rest.extend(override_line(job, ctx));
    rest.push(keys(ctx));
    let outer = block("", false, ctx).inner(area);
    let room = usize::from(outer.height).saturating_sub(lines.len() + rest.len());
    // One row is kept for the rationale.
    let keep = room.saturating_sub(1);
    let mut pattern = super::patterns::lines(job, ctx, usize::from(outer.width), keep);
    if pattern.len() > keep {
        pattern.truncate(keep);
        if let Some(last) = pattern.last_mut() {
            last.push_span(Span::raw(ctx.glyphs.ellipsis));
        }
    }
    let room = room.saturating_sub(pattern.len());
    lines.extend(pattern);
    lines.extend(why(job, ctx, usize::from(outer.width), room.max(1)));
    lines.extend(rest);
    let width = usize::from(outer.width);
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|l| flow::fit_line(l, width, ctx.glyphs.ellipsis))
        .collect();
    let title = format!("Selected {} {}", ctx.glyphs.dot, job.job_id);
    frame.render_widget(Paragraph::new(lines).block(block(&title, false, ctx)), area);
}

/// The rationale, wrapped by words over at most `rows` rows (the last ending in an ellipsis
/// when there is more).
fn why<'a>(job: &'a ScheduledJob, ctx: &Ctx, width: usize, rows: usize) -> Vec<Line<'a>> {
    let mut groups = vec![vec![Span::styled("why", ctx.theme.dim())]];
    groups.extend(
        job.recommendation
            .rationale
            .split_whitespace()
            .map(|w| vec![Span::styled(w, ctx.theme.text())]),
    );
    let mut lines = flow::flow(groups, width, 5, ctx.glyphs.ellipsis);
    if lines.len() > rows {
        lines.truncate(rows);
        if let Some(last) = lines.last_mut() {
            last.push_span(Span::raw(ctx.glyphs.ellipsis));
        }
    }
    lines
}

fn identity<'a>(job: &'a ScheduledJob, ctx: &'a Ctx) -> Line<'a> {
    let d = ctx.glyphs.dot;
    let tenant = job.tenant.as_deref().unwrap_or("-");
    Line::styled(
        format!(
            " {} {d} tenant {tenant} {d} attempt {}/{} {d} first failure {} {d} {}",
            job.job_type,
            job.attempt_number,
            job.max_attempts,
            fmt::ago(job.first_failure_at, ctx.now),
            job.last_error
        ),
        ctx.theme.dim(),
    )
}

fn recommendation<'a>(job: &'a ScheduledJob, ctx: &'a Ctx) -> Line<'a> {
    let r = &job.recommendation;
    let verdict = if r.should_retry {
        Span::styled(
            format!(" retry after {}", fmt::ms(r.delay_ms)),
            ctx.theme.title(),
        )
    } else {
        Span::styled(" stop: no retry", ctx.theme.critical())
    };
    Line::from(vec![
        verdict,
        Span::styled(format!(" ({})", r.method.as_str()), ctx.theme.info()),
        Span::styled("  confidence ", ctx.theme.dim()),
        Span::styled(format!("{:.2}", r.confidence), ctx.theme.text()),
        Span::styled("  P(this attempt) ", ctx.theme.dim()),
        Span::styled(fmt::pct(r.estimated_success), ctx.theme.text()),
    ])
}

/// `now → #3 +4.2s 79% → #4 +20.2s 91%`: each planned attempt with its estimated success.
/// A finished job has no plan: it says how it ended instead.
fn timeline<'a>(job: &ScheduledJob, detail: Option<&'a JobDetail>, ctx: &'a Ctx) -> Line<'a> {
    if let Some(ended) = fmt::job_end(job.state) {
        return Line::styled(format!(" plan none: it {ended}"), ctx.theme.dim());
    }
    let mut spans = vec![Span::styled(" plan (P by then)", ctx.theme.dim())];
    let Some(detail) = detail else {
        spans.push(Span::styled(" (loading timeline)", ctx.theme.dim()));
        return Line::from(spans);
    };
    if detail.timeline.is_empty() {
        spans.push(Span::styled(
            " no further attempts planned",
            ctx.theme.dim(),
        ));
    }
    for (n, step) in detail.timeline.iter().enumerate() {
        if n > 0 {
            spans.push(Span::styled(
                format!(" {} ", ctx.glyphs.arrow),
                ctx.theme.dim(),
            ));
        } else {
            spans.push(Span::raw(" "));
        }
        spans.extend(step_spans(step, ctx));
    }
    Line::from(spans)
}

fn step_spans<'a>(step: &TimelineEntry, ctx: &Ctx) -> [Span<'a>; 2] {
    let offset = fmt::until(step.scheduled_time, ctx.now);
    let how = if step.overridden { " override" } else { "" };
    let when = if offset > 0.0 {
        format!("#{} +{}{how}", step.attempt_number, fmt::secs(offset))
    } else {
        format!("#{} due{how}", step.attempt_number)
    };
    [
        Span::styled(when, ctx.theme.text()),
        Span::styled(
            format!(" {}", fmt::pct(step.estimated_success)),
            ctx.theme.ok(),
        ),
    ]
}

fn guardrails<'a>(job: &'a ScheduledJob, ctx: &'a Ctx) -> Option<Line<'a>> {
    let g = &job.recommendation.policy_guardrails;
    (!g.is_empty()).then(|| {
        Line::from(vec![
            Span::styled(" guardrails ", ctx.theme.dim()),
            Span::styled(g.join(", "), ctx.theme.warn()),
        ])
    })
}

fn similar<'a>(job: &'a ScheduledJob, ctx: &'a Ctx) -> Line<'a> {
    let mut spans = vec![Span::styled(" similar", ctx.theme.dim())];
    let cases = job
        .recommendation
        .explanation
        .as_ref()
        .map(|x| x.similar_cases.as_slice())
        .unwrap_or_default();
    if cases.is_empty() {
        spans.push(Span::styled(" none yet", ctx.theme.dim()));
    }
    for c in cases.iter().take(4) {
        let (mark, style) = if c.success {
            (ctx.glyphs.ok, ctx.theme.ok())
        } else {
            (ctx.glyphs.fail, ctx.theme.critical())
        };
        spans.push(Span::styled(
            format!(
                " {} #{} after {} ",
                c.job_id,
                c.attempt_number,
                fmt::ms(c.delay_ms)
            ),
            ctx.theme.text(),
        ));
        spans.push(Span::styled(mark, style));
    }
    Line::from(spans)
}

fn override_line<'a>(job: &'a ScheduledJob, ctx: &'a Ctx) -> Option<Line<'a>> {
    let o = job.r#override.as_ref()?;
    Some(Line::from(vec![
        Span::styled(format!(" {} override ", ctx.glyphs.flag), ctx.theme.warn()),
        Span::styled(
            format!("{} by {}: \"{}\"", fmt::ms(o.delay_ms), o.actor, o.reason),
            ctx.theme.text(),
        ),
    ]))
}

fn keys<'a>(ctx: &'a Ctx) -> Line<'a> {
    let mut spans = vec![Span::raw(" ")];
    for (action, label) in [
        (Action::Apply, "apply"),
        (Action::UseStatic, "static"),
        (Action::RetryNow, "retry now"),
        (Action::Override, "custom delay"),
        (Action::Kill, "kill"),
        (Action::Preview, "preview"),
    ]
    .into_iter()
    .filter(|(a, _)| ctx.app.offers(*a))
    {
        spans.push(Span::styled(
            super::super::short_key(ctx, action),
            ctx.theme.accent(),
        ));
        spans.push(Span::styled(format!(" {label}  "), ctx.theme.dim()));
    }
    Line::from(spans)
}
