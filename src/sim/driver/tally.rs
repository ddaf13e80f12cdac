//! What the driver counted (only what the service acknowledged), and the final report that
//! sets it beside the service's own `/metrics`.

use super::ReportInput;
use super::scrape::ServiceCounters;
use crate::client::ClientError;
use crate::model::FailureResponse;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Running counts of one driver run.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Scenario time (ms) before which recommendations count as warm-up.
    warmup_ms: u64,
    jobs: u64,
    failed: u64,
    succeeded: u64,
    retries: u64,
    gave_up: u64,
    methods_warmup: BTreeMap<String, u64>,
    methods_after: BTreeMap<String, u64>,
    http_errors: BTreeMap<String, u64>,
    /// Claimed jobs this driver did not create (another worker's; left to their lease).
    pub foreign_claims: u64,
}

impl Tally {
    pub fn new(warmup_ms: u64) -> Self {
        Self {
            warmup_ms,
            ..Self::default()
        }
    }

    /// Counts an acknowledged `/failures` of attempt `attempt`, answered at `at_ms`.
    pub fn failure_acked(&mut self, attempt: u32, resp: &FailureResponse, at_ms: u64) {
        self.failed += 1;
        if attempt == 1 {
            self.jobs += 1;
        } else {
            self.retries += 1;
        }
        if resp.next_attempt_at.is_none() {
            self.gave_up += 1;
        }
        let phase = if at_ms < self.warmup_ms {
            &mut self.methods_warmup
        } else {
            &mut self.methods_after
        };
        *phase
            .entry(resp.recommendation.method.as_str().to_string())
            .or_default() += 1;
    }

    /// Counts an acknowledged successful attempt.
    pub fn success_acked(&mut self, attempt: u32) {
        self.succeeded += 1;
        if attempt > 1 {
            self.retries += 1;
        }
    }

    /// Counts a refused or failed request by its status (or kind).
    pub fn http_error(&mut self, err: &ClientError) {
        let key = match err {
            ClientError::Api { status, .. } => status.to_string(),
            ClientError::Unreachable { .. } => "unreachable".into(),
            ClientError::Decode { .. } => "bad answer".into(),
            ClientError::BadUrl { .. } => "bad url".into(),
        };
        *self.http_errors.entry(key).or_default() += 1;
    }

    /// The one-line live summary.
    pub fn line(&self, elapsed_s: f64, pending: u64) -> String {
        format!(
            "{elapsed_s:6.1}s  jobs {}  attempts {} (ok {})  pending {pending}  gave up {}  \
             bayesian {:.0}%  http errors {}",
            self.jobs,
            self.failed + self.succeeded,
            self.succeeded,
            self.gave_up,
            100.0 * share(&self.methods_after, "bayesian"),
            self.http_errors.values().sum::<u64>()
        )
    }

