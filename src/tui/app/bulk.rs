//! Bulk actions on the applied filter: the dialog (action, delay, reason), the service's
//! dry-run count, the confirmation (a kill is confirmed by typing the count), the request.
//!
//! The console never counts the jobs itself: the number asked for comes from the service's
//! dry run of the very request that is then sent, with `confirm` set to that count and the
//! dry run's `as_of`, so jobs that fail for the first time in between are left alone, and a
//! service where more of the counted jobs would change refuses instead of acting.

use super::form::Input;
use super::{App, Call, Effect, Mode, Outcome};
use crate::model::{BulkAction, BulkFilter, BulkRequest, BulkResult, parse_duration};

/// The actions offered, in the order the dialog cycles through them.
pub const BULK_ACTIONS: [BulkAction; 4] = [
    BulkAction::RetryNow,
    BulkAction::Kill,
    BulkAction::Override,
    BulkAction::ApplyStatic,
];

/// How the dialog and the question name an action.
pub fn verb(action: BulkAction) -> &'static str {
    match action {
        BulkAction::RetryNow => "retry now",
        BulkAction::Kill => "kill",
        BulkAction::Override => "override the delay of",
        BulkAction::ApplyStatic => "apply static backoff to",
    }
}

/// The service-side filter of a console filter: `queue:`, `state:`, `error:` and at most one
/// free word (the service matches it in the job id or the last error, case-sensitive).
pub fn bulk_filter(filter: &str) -> Result<BulkFilter, String> {
    let mut f = BulkFilter::default();
    let mut words = Vec::new();
    for term in filter.split_whitespace() {
        match term.split_once(':') {
            Some(("queue", v)) => f.queue = Some(v.to_string()),
            Some(("state", v)) => f.state = Some(v.to_string()),
            Some(("error", v)) => f.error_class = Some(v.to_string()),
            _ => words.push(term),
        }
    }
    match words.as_slice() {
        [] => {}
        [word] => f.text = Some((*word).to_string()),
        _ => {
            return Err(format!(
                "bulk needs a filter the service can apply: queue:, state:, error: and at most \
                 one word (found {}: {})",
                words.len(),
                words.join(" ")
            ));
        }
    }
    if f == BulkFilter::default() {
        return Err("apply a filter first (/): a bulk action acts on the filtered jobs".into());
    }
    Ok(f)
}

/// Which part of the bulk dialog has the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkField {
    Action,
    Delay,
    Reason,
}

/// The bulk dialog: what to do to the jobs the filter matches, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkForm {
    /// The console filter as typed, for the question and the result.
    pub filter: String,
    pub request_filter: BulkFilter,
    pub action: BulkAction,
    /// `override` only: how long from now.
    pub delay: Input,
    pub reason: Input,
    pub field: BulkField,
    /// Why the last Enter was refused (or what the service said about the dry run).
    pub error: Option<String>,
}

impl BulkForm {
    pub fn new(filter: &str, request_filter: BulkFilter) -> BulkForm {
        BulkForm {
            filter: filter.to_string(),
            request_filter,
            action: BulkAction::RetryNow,
            delay: Input::default(),
            reason: Input::default(),
            field: BulkField::Action,
            error: None,
        }
    }

    fn fields(&self) -> Vec<BulkField> {
        let mut fields = vec![BulkField::Action];
        if self.action == BulkAction::Override {
            fields.push(BulkField::Delay);
        }
        fields.push(BulkField::Reason);
        fields
    }

    pub fn next_field(&mut self, step: isize) {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.field).unwrap_or(0) as isize;
        self.field = fields[(at + step).rem_euclid(fields.len() as isize) as usize];
    }

    /// Arrow keys on the action field pick the next or previous action.
    pub fn cycle_action(&mut self, step: isize) {
        let at = BULK_ACTIONS
            .iter()
            .position(|a| *a == self.action)
            .unwrap_or(0) as isize;
        let n = BULK_ACTIONS.len() as isize;
        self.action = BULK_ACTIONS[(at + step).rem_euclid(n) as usize];
    }

    /// The input that has the cursor (none on the action field).
    pub fn current(&mut self) -> Option<&mut Input> {
        match self.field {
            BulkField::Action => None,
            BulkField::Delay => Some(&mut self.delay),
            BulkField::Reason => Some(&mut self.reason),
        }
    }

    /// The request, once what was typed is complete: a reason, and a delay for an override.
    fn request(&self, dry_run: bool, counted: Option<&BulkResult>) -> Result<BulkRequest, String> {
        let delay = if self.action == BulkAction::Override {
            let text = self.delay.text.trim();
            parse_duration(text).map_err(|e| format!("delay: {e}"))?;
            Some(text.to_string())
        } else {
            None
        };
        let reason = self.reason.text.trim();
        if reason.is_empty() {
            return Err("a reason is required: it goes to the audit log".into());
        }
        Ok(BulkRequest {
            filter: self.request_filter.clone(),
            action: self.action,
            delay,
            reason: reason.to_string(),
            dry_run,
            confirm: counted.map(|dry| dry.changed),
            as_of: counted.and_then(|dry| dry.as_of),
        })
    }
}

