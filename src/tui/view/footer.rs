//! Footer: the keys that matter in the focused pane, remaining work, the last action's result.
//!
//! A failed action's message (cause first, see `tui::perform`) that does not fit on the status
//! line gets a second row: the footer grows by one line rather than cut the reason off.

use super::{Ctx, FOOTER_HEIGHT, Glyphs};
use crate::tui::action::Action;
use crate::tui::app::{App, Mode, Pane};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let [keys, status] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    frame.render_widget(Paragraph::new(keys_line(ctx, keys.width)), keys);
    let status_line = Paragraph::new(status_line(ctx));
    let status_line = if status.height > 1 {
        status_line.wrap(Wrap { trim: false })
    } else {
        status_line
    };
    frame.render_widget(status_line, status);
}

/// Rows of the footer on a terminal `width` columns wide: [`FOOTER_HEIGHT`], plus one while the
/// status line (remaining work, filter, last action's result) is too long for one line. Glyph sets have equal widths, so the
/// Unicode set measures for both.
pub fn height(app: &App, width: u16) -> u16 {
    let text: usize = status_segments(app, &Glyphs::unicode())
        .iter()
        .map(|(text, _)| Span::raw(text.as_str()).width())
        .sum();
    if text > usize::from(width) {
        FOOTER_HEIGHT + 1
    } else {
        FOOTER_HEIGHT
    }
}

/// The actions worth listing for the focused pane, most useful first.
fn pane_actions(pane: Pane) -> &'static [Action] {
    match pane {
        Pane::Live => &[
            Action::Apply,
            Action::Override,
            Action::Preview,
            Action::RetryNow,
            Action::Kill,
            Action::UseStatic,
            Action::Filter,
            Action::Bulk,
            Action::Pause,
            Action::Resume,
            Action::Stream,
            Action::NextPage,
        ],
        Pane::Strategy => &[Action::Retrain, Action::Export, Action::Refresh],
        Pane::Analytics => &[
            Action::Errors,
            Action::Alerts,
            Action::AckAlert,
            Action::Refresh,
        ],
        Pane::Alerts => &[Action::Alerts, Action::AckAlert, Action::Refresh],
    }
}

/// The keys of the error stream while it has the focus, and what they do there.
const STREAM_KEYS: [(Action, &str); 5] = [
    (Action::Down, "older"),
    (Action::Up, "newer"),
    (Action::Filter, "filter errors"),
    (Action::Apply, "job detail"),
    (Action::Stream, "back to jobs"),
];

const ALWAYS: [Action; 3] = [Action::NextPane, Action::Help, Action::Quit];

/// The focused pane's keys, most useful first, then pane / help / quit, which always show: on a
/// narrow terminal the pane's least useful keys are left out whole (`?` lists them all).
fn keys_line<'a>(ctx: &'a Ctx, width: u16) -> Line<'a> {
    let t = ctx.theme;
    if let Mode::StreamFilter(input) = &ctx.app.mode {
        return Line::from(vec![
            Span::styled(" error stream filter: ", t.title()),
            Span::styled(format!("{}_", input.text), t.text()),
            Span::styled(
                "  enter apply  esc cancel  ctrl+u clear  words in the job id or message",
                t.dim(),
            ),
        ]);
    }
    if let Mode::Filter(input) = &ctx.app.mode {
        return Line::from(vec![
            Span::styled(" filter: ", t.title()),
            Span::styled(format!("{}_", input.text), t.text()),
            Span::styled(
                "  enter apply  esc cancel  ctrl+u clear  queue:/state:/error: exact, words: part",
                t.dim(),
            ),
        ]);
    }
    let more_pages = ctx
        .app
        .data
        .as_ref()
        .is_some_and(|d| d.jobs.next_cursor.is_some());
    let hints = |actions: &[Action]| -> Vec<(String, &'static str)> {
        actions
            .iter()
            .filter(|a| ctx.app.offers(**a))
            .filter(|a| **a != Action::NextPage || more_pages)
            .map(|a| (super::short_key(ctx, *a), short(*a)))
            .filter(|(key, _)| !key.is_empty())
            .collect()
    };
    let hint_width = |(key, name): &(String, &str)| Span::raw(format!("{key} {name}  ")).width();
    let always = hints(&ALWAYS);
    let mut room = usize::from(width)
        .saturating_sub(1)
        .saturating_sub(always.iter().map(hint_width).sum());
    let pane_hints = if ctx.app.stream.focused && ctx.app.focus == Pane::Live {
        STREAM_KEYS
            .iter()
            .map(|(a, name)| (super::short_key(ctx, *a), *name))
            .filter(|(key, _)| !key.is_empty())
            .collect()
    } else {
        hints(pane_actions(ctx.app.focus))
    };
    let pane: Vec<_> = pane_hints
        .into_iter()
        .take_while(|hint| {
            let fits = hint_width(hint) <= room;
            room = room.saturating_sub(hint_width(hint));
            fits
        })
        .collect();
    let mut spans = vec![Span::raw(" ")];
    for (key, name) in pane.into_iter().chain(always) {
        spans.push(Span::styled(key, t.accent()));
        spans.push(Span::styled(format!(" {name}  "), t.dim()));
    }
    Line::from(spans)
}

