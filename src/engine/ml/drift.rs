//! Drift: how far the situations a model serves have moved from those it was trained on,
//! by the population stability index (PSI) per feature and of the prediction, beyond the
//! variation the data show without drift.
//!
//! The [`Reference`] is fitted with the model on the training situations: for each situation
//! feature (not the delay ones, which the tier chooses) the share of those rows in each bin —
//! deciles of a numeric feature, each known value of a categorical one — plus a bin for
//! missing or unknown values; and the same for the model's prediction at a fixed reference
//! delay (the median training delay), so live and training predictions are compared at the
//! same delay. Each column also keeps its **noise**, the PSI a live window shows without
//! drift, in two parts:
//!
//! - **chance**: the largest PSI of [`NOISE_DRAWS`] windows of [`WINDOW`] rows — the live
//!   window's size — drawn from the training rows by a moving-block bootstrap: runs of
//!   consecutive rows (at most a quarter of the training part, at most [`WINDOW`] long), each
//!   starting at random, so a slowly varying count or a few long episodes move a drawn window
//!   as they move a live one. A window shorter than the live one would leave bins empty by
//!   chance, each adding about `share · ln(share / 10⁻⁴)` (0.7 for a decile), and make the
//!   noise depend on how much training data there was (README "ML measurements", round 8);
//! - **shift**: how far the held-out slice — the retries after the training part, as live
//!   traffic is — already stands from the training shares, beyond what a draw of its size
//!   shows by chance (its PSI less the median PSI of [`SHIFT_DRAWS`] draws of as many
//!   training rows, never below 0): the Bayesian tier settling as it learns, or traffic
//!   leaving the opening minutes of the data, move live windows that much without drift.
//!
//! The [`DriftMonitor`] counts the situations of the watched version's decisions in windows of
//! [`WINDOW`]; at the end of each window the PSI of every feature and of the prediction is
//! computed, and a column's **excess**: its PSI less its noise (never below 0). Drift is a
//! move that lasts, so a column's **sustained** excess is the smaller of its excess in this
//! window and in the one before (0 in the first window watched: one window proves nothing),
//! and the drift score is the largest sustained excess of a column that counts.
//! `PSI = Σ (live − ref) · ln(live / ref)`, shares floored at 10⁻⁴. A stored reference
//! without noise (fitted before it was kept) has noise 0; one fitted before round 8 keeps the
//! noise it was fitted with (the largest PSI of a few consecutive training windows).
//!
//! What counts: the features in [`POLICY_SHAPED`] follow the retry policy itself (which
//! attempt a job is at, how long it has failed, how many failed retries its dependency saw),
//! and so does the prediction, which reads them. The training rows were retried by the
//! Bayesian tier; the situations a serving model decides were retried by the model, so those
//! columns differ by policy, not by drift, and only the others count. A shadow (or a version
//! watched while nothing else serves) scores situations the Bayesian tier retried, like the
//! training rows, so for it every column counts. `recent_failures` is binned by octave (0, 1,
//! 2–3, 4–7, …) rather than by training deciles: it moves slowly, so a window holds few
//! independent values of it and deciles of a narrow training band leave bins empty by
//! chance. `time_of_day` counts only when the training data span a whole day: otherwise every
//! later hour is new by construction.

