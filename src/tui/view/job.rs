//! The job detail: the full job id (wrapped, never shortened, so it can be selected by hand
//! where the terminal ignores OSC 52), the job's state, its attempts, the errors the live
//! stream saw for it, its plan and the audit entries about it. Scrolls when it does not fit.

use super::overlay::key;
use super::{Ctx, block, flow};
use crate::model::{AttemptRecord, JobDetail, TimelineEntry};
use crate::present::fmt;
use crate::tui::action::Action;
use crate::tui::state::JobInfo;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

/// Columns and rows the detail leaves free around it.
const MARGIN: u16 = 2;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx, info: &JobInfo, scroll: usize) {
    let width = area.width.saturating_sub(MARGIN * 2);
    let inner_width = usize::from(width.saturating_sub(2));
    // Every row wrapped at spaces, none shortened: what the detail says is read whole.
    let rows: Vec<Line> = id_rows(&info.detail.job.job_id, ctx)
        .into_iter()
        .chain(body(info, ctx))
        .flat_map(|l| flow::wrap_line(l, inner_width))
        .collect();
    // Sized to the rows and the hint below them, at most the screen less a margin.
    let height = (rows.len() as u16 + 3).min(area.height.saturating_sub(MARGIN));
    let [rect] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [rect] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(rect);
    let outer = block("Job detail", true, ctx);
    let inner = outer.inner(rect);
    // The last row says how to scroll and close; the rows above it scroll.
    let visible = usize::from(inner.height).saturating_sub(1).max(1);
    let max = rows.len().saturating_sub(visible);
    ctx.app.detail_max.set(max);
    let scroll = scroll.min(max);
    let mut shown: Vec<Line> = rows.into_iter().skip(scroll).take(visible).collect();
    shown.push(flow::fit_line(
        hint(ctx, scroll, max),
        inner_width,
        ctx.glyphs.ellipsis,
    ));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(shown).block(outer), rect);
}

/// The id in full (wrapped over as many rows as it takes).
fn id_rows<'a>(id: &str, ctx: &Ctx) -> Vec<Line<'a>> {
    vec![Line::from(vec![
        Span::styled("job id ", ctx.theme.dim()),
        Span::styled(id.to_string(), ctx.theme.title()),
    ])]
}

fn body<'a>(info: &'a JobInfo, ctx: &'a Ctx) -> Vec<Line<'a>> {
    let d = &info.detail;
    let mut lines = state_lines(d, ctx);
    lines.push(heading("Attempts", ctx));
    lines.extend(d.attempts.iter().map(|a| attempt(a, ctx)));
    if d.attempts.is_empty() {
        lines.push(Line::styled(" none recorded", ctx.theme.dim()));
    }
    lines.extend(stream_errors(&d.job.job_id, ctx));
    lines.push(heading("Plan", ctx));
    lines.extend(d.timeline.iter().map(|t| step(t, ctx)));
    if d.timeline.is_empty() {
        lines.push(Line::styled(" no further attempts", ctx.theme.dim()));
    }
    lines.push(heading("Audit", ctx));
    lines.extend(audit(info, ctx));
    lines
}

fn heading<'a>(text: &'a str, ctx: &Ctx) -> Line<'a> {
    Line::styled(text, ctx.theme.title())
}

fn state_lines<'a>(d: &'a JobDetail, ctx: &Ctx) -> Vec<Line<'a>> {
    let j = &d.job;
    let dot = ctx.glyphs.dot;
    let tenant = j.tenant.as_deref().map(|t| format!(" {dot} tenant {t}"));
    let mut lines = vec![
        Line::styled(
            format!(
                "{} {dot} queue {}{} {dot} {} {dot} attempt {}/{}",
                j.job_type,
                j.queue,
                tenant.unwrap_or_default(),
                j.state.as_str(),
                j.attempt_number,
                j.max_attempts
            ),
            ctx.theme.text(),
        ),
        Line::styled(
            format!(
                "first failure {} ({}) {dot} next attempt {}",
                j.first_failure_at.format("%H:%M:%S"),
                fmt::ago(j.first_failure_at, ctx.now),
                j.next_attempt_at.map_or("none".into(), |at| format!(
                    "{} (in {})",
                    at.format("%H:%M:%S"),
                    fmt::secs(fmt::until(at, ctx.now).max(0.0))
                ))
            ),
            ctx.theme.dim(),
        ),
        Line::from(vec![
            Span::styled("last error ", ctx.theme.dim()),
            Span::styled(
                format!("{} {} ", j.error_class, j.error_code),
                ctx.theme.text(),
            ),
            Span::styled(j.last_error.as_str(), ctx.theme.critical()),
        ]),
    ];
    if let Some(o) = &j.r#override {
        lines.push(Line::styled(
            format!("override by {}: {}", o.actor, o.reason),
            ctx.theme.warn(),
        ));
    }
    lines
}

