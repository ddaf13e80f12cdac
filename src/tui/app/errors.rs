//! Group by error: the error classes with the most failures in the series' window, one of
//! which Enter makes the Live pane's filter (`error:CLASS`).

use super::{App, Effect, Mode, Outcome, Pane};
use crate::model::ErrorClassCount;
use crate::tui::action::Action;

impl App {
    /// The top error classes of the last `/series` answer (none before it or from a service
    /// without it).
    pub fn top_errors(&self) -> &[ErrorClassCount] {
        self.data
            .as_ref()
            .and_then(|d| d.series.as_ref())
            .map_or(&[], |s| s.top_error_classes.as_slice())
    }

    pub(super) fn open_errors(&mut self) -> Option<Effect> {
        if self.top_errors().is_empty() {
            let why = if self.data.as_ref().is_some_and(|d| d.series.is_some()) {
                "no failures in the window: no error class to filter by"
            } else {
                "the service sent no series (GET /series): no error classes to list"
            };
            return self.refuse(why);
        }
        self.mode = Mode::Errors { selected: 0 };
        None
    }

    pub(super) fn on_errors_key(&mut self, action: Option<Action>) -> Option<Effect> {
        let Mode::Errors { selected } = &mut self.mode else {
            return None;
        };
        let last = self
            .data
            .as_ref()
            .and_then(|d| d.series.as_ref())
            .map_or(0, |s| s.top_error_classes.len().saturating_sub(1));
        match action? {
            Action::Up | Action::PageUp => *selected = selected.saturating_sub(1),
            Action::Down | Action::PageDown => *selected = (*selected + 1).min(last),
            Action::Top => *selected = 0,
            Action::Bottom => *selected = last,
            Action::Apply => {
                let at = *selected;
                return self.filter_by_error(at);
            }
            Action::Quit => return Some(Effect::Quit),
            Action::Refresh => return Some(Effect::Refresh),
            _ => self.mode = Mode::Normal,
        }
        None
    }

    /// The Live pane, filtered by the error class at `at` in the list.
    fn filter_by_error(&mut self, at: usize) -> Option<Effect> {
        let class = self.top_errors().get(at)?.error_class.clone();
        self.mode = Mode::Normal;
        self.focus = Pane::Live;
        let effect = self.apply_filter(&format!("error:{class}"));
        self.last = Some(Outcome {
            ok: true,
            text: format!("showing the jobs failing with {class}"),
        });
        effect
    }
}
