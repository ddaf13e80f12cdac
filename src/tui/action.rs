//! What a key can ask the console to do.

/// Every action a key can be bound to. The names are the keys of `keymap.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Leave the console (the terminal is restored).
    Quit,
    /// Stop the console like a shell job (Ctrl+Z); `fg` brings it back.
    Suspend,
    /// Show or hide the help overlay listing the live keymap.
    Help,
    /// Focus the next pane (wide layout) or the next tab (narrow layout).
    NextPane,
    /// Focus the previous pane or tab.
    PrevPane,
    /// Show tab 1, Strategy.
    TabStrategy,
    /// Show tab 2, Live recommendations.
    TabLive,
    /// Show tab 3, Analytics.
    TabAnalytics,
    /// Show tab 4, Alerts.
    TabAlerts,
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// Move the selection up by a page.
    PageUp,
    /// Move the selection down by a page.
    PageDown,
    /// Select the first row.
    Top,
    /// Select the last row.
    Bottom,
    /// Poll the service now instead of waiting for the next refresh.
    Refresh,
    /// Apply the current recommendation to the selected job (on an alert: show its jobs).
    Apply,
    /// Close a dialog or overlay, cancel an input.
    Cancel,
    /// Retrain the Bayesian model of the selected job's job type and error class and start an
    /// ML training (asks for confirmation).
    Retrain,
    /// Preview the recommended schedule of the selected job.
    Preview,
    /// Override the selected job's next delay (a delay or time, and a reason).
    Override,
    /// Export the service configuration to a TOML, JSON or YAML file.
    Export,
    /// Import rules from a file written by `export`: the service's dry-run diff first, then
    /// confirmation.
    Import,
    /// Show the alerts list (acknowledge with `ack_alert`).
    Alerts,
    /// Acknowledge the selected alert.
    AckAlert,
    /// Filter the job list by text (job id, queue, error, type).
    Filter,
    /// Retry the selected job now.
    RetryNow,
    /// Kill the selected job: no more retries (asks for confirmation).
    Kill,
    /// Reschedule the selected job with the static backoff instead of the smart one.
    UseStatic,
    /// Act on every job the applied filter matches (retry now, kill, override, static), after
    /// the service's dry-run count.
    Bulk,
    /// Pause the selected job's queue (or queue and error class) for a while.
    Pause,
    /// Resume one of the pauses in force.
    Resume,
    /// Open the selected job's detail: full id, attempts, plan, audit entries.
    Detail,
    /// Copy the selected job's id to the clipboard (OSC 52).
    CopyId,
    /// Sort the job list by the next key (next attempt, attempts, age, queue).
    Sort,
    /// The error classes with the most failures in the last minutes; Enter on one filters the
    /// Live pane by it.
    Errors,
    /// Show the next page of jobs (the service sends them in pages of 500).
    NextPage,
    /// Show the previous page of jobs.
    PrevPage,
    /// Give the live error stream the focus (or take it back): the movement keys scroll it,
    /// `filter` filters it, `apply` opens the highlighted error's job, `cancel` leaves it.
    Stream,
}

impl Action {
    /// Every action, in the order the help overlay lists them.
    pub const ALL: [Action; 39] = [
        Action::Quit,
        Action::Suspend,
        Action::Help,
        Action::NextPane,
        Action::PrevPane,
        Action::TabStrategy,
        Action::TabLive,
        Action::TabAnalytics,
        Action::TabAlerts,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Refresh,
        Action::Apply,
        Action::Cancel,
        Action::Retrain,
        Action::Preview,
        Action::Override,
        Action::Export,
        Action::Import,
        Action::Alerts,
        Action::AckAlert,
        Action::Filter,
        Action::RetryNow,
        Action::Kill,
        Action::UseStatic,
        Action::Bulk,
        Action::Pause,
        Action::Resume,
        Action::Detail,
        Action::CopyId,
        Action::Sort,
        Action::Errors,
        Action::NextPage,
        Action::PrevPage,
        Action::Stream,
    ];

    /// The name used in `keymap.toml`.
    pub fn name(self) -> &'static str {
        self.info().0
    }

    /// One line for the help overlay.
    pub fn describe(self) -> &'static str {
        self.info().1
    }

    /// The action named `name` in a keymap file.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// True for actions that change the service (refused in read-only mode).
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Action::Apply
                | Action::Retrain
                | Action::Override
                | Action::AckAlert
                | Action::RetryNow
                | Action::Kill
                | Action::UseStatic
                | Action::Bulk
                | Action::Pause
                | Action::Resume
                | Action::Import
        )
    }

    fn info(self) -> (&'static str, &'static str) {
        match self {
            Action::Quit => ("quit", "quit"),
            Action::Suspend => ("suspend", "suspend to the shell (fg resumes)"),
            Action::Help => ("help", "this help"),
            Action::NextPane => ("next_pane", "next pane / tab"),
            Action::PrevPane => ("prev_pane", "previous pane / tab"),
            Action::TabStrategy => ("tab_strategy", "tab 1: strategy"),
            Action::TabLive => ("tab_live", "tab 2: live recommendations"),
            Action::TabAnalytics => ("tab_analytics", "tab 3: analytics"),
            Action::TabAlerts => ("tab_alerts", "tab 4: alerts"),
            Action::Up => ("up", "move up"),
            Action::Down => ("down", "move down"),
            Action::PageUp => ("page_up", "page up"),
            Action::PageDown => ("page_down", "page down"),
            Action::Top => ("top", "first row"),
            Action::Bottom => ("bottom", "last row"),
            Action::Refresh => ("refresh", "refresh now"),
            Action::Apply => ("apply", "apply recommendation / alert's jobs"),
            Action::Cancel => ("cancel", "close dialog / input, clear filter"),
            Action::Retrain => ("retrain", "retrain the job's model (confirm)"),
            Action::Preview => ("preview", "preview the job's schedule"),
            Action::Override => ("override", "override the job's delay"),
            Action::Export => ("export", "export configuration to a file"),
            Action::Import => ("import", "import rules from a file (diff, confirm)"),
            Action::Alerts => ("alerts", "alerts list"),
            Action::AckAlert => ("ack_alert", "acknowledge selected alert"),
            Action::Filter => ("filter", "filter jobs"),
            Action::RetryNow => ("retry_now", "force retry now"),
            Action::Kill => ("kill", "kill the job (confirm)"),
            Action::UseStatic => ("use_static", "use static backoff for the job"),
            Action::Bulk => ("bulk", "act on all filtered jobs (dry run first)"),
            Action::Pause => ("pause", "pause the job's queue (/error class)"),
            Action::Resume => ("resume", "resume a pause in force"),
            Action::Detail => ("detail", "job detail: id, attempts, plan, audit"),
            Action::CopyId => ("copy_id", "copy the job id (OSC 52)"),
            Action::Sort => ("sort", "sort jobs: next, attempts, age, queue"),
            Action::Errors => ("errors", "top error classes: enter filters by one"),
            Action::NextPage => ("next_page", "next page of jobs (500 a page)"),
            Action::PrevPage => ("prev_page", "previous page of jobs"),
            Action::Stream => ("stream", "live errors: focus, scroll, / filter"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut names: Vec<_> = Action::ALL.iter().map(|a| a.name()).collect();
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
    }
}