    pub(crate) fn report(&self, input: ReportInput<'_>) -> Report {
        let (service, service_error) = match input.service {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        let mut report = Report {
            scenario: input.scenario.name.clone(),
            mode: format!("{:?}", input.config.mode).to_lowercase(),
            seed: input.config.seed,
            seconds: input.wall.as_secs_f64(),
            warmup_seconds: self.warmup_ms as f64 / 1000.0,
            jobs: self.jobs,
            succeeded: self.succeeded,
            gave_up: self.gave_up,
            pending: input.pending,
            attempts: self.failed + self.succeeded,
            failed_attempts: self.failed,
            retries: self.retries,
            retries_per_job: ratio(self.retries, self.jobs),
            methods_warmup: self.methods_warmup.clone(),
            methods_after_warmup: self.methods_after.clone(),
            bayesian_share_after_warmup: share(&self.methods_after, "bayesian"),
            http_errors: self.http_errors.clone(),
            foreign_claims: self.foreign_claims,
            service,
            service_error,
            mismatches: Vec::new(),
        };
        report.mismatches = report.compare();
        report
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn share(methods: &BTreeMap<String, u64>, method: &str) -> f64 {
    ratio(
        methods.get(method).copied().unwrap_or(0),
        methods.values().sum(),
    )
}

/// The final report of a driver run (`--json` prints it as is).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub mode: String,
    pub seed: u64,
    /// Real seconds jobs kept arriving.
    pub seconds: f64,
    pub warmup_seconds: f64,
    /// Jobs whose first failure the service acknowledged.
    pub jobs: u64,
    /// Jobs whose retry succeeded.
    pub succeeded: u64,
    /// Jobs the service said not to retry (validation, attempts exhausted, guardrails).
    pub gave_up: u64,
    /// Jobs still waiting for a retry when the run stopped.
    pub pending: u64,
    /// Attempts the service acknowledged (failed + succeeded).
    pub attempts: u64,
    pub failed_attempts: u64,
    /// Acknowledged attempts after the first.
    pub retries: u64,
    pub retries_per_job: f64,
    /// Recommendations the driver received, by method, before and after the warm-up.
    pub methods_warmup: BTreeMap<String, u64>,
    pub methods_after_warmup: BTreeMap<String, u64>,
    pub bayesian_share_after_warmup: f64,
    /// Requests that failed, by HTTP status (or `unreachable`).
    pub http_errors: BTreeMap<String, u64>,
    pub foreign_claims: u64,
    /// What the service's `/metrics` counted over the run (end scrape minus start scrape).
    pub service: Option<ServiceCounters>,
    /// Why the final scrape failed, if it did.
    pub service_error: Option<String>,
    /// Where the driver's counts and the service's disagree (empty: they agree).
    pub mismatches: Vec<String>,
}

impl Report {
    /// Each counter the driver and `/metrics` should agree on, named where they do not.
    fn compare(&self) -> Vec<String> {
        let Some(service) = &self.service else {
            return vec!["the service's /metrics could not be read at the end".into()];
        };
        let mut methods = self.methods_warmup.clone();
        for (m, n) in &self.methods_after_warmup {
            *methods.entry(m.clone()).or_default() += n;
        }
        let pairs = vec![
            (
                "failed attempts",
                self.failed_attempts,
                service.attempts_failed,
            ),
            (
                "successful attempts",
                self.succeeded,
                service.attempts_succeeded,
            ),
            ("retries", self.retries, service.retries),
        ];
        let mut out: Vec<String> = pairs
            .into_iter()
            .filter(|(_, ours, theirs)| ours != theirs)
            .map(|(name, ours, theirs)| format!("{name}: driver {ours}, /metrics {theirs}"))
            .collect();
        out.extend(method_mismatches(&methods, service));
        out
    }

    /// Recommendations `/metrics` counted beyond the driver's, made by operators applying one
    /// in the console (or anyone calling `/recommendation`) during the run.
    fn others_recommendations(&self) -> u64 {
        let ours: u64 = self
            .methods_warmup
            .values()
            .chain(self.methods_after_warmup.values())
            .sum();
        self.service
            .as_ref()
            .map_or(0, |s| s.recommendations_total().saturating_sub(ours))
    }

    /// What makes the run fail `--check`: every counter that differs from `/metrics` (or an
    /// unreadable `/metrics`), and the requests that failed. Empty: the run checks out.
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.mismatches.clone();
        let failed: u64 = self.http_errors.values().sum();
        if failed > 0 {
            out.push(format!(
                "{failed} request{} failed (by status: {})",
                if failed == 1 { "" } else { "s" },
                counts(&self.http_errors)
            ));
        }
        out
    }

    /// The report as text for a terminal.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario {} ({} mode, seed {}), {:.1} s",
            self.scenario, self.mode, self.seed, self.seconds
        );
        let _ = writeln!(
            out,
            "jobs        {} (succeeded {}, gave up {}, still pending {})",
            self.jobs, self.succeeded, self.gave_up, self.pending
        );
        let _ = writeln!(
            out,
            "attempts    {} acknowledged ({} failed), {} retries = {:.2} per job",
            self.attempts, self.failed_attempts, self.retries, self.retries_per_job
        );
        let _ = writeln!(
            out,
            "methods     warm-up (first {:.0} s): {}",
            self.warmup_seconds,
            counts(&self.methods_warmup)
        );
        let _ = writeln!(
            out,
            "            after warm-up: {} (bayesian {:.0}%)",
            counts(&self.methods_after_warmup),
            100.0 * self.bayesian_share_after_warmup
        );
        let _ = writeln!(out, "http errors {}", counts(&self.http_errors));
        if self.foreign_claims > 0 {
            let _ = writeln!(
                out,
                "claimed other workers' jobs {} times (left to their lease)",
                self.foreign_claims
            );
        }
        out.push_str(&self.service_text());
        out.push_str(&self.verdict());
        out
    }

    /// The last line: whether the run checks out, and if not, each reason.
    fn verdict(&self) -> String {
        let problems = self.problems();
        if problems.is_empty() {
            return "verdict     ok: every counter equals the service's /metrics over the run, \
                    no request failed\n"
                .into();
        }
        let hint = if self.mismatches.is_empty() {
            ""
        } else {
            " (other clients of the same service count in /metrics too)"
        };
        format!("verdict     NOT OK: {}{hint}\n", problems.join("; "))
    }

    fn service_text(&self) -> String {
        let Some(s) = &self.service else {
            return format!(
                "/metrics    unreadable at the end: {}\n",
                self.service_error.as_deref().unwrap_or("unknown error")
            );
        };
        let verdict = if self.mismatches.is_empty() {
            "agrees with the driver"
        } else {
            "DISAGREES with the driver"
        };
        let others = match self.others_recommendations() {
            0 => String::new(),
            n => format!(" ({n} from operator actions, not the driver)"),
        };
        format!(
            "/metrics    over the run: {} attempts ({} failed), {} retries, {} recommendations{others}: \
             {verdict}\n",
            s.attempts_failed + s.attempts_succeeded,
            s.attempts_failed,
            s.retries,
            s.recommendations_total()
        )
    }
}