use super::encode::Value;
use super::features::{REQUIRED, Situation};
use super::fitted::Fitted;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// Served decisions per drift window.
pub const WINDOW: u64 = 500;
/// The runs of consecutive rows a drawn window is made of are at most 1/`MIN_NOISE_RUNS` of
/// the rows they are drawn from (and at most [`WINDOW`] long), so short training data still
/// give runs that start in different places.
pub const MIN_NOISE_RUNS: usize = 4;
/// Most runs of consecutive rows the reference is fitted on (and the held-out slice is
/// compared with), evenly spaced: 10⁵ situations give deciles as good as all of them would.
pub const MAX_NOISE_RUNS: usize = 200;
/// Live-size windows drawn from the training rows for a column's chance PSI (its largest is
/// about the 99.5th percentile).
pub const NOISE_DRAWS: usize = 200;
/// Draws of the held-out slice's size whose median PSI is what that size shows by chance.
pub const SHIFT_DRAWS: usize = 25;
/// The draws are the same for the same rows, so a training is reproducible.
const NOISE_SEED: u64 = 0x5eed_d41f;
/// Numeric features are cut at these training quantiles.
const QUANTILES: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
/// Shares are floored here so an empty bin has a finite PSI term.
const FLOOR: f64 = 1e-4;
/// Situation features whose distribution the retry policy shapes (see the module docs).
pub const POLICY_SHAPED: [&str; 3] = ["attempt_number", "since_first_failure", "recent_failures"];
/// The feature binned by octave.
const OCTAVE_BINNED: &str = "recent_failures";
/// Octaves of a count: 0 | 1 | 2–3 | … | 2¹⁵ and over (cut on the feature's `ln(1 + count)`).
const OCTAVES: usize = 16;
/// The feature that needs a whole day of training data.
const DAILY: &str = "time_of_day";
/// Training data shorter than this leave `time_of_day` out of the reference.
pub const DAY_MS: u64 = 24 * 3_600_000;
/// The drift score above which `ModelDriftDetected` fires, unless configured otherwise
/// (`[alerts] drift_threshold`).
pub const DEFAULT_THRESHOLD: f64 = 0.3;

/// The training distribution of one column.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Bins {
    pub name: String,
    /// Numeric cut points (a value `x` falls in the first bin whose edge is ≥ `x`); empty for
    /// a categorical column, whose bins are its vocabulary indices.
    pub edges: Vec<f64>,
    /// Share of training rows per bin; the last bin is missing or unknown.
    pub shares: Vec<f64>,
    /// The PSI a live window shows without drift: chance plus the held-out slice's shift (see
    /// the module docs); 0 in a reference stored before it was kept.
    #[serde(default)]
    pub noise: f64,
}

/// The training distribution a model's drift is measured against.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Reference {
    /// Situation columns, by their index in the model's row.
    pub columns: Vec<(usize, Bins)>,
    pub prediction: Bins,
    pub reference_delay_ms: u64,
}

impl Bins {
    /// Cut points at the training deciles of `values` (shares not set yet).
    fn numeric(name: &str, values: &[f64]) -> Self {
        let mut known: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        known.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = QUANTILES
            .iter()
            .filter_map(|q| known.get(((known.len() as f64 - 1.0) * q).round() as usize))
            .copied()
            .collect();
        edges.dedup();
        Self {
            name: name.to_string(),
            edges,
            ..Self::default()
        }
    }

    /// Bins at octaves of a count on its `ln(1 + count)` scale, whatever the training band.
    fn octaves(name: &str) -> Self {
        Self {
            name: name.to_string(),
            // Between 2^k - 1 and 2^k, so no count sits on an edge.
            edges: (0..OCTAVES as i32)
                .map(|k| (2f64.powi(k) + 0.5).ln())
                .collect(),
            ..Self::default()
        }
    }

    fn categorical(name: &str, vocabulary: usize) -> Self {
        Self {
            name: name.to_string(),
            shares: vec![0.0; vocabulary + 1],
            ..Self::default()
        }
    }

    /// Sets the shares of the training `values` and the noise, from `draws` of them and the
    /// held-out slice's values `held`.
    fn fitted(mut self, values: &[f64], held: &[f64], draws: &NoiseDraws) -> Self {
        self.shares = self.shares_of(values);
        let chance = draws
            .live(values)
            .map(|w| self.psi(&self.shares_of(&w)))
            .fold(0.0, f64::max);
        self.noise = chance + self.shift(values, held, draws);
        self
    }

