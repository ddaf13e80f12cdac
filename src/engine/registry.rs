//! The Bayesian models the engine keeps: one per (job type, error class), one per
//! (job type, error class, tenant), one per (job type, error class, hour of the day the episode
//! began, UTC) — maintenance windows and peaks recur by the clock — and one per error class
//! across job types, all fed by every retry outcome. A recommendation uses the most specific
//! model with enough data: tenant → hour →
//! job type + error class → error class; a tenant's or an hour's model whose own outcomes have
//! not yet told the elapsed and per-attempt views apart decides, with its own data, in the view
//! of its (job type, error class) model. Also keeps a small ring of recent outcomes per
//! (job type, error class) for "similar cases", so explanations never query the store.

use super::stats::BetaSummary;
use super::survival::{GRID_MS, SolveParams, SurvivalModel, View};
use crate::model::{BayesianModel, DelayBucket, RecoveryPoint, SimilarCase};
use chrono::{DateTime, Utc};
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

mod keys;
pub use keys::{KeyRef, ModelKey, NoModel, Passed};

/// The job type of a model pooled over every job type.
pub const ANY_JOB: &str = "*";
/// Most models kept; the least recently updated goes first.
const MAX_MODELS: usize = 5_000;
/// Recent outcomes kept per (job type, error class).
const CASES_PER_KEY: usize = 32;
/// The upstream bucket edges (ms): 0–1 s, 1–5 s, 5–15 s, 15–30 s, 30–60 s, 1–5 min,
/// 5–15 min, 15 min+.
const UPSTREAM_BUCKETS: [u64; 9] = [
    0,
    1_000,
    5_000,
    15_000,
    30_000,
    60_000,
    300_000,
    900_000,
    u64::MAX,
];

/// One retry outcome to learn from.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    pub job_type: &'a str,
    pub error_class: &'a str,
    pub tenant: Option<&'a str>,
    /// Hour of the day (UTC) the episode began.
    pub hour: u8,
    /// Elapsed time of the last failed attempt before this one.
    pub previous_ms: u64,
    pub case: SimilarCase,
}

/// The minimum samples before a model is used.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub min_samples: u64,
    pub tenant_min_samples: u64,
}

/// The model chosen to decide and the view it decides in.
#[derive(Debug, Clone)]
pub struct Selected<'m> {
    pub key: ModelKey,
    pub model: &'m SurvivalModel,
    /// The model's own view; for a tenant's or an hour's model whose outcomes have not yet
    /// told the views apart, its class's.
    pub view: View,
}

/// All models and similar-case rings.
#[derive(Debug, Clone)]
pub struct Models {
    map: HashMap<ModelKey, SurvivalModel>,
    cases: HashMap<(String, String), VecDeque<SimilarCase>>,
    params: SolveParams,
    /// A model with no data: what the engine believes before any retry was observed.
    prior: SurvivalModel,
}

/// The serialisable part of `Models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelsSnapshot {
    pub models: Vec<(ModelKey, super::survival::Counts)>,
    pub cases: Vec<((String, String), Vec<SimilarCase>)>,
}

impl Models {
    pub fn new(params: SolveParams) -> Self {
        Self {
            map: HashMap::new(),
            cases: HashMap::new(),
            params,
            prior: SurvivalModel::new(params),
        }
    }

    /// The model before any data (its prior), for estimates where nothing was observed yet.
    pub fn prior(&self) -> &SurvivalModel {
        &self.prior
    }

    /// New cost weights or delay bounds: every plan is re-solved.
    pub fn set_params(&mut self, params: SolveParams) {
        if params != self.params {
            self.params = params;
            self.prior.resolve(params);
            self.map.values_mut().for_each(|m| m.resolve(params));
        }
    }

    /// Feeds one retry outcome to the tenant, job-type and class-wide models. Returns the
    /// outcome's log-likelihood ratio, elapsed view over per-attempt view, under the
    /// (job type, error class) model before it learned the outcome (0 for a new model).
    pub fn observe(&mut self, o: Outcome<'_>) -> f64 {
        let c = &o.case;
        let ratio = self
            .map
            .get(&KeyRef::new(o.job_type, o.error_class, None))
            .map_or(0.0, |m| {
                let (time, attempt) = m.log_likelihoods(o.previous_ms, c.elapsed_ms, c.success);
                time - attempt
            });
        let keys = [
            Some(KeyRef::new(o.job_type, o.error_class, None)),
            Some(KeyRef::new(ANY_JOB, o.error_class, None)),
            Some(KeyRef::at_hour(o.job_type, o.error_class, o.hour)),
            o.tenant
                .map(|t| KeyRef::new(o.job_type, o.error_class, Some(t))),
        ];
        for key in keys.into_iter().flatten() {
            self.learn(key, o.previous_ms, c);
        }
        self.remember(o.job_type, o.error_class, o.case);
        ratio
    }

