//! Live recommendations: the schedule of pending retries (a spinner and a countdown per job,
//! never a progress bar), the selected job's recommendation, timeline, rationale and similar
//! cases, and the live error stream.

use super::{Ctx, block, flow};
use crate::model::{Event, JobState, ScheduledJob, holding_pause};
use crate::present::fmt;
use crate::tui::action::Action;
use crate::tui::app::{Conn, Pane};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use throbber_widgets_tui::Throbber;

mod detail;
mod patterns;

/// Height of the selected job's detail block and of the error stream, when there is room; the
/// detail grows by two rows (the pattern analysis) in a pane at least `TALL` rows high.
const DETAIL_HEIGHT: u16 = 10;
const DETAIL_EXTRA: u16 = 2;
const TALL: u16 = 30;
const STREAM_HEIGHT: u16 = 5;

/// Rows given to the job table (with its border and header) and to the error stream's lines
/// out of a pane `height`, with the stream focused or not.
pub fn heights(height: u16, stream_focused: bool) -> (u16, u16) {
    let [table, _, stream] = split(Rect::new(0, 0, 1, height), stream_focused);
    (table.height, stream.height.saturating_sub(2))
}

/// The table, the selected job's detail and the error stream. The stream is shown from 24
/// rows on; while it has the focus it takes the detail's place and half the pane.
fn split(area: Rect, stream_focused: bool) -> [Rect; 3] {
    let (stream, detail) = match (area.height, stream_focused) {
        (h @ 24.., true) => ((h / 2).max(STREAM_HEIGHT), 0),
        (h, _) => (
            if h >= 24 { STREAM_HEIGHT } else { 0 },
            match h {
                TALL.. => DETAIL_HEIGHT + DETAIL_EXTRA,
                16.. => DETAIL_HEIGHT,
                _ => 0,
            },
        ),
    };
    Layout::vertical([
        Constraint::Min(5),
        Constraint::Length(detail),
        Constraint::Length(stream),
    ])
    .areas(area)
}

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let [table, detail_area, stream] = split(area, ctx.app.stream.focused);
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
    let pending = ctx
        .app
        .visible
        .iter()
        .filter(|&&i| data.jobs.jobs[i].state.is_pending())
        .count();
    // The rest of the rows shown are finished jobs.
    let paged = data.jobs.next_cursor.is_some() || ctx.app.pages.number() > 1;
    let page = paged.then(|| ctx.app.pages.number());
    let title = title(
        ctx,
        (ctx.app.visible.len(), data.jobs.total, pending),
        page,
        area.width,
    );
    // Only the rows that fit are built: the page may hold thousands of jobs.
    let rows_fit = usize::from(area.height.saturating_sub(3)).max(1);
    let offset = ctx.app.selected.saturating_sub(rows_fit - 1);
    let shown: Vec<&ScheduledJob> = ctx.app.visible[offset..]
        .iter()
        .take(rows_fit)
        .map(|&i| &data.jobs.jobs[i])
        .collect();
    let with_queue = area.width >= 72;
    let w = Widths::fit(&shown, area.width, with_queue);
    let ids: Vec<&str> = shown.iter().map(|j| j.job_id.as_str()).collect();
    let rows = shown.iter().map(|job| cells(job, &ids, ctx, w));
    let header = ["", "job", "next attempt", "try", "queue", "error", "method"];
    let header = Row::new(columns(header.map(Cell::from), with_queue)).style(ctx.theme.dim());
    let rows = rows.map(|cells| Row::new(columns(cells, with_queue)));
    let table = Table::new(rows, columns(w.constraints(), with_queue))
        .header(header)
        .block(block(&title, focused, ctx))
        .row_highlight_style(ctx.theme.selected())
        .column_spacing(1);
    let mut state = TableState::default()
        .with_selected((!ctx.app.visible.is_empty()).then_some(ctx.app.selected - offset));
    frame.render_stateful_widget(table, area, &mut state);
    if shown.is_empty() && area.height > 3 {
        let inside = Rect::new(
            area.x + 2,
            area.y + 2,
            area.width.saturating_sub(4),
            area.height - 3,
        );
        let why = empty_list(&ctx.app.filter, data.jobs.jobs.is_empty());
        let why = Paragraph::new(Line::styled(why, ctx.theme.dim())).wrap(Wrap { trim: true });
        frame.render_widget(why, inside);
    }
    // The rows under the frame's top line and the header.
    let rows = Rect::new(
        area.x + 1,
        area.y + 2,
        area.width.saturating_sub(2),
        shown.len() as u16,
    );
    super::note_hits(ctx, |h| (h.jobs, h.first_job) = (rows, offset));
}