    /// How far the held-out values stand from the training shares beyond what as many
    /// training rows show by chance (the median of their draws), never below 0.
    fn shift(&self, values: &[f64], held: &[f64], draws: &NoiseDraws) -> f64 {
        if held.is_empty() {
            return 0.0;
        }
        let mut chance: Vec<f64> = draws
            .sized(values, held.len(), SHIFT_DRAWS)
            .map(|w| self.psi(&self.shares_of(&w)))
            .collect();
        chance.sort_by(f64::total_cmp);
        let median = chance.get(chance.len() / 2).copied().unwrap_or(0.0);
        (self.psi(&self.shares_of(held)) - median).max(0.0)
    }

    fn len(&self) -> usize {
        if self.edges.is_empty() {
            self.shares.len().max(1)
        } else {
            self.edges.len() + 2
        }
    }

    fn bin(&self, x: f64) -> usize {
        let missing = self.len() - 1;
        if x.is_nan() {
            return missing;
        }
        if self.edges.is_empty() {
            return (x as usize).min(missing);
        }
        self.edges.partition_point(|&e| e < x)
    }

    fn shares_of(&self, values: &[f64]) -> Vec<f64> {
        let mut counts = vec![0.0; self.len()];
        for &v in values {
            counts[self.bin(v)] += 1.0;
        }
        let n = values.len().max(1) as f64;
        counts.iter().map(|c| c / n).collect()
    }

    /// The PSI of a live window's `counts` beside this column's noise, after a window whose
    /// excess was `excess_before`.
    fn drift(&self, counts: &[f64], excess_before: f64) -> ColumnDrift {
        ColumnDrift {
            name: self.name.clone(),
            psi: self.psi(counts),
            noise: self.noise,
            excess_before,
        }
    }

    /// PSI of `counts` (per bin) against the training shares.
    pub fn psi(&self, counts: &[f64]) -> f64 {
        let n: f64 = counts.iter().sum();
        if n == 0.0 {
            return 0.0;
        }
        self.shares
            .iter()
            .zip(counts)
            .map(|(&r, &c)| {
                let (r, l) = (r.max(FLOOR), (c / n).max(FLOOR));
                (l - r) * (l / r).ln()
            })
            .sum()
    }
}

/// Windows drawn from the training rows by a moving-block bootstrap: each is made of runs of
/// `run` consecutive rows (the last one cut short) that start at random. Every column gets
/// the same draws (the same seed), so their noises are measured on the same windows. When the
/// reference was fitted on evenly spaced runs rather than every row, a drawn run may join the
/// end of one to the start of the next.
#[derive(Debug, Clone, Copy)]
struct NoiseDraws {
    run: usize,
}

impl NoiseDraws {
    /// Draws of `rows` training rows in runs of `run` (at most the rows there are).
    fn new(rows: usize, run: usize) -> Self {
        Self {
            run: run.clamp(1, rows.max(1)),
        }
    }

    /// [`NOISE_DRAWS`] windows of `values` of the live window's size.
    fn live<'a>(&self, values: &'a [f64]) -> impl Iterator<Item = Vec<f64>> + 'a {
        self.sized(values, WINDOW as usize, NOISE_DRAWS)
    }

    /// `draws` windows of `values`, `size` long each, in runs no longer than the window.
    fn sized<'a>(
        &self,
        values: &'a [f64],
        size: usize,
        draws: usize,
    ) -> impl Iterator<Item = Vec<f64>> + 'a {
        let run = self.run.min(size).min(values.len()).max(1);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(NOISE_SEED);
        let last_start = values.len().saturating_sub(run);
        (0..draws).map(move |_| {
            let mut window = Vec::with_capacity(size);
            while window.len() < size && !values.is_empty() {
                let start = rng.random_range(0..=last_start);
                let take = run.min(size - window.len());
                window.extend_from_slice(&values[start..start + take]);
            }
            window
        })
    }
}

