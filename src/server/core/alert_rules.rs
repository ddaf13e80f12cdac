//! Alert rules, pure: counts and time are passed in, the service's alert loop does the I/O.
//!
//! Each condition has a stable id, so one alert stays listed while its condition holds and is
//! resolved (kept, `active: false`) when it clears:
//!
//! | id | severity | fires when |
//! |---|---|---|
//! | `retry_storm:<queue>` | warning, critical at 2× | retries recorded for the queue in the last 60 s exceed its threshold (`retry_storm_per_minute`, or `retry_storm_queues[queue]`) |
//! | `guardrail_overrides` | critical | recommendations changed by a guardrail average more than `guardrail_overrides` per second over the last `guardrail_window` (the upstream `rate(guardrail_overrides[5m]) > 10`) |
//! | `circuit_open:<queue>/<error_class>` | critical (open), warning (half open) | the engine reports that circuit not closed |
//! | `emergency_stop` | critical | the emergency stop guardrail is engaged |
//! | `fallback_tier:static` | critical | of at least `fallback_min_recommendations` recommendations in the last `fallback_window`, a share of `fallback_static_share` or more came from the static tier (it only answers when every other tier failed) |
//! | `fallback_tier:bayesian` | warning | the Bayesian tier has warm models, yet `fallback_share` or more of the recommendations in the window fell back from it |
//! | `fallback_tier:ml` | warning | ML is enabled, yet `fallback_share` or more of the recommendations in the window fell back from it |
//! | `pause:<id>` | info | an operator pause is in force (the message names the scope, the end and the reason) |
//! | `model_drift:<version>` (`ModelDriftDetected`) | warning | the watched ML version's drift score (the largest excess of a feature's or the prediction's PSI over the last window of its decisions above what a window of its training data showed) is above `drift_threshold`; the watched version is the serving one, or the shadow when nothing serves (a version rolled back goes back to shadow), and then the message says the candidate is stale: retrain before deploying it |
//! | `model_calibration:<version>` | warning | the ML arm's live ECE is above `calibration_ece` after `calibration_min_outcomes` outcomes |
//! | `model_rolled_back:<version>` (`ModelRolledBack`) | warning | the live check or the canary's realized costs rolled the version back to the Bayesian tier (the message gives the numbers, and whether the version was kept in shadow); resolved when a version serves again |
//! | `model_training_failed` (`ModelTrainingFailed`) | critical | the last ML training failed (resolved when one succeeds); nothing serving changed |
//! | `store_degraded` | critical | writes to the store fail (the service is degraded; the message gives the reason); resolved when a write succeeds again |
//!
//! A "retry" is a recorded attempt with `attempt_number > 1`. The thresholds are the
//! service config's [`AlertThresholds`] (`[alerts]`).

use crate::config::AlertThresholds;
use crate::engine::ml::drift::drifted;
use crate::model::{Alert, CircuitView, Degradation, Pause, Severity};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// The watched ML version, its drift score, and whether it is a shadow (nothing serves).
pub type DriftInput = (String, f64, bool);
/// The serving ML version, the outcomes its forecasts met, and their live ECE.
pub type CalibrationInput = (String, u64, f64);

/// What the rules look at, gathered by the service at one instant.
#[derive(Debug, Clone, Default)]
pub struct AlertInputs {
    /// Retries recorded per queue in the last 60 s.
    pub retries_last_minute: BTreeMap<String, u64>,
    /// Recommendations a guardrail changed within `guardrail_window`.
    pub guardrail_overrides: u64,
    pub circuits: Vec<CircuitView>,
    pub emergency_stop: bool,
    /// Recommendations within `fallback_window`, and how many of them were static /
    /// fell back from the Bayesian tier / fell back from ML.
    pub recommendations: u64,
    pub static_answers: u64,
    pub bayesian_fallbacks: u64,
    pub ml_fallbacks: u64,
    pub warm_models: u64,
    pub ml_enabled: bool,
    /// Set while writes to the store fail.
    pub store_degraded: Option<Degradation>,
    /// Operator pauses in force.
    pub pauses: Vec<Pause>,
    /// The watched ML version (serving, or the shadow when nothing serves), its drift score
    /// (last complete window) and whether it is the shadow, when it has one.
    pub ml_drift: Option<DriftInput>,
    /// The serving ML version, its live outcomes and ECE.
    pub ml_calibration: Option<CalibrationInput>,
    /// The last ML training failure (message), while no training has succeeded since.
    pub training_failed: Option<String>,
    /// The version the live check rolled back and why, until a version serves again.
    pub ml_rolled_back: Option<(String, String)>,
}

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub id: String,
    pub name: &'static str,
    pub severity: Severity,
    pub message: String,
    pub labels: BTreeMap<String, String>,
}