    /// Feeds one outcome to the model under `key`, made first if there is none. Looked up by
    /// reference: a replay of the log calls this for every retry, and the owned key (two or
    /// three strings) is built only for a new model.
    fn learn(&mut self, key: KeyRef<'_>, previous_ms: u64, c: &SimilarCase) {
        let params = self.params;
        if !self.map.contains_key(&key) {
            if self.map.len() >= MAX_MODELS {
                self.evict_stalest();
            }
            self.map.insert(key.owned(), SurvivalModel::new(params));
        }
        let model = self.map.get_mut(&key).expect("present or inserted above");
        model.observe(previous_ms, c.elapsed_ms, c.success, c.timestamp);
        if model.needs_refresh() {
            model.refresh_at(params, c.timestamp);
        }
    }

    /// Keeps `case` in the ring of recent outcomes of (job type, error class).
    fn remember(&mut self, job_type: &str, error_class: &str, case: SimilarCase) {
        let ring = match self.cases.get_mut(&keys::CaseKey(job_type, error_class)) {
            Some(ring) => ring,
            None => self
                .cases
                .entry((job_type.to_string(), error_class.to_string()))
                .or_default(),
        };
        if ring.len() >= CASES_PER_KEY {
            ring.pop_front();
        }
        ring.push_back(case);
    }

    fn evict_stalest(&mut self) {
        let stalest = self
            .map
            .iter()
            .min_by_key(|(_, m)| m.last_updated())
            .map(|(k, _)| k.clone());
        if let Some(key) = stalest {
            self.map.remove(&key);
            self.cases.remove(&(key.job_type, key.error_class));
        }
    }

