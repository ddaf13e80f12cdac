//! The job detail: opened on the selected job, filled by one fetch (`GET /jobs/{id}` and the
//! audit log's entries about it), scrolled, and the place to copy the job's full id from.

use super::{Action, App, Call, Effect, Mode, Outcome};
use crate::tui::state::JobInfo;

impl App {
    /// `i`: fetch and show the selected job's detail.
    pub(super) fn open_detail(&mut self) -> Option<Effect> {
        let Some(job) = self.selected_job() else {
            return self.refuse("no job selected");
        };
        let job_id = job.job_id.clone();
        self.mode = Mode::Loading(format!("reading {job_id}"));
        Some(Effect::Call(Call::JobInfo(job_id)))
    }

    /// The detail arrived (or could not be read); shown if the operator still waits for it.
    pub fn on_job_info(&mut self, job_id: String, result: Result<Box<JobInfo>, String>) {
        if matches!(self.mode, Mode::Loading(_)) {
            self.detail_max.set(0);
            self.mode = Mode::Detail {
                job_id,
                result,
                scroll: 0,
            };
        }
    }

    /// `c`: the selected job's id (or the open detail's) to the clipboard.
    pub(super) fn copy_selected_id(&mut self) -> Option<Effect> {
        let id = match &self.mode {
            Mode::Detail { job_id, .. } => Some(job_id.clone()),
            _ => self.selected_job().map(|j| j.job_id.clone()),
        };
        match id {
            Some(id) => Some(Effect::Copy(id)),
            None => self.refuse("no job selected"),
        }
    }

    /// The terminal was asked to copy `text`; whether it can is up to the terminal.
    pub fn on_copied(&mut self, text: &str, result: std::io::Result<()>) {
        self.last = Some(match result {
            Ok(()) => Outcome {
                ok: true,
                text: format!(
                    "sent {text} to the clipboard (OSC 52; if your terminal ignores it, select \
                     the id in the detail, i)"
                ),
            },
            Err(e) => Outcome {
                ok: false,
                text: format!("could not write the copy sequence: {e}"),
            },
        });
    }

    /// Movement keys scroll the detail, `c` copies the id, any other key closes it.
    pub(super) fn on_detail_key(&mut self, action: Option<Action>) -> Option<Effect> {
        let max = self.detail_max.get();
        let page = self.page_rows.max(1);
        let Mode::Detail { scroll, .. } = &mut self.mode else {
            return None;
        };
        *scroll = match action {
            Some(Action::Up) => scroll.saturating_sub(1),
            Some(Action::Down) => *scroll + 1,
            Some(Action::PageUp) => scroll.saturating_sub(page),
            Some(Action::PageDown) => *scroll + page,
            Some(Action::Top) => 0,
            Some(Action::Bottom) => max,
            Some(Action::CopyId) => return self.copy_selected_id(),
            Some(Action::Quit) => return Some(Effect::Quit),
            _ => {
                self.mode = Mode::Normal;
                return None;
            }
        }
        .min(max);
        None
    }
}