/// The conditions that hold for `inputs`.
pub fn evaluate(cfg: &AlertThresholds, inputs: &AlertInputs) -> Vec<Condition> {
    let mut out = retry_storms(cfg, inputs);
    let window_secs = cfg.guardrail_window.as_secs().max(1);
    let overrides_per_second = inputs.guardrail_overrides as f64 / window_secs as f64;
    if overrides_per_second > f64::from(cfg.guardrail_overrides) {
        out.push(condition(
            "guardrail_overrides".into(),
            "guardrail_overrides",
            Severity::Critical,
            format!(
                "{overrides_per_second:.1}/s recommendations changed by guardrails over the last {window_secs} s \
                 ({} in all; limit {}/s): check model recommendations",
                inputs.guardrail_overrides, cfg.guardrail_overrides
            ),
            &[],
        ));
    }
    out.extend(open_circuits(&inputs.circuits));
    if inputs.emergency_stop {
        out.push(condition(
            "emergency_stop".into(),
            "emergency_stop",
            Severity::Critical,
            "emergency stop engaged: no retries are being recommended".into(),
            &[],
        ));
    }
    out.extend(fallbacks(cfg, inputs));
    out.extend(ml_conditions(cfg, inputs));
    out.extend(inputs.store_degraded.as_ref().map(store_degraded));
    out.extend(inputs.pauses.iter().map(paused));
    out
}

fn ml_conditions(cfg: &AlertThresholds, inputs: &AlertInputs) -> Vec<Condition> {
    let mut out = Vec::new();
    if let Some((version, score, shadow)) = &inputs.ml_drift
        && drifted(*score, cfg.drift_threshold)
    {
        let what = if *shadow {
            "in shadow, not serving: the traffic has moved from its training data, so the candidate is stale; retrain (POST /ml/train) before deploying it"
        } else {
            "the traffic it serves has moved from its training data; retrain (POST /ml/train) or roll back"
        };
        out.push(condition(
            format!("model_drift:{version}"),
            "ModelDriftDetected",
            Severity::Warning,
            format!(
                "ML model {version}: drift score {score:.2} above {:.2}: {what}",
                cfg.drift_threshold
            ),
            &[("version", version)],
        ));
    }
    if let Some((version, outcomes, ece)) = &inputs.ml_calibration
        && *outcomes >= cfg.calibration_min_outcomes
        && *ece > cfg.calibration_ece
    {
        out.push(condition(
            format!("model_calibration:{version}"),
            "ModelCalibration",
            Severity::Warning,
            format!(
                "ML model {version}: live calibration error {ece:.3} over {outcomes} outcomes, above {:.3}",
                cfg.calibration_ece
            ),
            &[("version", version)],
        ));
    }
    if let Some((version, reason)) = &inputs.ml_rolled_back {
        out.push(condition(
            format!("model_rolled_back:{version}"),
            "ModelRolledBack",
            Severity::Warning,
            reason.clone(),
            &[("version", version)],
        ));
    }
    if let Some(message) = &inputs.training_failed {
        out.push(condition(
            "model_training_failed".into(),
            "ModelTrainingFailed",
            Severity::Critical,
            format!("ML training failed, nothing changed: {message}"),
            &[],
        ));
    }
    out
}

fn paused(p: &Pause) -> Condition {
    let end = match p.until {
        Some(until) => format!("until {}", until.format("%Y-%m-%d %H:%M:%S UTC")),
        None => "until resumed".into(),
    };
    let mut labels = vec![("queue", p.scope.queue.as_str()), ("pause", p.id.as_str())];
    labels.extend(p.scope.error_class.as_deref().map(|c| ("error_class", c)));
    condition(
        format!("pause:{}", p.id),
        "pause",
        Severity::Info,
        format!(
            "{} paused {end} by {}: {}",
            p.scope.label(),
            p.actor,
            p.reason
        ),
        &labels,
    )
}

