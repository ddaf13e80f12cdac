//! Live recommendations: the schedule of pending retries (a spinner and a countdown per job,
//! never a progress bar), the selected job's recommendation, timeline, rationale and similar
//! cases, and the live error stream.

use super::{Ctx, block, flow};
use crate::model::{JobState, ScheduledJob};
use crate::present::fmt;
use crate::tui::app::Pane;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use throbber_widgets_tui::Throbber;

mod detail;

/// Height of the selected job's detail block and of the error stream, when there is room.
const DETAIL_HEIGHT: u16 = 10;
const STREAM_HEIGHT: u16 = 5;

/// Rows given to the job table (with its border and header) out of a pane `height`.
pub fn table_height(height: u16) -> u16 {
    let [table, _, _] = split(Rect::new(0, 0, 1, height));
    table.height
}

fn split(area: Rect) -> [Rect; 3] {
    let stream = if area.height >= 24 { STREAM_HEIGHT } else { 0 };
    let detail = if area.height >= 16 { DETAIL_HEIGHT } else { 0 };
    Layout::vertical([
        Constraint::Min(5),
        Constraint::Length(detail),
        Constraint::Length(stream),
    ])
    .areas(area)
}

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let [table, detail_area, stream] = split(area);
    jobs(frame, table, ctx);
    if detail_area.height > 0 {
        detail::render(frame, detail_area, ctx);
    }
    if stream.height > 0 {
        errors(frame, stream, ctx);
    }
}

fn jobs(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let focused = ctx.app.focus == Pane::Live;
    let Some(data) = &ctx.app.data else {
        let p = Paragraph::new(Line::styled(" no data yet", ctx.theme.dim()));
        frame.render_widget(p.block(block("Live recommendations", focused, ctx)), area);
        return;
    };
    let title = format!(
        "Live recommendations {} {} of {} jobs",
        ctx.glyphs.dot,
        ctx.app.visible.len(),
        data.jobs.total
    );
    // Only the rows that fit are built: the page may hold thousands of jobs.
    let rows_fit = usize::from(area.height.saturating_sub(3)).max(1);
    let offset = ctx.app.selected.saturating_sub(rows_fit - 1);
    let rows = ctx.app.visible[offset..]
        .iter()
        .take(rows_fit)
        .map(|&i| cells(&data.jobs.jobs[i], ctx));
    let with_queue = area.width >= 72;
    let header = ["", "job", "next attempt", "try", "queue", "error", "method"];
    let header = Row::new(columns(header.map(Cell::from), with_queue)).style(ctx.theme.dim());
    let rows = rows.map(|cells| Row::new(columns(cells, with_queue)));
    let table = Table::new(rows, columns(widths(), with_queue))
        .header(header)
        .block(block(&title, focused, ctx))
        .row_highlight_style(ctx.theme.selected())
        .column_spacing(1);
    let mut state = TableState::default()
        .with_selected((!ctx.app.visible.is_empty()).then_some(ctx.app.selected - offset));
    frame.render_stateful_widget(table, area, &mut state);
}

fn widths() -> [Constraint; 7] {
    [
        Constraint::Length(2),
        Constraint::Length(12),
        Constraint::Length(18),
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Fill(1),
        Constraint::Length(8),
    ]
}

/// Drops the queue column (index 4) on narrow panes.
fn columns<T>(all: [T; 7], with_queue: bool) -> Vec<T> {
    all.into_iter()
        .enumerate()
        .filter(|(i, _)| with_queue || *i != 4)
        .map(|(_, c)| c)
        .collect()
}

fn cells<'a>(job: &'a ScheduledJob, ctx: &'a Ctx) -> [Cell<'a>; 7] {
    let (spin, next) = next_attempt(job, ctx);
    let error = format!("{} {}", job.error_class, job.error_code);
    let flag = if job.r#override.is_some() {
        ctx.glyphs.flag
    } else {
        ""
    };
    [
        Cell::from(spin),
        Cell::from(Span::styled(
            format!("{}{flag}", job.job_id),
            ctx.theme.text(),
        )),
        Cell::from(next),
        Cell::from(format!("{}/{}", job.attempt_number, job.max_attempts)),
        Cell::from(Span::styled(job.queue.as_str(), ctx.theme.dim())),
        Cell::from(Span::styled(error, ctx.theme.text())),
        Cell::from(Span::styled(
            job.recommendation.method.as_str(),
            ctx.theme.info(),
        )),
    ]
}

/// The spinner cell and the "why nothing is happening" text of a job.
fn next_attempt<'a>(job: &'a ScheduledJob, ctx: &'a Ctx) -> (Span<'a>, Span<'a>) {
    let t = ctx.theme;
    let spinner = || match ctx.app.throbbers.get(&job.job_id) {
        Some(state) => Throbber::default()
            .throbber_set(ctx.glyphs.spinner.clone())
            .throbber_style(t.accent())
            .to_symbol_span(state),
        None => Span::raw(" "),
    };
    match job.state {
        JobState::Scheduled => match job.next_attempt_at {
            Some(at) if at > ctx.now => {
                let text = format!("retrying in {}", fmt::secs(fmt::until(at, ctx.now)));
                (spinner(), Span::styled(text, t.warn()))
            }
            _ => (spinner(), Span::styled("due, no worker yet", t.info())),
        },
        JobState::Claimed => {
            let who = job.claimed_by.as_deref().unwrap_or("a worker");
            (spinner(), Span::styled(format!("running: {who}"), t.ok()))
        }
        JobState::Succeeded => (
            Span::styled(ctx.glyphs.ok, t.ok()),
            Span::styled("succeeded", t.ok()),
        ),
        JobState::Exhausted => (
            Span::styled(ctx.glyphs.fail, t.critical()),
            Span::styled("gave up", t.critical()),
        ),
        JobState::Killed => (
            Span::styled(ctx.glyphs.fail, t.critical()),
            Span::styled("killed", t.critical()),
        ),
    }
}

/// Kinds of stream events that are errors (the service's `/events` kinds).
const ERROR_KINDS: [&str; 2] = ["failure", "exhausted"];

/// The newest errors of the live stream (`/events`), newest first.
fn errors(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let rows = usize::from(area.height.saturating_sub(2));
    let width = usize::from(area.width.saturating_sub(2));
    let lines: Vec<Line> = ctx
        .app
        .events
        .newest()
        .filter(|e| ERROR_KINDS.contains(&e.kind.as_str()))
        .take(rows)
        .map(|e| {
            Line::from(vec![
                Span::styled(format!(" {} ", e.at.format("%H:%M:%S")), ctx.theme.dim()),
                Span::styled(
                    format!("{} ", e.job_id.as_deref().unwrap_or("-")),
                    ctx.theme.text(),
                ),
                Span::styled(e.message.as_str(), ctx.theme.critical()),
            ])
        })
        .map(|line| flow::fit_line(line, width, ctx.glyphs.ellipsis))
        .collect();
    let p = Paragraph::new(lines).block(block("Live errors", false, ctx));
    frame.render_widget(p, area);
}
