//! Drawing: pure functions of the UI state and a clock, one pane per file.
//!
//! Wide terminals (at least [`WIDE_MIN_WIDTH`] columns):
//!
//! ```text
//! ┌ header: URL · connection · role · (errors - processed / total) ┐  HEADER_HEIGHT
//! ├ Strategy ──────┬ Live recommendations ─────┬ Analytics & alerts ┤
//! │ LEFT_PERCENT   │ fill (≥ CENTRE_MIN)       │ RIGHT_PERCENT      │
//! ├────────────────┴───────────────────────────┴────────────────────┤
//! └ footer: focused pane's keys · remaining work · last action     ┘  FOOTER_HEIGHT
//! ```
//!
//! Narrower terminals show the same panes one at a time under a tab bar
//! (`1 Strategy  2 Live  3 Analytics  4 Alerts`, [`TABS_HEIGHT`]). Below [`MIN_WIDTH`] ×
//! [`MIN_HEIGHT`] only "terminal too small (need W×H)" is shown. Every render function has the
//! signature `fn render(frame, area, &Ctx)`, reads state and never does I/O.

mod alerts;
mod analytics;
mod flow;
mod footer;
mod glyphs;
mod header;
mod import;
mod incident;
mod job;
mod live;
mod overlay;
mod series;
mod strategy;
mod trend;

pub use glyphs::Glyphs;

use super::app::{App, HitAreas, Pane};
use super::theme::Theme;
use crate::model::Summary;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Tabs, Wrap};

/// Narrowest terminal the console draws in.
pub const MIN_WIDTH: u16 = 60;
/// Shortest terminal the console draws in.
pub const MIN_HEIGHT: u16 = 16;
/// From this width on, all three panes are shown side by side.
pub const WIDE_MIN_WIDTH: u16 = 120;
pub const HEADER_HEIGHT: u16 = 2;
/// Footer rows; one more while a failed action's message needs a second line.
pub const FOOTER_HEIGHT: u16 = 2;
pub const TABS_HEIGHT: u16 = 1;
pub const LEFT_PERCENT: u16 = 25;
pub const RIGHT_PERCENT: u16 = 24;
pub const CENTRE_MIN: u16 = 50;

/// Everything a render function may read.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
    pub glyphs: &'a Glyphs,
    /// The clock used for countdowns and ages (fixed in tests).
    pub now: DateTime<Utc>,
}

/// True when a terminal of this width shows the three panes.
pub fn is_wide(width: u16) -> bool {
    width >= WIDE_MIN_WIDTH
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame, ctx: &Ctx) {
    let area = frame.area();
    ctx.app.hits.set(HitAreas::default());
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, ctx);
        ctx.glyphs.ascii_only(frame.buffer_mut());
        return;
    }
    let wide = is_wide(area.width);
    let tabs = if wide { 0 } else { TABS_HEIGHT };
    let [head, tab_bar, body, foot] = Layout::vertical([
        Constraint::Length(HEADER_HEIGHT),
        Constraint::Length(tabs),
        Constraint::Min(0),
        Constraint::Length(footer::height(ctx.app, area.width)),
    ])
    .areas(area);
    header::render(frame, head, ctx);
    if wide {
        three_panes(frame, body, ctx);
    } else {
        tab_row(frame, tab_bar, ctx);
        pane(frame, body, ctx, ctx.app.focus);
    }
    footer::render(frame, foot, ctx);
    overlay::render(frame, area, ctx);
    ctx.glyphs.ascii_only(frame.buffer_mut());
}

/// Tells the app what the layout of a terminal of this size holds: panes or tabs, the job
/// table's rows, how much of the help fits. Called before each draw.
pub fn fit(app: &mut App, width: u16, height: u16) {
    app.wide = is_wide(width);
    let footer_grows = footer::height(app, width) - FOOTER_HEIGHT;
    let (table, stream) = live_heights(width, height, app.stream.focused);
    app.page_rows = usize::from(table.saturating_sub(3)).saturating_sub(usize::from(footer_grows));
    app.stream_rows = usize::from(stream);
    app.help_fit = overlay::help_fit(app, width, height);
    app.preview_fit = overlay::preview_fit(&app.mode, height);
}