fn store_degraded(d: &Degradation) -> Condition {
    condition(
        "store_degraded".into(),
        "store_degraded",
        Severity::Critical,
        format!(
            "{}: writes fail since {} ({}); attempts are refused with 503, recommendations come from memory",
            d.reason,
            d.since.format("%Y-%m-%d %H:%M:%S UTC"),
            d.detail
        ),
        &[("kind", d.kind.as_str())],
    )
}

fn retry_storms(cfg: &AlertThresholds, inputs: &AlertInputs) -> Vec<Condition> {
    let mut out = Vec::new();
    for (queue, &retries) in &inputs.retries_last_minute {
        let limit = u64::from(
            cfg.retry_storm_queues
                .get(queue)
                .copied()
                .unwrap_or(cfg.retry_storm_per_minute),
        );
        if retries <= limit {
            continue;
        }
        let severity = if retries >= limit.saturating_mul(2) {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let queue = display_queue(queue);
        out.push(condition(
            format!("retry_storm:{queue}"),
            "retry_storm",
            severity,
            format!("retry storm on queue {queue}: {retries} retries in the last minute (threshold {limit})"),
            &[("queue", queue)],
        ));
    }
    out
}

fn open_circuits(circuits: &[CircuitView]) -> Vec<Condition> {
    let not_closed = circuits.iter().filter(|c| c.state != "closed");
    not_closed
        .map(|c| {
            let queue = display_queue(&c.queue);
            let severity = if c.state == "open" {
                Severity::Critical
            } else {
                Severity::Warning
            };
            condition(
                format!("circuit_open:{queue}/{}", c.error_class),
                "circuit_open",
                severity,
                format!(
                    "circuit {}{} for queue {queue}, error class {} (failure rate {:.0}%): retries into it are held back",
                    c.state,
                    c.forced.as_ref().map_or(String::new(), |f| format!(
                        " (forced by {}: {})",
                        f.actor, f.reason
                    )),
                    c.error_class,
                    c.failure_rate * 100.0
                ),
                &[("queue", queue), ("error_class", &c.error_class), ("state", &c.state)],
            )
        })
        .collect()
}

fn fallbacks(cfg: &AlertThresholds, inputs: &AlertInputs) -> Vec<Condition> {
    let n = inputs.recommendations;
    if n == 0 || n < cfg.fallback_min_recommendations {
        return Vec::new();
    }
    let share = |k: u64| k as f64 / n as f64;
    let mut out = Vec::new();
    let mut push = |tier: &str, severity, count: u64, why: &str| {
        out.push(condition(
            format!("fallback_tier:{tier}"),
            "fallback_tier",
            severity,
            format!(
                "{count} of {n} recommendations in {} s {why} ({:.0}%)",
                cfg.fallback_window.as_secs(),
                share(count) * 100.0
            ),
            &[("tier", tier)],
        ));
    };
    if share(inputs.static_answers) >= cfg.fallback_static_share {
        push(
            "static",
            Severity::Critical,
            inputs.static_answers,
            "came from the static fall-back tier",
        );
    }
    if inputs.warm_models > 0 && share(inputs.bayesian_fallbacks) >= cfg.fallback_share {
        push(
            "bayesian",
            Severity::Warning,
            inputs.bayesian_fallbacks,
            "fell back from the Bayesian tier despite warm models",
        );
    }
    if inputs.ml_enabled && share(inputs.ml_fallbacks) >= cfg.fallback_share {
        push(
            "ml",
            Severity::Warning,
            inputs.ml_fallbacks,
            "fell back from the enabled ML tier",
        );
    }
    out
}

fn display_queue(queue: &str) -> &str {
    if queue.is_empty() { "default" } else { queue }
}

fn condition(
    id: String,
    name: &'static str,
    severity: Severity,
    message: String,
    labels: &[(&str, &str)],
) -> Condition {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Condition {
        id,
        name,
        severity,
        message,
        labels,
    }
}

/// How an alert changed in one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Raised,
    /// Still active; its message or severity changed.
    Updated,
    Resolved,
}

