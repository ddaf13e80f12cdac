//! The mouse, where the terminal reports it and the operator asked for it (`--mouse`): the
//! wheel scrolls what is under the pointer (the job table, the error stream, the Analytics
//! pane) or the open overlay (help, detail, lists); a click selects a job row or an error
//! line, or focuses the pane under it. Never required: every mouse action has a key.

use super::{Action, App, Effect, Mode, Pane};
use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

/// Where the last frame drew the parts the mouse can point at (empty when not drawn).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HitAreas {
    /// The job table's rows (inside its frame, under its header).
    pub jobs: Rect,
    /// The index into the visible jobs of the table's first row.
    pub first_job: usize,
    /// The error stream's lines, and how many errors are above its first line.
    pub errors: Rect,
    pub first_error: usize,
    /// Each pane's area, in the order of [`Pane::TABS`] (empty when not shown).
    pub panes: [Rect; 4],
}

impl HitAreas {
    /// Notes where `pane` was drawn.
    pub fn set_pane(&mut self, pane: Pane, area: Rect) {
        if let Some(i) = Pane::TABS.iter().position(|p| *p == pane) {
            self.panes[i] = area;
        }
    }

    fn pane_at(&self, at: Position) -> Option<Pane> {
        let i = self.panes.iter().position(|area| area.contains(at))?;
        Some(Pane::TABS[i])
    }
}

/// The `n`th row of `area` that `at` is on.
fn row_in(area: Rect, at: Position) -> usize {
    usize::from(at.y.saturating_sub(area.y))
}

impl App {
    /// A mouse event from the terminal.
    pub fn on_mouse(&mut self, event: MouseEvent) -> Option<Effect> {
        let at = Position::new(event.column, event.row);
        match event.kind {
            MouseEventKind::ScrollDown => self.wheel(Action::Down, at),
            MouseEventKind::ScrollUp => self.wheel(Action::Up, at),
            MouseEventKind::Down(MouseButton::Left) if self.mode == Mode::Normal => {
                self.click(at);
                None
            }
            _ => None,
        }
    }

    /// The wheel: in the normal mode it scrolls the part under the pointer (which takes the
    /// focus); over an overlay it scrolls the overlay, like the movement keys.
    fn wheel(&mut self, action: Action, at: Position) -> Option<Effect> {
        if self.mode == Mode::Normal {
            let hits = self.hits.get();
            if hits.errors.contains(at) {
                self.focus = Pane::Live;
                self.stream.focused = true;
            } else if let Some(pane) = hits.pane_at(at) {
                self.focus = pane;
                self.stream.focused = false;
            }
        }
        self.on_list_action(Some(action))
    }

    /// A click selects the job row or the error line under it, or focuses the pane.
    fn click(&mut self, at: Position) {
        let hits = self.hits.get();
        if hits.jobs.contains(at) {
            let row = hits.first_job + row_in(hits.jobs, at);
            self.focus = Pane::Live;
            self.stream.focused = false;
            if row < self.visible.len() {
                self.selected = row;
                self.selected_id = self.selected_job().map(|j| j.job_id.clone());
            }
        } else if hits.errors.contains(at) {
            self.focus = Pane::Live;
            self.stream.focused = true;
            self.highlight_error(hits.first_error + row_in(hits.errors, at));
        } else if let Some(pane) = hits.pane_at(at) {
            self.focus = pane;
            self.stream.focused = false;
        }
    }
}