/// The recommendation counts by method where the driver and `/metrics` disagree. Only what the
/// driver caused is compared: `/metrics` may count more of a method than the driver did, as
/// long as all of its surplus is explained by answered requests that recommend without a
/// failure (an operator pressing apply in the console during the demo).
fn method_mismatches(ours: &BTreeMap<String, u64>, service: &ServiceCounters) -> Vec<String> {
    let theirs = &service.recommendations;
    let names: std::collections::BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    let pairs: Vec<(&String, u64, u64)> = names
        .into_iter()
        .map(|m| {
            let get = |map: &BTreeMap<String, u64>| map.get(m).copied().unwrap_or(0);
            (m, get(ours), get(theirs))
        })
        .collect();
    let surplus: u64 = pairs.iter().map(|(_, o, t)| t.saturating_sub(*o)).sum();
    let explained = pairs.iter().all(|(_, o, t)| t >= o) && surplus <= service.other_recommending;
    if explained {
        return Vec::new();
    }
    pairs
        .into_iter()
        .filter(|(_, o, t)| o != t)
        .map(|(m, o, t)| format!("{m} recommendations: driver {o}, /metrics {t}"))
        .collect()
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = map
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Method, RetryRecommendation};
    use chrono::Utc;

    fn answer(method: Method, retry: bool) -> FailureResponse {
        FailureResponse {
            recommendation: RetryRecommendation {
                should_retry: retry,
                delay_ms: 1_000,
                max_attempts: 3,
                confidence: 0.5,
                rationale: String::new(),
                method,
                estimated_success: 0.5,
                next_evaluation: Utc::now(),
                policy_guardrails: Vec::new(),
                explanation: None,
            },
            job_id: "j".into(),
            next_attempt_at: retry.then(Utc::now),
            state: crate::model::JobState::Scheduled,
        }
    }

    fn tally() -> Tally {
        let mut t = Tally::new(10_000);
        t.failure_acked(1, &answer(Method::Rules, true), 5_000);
        t.failure_acked(2, &answer(Method::Bayesian, true), 12_000);
        t.failure_acked(1, &answer(Method::Rules, false), 13_000);
        t.success_acked(3);
        t
    }

    fn report(t: &Tally, service: ServiceCounters) -> Report {
        let scenario = crate::sim::scenario::Scenario::parse(
            "duration = \"1m\"\n[[workload]]\nname = \"a\"\njob_type = \"t\"\n\
             error_class = \"x\"\nrate = 1.0\nfailure = \"permanent\"\n",
            "<test>",
        )
        .unwrap();
        let config = super::super::DriverConfig {
            scenario: scenario.clone(),
            rate: None,
            duration: std::time::Duration::from_secs(60),
            seed: 1,
            mode: super::super::Mode::Claim,
            workers: 1,
            lease: std::time::Duration::from_secs(30),
            poll: std::time::Duration::from_millis(200),
            live: false,
            keep_retrying: false,
        };
        t.report(ReportInput {
            scenario: &scenario,
            config: &config,
            wall: std::time::Duration::from_secs(60),
            pending: 1,
            service: Ok(service),
        })
    }

    #[test]
    fn counts_jobs_retries_and_methods_by_phase() {
        let r = report(&tally(), ServiceCounters::default());
        assert_eq!((r.jobs, r.attempts, r.retries, r.gave_up), (2, 4, 2, 1));
        assert_eq!(r.methods_warmup["rules"], 1);
        assert_eq!(r.methods_after_warmup["bayesian"], 1);
        assert!((r.bayesian_share_after_warmup - 0.5).abs() < 1e-9);
    }

    fn agreeing() -> ServiceCounters {
        ServiceCounters {
            attempts_failed: 3,
            attempts_succeeded: 1,
            retries: 2,
            recommendations: [
                ("rules".into(), 2),
                ("bayesian".into(), 1),
                ("ml".into(), 0),
            ]
            .into(),
            other_recommending: 0,
        }
    }

    /// An operator pressed apply in the console once during the demo: /metrics counts one
    /// bayesian recommendation the driver never saw, and one answered apply explains it.
    #[test]
    fn an_operator_apply_during_the_run_is_not_a_mismatch() {
        let applied = ServiceCounters {
            recommendations: [("rules".into(), 2), ("bayesian".into(), 2)].into(),
            other_recommending: 1,
            ..agreeing()
        };
        let r = report(&tally(), applied.clone());
        assert!(r.problems().is_empty(), "{}", r.text());
        assert!(
            r.text()
                .contains("(1 from operator actions, not the driver)"),
            "{}",
            r.text()
        );
        // Without the apply request to explain it, the same surplus is a mismatch.
        let unexplained = ServiceCounters {
            other_recommending: 0,
            ..applied
        };
        let r = report(&tally(), unexplained);
        assert_eq!(
            r.problems(),
            ["bayesian recommendations: driver 1, /metrics 2"]
        );
    }

    fn last_line(r: &Report) -> String {
        r.text().lines().last().unwrap().to_string()
    }

    #[test]
    fn names_every_counter_the_service_disagrees_on() {
        let r = report(&tally(), agreeing());
        assert!(r.mismatches.is_empty() && r.problems().is_empty());
        assert!(last_line(&r).starts_with("verdict     ok"), "{}", r.text());
        let off = ServiceCounters {
            attempts_succeeded: 2,
            recommendations: [("rules".into(), 3), ("bayesian".into(), 1)].into(),
            ..agreeing()
        };
        let r = report(&tally(), off);
        assert_eq!(
            r.problems(),
            [
                "successful attempts: driver 1, /metrics 2",
                "rules recommendations: driver 2, /metrics 3"
            ]
        );
        assert!(r.text().contains("DISAGREES"), "{}", r.text());
        let last = last_line(&r);
        assert!(last.contains("NOT OK: successful attempts: driver 1, /metrics 2; rules"));
    }

    #[test]
    fn failed_requests_fail_the_check_even_when_counters_agree() {
        let mut t = tally();
        let refused = ClientError::Api {
            path: "/failures".into(),
            status: 403,
            error: "forbidden".into(),
            details: None,
        };
        t.http_error(&refused);
        t.http_error(&refused);
        let r = report(&t, agreeing());
        assert!(r.mismatches.is_empty());
        assert_eq!(r.problems(), ["2 requests failed (by status: 403 2)"]);
        assert!(
            last_line(&r).contains("NOT OK: 2 requests failed"),
            "{}",
            r.text()
        );
    }

    #[test]
    fn an_unreadable_metrics_fails_the_check() {
        let mut r = report(&tally(), agreeing());
        r.service = None;
        r.mismatches = r.compare();
        assert_eq!(r.problems().len(), 1);
        assert!(last_line(&r).contains("could not be read"), "{}", r.text());
    }
}