/// Applies the conditions holding at `now` to the known alerts (by id) and returns each alert
/// that changed, with how. Unchanged alerts are not returned.
pub fn reconcile(
    known: &BTreeMap<String, Alert>,
    conditions: Vec<Condition>,
    now: DateTime<Utc>,
) -> Vec<(Alert, Change)> {
    let mut changes = Vec::new();
    let holding: Vec<String> = conditions.iter().map(|c| c.id.clone()).collect();
    for c in conditions {
        match known.get(&c.id) {
            Some(a) if a.active => {
                if a.message != c.message || a.severity != c.severity {
                    let updated = Alert {
                        message: c.message,
                        severity: c.severity,
                        labels: c.labels,
                        ..a.clone()
                    };
                    changes.push((updated, Change::Updated));
                }
            }
            _ => changes.push((raised(c, now), Change::Raised)),
        }
    }
    for a in known
        .values()
        .filter(|a| a.active && !holding.contains(&a.id))
    {
        let resolved = Alert {
            active: false,
            resolved_at: Some(now),
            ..a.clone()
        };
        changes.push((resolved, Change::Resolved));
    }
    changes
}

fn raised(c: Condition, now: DateTime<Utc>) -> Alert {
    Alert {
        id: c.id,
        name: c.name.to_string(),
        severity: c.severity,
        message: c.message,
        labels: c.labels,
        raised_at: now,
        active: true,
        resolved_at: None,
        acked_at: None,
        acked_by: None,
    }
}