impl Reference {
    /// Fits the reference on the training `situations` — runs of `run` consecutive training
    /// rows, in time order — and the `held_out` ones after them, with the model's predictions
    /// for both at `reference_delay_ms`; `span_ms` is how long the training data last.
    pub fn fit(
        model: &Fitted,
        situations: &[Situation<'_>],
        held_out: &[Situation<'_>],
        run: usize,
        reference_delay_ms: u64,
        span_ms: u64,
    ) -> Result<Self, super::MlError> {
        let names = model.features().names();
        let rows = rows_at(model, situations, reference_delay_ms);
        let held_rows = rows_at(model, held_out, reference_delay_ms);
        let indexed = model.encoder().indexed_columns(&rows)?;
        let held_indexed = model.encoder().indexed_columns(&held_rows)?;
        let draws = NoiseDraws::new(rows.len(), run);
        let mut columns = Vec::new();
        for (j, name) in names.iter().enumerate() {
            if REQUIRED.contains(&name.as_str()) || (name == DAILY && span_ms < DAY_MS) {
                continue;
            }
            let values = &indexed[j * rows.len()..(j + 1) * rows.len()];
            let bins = match model.encoder().vocabulary(name) {
                Some(vocabulary) => Bins::categorical(name, vocabulary.len()),
                None if name == OCTAVE_BINNED => Bins::octaves(name),
                None => Bins::numeric(name, values),
            };
            let held = &held_indexed[j * held_rows.len()..(j + 1) * held_rows.len()];
            columns.push((j, bins.fitted(values, held, &draws)));
        }
        let predictions = model.predict_rows(&rows)?;
        let held_predictions = if held_rows.is_empty() {
            Vec::new()
        } else {
            model.predict_rows(&held_rows)?
        };
        Ok(Self {
            columns,
            prediction: Bins::numeric("prediction", &predictions).fitted(
                &predictions,
                &held_predictions,
                &draws,
            ),
            reference_delay_ms,
        })
    }
}

/// The model's rows of `situations` at `delay_ms`.
fn rows_at<'a>(model: &Fitted, situations: &[Situation<'a>], delay_ms: u64) -> Vec<Vec<Value<'a>>> {
    situations
        .iter()
        .map(|s| model.features().row(s, delay_ms))
        .collect()
}

/// One column's PSI in a live window, and its noise.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColumnDrift {
    pub name: String,
    pub psi: f64,
    pub noise: f64,
    /// The column's [`Self::excess`] in the window before (0 in the first window watched).
    pub excess_before: f64,
}

impl ColumnDrift {
    /// How far the PSI exceeds the noise (0 when it does not).
    pub fn excess(&self) -> f64 {
        (self.psi - self.noise).max(0.0)
    }

    /// The excess this window and the one before both show.
    pub fn sustained(&self) -> f64 {
        self.excess().min(self.excess_before)
    }
}

/// Drift scores of the last complete window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DriftScores {
    pub version: String,
    /// Per situation feature.
    pub features: Vec<ColumnDrift>,
    pub prediction: ColumnDrift,
    /// Windows completed since the version started being watched.
    pub windows: u64,
    /// How many times the monitor had started over (a version deployed, shadowed or taken
    /// off) when this window closed: with `windows`, tells the windows of one watch apart.
    pub watch: u64,
    /// Whether the Bayesian tier retried the watched situations, as it did the training rows
    /// (a shadow), so the policy-shaped columns and the prediction count.
    pub same_policy: bool,
}

impl DriftScores {
    /// The columns that count (see the module docs).
    fn counted(&self) -> impl Iterator<Item = &ColumnDrift> {
        let prediction = self.same_policy.then_some(&self.prediction);
        self.features
            .iter()
            .filter(|c| self.same_policy || !POLICY_SHAPED.contains(&c.name.as_str()))
            .chain(prediction)
    }

    /// The largest sustained excess of a column that counts (0 when none has one).
    pub fn score(&self) -> f64 {
        self.counted()
            .map(ColumnDrift::sustained)
            .fold(0.0, f64::max)
    }

