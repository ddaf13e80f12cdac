//! The mean of per-retry values with a **cluster-robust** standard error, for the live check.
//!
//! The retries of one outage share its fate: while a dependency is down every retry into it
//! fails, so the per-retry differences the live check averages move together within a
//! cluster (retries of one scope in one stretch of time) and are close to independent only
//! between clusters. A standard error computed as if every retry were independent (`s / √n`)
//! then understates the noise by about the square root of the cluster size, and a check run
//! on it finds differences that are one outage's luck. Here the residuals are summed per
//! cluster first (the sandwich estimator of a mean): `V = G / (G − 1) · Σ_g (Σ_{i∈g} e_i)² /
//! n²` over `G` clusters — with one retry per cluster it is the usual `s² / n`.
//!
//! With few clusters that variance is itself noisy, so the margin is not a fixed number of
//! standard errors but Student's t with `G − 1` degrees of freedom at the one-sided level of 3
//! standard errors of a normal (0.135 %): 6.62 with 5 clusters, 4.09 with 10, 3.45 with 20,
//! 3.20 with 40.
//!
//! [`Difference`] does the same for the difference of two groups' means whose values share
//! clusters (the canary's two arms, [`canary`](super::canary)): each value's share of the
//! difference is summed per cluster before squaring, so an outage that made both arms dear
//! adds no noise to their difference.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use std::collections::HashMap;

/// Standard errors of a normal whose one-sided tail the margin keeps at any number of
/// clusters.
pub const Z: f64 = 3.0;
/// Fewest clusters for a margin at all (below, the check cannot find a difference).
pub const MIN_CLUSTERS: usize = 5;

/// A mean with its cluster-robust standard error.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Estimate {
    pub n: usize,
    pub clusters: usize,
    pub mean: f64,
    pub standard_error: f64,
}

impl Estimate {
    /// The mean and its standard error over `(cluster, value)` pairs.
    pub fn of(values: &[(u64, f64)]) -> Estimate {
        let n = values.len();
        if n == 0 {
            return Estimate::default();
        }
        let mean = values.iter().map(|&(_, x)| x).sum::<f64>() / n as f64;
        let mut sums: HashMap<u64, f64> = HashMap::new();
        for &(cluster, x) in values {
            *sums.entry(cluster).or_default() += x - mean;
        }
        let g = sums.len();
        let squares: f64 = sums.values().map(|s| s * s).sum();
        let standard_error = if g > 1 {
            (g as f64 / (g as f64 - 1.0) * squares).sqrt() / n as f64
        } else {
            0.0
        };
        Estimate {
            n,
            clusters: g,
            mean,
            standard_error,
        }
    }

    /// `mean - offset` in standard errors (infinite when the standard error is 0 and the
    /// excess positive, 0 when it is not positive).
    pub fn z_above(&self, offset: f64) -> f64 {
        let excess = self.mean - offset;
        if self.standard_error > 0.0 {
            excess / self.standard_error
        } else if excess > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }

    /// Whether the mean exceeds `offset` by more than the margin ([`critical`]).
    pub fn exceeds(&self, offset: f64) -> bool {
        self.mean > offset && self.z_above(offset) > critical(self.clusters)
    }
}

/// The difference of two groups' means (`a` less `b`) with a cluster-robust standard error,
/// for values of both groups that share clusters (a canary's two arms in one outage).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Difference {
    pub n_a: usize,
    pub n_b: usize,
    pub mean_a: f64,
    pub mean_b: f64,
    /// Clusters holding a value of either group.
    pub clusters: usize,
    pub standard_error: f64,
}

impl Difference {
    /// Over `(cluster, in group a, value)`: each value's share of the difference (`(x −
    /// mean_a) / n_a` in `a`, `−(x − mean_b) / n_b` in `b`) is summed per cluster before
    /// squaring, `V = G / (G − 1) · Σ_g (Σ_{i∈g} e_i)²` — with one value per cluster, close to
    /// the unpooled `s_a² / n_a + s_b² / n_b`.
    pub fn of(values: &[(u64, bool, f64)]) -> Difference {
        let mean = |group: bool| {
            let (n, sum) = values
                .iter()
                .filter(|v| v.1 == group)
                .fold((0usize, 0.0), |(n, s), v| (n + 1, s + v.2));
            (n, if n == 0 { 0.0 } else { sum / n as f64 })
        };
        let ((n_a, mean_a), (n_b, mean_b)) = (mean(true), mean(false));
        let mut sums: HashMap<u64, f64> = HashMap::new();
        for &(cluster, in_a, x) in values {
            let share = if in_a {
                (x - mean_a) / n_a as f64
            } else {
                -(x - mean_b) / n_b as f64
            };
            *sums.entry(cluster).or_default() += share;
        }
        let g = sums.len();
        let squares: f64 = sums.values().map(|s| s * s).sum();
        let standard_error = if g > 1 && n_a > 0 && n_b > 0 {
            (g as f64 / (g as f64 - 1.0) * squares).sqrt()
        } else {
            0.0
        };
        Difference {
            n_a,
            n_b,
            mean_a,
            mean_b,
            clusters: g,
            standard_error,
        }
    }