/// Whole seconds of a rate window (the config keeps windows at most five minutes long).
pub fn window_secs(window: Duration) -> u32 {
    u32::try_from(window.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn ids(conditions: &[Condition]) -> Vec<&str> {
        conditions.iter().map(|c| c.id.as_str()).collect()
    }

    fn circuit(state: &str) -> CircuitView {
        CircuitView {
            queue: "payments".into(),
            error_class: "timeout".into(),
            state: state.into(),
            failure_rate: 0.97,
            probe_at: None,
            forced: None,
        }
    }

    #[test]
    fn quiet_inputs_raise_nothing() {
        assert!(evaluate(&AlertThresholds::default(), &AlertInputs::default()).is_empty());
    }

    #[test]
    fn retry_storm_uses_the_queue_threshold_and_escalates_at_twice_it() {
        let mut cfg = AlertThresholds {
            retry_storm_per_minute: 100,
            ..Default::default()
        };
        cfg.retry_storm_queues.insert("emails".into(), 10);
        let inputs = AlertInputs {
            retries_last_minute: BTreeMap::from([
                ("payments".into(), 100),
                ("emails".into(), 25),
                ("".into(), 150),
            ]),
            ..Default::default()
        };
        let out = evaluate(&cfg, &inputs);
        assert_eq!(ids(&out), ["retry_storm:default", "retry_storm:emails"]);
        assert_eq!(out[0].severity, Severity::Warning);
        assert_eq!(out[1].severity, Severity::Critical);
        assert_eq!(out[1].labels["queue"], "emails");
    }

    #[test]
    fn guardrail_overrides_fire_above_ten_per_second_over_the_window() {
        let cfg = AlertThresholds::default();
        let window = cfg.guardrail_window.as_secs();
        assert_eq!(window, 300, "the default window is 5 minutes");
        let at = |n| AlertInputs {
            guardrail_overrides: n,
            ..Default::default()
        };
        // A handful of shaped retries (a demo's first seconds) is no alarm.
        assert!(evaluate(&cfg, &at(11)).is_empty());
        assert!(evaluate(&cfg, &at(10 * window)).is_empty(), "exactly 10/s");
        assert_eq!(
            ids(&evaluate(&cfg, &at(10 * window + 1))),
            ["guardrail_overrides"]
        );
    }

    #[test]
    fn circuits_and_emergency_stop() {
        let inputs = AlertInputs {
            circuits: vec![circuit("closed"), circuit("open")],
            emergency_stop: true,
            ..Default::default()
        };
        let out = evaluate(&AlertThresholds::default(), &inputs);
        assert_eq!(
            ids(&out),
            ["circuit_open:payments/timeout", "emergency_stop"]
        );
        assert_eq!(out[0].severity, Severity::Critical);
    }

    #[test]
    fn a_degraded_store_is_critical_with_its_reason() {
        let degraded = Degradation {
            kind: crate::model::StoreFailureKind::Full,
            reason: "store full".into(),
            detail: "database or disk is full".into(),
            since: Utc::now(),
        };
        let inputs = AlertInputs {
            store_degraded: Some(degraded),
            ..Default::default()
        };
        let out = evaluate(&AlertThresholds::default(), &inputs);
        assert_eq!(ids(&out), ["store_degraded"]);
        assert_eq!(out[0].severity, Severity::Critical);
        assert!(
            out[0].message.starts_with("store full: writes fail since"),
            "{}",
            out[0].message
        );
        assert_eq!(out[0].labels["kind"], "full");
        assert!(evaluate(&AlertThresholds::default(), &AlertInputs::default()).is_empty());
    }

    #[test]
    fn fallback_needs_enough_recommendations_and_the_share() {
        let cfg = AlertThresholds::default();
        let base = AlertInputs {
            recommendations: 19,
            static_answers: 19,
            ..Default::default()
        };
        assert!(
            evaluate(&cfg, &base).is_empty(),
            "too few recommendations to judge"
        );
        let statics = AlertInputs {
            recommendations: 100,
            static_answers: 5,
            ..Default::default()
        };
        assert_eq!(ids(&evaluate(&cfg, &statics)), ["fallback_tier:static"]);
        let cold = AlertInputs {
            recommendations: 100,
            bayesian_fallbacks: 90,
            ..Default::default()
        };
        assert!(
            evaluate(&cfg, &cold).is_empty(),
            "cold models falling back to rules is normal"
        );
        let warm = AlertInputs {
            warm_models: 3,
            ..cold
        };
        assert_eq!(ids(&evaluate(&cfg, &warm)), ["fallback_tier:bayesian"]);
        let ml = AlertInputs {
            recommendations: 100,
            ml_fallbacks: 60,
            ml_enabled: true,
            ..Default::default()
        };
        assert_eq!(ids(&evaluate(&cfg, &ml)), ["fallback_tier:ml"]);
    }

    #[test]
    fn reconcile_raises_keeps_updates_resolves_and_reraises() {
        let cfg = AlertThresholds::default();
        let stop = AlertInputs {
            emergency_stop: true,
            ..Default::default()
        };
        let mut known = BTreeMap::new();
        let first = reconcile(&known, evaluate(&cfg, &stop), now());
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].1, Change::Raised);
        let mut alert = first[0].0.clone();
        alert.acked_by = Some("operator:alice".into());
        known.insert(alert.id.clone(), alert);

        assert!(
            reconcile(&known, evaluate(&cfg, &stop), now()).is_empty(),
            "unchanged"
        );

        let later = now() + chrono::Duration::seconds(5);
        let cleared = reconcile(&known, evaluate(&cfg, &AlertInputs::default()), later);
        assert_eq!(cleared[0].1, Change::Resolved);
        assert!(!cleared[0].0.active);
        assert_eq!(cleared[0].0.resolved_at, Some(later));
        known.insert("emergency_stop".into(), cleared[0].0.clone());

        let again = reconcile(&known, evaluate(&cfg, &stop), later);
        assert_eq!(again[0].1, Change::Raised);
        assert_eq!(again[0].0.acked_by, None, "a new episode needs a new ack");
        assert_eq!(again[0].0.resolved_at, None);
    }

    #[test]
    fn a_rollback_by_the_live_check_is_a_warning_with_its_reason() {
        let inputs = AlertInputs {
            ml_rolled_back: Some(("ml-3".into(), "live log-loss 0.9 against 0.4".into())),
            ..Default::default()
        };
        let out = evaluate(&AlertThresholds::default(), &inputs);
        assert_eq!(ids(&out), ["model_rolled_back:ml-3"]);
        assert_eq!(out[0].name, "ModelRolledBack");
        assert_eq!(out[0].severity, Severity::Warning);
        assert_eq!(out[0].message, "live log-loss 0.9 against 0.4");
    }

    #[test]
    fn reconcile_updates_a_changed_message() {
        let cfg = AlertThresholds {
            retry_storm_per_minute: 1,
            ..Default::default()
        };
        let storm = |n| AlertInputs {
            retries_last_minute: BTreeMap::from([("q".into(), n)]),
            ..Default::default()
        };
        let raised = reconcile(&BTreeMap::new(), evaluate(&cfg, &storm(3)), now());
        let known = BTreeMap::from([(raised[0].0.id.clone(), raised[0].0.clone())]);
        let next = reconcile(&known, evaluate(&cfg, &storm(5)), now());
        assert_eq!(next[0].1, Change::Updated);
        assert_eq!(next[0].0.raised_at, now());
        assert!(next[0].0.message.contains("5 retries"));
    }
}
