//! Text inputs of the console's dialogs. What is typed is checked by `present::overrides` and
//! `present::export`, which the CLI verbs share.

/// Longest text an input accepts.
const MAX_INPUT: usize = 200;

/// A one-line text input (typing appends, Backspace removes the last character, Ctrl+U all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    pub text: String,
}

impl Input {
    pub fn with(text: &str) -> Input {
        Input {
            text: text.to_string(),
        }
    }

    pub fn push(&mut self, c: char) {
        if !c.is_control() && self.text.chars().count() < MAX_INPUT {
            self.text.push(c);
        }
    }

    pub fn pop(&mut self) {
        self.text.pop();
    }

    /// Ctrl+U: empties the input.
    pub fn clear(&mut self) {
        self.text.clear();
    }
}

/// Which field of the override dialog has the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideField {
    Delay,
    Reason,
}

/// The override dialog: a delay or time, and a reason for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideForm {
    pub job_id: String,
    pub delay: Input,
    pub reason: Input,
    pub field: OverrideField,
    /// Why the last Enter was refused.
    pub error: Option<String>,
}

impl OverrideForm {
    pub fn new(job_id: &str) -> OverrideForm {
        OverrideForm {
            job_id: job_id.to_string(),
            delay: Input::default(),
            reason: Input::default(),
            field: OverrideField::Delay,
            error: None,
        }
    }

    /// The input that has the cursor.
    pub fn current(&mut self) -> &mut Input {
        match self.field {
            OverrideField::Delay => &mut self.delay,
            OverrideField::Reason => &mut self.reason,
        }
    }

    pub fn next_field(&mut self) {
        self.field = match self.field {
            OverrideField::Delay => OverrideField::Reason,
            OverrideField::Reason => OverrideField::Delay,
        };
    }
}

/// What a reason is asked for: actions the audit log should explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reasoned {
    Kill {
        job_id: String,
    },
    Ack {
        alert_id: String,
        message: String,
    },
    /// Resume the pause `pause_id` of `scope` (`queue` or `queue/error_class`).
    Resume {
        pause_id: String,
        scope: String,
    },
}

/// The dialog asking why, before a kill or an acknowledgement is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonForm {
    pub what: Reasoned,
    pub reason: Input,
    /// Why the last Enter was refused.
    pub error: Option<String>,
}

impl ReasonForm {
    pub fn new(what: Reasoned) -> ReasonForm {
        ReasonForm {
            what,
            reason: Input::default(),
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_refuse_control_characters() {
        let mut i = Input::default();
        for c in "a\x1bb".chars() {
            i.push(c);
        }
        i.push('c');
        i.pop();
        assert_eq!(i.text, "ab");
    }
}
