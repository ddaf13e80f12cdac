//! Pausing the selected job's queue (or queue × error class) for a while, and resuming a
//! pause in force from the list the service keeps in `/summary`.

use super::form::{Input, ReasonForm, Reasoned};
use super::{App, Effect, Mode, Outcome};
use crate::model::{PauseRequest, parse_duration};

/// Which part of the pause dialog has the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseField {
    Scope,
    Duration,
    Reason,
}

/// The pause dialog: the scope (the job's queue, or queue and error class), how long, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseForm {
    pub queue: String,
    pub error_class: String,
    /// Narrowed to the job's error class (else the whole queue).
    pub with_error: bool,
    /// Empty: until resumed.
    pub duration: Input,
    pub reason: Input,
    pub field: PauseField,
    pub error: Option<String>,
}

impl PauseForm {
    pub fn new(queue: &str, error_class: &str) -> PauseForm {
        PauseForm {
            queue: queue.to_string(),
            error_class: error_class.to_string(),
            with_error: true,
            duration: Input::with("10m"),
            reason: Input::default(),
            field: PauseField::Scope,
            error: None,
        }
    }

    /// `webhooks/connection_refused` or `webhooks`.
    pub fn scope_label(&self) -> String {
        if self.with_error {
            format!("{}/{}", self.queue, self.error_class)
        } else {
            self.queue.clone()
        }
    }

    pub fn next_field(&mut self, step: isize) {
        const ORDER: [PauseField; 3] =
            [PauseField::Scope, PauseField::Duration, PauseField::Reason];
        let at = ORDER.iter().position(|f| *f == self.field).unwrap_or(0) as isize;
        self.field = ORDER[(at + step).rem_euclid(3) as usize];
    }

    /// The input that has the cursor (none on the scope field, which arrows toggle).
    pub fn current(&mut self) -> Option<&mut Input> {
        match self.field {
            PauseField::Scope => None,
            PauseField::Duration => Some(&mut self.duration),
            PauseField::Reason => Some(&mut self.reason),
        }
    }

    /// The request once what was typed is complete: a reason, a duration that parses.
    pub fn request(&self) -> Result<PauseRequest, String> {
        let duration = self.duration.text.trim();
        if !duration.is_empty() {
            parse_duration(duration).map_err(|e| format!("for: {e}"))?;
        }
        let reason = self.reason.text.trim();
        if reason.is_empty() {
            return Err("a reason is required: it goes to the audit log".into());
        }
        Ok(PauseRequest {
            queue: self.queue.clone(),
            error_class: self.with_error.then(|| self.error_class.clone()),
            job_type: None,
            until: None,
            r#for: (!duration.is_empty()).then(|| duration.to_string()),
            reason: reason.to_string(),
        })
    }
}

impl App {
    /// `P`: the pause dialog for the selected job's queue and error class.
    pub(super) fn open_pause(&mut self) -> Option<Effect> {
        match self.selected_job() {
            Some(job) => {
                let form = PauseForm::new(&job.queue, &job.error_class);
                self.open(Mode::Pause(form))
            }
            None => self.refuse("no job selected: select a job of the queue to pause"),
        }
    }

    pub(super) fn submit_pause(&mut self, mut form: PauseForm) -> Option<Effect> {
        match form.request() {
            Ok(req) => Some(Effect::Call(super::Call::Pause(Box::new(req)))),
            Err(why) => {
                form.error = Some(why);
                self.open(Mode::Pause(form))
            }
        }
    }

    /// `U`: the pauses in force, to pick one to resume.
    pub(super) fn open_resume(&mut self) -> Option<Effect> {
        if self.pause_count() == 0 {
            return self.refuse("no pause in force: nothing to resume");
        }
        self.open(Mode::Resume { selected: 0 })
    }

    /// The pauses in force, as the service listed them at the last poll.
    pub fn pause_count(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.summary.pauses.len())
    }

    pub(super) fn on_resume_key(&mut self, action: Option<super::Action>) -> Option<Effect> {
        use super::Action;
        let count = self.pause_count();
        let Mode::Resume { selected } = &mut self.mode else {
            return None;
        };
        match action? {
            Action::Up | Action::PageUp | Action::Top => *selected = selected.saturating_sub(1),
            Action::Down | Action::PageDown | Action::Bottom => {
                *selected = (*selected + 1).min(count.saturating_sub(1))
            }
            Action::Apply | Action::Resume => return self.ask_resume_reason(),
            Action::Quit => return Some(Effect::Quit),
            _ => self.mode = Mode::Normal,
        }
        None
    }

    fn ask_resume_reason(&mut self) -> Option<Effect> {
        let Mode::Resume { selected } = self.mode else {
            return None;
        };
        let pause = self
            .data
            .as_ref()
            .and_then(|d| d.summary.pauses.get(selected));
        let Some(p) = pause else {
            return self.refuse("that pause has ended");
        };
        let what = Reasoned::Resume {
            pause_id: p.id.clone(),
            scope: p.scope.label(),
        };
        self.open(Mode::Reason(ReasonForm::new(what)))
    }

    pub(super) fn refuse(&mut self, why: &str) -> Option<Effect> {
        self.last = Some(Outcome {
            ok: false,
            text: why.to_string(),
        });
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_names_its_scope_and_needs_a_reason() {
        let mut form = PauseForm::new("webhooks", "connection_refused");
        assert_eq!(form.scope_label(), "webhooks/connection_refused");
        assert!(form.request().unwrap_err().contains("reason"));
        form.reason = Input::with("provider down");
        let req = form.request().unwrap();
        assert_eq!(req.error_class.as_deref(), Some("connection_refused"));
        assert_eq!(req.r#for.as_deref(), Some("10m"));
        form.with_error = false;
        form.duration.clear();
        let req = form.request().unwrap();
        assert_eq!((req.error_class, req.r#for), (None, None));
        form.duration = Input::with("soon");
        assert!(
            form.request()
                .unwrap_err()
                .starts_with("for: invalid duration")
        );
    }
}