fn attempt<'a>(a: &AttemptRecord, ctx: &Ctx) -> Line<'a> {
    let outcome = if a.success {
        Span::styled(format!("{} ok", ctx.glyphs.ok), ctx.theme.ok())
    } else {
        Span::styled(
            format!(
                "{} {} {} {}",
                ctx.glyphs.fail, a.status, a.error_class, a.error_code
            ),
            ctx.theme.critical(),
        )
    };
    Line::from(vec![
        Span::styled(format!(" #{:<2} ", a.attempt_number), ctx.theme.text()),
        Span::styled(
            format!("{} ", a.timestamp.format("%Y-%m-%d %H:%M:%S")),
            ctx.theme.dim(),
        ),
        Span::styled(
            format!("after {:<7} ", fmt::ms(a.delay_ms)),
            ctx.theme.dim(),
        ),
        outcome,
    ])
}

/// The job's error messages the console saw in the live stream (`/events`), newest first: the
/// service keeps an attempt's class and code, and the message only of the last one.
fn stream_errors<'a>(job_id: &str, ctx: &'a Ctx) -> Vec<Line<'a>> {
    let errors: Vec<Line> = ctx
        .app
        .events
        .newest()
        .filter(|e| e.job_id.as_deref() == Some(job_id) && e.kind != "success")
        .map(|e| {
            Line::from(vec![
                Span::styled(
                    format!(" {} ", e.at.format("%Y-%m-%d %H:%M:%S")),
                    ctx.theme.dim(),
                ),
                Span::styled(format!("{} ", e.kind), ctx.theme.text()),
                Span::styled(e.message.as_str(), ctx.theme.critical()),
            ])
        })
        .collect();
    if errors.is_empty() {
        return errors;
    }
    let mut lines = vec![heading("Seen in the live stream", ctx)];
    lines.extend(errors);
    lines
}

fn step<'a>(t: &'a TimelineEntry, ctx: &Ctx) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!(" #{:<2} ", t.attempt_number), ctx.theme.text()),
        Span::styled(
            format!("{} ", t.scheduled_time.format("%H:%M:%S")),
            ctx.theme.dim(),
        ),
        Span::styled(
            format!("+{:<8}", fmt::secs(fmt::until(t.scheduled_time, ctx.now))),
            ctx.theme.warn(),
        ),
        Span::styled(
            format!(" {:>4} ", fmt::pct(t.estimated_success)),
            ctx.theme.ok(),
        ),
        Span::styled(format!("{:<8} ", fmt::step_method(t)), ctx.theme.info()),
        Span::styled(t.rationale.as_str(), ctx.theme.dim()),
    ])
}

fn audit<'a>(info: &'a JobInfo, ctx: &Ctx) -> Vec<Line<'a>> {
    let mut lines: Vec<Line> = info
        .audit
        .iter()
        .map(|e| {
            Line::from(vec![
                Span::styled(
                    format!(" {} ", e.at.format("%Y-%m-%d %H:%M:%S")),
                    ctx.theme.dim(),
                ),
                Span::styled(format!("{} ", e.action), ctx.theme.accent()),
                Span::styled(format!("by {}: ", e.actor), ctx.theme.text()),
                Span::styled(e.reason.as_str(), ctx.theme.text()),
            ])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled(
            " no entry names this job (bulk actions are audited by their filter)",
            ctx.theme.dim(),
        ));
    }
    if info.audit_truncated {
        lines.push(Line::styled(
            " (only the oldest part of a long audit log was read)",
            ctx.theme.dim(),
        ));
    }
    lines
}

fn hint<'a>(ctx: &Ctx, scroll: usize, max: usize) -> Line<'a> {
    let dot = ctx.glyphs.dot;
    let copy = key(ctx, Action::CopyId);
    let more = match (scroll, max - scroll) {
        (_, below) if below > 0 => format!("{below} more below ({}) {dot} ", ctx.glyphs.up_down),
        (above, _) if above > 0 => format!("{above} more above ({}) {dot} ", ctx.glyphs.up_down),
        _ => String::new(),
    };
    Line::styled(
        format!("{more}{copy} copy id {dot} esc close"),
        ctx.theme.dim(),
    )
}