    /// The most specific model with enough samples and the view it decides in, or why there
    /// is none (boxed: the levels tried are kept by reference, and a caller that ignores them
    /// pays one allocation).
    pub fn select<'a>(
        &self,
        job_type: &'a str,
        error_class: &'a str,
        tenant: Option<&'a str>,
        hour: Option<u8>,
        t: Thresholds,
    ) -> Result<Selected<'_>, Box<NoModel<'a>>> {
        let class = KeyRef::new(job_type, error_class, None);
        // Most specific first; the first two are refinements of the class's model.
        let levels: [Option<(KeyRef<'a>, u64)>; keys::LEVELS] = [
            tenant.map(|name| {
                (
                    KeyRef::new(job_type, error_class, Some(name)),
                    t.tenant_min_samples,
                )
            }),
            hour.map(|h| {
                (
                    KeyRef::at_hour(job_type, error_class, h),
                    t.tenant_min_samples,
                )
            }),
            Some((class, t.min_samples)),
            Some((KeyRef::new(ANY_JOB, error_class, None), t.min_samples)),
        ];
        let class_view = self.map.get(&class).map(SurvivalModel::view);
        let mut none = NoModel::default();
        for (i, level) in levels.into_iter().enumerate() {
            let Some((key, needed)) = level else {
                continue;
            };
            let model = self.map.get(&key);
            let samples = model.map_or(0, SurvivalModel::samples);
            let Some(model) = model.filter(|_| samples >= needed.max(1)) else {
                none.pass(
                    i,
                    Passed {
                        key,
                        samples,
                        needed,
                    },
                );
                continue;
            };
            let refinement = i < 2;
            return Ok(Selected {
                key: key.owned(),
                model,
                view: refined_view(model, class_view.filter(|_| refinement)),
            });
        }
        Err(Box::new(none))
    }

    /// True when no retry of (job type, error class) has succeeded in what its model
    /// remembers, or it has no model yet.
    pub fn never_recovered(&self, job_type: &str, error_class: &str) -> bool {
        self.map
            .get(&KeyRef::new(job_type, error_class, None))
            .is_none_or(|m| !m.has_success())
    }

    /// When any model was last trained (refreshed from its data), if ever.
    pub fn last_trained(&self) -> Option<DateTime<Utc>> {
        self.map
            .values()
            .filter_map(SurvivalModel::last_refreshed)
            .max()
    }

    /// Re-solves the models of (job type, error class) at `now`; false when there is none.
    pub fn refresh(&mut self, job_type: &str, error_class: &str, now: DateTime<Utc>) -> bool {
        let params = self.params;
        let mut found = false;
        for (key, model) in self.map.iter_mut() {
            let job_matches = key.job_type == job_type || key.job_type == ANY_JOB;
            if job_matches && key.error_class == error_class {
                model.refresh_at(params, now);
                found = true;
            }
        }
        found
    }

    /// (models, warm models).
    pub fn status(&self, t: Thresholds) -> (u64, u64) {
        let warm = self
            .map
            .iter()
            .filter(|(k, m)| {
                m.samples()
                    >= if k.tenant.is_some() || k.hour.is_some() {
                        t.tenant_min_samples
                    } else {
                        t.min_samples
                    }
            })
            .count();
        (self.map.len() as u64, warm as u64)
    }

    /// Up to `n` recent outcomes of (job type, error class) closest in elapsed time to
    /// `elapsed_ms`, most recent first among equals.
    pub fn similar(
        &self,
        job_type: &str,
        error_class: &str,
        elapsed_ms: u64,
        n: usize,
        exclude_job: Option<&str>,
    ) -> Vec<SimilarCase> {
        let Some(ring) = self.cases.get(&keys::CaseKey(job_type, error_class)) else {
            return Vec::new();
        };
        let mut cases: Vec<&SimilarCase> = ring
            .iter()
            .rev()
            .filter(|c| exclude_job != Some(c.job_id.as_str()))
            .collect();
        cases.sort_by_key(|c| c.elapsed_ms.abs_diff(elapsed_ms));
        cases.into_iter().take(n).cloned().collect()
    }

    /// Every model in the upstream `BayesianModel` shape plus its recovery curve.
    pub fn export(&self, credibility: f64) -> Vec<BayesianModel> {
        let mut out: Vec<BayesianModel> = self
            .map
            .iter()
            .map(|(k, m)| export_one(k, m, credibility))
            .collect();
        out.sort_by(|a, b| {
            (&a.job_type, &a.error_class, &a.tenant, a.hour_utc).cmp(&(
                &b.job_type,
                &b.error_class,
                &b.tenant,
                b.hour_utc,
            ))
        });
        out
    }

    pub fn snapshot(&self) -> ModelsSnapshot {
        let mut models: Vec<_> = self
            .map
            .iter()
            .map(|(k, m)| (k.clone(), m.counts.clone()))
            .collect();
        models.sort_by(|a, b| a.0.cmp(&b.0));
        let mut cases: Vec<_> = self
            .cases
            .iter()
            .map(|(k, r)| (k.clone(), r.iter().cloned().collect()))
            .collect();
        cases.sort_by(|a: &((String, String), Vec<SimilarCase>), b| a.0.cmp(&b.0));
        ModelsSnapshot { models, cases }
    }

    pub fn restore(&mut self, snapshot: ModelsSnapshot) {
        let params = self.params;
        self.map = snapshot
            .models
            .into_iter()
            .map(|(k, c)| (k, SurvivalModel::from_counts(c, params)))
            .collect();
        self.cases = snapshot
            .cases
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().rev().take(CASES_PER_KEY).rev().collect()))
            .collect();
    }
}

/// The view a model decides in: its own, or, for a refinement of a class (a tenant's or an
/// hour's model, `class_view` given) whose own outcomes have not yet told the views apart, its
/// class's. Such a model has fewer outcomes than its class, and one whose retries were planned
/// in one view cannot tell the views apart (a quiet tenant's short blips, all retried after
/// they ended, fit both): it still decides with its own data, in the view its class has
/// chosen, rather than being passed over for the class's data (a noisy tenant's long outages).
fn refined_view(model: &SurvivalModel, class_view: Option<View>) -> View {
    match class_view {
        Some(view) if !model.view_decided() => view,
        _ => model.view(),
    }
}

/// Model confidence: penalised below 50 (effective) samples.
pub fn sample_confidence(effective_samples: f64) -> f64 {
    (effective_samples / 50.0).clamp(0.0, 1.0)
}