fn short(action: Action) -> &'static str {
    match action {
        Action::Apply => "apply",
        Action::Override => "override",
        Action::Preview => "preview",
        Action::RetryNow => "retry now",
        Action::Kill => "kill",
        Action::UseStatic => "static",
        Action::Filter => "filter",
        Action::Retrain => "retrain",
        Action::Export => "export",
        Action::Refresh => "refresh",
        Action::Alerts => "alerts",
        Action::AckAlert => "ack",
        Action::Errors => "errors",
        Action::Stream => "error stream",
        Action::NextPage => "next page",
        Action::NextPane => "pane",
        Action::Help => "help",
        Action::Quit => "quit",
        other => other.name(),
    }
}

/// How a part of the status line is drawn.
#[derive(Debug, Clone, Copy)]
enum Tone {
    Dim,
    Strong,
    Info,
    Ok,
    Bad,
}

impl Tone {
    fn style(self, t: &Theme) -> Style {
        match self {
            Tone::Dim => t.dim(),
            Tone::Strong => t.title(),
            Tone::Info => t.info(),
            Tone::Ok => t.ok(),
            Tone::Bad => t.critical(),
        }
    }
}

fn status_line<'a>(ctx: &'a Ctx) -> Line<'a> {
    let spans: Vec<Span> = status_segments(ctx.app, ctx.glyphs)
        .into_iter()
        .map(|(text, tone)| Span::styled(text, tone.style(ctx.theme)))
        .collect();
    Line::from(spans)
}

/// Remaining work, the filter, the last action's result.
fn status_segments(app: &App, glyphs: &Glyphs) -> Vec<(String, Tone)> {
    let mut parts = vec![(" ".to_string(), Tone::Dim)];
    if let Some(data) = &app.data {
        let s = data.summary.status;
        parts.push(("remaining ".into(), Tone::Dim));
        parts.push((
            s.total.saturating_sub(s.processed).to_string(),
            Tone::Strong,
        ));
        parts.push((format!(" {} ", glyphs.dot), Tone::Dim));
    }
    if !app.filter.is_empty() {
        parts.push((format!("filter \"{}\" ", app.filter), Tone::Info));
        parts.push((format!("{} ", glyphs.dot), Tone::Dim));
    }
    if let Some(e) = &app.filter_error {
        parts.push((format!("{} {e} ", glyphs.fail), Tone::Bad));
        parts.push((format!("{} ", glyphs.dot), Tone::Dim));
    }
    parts.push(match &app.last {
        Some(o) if o.ok => (format!("{} {}", glyphs.ok, o.text), Tone::Ok),
        Some(o) => (format!("{} {}", glyphs.fail, o.text), Tone::Bad),
        None => ("no action yet".into(), Tone::Dim),
    });
    parts
}
