//! From an alert to its jobs: Enter on `circuit_open:QUEUE/ERROR`, `retry_storm:QUEUE` or
//! `pause:ID` applies the filter of the jobs it is about on the Live pane.

use super::{App, Effect, Mode, Outcome, Pane};
use crate::model::{Alert, Pause};

/// The job filter an alert points at: from its `queue` / `error_class` labels, else from its
/// id (`circuit_open:q/e`, `retry_storm:q`, `pause:ID` looked up among the pauses). None for
/// alerts about no particular jobs (the emergency stop, a degraded store).
pub fn alert_filter(alert: &Alert, pauses: &[Pause]) -> Option<String> {
    let (queue, error) = match alert.labels.get("queue") {
        Some(q) => (q.clone(), alert.labels.get("error_class").cloned()),
        None => from_id(&alert.id, pauses)?,
    };
    let mut filter = format!("queue:{queue}");
    if let Some(e) = error {
        filter.push_str(&format!(" error:{e}"));
    }
    Some(filter)
}

fn from_id(id: &str, pauses: &[Pause]) -> Option<(String, Option<String>)> {
    let (kind, rest) = id.split_once(':')?;
    match kind {
        "circuit_open" => {
            let (q, e) = rest.split_once('/')?;
            Some((q.to_string(), Some(e.to_string())))
        }
        "retry_storm" => Some((rest.to_string(), None)),
        "pause" => {
            let p = pauses.iter().find(|p| p.id == rest)?;
            Some((p.scope.queue.clone(), p.scope.error_class.clone()))
        }
        _ => None,
    }
}

impl App {
    /// Enter on the selected alert: its jobs on the Live pane, or why it has none.
    pub(super) fn jump_to_alert(&mut self) -> Option<Effect> {
        let data = self.data.as_ref()?;
        let Some(alert) = data.summary.alerts.get(self.alert_selected) else {
            return self.refuse("no alert selected");
        };
        let Some(filter) = alert_filter(alert, &data.summary.pauses) else {
            let why = format!("alert {} is not about particular jobs", alert.id);
            return self.refuse(&why);
        };
        let id = alert.id.clone();
        self.mode = Mode::Normal;
        self.focus = Pane::Live;
        let effect = self.apply_filter(&filter);
        self.last = Some(Outcome {
            ok: true,
            // The footer shows the filter itself next to this.
            text: format!("showing the jobs of alert {id}"),
        });
        effect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: &str, labels: &[(&str, &str)]) -> Alert {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": id.split(':').next().unwrap(), "severity": "critical",
            "message": "m", "labels": labels.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "raised_at": "2026-11-23T10:00:00Z", "active": true
        }))
        .unwrap()
    }

    #[test]
    fn alerts_lead_to_the_filter_of_their_jobs() {
        let labelled = alert(
            "circuit_open:webhooks/connection_refused",
            &[("queue", "webhooks"), ("error_class", "connection_refused")],
        );
        assert_eq!(
            alert_filter(&labelled, &[]).as_deref(),
            Some("queue:webhooks error:connection_refused")
        );
        let bare = alert("circuit_open:webhooks/connection_refused", &[]);
        assert_eq!(alert_filter(&bare, &[]), alert_filter(&labelled, &[]));
        let storm = alert("retry_storm:emails", &[]);
        assert_eq!(alert_filter(&storm, &[]).as_deref(), Some("queue:emails"));
        assert_eq!(alert_filter(&alert("emergency_stop", &[]), &[]), None);
        assert_eq!(
            alert_filter(&alert("pause:p-9", &[]), &[]),
            None,
            "unknown pause"
        );
    }
}
