//! Drift: how far the situations a model serves have moved from those it was trained on,
//! by the population stability index (PSI) per feature and of the prediction, beyond the
//! variation the training data showed from one window to the next.
//!
//! The [`Reference`] is fitted with the model on windows of consecutive training situations:
//! for each situation feature (not the delay ones, which the tier chooses) the share of those
//! rows in each bin — deciles of a numeric feature, each known value of a categorical one —
//! plus a bin for missing or unknown values; and the same for the model's prediction at a
//! fixed reference delay (the median training delay), so live and training predictions are
//! compared at the same delay. Each column also keeps its **noise**: the largest PSI one of
//! those training windows shows against the whole. Traffic that does not change still moves
//! from window to window — a slowly varying count, a few long episodes, the Bayesian tier
//! settling as it learns — and that much movement is not drift.
//!
//! The [`DriftMonitor`] counts the situations of the watched version's decisions in windows of
//! [`WINDOW`]; at the end of each window the PSI of every feature and of the prediction is
//! computed, and a column's **excess**: its PSI less its noise (never below 0). Drift is a
//! move that lasts, so a column's **sustained** excess is the smaller of its excess in this
//! window and in the one before (0 in the first window watched: one window proves nothing),
//! and the drift score is the largest sustained excess of a column that counts.
//! `PSI = Σ (live − ref) · ln(live / ref)`, shares floored at 10⁻⁴. A stored reference
//! without noise (fitted before it was kept) has noise 0.
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
use serde::{Deserialize, Serialize};

/// Served decisions per drift window.
pub const WINDOW: u64 = 500;
/// Fewest training windows a column's noise is measured on: training data shorter than this
/// many [`WINDOW`]s are cut into this many shorter windows (whose PSI is larger by chance,
/// so the noise errs high and the alert late rather than false).
pub const MIN_NOISE_WINDOWS: usize = 4;
/// Most training windows the reference is fitted on, evenly spaced through the training part:
/// 10⁵ situations give deciles as good as all of them would.
pub const MAX_NOISE_WINDOWS: usize = 200;
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
    /// The largest PSI a window of consecutive training rows showed against `shares` (see
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

    /// Sets the shares of `values` and the noise of its consecutive windows of `window`
    /// values (a shorter last one left out).
    fn fitted(mut self, values: &[f64], window: usize) -> Self {
        self.shares = self.shares_of(values);
        self.noise = values
            .chunks_exact(window.max(1))
            .map(|w| self.psi(&self.shares_of(w)))
            .fold(0.0, f64::max);
        self
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

impl Reference {
    /// Fits the reference on the training `situations` — consecutive windows of `window`,
    /// each of consecutive training rows — and the model's predictions for them at
    /// `reference_delay_ms`; `span_ms` is how long the training data last.
    pub fn fit(
        model: &Fitted,
        situations: &[Situation<'_>],
        window: usize,
        reference_delay_ms: u64,
        span_ms: u64,
    ) -> Result<Self, super::MlError> {
        let names = model.features().names();
        let rows: Vec<Vec<Value<'_>>> = situations
            .iter()
            .map(|s| model.features().row(s, reference_delay_ms))
            .collect();
        let indexed = model.encoder().indexed_columns(&rows)?;
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
            columns.push((j, bins.fitted(values, window)));
        }
        let predictions = model.predict_rows(&rows)?;
        Ok(Self {
            columns,
            prediction: Bins::numeric("prediction", &predictions).fitted(&predictions, window),
            reference_delay_ms,
        })
    }
}

/// One column's PSI in a live window, and the noise of its training windows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColumnDrift {
    pub name: String,
    pub psi: f64,
    pub noise: f64,
    /// The column's [`Self::excess`] in the window before (0 in the first window watched).
    pub excess_before: f64,
}

impl ColumnDrift {
    /// How far the PSI exceeds the training windows' own variation (0 when it does not).
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

    #[test]
    fn psi_is_zero_for_the_training_shares_and_grows_with_the_shift() {
        let training: Vec<f64> = (0..1_000).map(|i| f64::from(i % 100)).collect();
        let bins = Bins::numeric("x", &training).fitted(&training, training.len());
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
        let bins = Bins::octaves("recent_failures").fitted(&band, band.len());
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
        let cat = Bins::categorical("queue", 2).fitted(&[0.0, 1.0, 1.0, f64::NAN], 4);
        assert_eq!(cat.shares, [0.25, 0.5, 0.25]);
        assert_eq!(cat.bin(7.0), 2, "an index past the vocabulary is unknown");
        let values = [1.0, 2.0, f64::NAN];
        let num = Bins::numeric("n", &values).fitted(&values, 3);
        assert_eq!(num.bin(f64::NAN), num.len() - 1);
    }

    #[test]
    fn the_noise_is_the_largest_psi_of_a_training_window_and_a_live_window_like_one_scores_0() {
        // A count that moves slowly: each window of 100 rows sits in a band of its own.
        let training: Vec<f64> = (0..1_000).map(|i| f64::from(i / 100)).collect();
        let bins = Bins::numeric("slow", &training).fitted(&training, 100);
        let windows: Vec<f64> = training
            .chunks(100)
            .map(|w| bins.psi(&bins.shares_of(w)))
            .collect();
        assert!(windows.iter().all(|&psi| psi > 1.0), "{windows:?}");
        let largest = windows.iter().copied().fold(0.0, f64::max);
        assert!(
            (bins.noise - largest).abs() < 1e-9,
            "{} {windows:?}",
            bins.noise
        );
        let like_training = bins.drift(&bins.shares_of(&training[300..400]), 0.0);
        assert_eq!(like_training.excess(), 0.0, "{like_training:?}");
        // Every row in a bin no training window reached (values gone missing).
        let moved = bins.drift(&bins.shares_of(&[f64::NAN; 100]), 0.0);
        assert!(moved.excess() > 1.0, "{moved:?}");
        let steady: Vec<f64> = (0..1_000).map(|i| f64::from(i % 10)).collect();
        let quiet = Bins::numeric("steady", &steady).fitted(&steady, 100);
        assert!(quiet.noise < 1e-9, "every window alike: {}", quiet.noise);
    }
}