/// Rows of the job table (with its frame and header) and lines of the error stream for the
/// given terminal size.
fn live_heights(width: u16, height: u16, stream_focused: bool) -> (u16, u16) {
    let body = height.saturating_sub(HEADER_HEIGHT + FOOTER_HEIGHT);
    let body = if is_wide(width) {
        body
    } else {
        body.saturating_sub(TABS_HEIGHT)
    };
    live::heights(body, stream_focused)
}

fn three_panes(frame: &mut Frame, body: Rect, ctx: &Ctx) {
    let [left, centre, right] = Layout::horizontal([
        Constraint::Percentage(LEFT_PERCENT),
        Constraint::Min(CENTRE_MIN),
        Constraint::Percentage(RIGHT_PERCENT),
    ])
    .areas(body);
    pane(frame, left, ctx, Pane::Strategy);
    pane(frame, centre, ctx, Pane::Live);
    pane(frame, right, ctx, Pane::Analytics);
}

fn pane(frame: &mut Frame, area: Rect, ctx: &Ctx, which: Pane) {
    note_hits(ctx, |h| h.set_pane(which, area));
    match which {
        Pane::Strategy => strategy::render(frame, area, ctx),
        Pane::Live => live::render(frame, area, ctx),
        Pane::Analytics => analytics::render(frame, area, ctx),
        Pane::Alerts => alerts::render(frame, area, ctx),
    }
}

fn tab_row(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let titles = Pane::TABS.iter().enumerate().map(|(i, p)| {
        let badge = if *p == Pane::Alerts {
            alerts::badge(ctx)
        } else {
            String::new()
        };
        Line::from(format!("{} {}{badge}", i + 1, short_title(*p)))
    });
    let selected = Pane::TABS.iter().position(|p| *p == ctx.app.focus);
    let tabs = Tabs::new(titles)
        .select(selected)
        .style(ctx.theme.dim())
        .highlight_style(ctx.theme.selected())
        .divider(Span::raw(" "));
    frame.render_widget(tabs, area);
}

fn short_title(p: Pane) -> &'static str {
    match p {
        Pane::Live => "Live",
        other => other.title(),
    }
}

/// The shortest key of an action (the plain one, which also works under screen, tmux and
/// `docker attach`), or an empty string when it is unbound.
pub fn short_key(ctx: &Ctx, action: super::action::Action) -> String {
    let keys = ctx.app.keymap.keys(action);
    keys.iter()
        .map(ToString::to_string)
        .min_by_key(String::len)
        .unwrap_or_default()
}

/// Notes where something the mouse can point at was drawn.
pub fn note_hits(ctx: &Ctx, note: impl FnOnce(&mut HitAreas)) {
    let mut hits = ctx.app.hits.get();
    note(&mut hits);
    ctx.app.hits.set(hits);
}

/// A pane of lines made from the service's summary: its frame, "no data yet" before the first
/// answer, and every line too wide for the pane shortened with an ellipsis instead of cut off.
pub fn summary_pane<'a>(
    frame: &mut Frame,
    area: Rect,
    ctx: &Ctx<'a>,
    (title, focused): (&str, bool),
    lines: impl FnOnce(&'a Summary, Rect) -> Vec<Line<'a>>,
) {
    let outer = block(title, focused, ctx);
    let inner = outer.inner(area);
    let lines = match &ctx.app.data {
        Some(data) => lines(&data.summary, inner),
        None => vec![Line::styled(" no data yet", ctx.theme.dim())],
    };
    let width = usize::from(inner.width);
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|l| flow::fit_line(l, width, ctx.glyphs.ellipsis))
        .collect();
    frame.render_widget(Paragraph::new(lines).block(outer), area);
}

/// A pane's frame: title, focus shown by colour and bold (and `»` without colour).
pub fn block<'a>(title: &'a str, focused: bool, ctx: &Ctx) -> Block<'a> {
    let marker = if focused && ctx.theme.no_color {
        "» "
    } else {
        ""
    };
    Block::default()
        .borders(Borders::ALL)
        .border_set(ctx.glyphs.border)
        .border_style(ctx.theme.border(focused))
        .title(Span::styled(
            format!(" {marker}{title} "),
            ctx.theme.title(),
        ))
}

fn too_small(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let x = ctx.glyphs.times;
    let text = vec![
        Line::styled(
            format!("terminal too small (need {MIN_WIDTH}{x}{MIN_HEIGHT})"),
            ctx.theme.critical(),
        ),
        Line::from(format!("this one is {}{x}{}", area.width, area.height)),
        Line::styled("enlarge the window, or q to quit", ctx.theme.dim()),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}