/// Why the list shows no row: an empty schedule, or a filter that matches nothing (with the
/// filter, and the field syntax when a term looks like a mistyped field).
fn empty_list(filter: &str, schedule_empty: bool) -> String {
    if filter.trim().is_empty() {
        return if schedule_empty {
            "no job in the schedule".to_string()
        } else {
            "no job on this page".to_string()
        };
    }
    let fieldlike = filter.split_whitespace().any(|t| match t.split_once(':') {
        Some((key, _)) => !matches!(key, "queue" | "state" | "error"),
        None => t.contains('='),
    });
    let hint = if fieldlike {
        " · fields are queue:, state:, error:; other words match id, type, queue, error"
    } else {
        ""
    };
    format!(
        "no job matches \"{}\"{hint} · / to change it",
        filter.trim()
    )
}

/// The list's title: the counts, the page (when the filter's jobs take more than one) and the
/// order, in the longest form that fits the frame.
fn title(
    ctx: &Ctx,
    (shown, total, pending): (usize, u64, usize),
    page: Option<usize>,
    width: u16,
) -> String {
    let dot = ctx.glyphs.dot;
    let by = format!("by {}", ctx.app.sort.label());
    let (long_page, short_page) = match page {
        Some(n) => {
            let keys = page_keys(ctx);
            (format!(" {dot} page {n}{keys}"), format!(" {dot} p{n}"))
        }
        None => (String::new(), String::new()),
    };
    let forms = [
        format!(
            "Live recommendations {dot} {shown} of {total} jobs, {pending} pending{long_page} {dot} {by}"
        ),
        format!("Live {dot} {shown} of {total} jobs, {pending} pending{long_page} {dot} {by}"),
        format!("Live {dot} {shown} of {total}, {pending} pending{short_page} {dot} {by}"),
        format!("{shown} of {total}, {pending} pending{short_page} {dot} {by}"),
    ];
    let room = usize::from(width.saturating_sub(4));
    let fits = |t: &&String| Span::raw(t.as_str()).width() <= room;
    forms.iter().find(fits).unwrap_or(&forms[3]).clone()
}

/// ` ([ ])`: the keys that turn the pages, as bound (nothing when unbound).
fn page_keys(ctx: &Ctx) -> String {
    let keys: Vec<String> = [Action::PrevPage, Action::NextPage]
        .into_iter()
        .map(|a| super::short_key(ctx, a))
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        String::new()
    } else {
        format!(" ({})", keys.join(" "))
    }
}

/// Columns of the fixed-width cells; the job and error columns share what is left.
const SPIN: u16 = 2;
const NEXT: u16 = 18;
const TRY: u16 = 4;
const QUEUE: u16 = 8;
const METHOD: u16 = 8;
/// The job column grows to the longest id shown, between these; the error column keeps
/// at least `ERROR_MIN`.
const JOB_MIN: u16 = 8;
const JOB_MAX: u16 = 28;
const ERROR_MIN: u16 = 12;

/// Widths of the job and error columns for a table `width` columns wide (with its border).
#[derive(Debug, Clone, Copy)]
struct Widths {
    job: u16,
    queue: u16,
    error: u16,
}

impl Widths {
    fn fit(shown: &[&ScheduledJob], width: u16, with_queue: bool) -> Widths {
        let queue = if with_queue { QUEUE } else { 0 };
        let gaps = if with_queue { 6 } else { 5 };
        let fixed = 2 + SPIN + NEXT + TRY + queue + METHOD + gaps;
        let ids: Vec<&str> = shown.iter().map(|j| j.job_id.as_str()).collect();
        let max = usize::from(JOB_MAX);
        let longest = shown
            .iter()
            .map(|j| {
                let id = flow::distinct(&j.job_id, &ids, max, "…");
                Span::raw(id.as_str()).width() + usize::from(j.r#override.is_some())
            })
            .max()
            .unwrap_or(0);
        let wanted = u16::try_from(longest)
            .unwrap_or(JOB_MAX)
            .clamp(JOB_MIN, JOB_MAX);
        let room = width.saturating_sub(fixed);
        let job = wanted.min(room.saturating_sub(ERROR_MIN)).max(JOB_MIN);
        let error = room.saturating_sub(job).max(1);
        Widths { job, queue, error }
    }

    fn constraints(self) -> [Constraint; 7] {
        [
            Constraint::Length(SPIN),
            Constraint::Length(self.job),
            Constraint::Length(NEXT),
            Constraint::Length(TRY),
            Constraint::Length(QUEUE),
            Constraint::Length(self.error),
            Constraint::Length(METHOD),
        ]
    }
}

/// Drops the queue column (index 4) on narrow panes.
fn columns<T>(all: [T; 7], with_queue: bool) -> Vec<T> {
    all.into_iter()
        .enumerate()
        .filter(|(i, _)| with_queue || *i != 4)
        .map(|(_, c)| c)
        .collect()
}

/// A row's cells; every text cut to its column is marked with the ellipsis (job ids keep the
/// part that tells them apart from the other rows' ids).
fn cells<'a>(job: &'a ScheduledJob, ids: &[&str], ctx: &'a Ctx, w: Widths) -> [Cell<'a>; 7] {
    let (spin, next) = next_attempt(job, ctx);
    let dots = ctx.glyphs.ellipsis;
    let error = format!("{} {}", job.error_class, job.error_code);
    let error = flow::column(&error, usize::from(w.error), dots);
    let flag = if job.r#override.is_some() {
        ctx.glyphs.flag
    } else {
        ""
    };
    let id_room = usize::from(w.job).saturating_sub(Span::raw(flag).width());
    let id = flow::distinct(&job.job_id, ids, id_room, dots);
    [
        Cell::from(spin),
        Cell::from(Span::styled(format!("{id}{flag}"), ctx.theme.text())),
        Cell::from(next),
        Cell::from(format!("{}/{}", job.attempt_number, job.max_attempts)),
        Cell::from(Span::styled(
            flow::column(&job.queue, usize::from(w.queue), dots),
            ctx.theme.dim(),
        )),
        Cell::from(Span::styled(error, ctx.theme.text())),
        Cell::from(Span::styled(
            job.recommendation.method.as_str(),
            ctx.theme.info(),
        )),
    ]
}

