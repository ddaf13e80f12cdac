//! Footer: the keys that matter in the focused pane, remaining work, the last action's result.

use super::Ctx;
use crate::tui::action::Action;
use crate::tui::app::{Mode, Pane};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let lines = vec![keys_line(ctx), status_line(ctx)];
    frame.render_widget(Paragraph::new(lines), area);
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
        ],
        Pane::Strategy => &[Action::Retrain, Action::Export, Action::Refresh],
        Pane::Analytics | Pane::Alerts => &[Action::Alerts, Action::AckAlert, Action::Refresh],
    }
}

const ALWAYS: [Action; 3] = [Action::NextPane, Action::Help, Action::Quit];

fn keys_line<'a>(ctx: &'a Ctx) -> Line<'a> {
    let t = ctx.theme;
    if let Mode::Filter(input) = &ctx.app.mode {
        return Line::from(vec![
            Span::styled(" filter: ", t.title()),
            Span::styled(format!("{}_", input.text), t.text()),
            Span::styled(
                "  enter apply  esc cancel  (queue:X state:Y error:Z or text)",
                t.dim(),
            ),
        ]);
    }
    let mut spans = vec![Span::raw(" ")];
    for action in pane_actions(ctx.app.focus).iter().chain(ALWAYS.iter()) {
        let key = super::short_key(ctx, *action);
        if key.is_empty() {
            continue;
        }
        spans.push(Span::styled(key, t.accent()));
        spans.push(Span::styled(format!(" {}  ", short(*action)), t.dim()));
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
        Action::NextPane => "pane",
        Action::Help => "help",
        Action::Quit => "quit",
        other => other.name(),
    }
}

fn status_line<'a>(ctx: &'a Ctx) -> Line<'a> {
    let t = ctx.theme;
    let mut spans = vec![Span::raw(" ")];
    if let Some(data) = &ctx.app.data {
        let s = data.summary.status;
        spans.push(Span::styled("remaining ", t.dim()));
        spans.push(Span::styled(
            s.total.saturating_sub(s.processed).to_string(),
            t.title(),
        ));
        spans.push(Span::styled(format!(" {} ", ctx.glyphs.dot), t.dim()));
    }
    if !ctx.app.filter.is_empty() {
        spans.push(Span::styled(
            format!("filter \"{}\" ", ctx.app.filter),
            t.info(),
        ));
        spans.push(Span::styled(format!("{} ", ctx.glyphs.dot), t.dim()));
    }
    match &ctx.app.last {
        Some(o) if o.ok => {
            spans.push(Span::styled(
                format!("{} {}", ctx.glyphs.ok, o.text),
                t.ok(),
            ));
        }
        Some(o) => spans.push(Span::styled(
            format!("{} {}", ctx.glyphs.fail, o.text),
            t.critical(),
        )),
        None => spans.push(Span::styled("no action yet", t.dim())),
    }
    Line::from(spans)
}