fn export_one(key: &ModelKey, m: &SurvivalModel, credibility: f64) -> BayesianModel {
    let buckets = UPSTREAM_BUCKETS
        .windows(2)
        .map(|edge| {
            let (mut s, mut f) = (0.0, 0.0);
            for (j, &b) in GRID_MS.iter().enumerate() {
                if b >= edge[0] && b < edge[1] {
                    s += m.counts.attempt_successes[j];
                    f += m.counts.attempt_failures[j];
                }
            }
            let post = BetaSummary::new(1.0 + s, 1.0 + f, credibility);
            DelayBucket {
                delay_min_ms: edge[0],
                delay_max_ms: if edge[1] == u64::MAX { 0 } else { edge[1] },
                successes: s.round() as u64,
                failures: f.round() as u64,
                probability: post.mean,
                upper_bound: post.upper,
                lower_bound: post.lower,
            }
        })
        .collect();
    let recovery_curve = GRID_MS
        .iter()
        .enumerate()
        .skip(1)
        .map(|(j, &b)| {
            let post = m.success_posterior(0, j, credibility);
            RecoveryPoint {
                elapsed_ms: b,
                probability: post.mean,
                lower_bound: post.lower,
                upper_bound: post.upper,
            }
        })
        .collect();
    BayesianModel {
        job_type: key.job_type.clone(),
        error_class: key.error_class.clone(),
        tenant: key.tenant.clone(),
        hour_utc: key.hour,
        buckets,
        last_updated: m.last_updated().unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        sample_count: m.samples(),
        confidence: sample_confidence(m.effective_samples()),
        recovery_curve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::survival::tests::params;

    /// One episode of `tenant`'s `send/timeout` failures that recovers `recovery_ms` after the
    /// first failure, retried at the elapsed times of `schedule` until one succeeds.
    fn episode(models: &mut Models, tenant: &str, recovery_ms: u64, schedule: &[u64]) {
        let mut previous_ms = 0;
        for &elapsed_ms in schedule {
            let success = elapsed_ms >= recovery_ms;
            models.observe(Outcome {
                job_type: "send",
                error_class: "timeout",
                tenant: Some(tenant),
                hour: 3,
                previous_ms,
                case: SimilarCase {
                    job_id: "j".into(),
                    attempt_number: 2,
                    delay_ms: elapsed_ms - previous_ms,
                    elapsed_ms,
                    success,
                    timestamp: DateTime::<Utc>::UNIX_EPOCH,
                },
            });
            if success {
                return;
            }
            previous_ms = elapsed_ms;
        }
    }

    /// A noisy tenant's long outages (recovered 60–120 s in: retries at 10 s and 40 s fail)
    /// make the class's elapsed view decide; a quiet tenant's 1–3 s blips, retried only after
    /// they ended, fit both views alike. The quiet tenant's model still decides, with its own
    /// data, in the class's view, instead of being passed over for the class's long waits.
    #[test]
    fn an_undecided_tenant_model_decides_with_its_own_data_in_its_class_view() {
        let mut models = Models::new(params());
        for i in 0..300u64 {
            episode(
                &mut models,
                "big",
                60_000 + (i * 7_919) % 60_000,
                &[10_000, 40_000, 150_000],
            );
        }
        for _ in 0..40 {
            episode(&mut models, "small", 2_000, &[5_000]);
        }
        let t = Thresholds {
            min_samples: 20,
            tenant_min_samples: 20,
        };
        let class = models.select("send", "timeout", None, None, t).unwrap();
        assert_eq!(
            (class.view, class.model.view_decided()),
            (View::Elapsed, true)
        );
        let small = models
            .select("send", "timeout", Some("small"), None, t)
            .unwrap();
        assert_eq!(small.key.label(), "send/timeout/small");
        assert!(!small.model.view_decided(), "{:?}", small.model.counts);
        assert_eq!(small.view, View::Elapsed);
        let plan = |s: &Selected<'_>| s.model.best_as(s.view, 0, 5, 0).unwrap().best.delay_ms;
        assert!(
            plan(&small) <= 5_000,
            "quiet tenant waits {} ms",
            plan(&small)
        );
        assert!(plan(&class) >= 40_000, "class waits {} ms", plan(&class));
    }
}
