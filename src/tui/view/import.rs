//! The import dialogs: the file to read, then the service's dry-run diff to confirm.
//!
//! ```text
//! ╭ Import rules ─────────────────────────────────────────────╮
//! │Import strategy smart with 4 policies from rules.toml?     │
//! │3 fields change (checked by the service, nothing applied): │
//! │ policies[1].base_delay_ms: 5000 -> 2000                   │
//! │ …                                                         │
//! │y/enter apply  ↑↓ scroll  esc cancel                       │
//! ╰───────────────────────────────────────────────────────────╯
//! ```

use super::Ctx;
use super::flow::fit_line;
use super::overlay::{dialog, field};
use crate::present::export::change_line;
use crate::present::sanitize::sanitize;
use crate::tui::app::{ImportCheck, Input};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

/// Rows of the confirmation around the diff: border, question, count, hint, and a margin.
const CHROME: u16 = 7;

pub fn file_form(frame: &mut Frame, area: Rect, ctx: &Ctx, path: &Input, error: Option<&str>) {
    let mut lines = vec![
        Line::styled(
            "Import rules (strategy, policies, guardrails) from a file written by export",
            ctx.theme.title(),
        ),
        field("file", path, true, ctx),
        Line::styled(
            "        the service checks it first and shows what would change",
            ctx.theme.dim(),
        ),
    ];
    if let Some(e) = error {
        lines.push(Line::styled(
            format!("{} {e}", ctx.glyphs.fail),
            ctx.theme.critical(),
        ));
    }
    lines.push(Line::styled("enter check  esc cancel", ctx.theme.dim()));
    dialog(frame, area, ctx, "Import rules", lines);
}

/// The diff rows that fit from `scroll` on, with what is above and below counted.
pub fn confirm(frame: &mut Frame, area: Rect, ctx: &Ctx, check: &ImportCheck, scroll: usize) {
    let n = check.changes.len();
    let room = usize::from(area.height.saturating_sub(CHROME)).max(1);
    let max = n.saturating_sub(room);
    ctx.app.import_max.set(max);
    let at = scroll.min(max);
    let mut lines = vec![Line::styled(
        format!("Import {}?", sanitize(&check.what())),
        ctx.theme.title(),
    )];
    let count = match n {
        0 => "no field changes (checked by the service, nothing applied yet)".to_string(),
        1 => "1 field changes (checked by the service, nothing applied yet):".to_string(),
        n => format!("{n} fields change (checked by the service, nothing applied yet):"),
    };
    lines.push(Line::styled(count, ctx.theme.dim()));
    // Each change on one row (long values cut), so the rows counted are the rows drawn.
    let width = usize::from(area.width.saturating_sub(8));
    for c in check.changes.iter().skip(at).take(room) {
        let line = Line::styled(format!(" {}", sanitize(&change_line(c))), ctx.theme.text());
        lines.push(fit_line(line, width, ctx.glyphs.ellipsis));
    }
    let below = n.saturating_sub(at + room);
    let more = match (at, below) {
        (0, 0) => String::new(),
        (a, b) => format!("{a} above, {b} below  {} scroll  ", ctx.glyphs.up_down),
    };
    lines.push(Line::styled(
        format!("{more}y/enter apply  esc cancel"),
        ctx.theme.dim(),
    ));
    dialog(frame, area, ctx, "Import rules", lines);
}