/// The service's dry run answered: confirm before acting.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkConfirm {
    pub form: BulkForm,
    pub dry: BulkResult,
    /// A kill is confirmed by typing the count here.
    pub typed: Input,
    pub error: Option<String>,
}

impl BulkConfirm {
    /// `kill 412 jobs matching queue:webhooks error:connection_refused?`
    pub fn question(&self) -> String {
        let jobs = if self.dry.changed == 1 { "job" } else { "jobs" };
        format!(
            "{} {} {jobs} matching {}?",
            verb(self.form.action),
            self.dry.changed,
            self.form.filter
        )
    }

    /// Whether the count must be typed (a kill cannot be undone).
    pub fn needs_typing(&self) -> bool {
        self.form.action == BulkAction::Kill
    }
}

impl App {
    /// `B`: the bulk dialog over the applied filter, or why there is none.
    pub(super) fn open_bulk(&mut self) -> Option<Effect> {
        match bulk_filter(&self.filter) {
            Ok(f) => self.open(Mode::Bulk(BulkForm::new(&self.filter, f))),
            Err(why) => {
                self.last = Some(Outcome {
                    ok: false,
                    text: why,
                });
                None
            }
        }
    }

    /// Enter in the bulk dialog: ask the service how many jobs the action would change.
    pub(super) fn submit_bulk(&mut self, mut form: BulkForm) -> Option<Effect> {
        match form.request(true, None) {
            Ok(req) => {
                self.mode = Mode::Loading(format!("counting the jobs matching {}", form.filter));
                self.sent_bulk = Some(form);
                Some(Effect::Call(Call::BulkDryRun(Box::new(req))))
            }
            Err(why) => {
                form.error = Some(why);
                self.open(Mode::Bulk(form))
            }
        }
    }

    /// The dry run's answer: the confirmation, "nothing to do", or the dialog again with
    /// the service's refusal.
    pub fn on_bulk_counted(&mut self, result: Result<BulkResult, String>) {
        let Some(mut form) = self.sent_bulk.take() else {
            return;
        };
        if !matches!(self.mode, Mode::Loading(_)) {
            return;
        }
        self.mode = match result {
            Err(why) => {
                form.error = Some(why);
                Mode::Bulk(form)
            }
            Ok(dry) if dry.changed == 0 => {
                self.last = Some(Outcome {
                    ok: true,
                    text: format!(
                        "bulk {}: no pending job matches {} ({} matched, finished); nothing sent",
                        form.action.as_str(),
                        form.filter,
                        dry.matched
                    ),
                });
                Mode::Normal
            }
            Ok(dry) => Mode::BulkConfirm(BulkConfirm {
                form,
                dry,
                typed: Input::default(),
                error: None,
            }),
        };
    }

    /// Keys of the confirmation: a kill takes the typed count and Enter; the other actions
    /// y / Enter; Esc (or n) cancels.
    pub(super) fn on_bulk_confirm_key(
        &mut self,
        key: ratatui::crossterm::event::KeyEvent,
    ) -> Option<Effect> {
        use ratatui::crossterm::event::KeyCode;
        let Mode::BulkConfirm(c) = &mut self.mode else {
            return None;
        };
        let cancel = match key.code {
            KeyCode::Esc => true,
            KeyCode::Char('n' | 'N') => !c.needs_typing(),
            _ => false,
        };
        if cancel {
            return self.cancelled();
        }
        match key.code {
            KeyCode::Enter => self.send_bulk(),
            KeyCode::Char('y' | 'Y') if !c.needs_typing() => self.send_bulk(),
            KeyCode::Backspace => {
                c.typed.pop();
                None
            }
            KeyCode::Char(ch) if c.needs_typing() => {
                c.typed.push(ch);
                None
            }
            _ => None,
        }
    }