    /// `mean_a − mean_b`.
    pub fn difference(&self) -> f64 {
        self.mean_a - self.mean_b
    }
}

/// The margin in standard errors for `clusters` clusters: Student's t with `clusters − 1`
/// degrees of freedom at the one-sided tail of [`Z`]; infinite below [`MIN_CLUSTERS`].
pub fn critical(clusters: usize) -> f64 {
    critical_at(clusters, Z)
}

/// [`critical`] at the one-sided tail of `z` standard errors of a normal.
pub fn critical_at(clusters: usize, z: f64) -> f64 {
    if clusters < MIN_CLUSTERS {
        return f64::INFINITY;
    }
    let tail = Normal::standard().cdf(-z);
    let t = StudentsT::new(0.0, 1.0, (clusters - 1) as f64).expect("positive freedom");
    t.inverse_cdf(1.0 - tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_one_value_per_cluster_it_is_the_usual_standard_error() {
        let xs = [0.3, -0.1, 0.7, 0.2, 0.0];
        let e = Estimate::of(
            &xs.iter()
                .enumerate()
                .map(|(i, &x)| (i as u64, x))
                .collect::<Vec<_>>(),
        );
        let mean = xs.iter().sum::<f64>() / 5.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0;
        assert!((e.mean - mean).abs() < 1e-12);
        assert!(
            (e.standard_error - (var / 5.0).sqrt()).abs() < 1e-12,
            "{e:?}"
        );
        assert_eq!(e.clusters, 5);
    }

    #[test]
    fn values_that_move_together_in_a_cluster_count_as_one() {
        // Ten clusters of 50 equal values: as noisy as ten values.
        let values: Vec<(u64, f64)> = (0..500)
            .map(|i| ((i / 50) as u64, if (i / 50) % 2 == 0 { 1.0 } else { -1.0 }))
            .collect();
        let e = Estimate::of(&values);
        let ten = Estimate::of(
            &(0..10u64)
                .map(|g| (g, if g % 2 == 0 { 1.0 } else { -1.0 }))
                .collect::<Vec<_>>(),
        );
        assert!(
            (e.standard_error - ten.standard_error).abs() < 1e-12,
            "{e:?} {ten:?}"
        );
    }

    #[test]
    fn a_difference_of_independent_groups_has_about_the_unpooled_standard_error() {
        let a = [3.0, 5.0, 4.0, 8.0];
        let b = [1.0, 2.0, 0.0, 1.0, 1.0];
        let values: Vec<(u64, bool, f64)> = a
            .iter()
            .map(|&x| (true, x))
            .chain(b.iter().map(|&x| (false, x)))
            .enumerate()
            .map(|(i, (g, x))| (i as u64, g, x))
            .collect();
        let d = Difference::of(&values);
        assert!((d.difference() - (5.0 - 1.0)).abs() < 1e-12, "{d:?}");
        // By hand: Σ (x − m)² / n² per group, times G / (G − 1) = 9 / 8.
        let va: f64 = (4.0 + 0.0 + 1.0 + 9.0) / 16.0;
        let vb = (0.0 + 1.0 + 1.0 + 0.0 + 0.0) / 25.0;
        let want = (9.0 / 8.0 * (va + vb)).sqrt();
        assert!((d.standard_error - want).abs() < 1e-12, "{d:?} {want}");
        assert_eq!((d.n_a, d.n_b, d.clusters), (4, 5, 9));
    }

    #[test]
    fn a_difference_whose_groups_share_an_outage_counts_each_outage_once() {
        // Twenty outages: in each, both groups cost the same, high or low. The difference is
        // 0 in every outage, so it has no noise at all; as independent values it would.
        let values: Vec<(u64, bool, f64)> = (0..400)
            .map(|i| {
                let outage = (i / 20) as u64;
                let cost = if outage.is_multiple_of(2) { 10.0 } else { 1.0 };
                (outage, i % 2 == 0, cost)
            })
            .collect();
        let d = Difference::of(&values);
        assert!(d.difference().abs() < 1e-12);
        assert!(d.standard_error < 1e-12, "{d:?}");
        let alone: Vec<(u64, bool, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, &(_, g, x))| (i as u64, g, x))
            .collect();
        assert!(Difference::of(&alone).standard_error > 0.3);
    }

    #[test]
    fn the_margin_is_students_t_at_the_tail_of_three_standard_errors() {
        assert!(critical(MIN_CLUSTERS - 1).is_infinite());
        let (c5, c10, c20, c1000) = (critical(5), critical(10), critical(20), critical(1_000));
        assert!(
            c5 > c10 && c10 > c20 && c20 > c1000,
            "{c5} {c10} {c20} {c1000}"
        );
        assert!((c10 - 4.09).abs() < 0.01, "{c10}");
        assert!((c1000 - Z).abs() < 0.02, "{c1000}");
    }
}