    /// The column that counts with the largest sustained excess, then excess, then PSI.
    pub fn worst(&self) -> &str {
        let key = |c: &ColumnDrift| (c.sustained(), c.excess(), c.psi);
        self.counted()
            .max_by(|a, b| {
                key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map_or("-", |c| c.name.as_str())
    }
}

/// Whether a drift score raises `ModelDriftDetected` at `threshold`.
pub fn drifted(score: f64, threshold: f64) -> bool {
    score > threshold
}

/// Counts of the current window and the scores of the last complete one.
#[derive(Debug, Clone, Default)]
pub struct DriftMonitor {
    version: String,
    seen: u64,
    counts: Vec<Vec<f64>>,
    prediction: Vec<f64>,
    last: Option<DriftScores>,
    windows: u64,
    watch: u64,
    same_policy: bool,
}

impl DriftMonitor {
    /// Counts one served situation (and the prediction at the reference delay).
    pub fn observe(
        &mut self,
        reference: &Reference,
        model: &Fitted,
        situation: &Situation<'_>,
        prediction: f64,
    ) {
        let version_changed = self.counts.len() != reference.columns.len();
        if version_changed {
            self.restart(String::new(), reference, self.same_policy);
        }
        let row = model
            .features()
            .row(situation, reference.reference_delay_ms);
        let Ok(indexed) = model.encoder().indexed(&row) else {
            return;
        };
        for ((j, bins), counts) in reference.columns.iter().zip(&mut self.counts) {
            counts[bins.bin(indexed[*j])] += 1.0;
        }
        self.prediction[reference.prediction.bin(prediction)] += 1.0;
        self.seen += 1;
        if self.seen >= WINDOW {
            self.close(reference);
        }
    }

    /// Starts over for `version` (deployed or rolled back); `same_policy` when the Bayesian
    /// tier retries the situations it will count (a shadow).
    pub fn restart(&mut self, version: String, reference: &Reference, same_policy: bool) {
        self.version = version;
        self.same_policy = same_policy;
        self.start_over();
        self.counts = reference
            .columns
            .iter()
            .map(|(_, b)| vec![0.0; b.len()])
            .collect();
        self.prediction = vec![0.0; reference.prediction.len()];
    }

    /// Nothing is watched any more: no scores until a version is watched again.
    pub fn stop(&mut self) {
        self.start_over();
        self.counts.clear();
        self.prediction.clear();
    }

    /// A new watch: no window seen, no scores yet.
    fn start_over(&mut self) {
        self.seen = 0;
        self.windows = 0;
        self.watch += 1;
        self.last = None;
    }

    fn close(&mut self, reference: &Reference) {
        self.windows += 1;
        let last = self.last.as_ref();
        let before = |i: usize| {
            last.and_then(|l| l.features.get(i))
                .map_or(0.0, ColumnDrift::excess)
        };
        let features = reference
            .columns
            .iter()
            .zip(&self.counts)
            .enumerate()
            .map(|(i, ((_, b), c))| b.drift(c, before(i)))
            .collect();
        let prediction_before = last.map_or(0.0, |l| l.prediction.excess());
        self.last = Some(DriftScores {
            version: self.version.clone(),
            features,
            prediction: reference
                .prediction
                .drift(&self.prediction, prediction_before),
            windows: self.windows,
            watch: self.watch,
            same_policy: self.same_policy,
        });
        self.seen = 0;
        self.counts.iter_mut().for_each(|c| c.fill(0.0));
        self.prediction.fill(0.0);
    }

    /// The scores of the last complete window, if one has completed.
    pub fn scores(&self) -> Option<&DriftScores> {
        self.last.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bins` fitted on `values` without a held-out slice, in runs of a quarter of them.
    fn fit(bins: Bins, values: &[f64]) -> Bins {
        let draws = NoiseDraws::new(values.len(), values.len() / MIN_NOISE_RUNS);
        bins.fitted(values, &[], &draws)
    }

    #[test]
    fn psi_is_zero_for_the_training_shares_and_grows_with_the_shift() {
        let training: Vec<f64> = (0..1_000).map(|i| f64::from(i % 100)).collect();
        let bins = fit(Bins::numeric("x", &training), &training);
        let same: Vec<f64> = bins.shares.iter().map(|s| s * 500.0).collect();
        assert!(bins.psi(&same).abs() < 1e-9);
        let shifted = bins.shares_of(&training.iter().map(|x| x + 30.0).collect::<Vec<_>>());
        let far = bins.shares_of(&training.iter().map(|x| x + 90.0).collect::<Vec<_>>());
        let (near, far) = (bins.psi(&shifted), bins.psi(&far));
        assert!(near > 0.3, "a 30% shift: {near}");
        assert!(far > near, "{far} > {near}");
    }

    /// A column whose window before showed the same excess.
    fn column(name: &str, psi: f64, noise: f64) -> ColumnDrift {
        ColumnDrift {
            name: name.into(),
            psi,
            noise,
            excess_before: (psi - noise).max(0.0),
        }
    }

    #[test]
    fn the_score_is_the_largest_sustained_excess_over_noise_that_counts_and_names_its_column() {
        let scores = DriftScores {
            version: "ml-1".into(),
            features: vec![
                column("queue", 0.15, 0.05),
                column("attempt_number", 0.9, 0.4),
                column("payload_size", 0.6, 0.7),
            ],
            prediction: column("prediction", 0.2, 0.0),
            windows: 1,
            watch: 1,
            same_policy: true,
        };
        assert_eq!((scores.score(), scores.worst()), (0.5, "attempt_number"));
        let prediction = DriftScores {
            prediction: column("prediction", 0.9, 0.0),
            ..scores.clone()
        };
        assert_eq!(
            (prediction.score(), prediction.worst()),
            (0.9, "prediction")
        );
        let served = DriftScores {
            same_policy: false,
            ..prediction
        };
        assert!((served.score() - 0.1).abs() < 1e-12, "{served:?}");
        assert_eq!(
            served.worst(),
            "queue",
            "a serving model's own retries shape attempt_number and the prediction"
        );
        let within = DriftScores {
            features: vec![column("payload_size", 0.6, 0.7)],
            ..served
        };
        assert_eq!((within.score(), within.worst()), (0.0, "payload_size"));
        let once = DriftScores {
            features: vec![ColumnDrift {
                excess_before: 0.0,
                ..column("queue", 2.0, 0.1)
            }],
            ..within
        };
        assert_eq!(
            once.score(),
            0.0,
            "one window over its noise is not drift yet"
        );
        assert_eq!(once.worst(), "queue");
        assert!(drifted(0.31, DEFAULT_THRESHOLD));
        assert!(
            !drifted(DEFAULT_THRESHOLD, DEFAULT_THRESHOLD),
            "above, not at"
        );
    }

    #[test]
    fn recent_failures_are_binned_by_octave_whatever_the_training_band() {
        let ln1p = |c: f64| c.ln_1p();
        let band: Vec<f64> = (46..=69).map(|c| ln1p(f64::from(c))).collect();
        let bins = fit(Bins::octaves("recent_failures"), &band);
        let bin = |c: f64| bins.bin(ln1p(c));
        assert_eq!(
            (bin(0.0), bin(1.0), bin(2.0), bin(3.0), bin(4.0)),
            (0, 1, 2, 2, 3)
        );
        assert_eq!(bin(46.0), bin(63.0), "one octave");
        assert_eq!(bin(64.0), bin(69.0));
        let window: Vec<f64> = [50.0, 55.0, 60.0, 66.0].map(ln1p).to_vec();
        let counts: Vec<f64> = bins.shares_of(&window).iter().map(|s| s * 4.0).collect();
        assert!(
            bins.psi(&counts) < 0.1,
            "a window inside the training band: {}",
            bins.psi(&counts)
        );
        let busier = bins.shares_of(&[ln1p(200.0)]);
        assert!(bins.psi(&busier) > 1.0);
    }

    #[test]
    fn missing_and_unknown_values_have_their_own_bin() {
        let cat = fit(Bins::categorical("queue", 2), &[0.0, 1.0, 1.0, f64::NAN]);
        assert_eq!(cat.shares, [0.25, 0.5, 0.25]);
        assert_eq!(cat.bin(7.0), 2, "an index past the vocabulary is unknown");
        let values = [1.0, 2.0, f64::NAN];
        let num = fit(Bins::numeric("n", &values), &values);
        assert_eq!(num.bin(f64::NAN), num.len() - 1);
    }

    #[test]
    fn a_slowly_moving_count_is_noise_and_a_live_window_like_the_training_scores_0() {
        // A count that moves slowly: each run of 100 rows sits in a band of its own, so a
        // drawn window of 500 holds a few bands, as a live window would.
        let training: Vec<f64> = (0..2_000).map(|i| f64::from(i / 100)).collect();
        let bins = Bins::numeric("slow", &training).fitted(
            &training,
            &[],
            &NoiseDraws::new(training.len(), 100),
        );
        assert!(bins.noise > 1.0, "{}", bins.noise);
        let spread: Vec<f64> = [0, 500, 1_000, 1_500, 1_900]
            .iter()
            .flat_map(|&start| training[start..start + 100].iter().copied())
            .collect();
        let like_training = bins.drift(&bins.shares_of(&spread), 0.0);
        assert_eq!(like_training.excess(), 0.0, "{like_training:?}");
        // Every row in a bin no drawn window reached (values gone missing).
        let moved = bins.drift(&bins.shares_of(&[f64::NAN; 500]), 0.0);
        assert!(moved.excess() > 1.0, "{moved:?}");
        let steady: Vec<f64> = (0..1_000).map(|i| f64::from(i % 10)).collect();
        let quiet = fit(Bins::numeric("steady", &steady), &steady);
        assert!(quiet.noise < 0.01, "every run alike: {}", quiet.noise);
    }

    #[test]
    fn the_chance_noise_is_that_of_a_live_size_window_however_short_the_training_part() {
        // 256 independent draws of a uniform digit: by chance a window of n of them shows a
        // PSI of about (bins - 1) / n, so a 64-row window more than a 500-row one.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let training: Vec<f64> = (0..256)
            .map(|_| f64::from(rng.random_range(0..10u8)))
            .collect();
        let bins = fit(Bins::numeric("digit", &training), &training);
        let short = training
            .chunks(64)
            .map(|w| bins.psi(&bins.shares_of(w)))
            .fold(0.0, f64::max);
        assert!(bins.noise < 0.1, "{}", bins.noise);
        assert!(short > bins.noise, "{short} against {}", bins.noise);
        let live: Vec<f64> = (0..500)
            .map(|_| f64::from(rng.random_range(0..10u8)))
            .collect();
        let live = bins.drift(&bins.shares_of(&live), 0.0);
        assert!(live.excess() < 0.1, "{live:?}");
    }

    #[test]
    fn a_held_out_slice_already_apart_from_the_training_adds_its_shift_to_the_noise() {
        let training: Vec<f64> = (0..1_000).map(|i| f64::from(i % 10)).collect();
        let draws = NoiseDraws::new(training.len(), 250);
        let alike: Vec<f64> = (0..200).map(|i| f64::from(i % 10)).collect();
        let fitted = |held: &[f64]| Bins::numeric("n", &training).fitted(&training, held, &draws);
        let (without, with_alike) = (fitted(&[]), fitted(&alike));
        assert!(
            (with_alike.noise - without.noise).abs() < 0.01,
            "{} {}",
            with_alike.noise,
            without.noise
        );
        // The held-out retries all in the upper half: half the bins empty.
        let apart: Vec<f64> = (0..200).map(|i| f64::from(5 + i % 5)).collect();
        let shifted = fitted(&apart);
        let psi = shifted.psi(&shifted.shares_of(&apart));
        assert!(psi > 1.0, "{psi}");
        assert!(
            (shifted.noise - without.noise - psi).abs() < 0.05,
            "noise {} = {} + {psi}",
            shifted.noise,
            without.noise
        );
        let live = shifted.drift(&shifted.shares_of(&apart), 0.0);
        assert_eq!(
            live.excess(),
            0.0,
            "a live window like the held-out slice: {live:?}"
        );
    }
}