    fn send_bulk(&mut self) -> Option<Effect> {
        let Mode::BulkConfirm(mut c) = std::mem::replace(&mut self.mode, Mode::Normal) else {
            return None;
        };
        if c.needs_typing() && c.typed.text.trim() != c.dry.changed.to_string() {
            c.error = Some(format!(
                "type {} (the number of jobs) to confirm, or esc",
                c.dry.changed
            ));
            return self.open(Mode::BulkConfirm(c));
        }
        let req = c.form.request(false, Some(&c.dry));
        match req {
            Ok(req) => Some(Effect::Call(Call::Bulk {
                filter: c.form.filter,
                req: Box::new(req),
                expected: c.dry.changed,
            })),
            Err(why) => {
                c.error = Some(why);
                self.open(Mode::BulkConfirm(c))
            }
        }
    }

    pub(super) fn cancelled(&mut self) -> Option<Effect> {
        self.mode = Mode::Normal;
        self.last = Some(Outcome {
            ok: true,
            text: "cancelled".into(),
        });
        None
    }
}

/// The footer's line for a bulk action that went through, saying so when the set changed
/// since the dry run the operator confirmed (jobs failed or finished in between; over the
/// service's `bulk_confirm_over` it refuses instead).
pub fn done_text(filter: &str, r: &BulkResult, expected: u64) -> String {
    let audit = r
        .audit_id
        .map(|id| format!(", audit #{id}"))
        .unwrap_or_default();
    let drift = if r.changed == expected {
        String::new()
    } else {
        format!(" ({expected} when counted: the jobs changed in between)")
    };
    let newcomers = match r.arrived_after {
        0 => String::new(),
        n => format!(", {n} new since the count left alone"),
    };
    format!(
        "bulk {} on {filter}: {} changed{drift}, {} skipped{newcomers}{audit}",
        r.action.as_str(),
        r.changed,
        r.matched.saturating_sub(r.changed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bulk_filter_takes_the_service_terms_and_one_word() {
        let f = bulk_filter("queue:webhooks error:connection_refused").unwrap();
        assert_eq!(f.queue.as_deref(), Some("webhooks"));
        assert_eq!(f.error_class.as_deref(), Some("connection_refused"));
        assert_eq!(f.text, None);
        assert_eq!(bulk_filter("pay-").unwrap().text.as_deref(), Some("pay-"));
        let two = bulk_filter("queue:q pay 503").unwrap_err();
        assert!(
            two.contains("at most one word") && two.contains("pay 503"),
            "{two}"
        );
        assert!(
            bulk_filter("  ")
                .unwrap_err()
                .contains("apply a filter first")
        );
    }

    #[test]
    fn an_override_needs_a_delay_and_every_action_a_reason() {
        let mut form = BulkForm::new("queue:q", bulk_filter("queue:q").unwrap());
        form.cycle_action(2);
        assert_eq!(form.action, BulkAction::Override);
        form.reason = Input::with("drain");
        let err = form.request(true, None).unwrap_err();
        assert!(err.starts_with("delay:"), "{err}");
        form.delay = Input::with("10m");
        let req = form.request(true, None).unwrap();
        assert_eq!(req.delay.as_deref(), Some("10m"));
        form.cycle_action(-1);
        form.reason.clear();
        assert!(form.request(true, None).unwrap_err().contains("reason"));
    }

    #[test]
    fn the_result_says_when_the_set_changed_since_the_count() {
        let r = BulkResult {
            action: BulkAction::Override,
            dry_run: false,
            matched: 82,
            changed: 80,
            skipped: vec![],
            audit_id: Some(1),
            needs_confirm: false,
            as_of: None,
            arrived_after: 0,
        };
        assert_eq!(
            done_text("queue:q", &r, 80),
            "bulk override on queue:q: 80 changed, 2 skipped, audit #1"
        );
        assert!(done_text("queue:q", &r, 75).contains("80 changed (75 when counted"));
        let r = BulkResult {
            arrived_after: 52,
            ..r
        };
        assert_eq!(
            done_text("queue:q", &r, 80),
            "bulk override on queue:q: 80 changed, 2 skipped, 52 new since the count left alone, audit #1"
        );
    }
}