/// Why a scheduled job is not handed out whatever its time: a pause in force over it
/// (`paused 9m58s left`), or its circuit forced open by an operator.
fn held(job: &ScheduledJob, ctx: &Ctx) -> Option<String> {
    let summary = &ctx.app.data.as_ref()?.summary;
    if let Some(pause) = holding_pause(&summary.pauses, job, ctx.now) {
        return Some(match pause.until {
            Some(u) => format!("paused {} left", fmt::secs(fmt::until(u, ctx.now))),
            None => "paused, no end".to_string(),
        });
    }
    let mut forced = summary.circuits.iter().filter_map(|c| c.forced.as_ref());
    forced
        .any(|f| f.holds(job))
        .then(|| "held: circuit open".to_string())
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
    if let Some(held) = held(job, ctx) {
        return (
            Span::styled(ctx.glyphs.warning, t.warn()),
            Span::styled(held, t.warn()),
        );
    }
    match job.state {
        JobState::Scheduled => match job.next_attempt_at {
            Some(at) if at > ctx.now => {
                let text = format!("retrying in {}", fmt::secs(fmt::until(at, ctx.now)));
                (spinner(), Span::styled(text, t.warn()))
            }
            // With stale data nobody knows whether a worker took it: say that, not "no worker".
            _ if ctx.app.conn != Conn::Connected => {
                (spinner(), Span::styled("due (stale)", t.dim()))
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

/// The live error stream (`/events` failures and give-ups), newest first, from where the
/// operator scrolled to; the highlighted line is the one Enter opens while it has the focus.
fn errors(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let app = ctx.app;
    let rows = usize::from(area.height.saturating_sub(2));
    let width = usize::from(area.width.saturating_sub(2));
    let errors = app.stream_errors();
    let offset = app.stream_offset(&errors);
    let lines: Vec<Line> = errors[offset..]
        .iter()
        .take(rows)
        .enumerate()
        .map(|(i, e)| {
            let line = error_line(e, ctx);
            if i == 0 && app.stream.focused {
                line.style(ctx.theme.selected())
            } else {
                line
            }
        })
        .map(|line| flow::fit_line(line, width, ctx.glyphs.ellipsis))
        .collect();
    let title = stream_title(ctx, errors.len(), offset);
    let shown = lines.len() as u16;
    let p = Paragraph::new(lines).block(block(&title, app.stream.focused, ctx));
    frame.render_widget(p, area);
    let lines = Rect::new(area.x + 1, area.y + 1, area.width.saturating_sub(2), shown);
    super::note_hits(ctx, |h| (h.errors, h.first_error) = (lines, offset));
}

fn error_line<'a>(e: &'a Event, ctx: &Ctx) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!(" {} ", e.at.format("%H:%M:%S")), ctx.theme.dim()),
        Span::styled(
            format!("{} ", e.job_id.as_deref().unwrap_or("-")),
            ctx.theme.text(),
        ),
        Span::styled(e.message.as_str(), ctx.theme.critical()),
    ])
}

/// "Live errors", with the filter, how far back the view is, and the key that focuses it.
fn stream_title(ctx: &Ctx, count: usize, offset: usize) -> String {
    let dot = ctx.glyphs.dot;
    let mut title = String::from("Live errors");
    if !ctx.app.stream.filter.is_empty() {
        title.push_str(&format!(" {dot} \"{}\" {count}", ctx.app.stream.filter));
    }
    if offset > 0 {
        title.push_str(&format!(" {dot} {offset} newer above"));
    }
    let key = super::short_key(ctx, Action::Stream);
    if !ctx.app.stream.focused && !key.is_empty() {
        title.push_str(&format!(" {dot} {key} focus"));
    }
    title
}
