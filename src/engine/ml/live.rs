//! Live outcomes per arm: how the retries each arm forecast actually ended, and how well
//! calibrated the forecasts were (log-loss and ECE over 10 bins), cumulative since the
//! serving version was deployed.

use super::deployment::LiveArm;
use std::collections::BTreeMap;

const BINS: usize = 10;
const EPS: f64 = 1e-15;

/// One arm's outcomes and forecast quality.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArmStats {
    pub outcomes: u64,
    pub successes: u64,
    /// Summed forecasts (their mean is the forecast success rate).
    pub forecast_sum: f64,
    pub log_loss_sum: f64,
    /// Per forecast bin: (forecasts summed, successes, rows).
    bins: [(f64, f64, u64); BINS],
}

impl ArmStats {
    fn record(&mut self, p: f64, success: bool) {
        let p = p.clamp(0.0, 1.0);
        self.outcomes += 1;
        self.successes += u64::from(success);
        self.forecast_sum += p;
        let q = p.clamp(EPS, 1.0 - EPS);
        self.log_loss_sum -= if success { q.ln() } else { (1.0 - q).ln() };
        let b = ((p * BINS as f64) as usize).min(BINS - 1);
        self.bins[b].0 += p;
        self.bins[b].1 += f64::from(u8::from(success));
        self.bins[b].2 += 1;
    }

    pub fn success_rate(&self) -> f64 {
        ratio(self.successes as f64, self.outcomes)
    }

    pub fn log_loss(&self) -> f64 {
        ratio(self.log_loss_sum, self.outcomes)
    }

    /// Expected calibration error of the forecasts so far.
    pub fn ece(&self) -> f64 {
        let gap: f64 = self.bins.iter().map(|(p, s, _)| (p - s).abs()).sum();
        ratio(gap, self.outcomes)
    }
}

fn ratio(x: f64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { x / n as f64 }
}

/// Stats per arm.
#[derive(Debug, Clone, Default)]
pub struct LiveStats(BTreeMap<LiveArm, ArmStats>);

impl LiveStats {
    pub fn record(&mut self, arm: LiveArm, p: f64, success: bool) {
        self.0.entry(arm).or_default().record(p, success);
    }

    pub fn arms(&self) -> Vec<(LiveArm, ArmStats)> {
        self.0.iter().map(|(a, s)| (*a, s.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrated_forecasts_have_a_small_ece_and_overconfident_ones_a_large_one() {
        let mut good = ArmStats::default();
        let mut bad = ArmStats::default();
        for i in 0..1_000 {
            let success = i % 10 < 3;
            good.record(0.3, success);
            bad.record(0.9, success);
        }
        assert!(good.ece() < 1e-9, "{}", good.ece());
        assert!((bad.ece() - 0.6).abs() < 1e-9, "{}", bad.ece());
        assert!(good.log_loss() < bad.log_loss());
        assert!((good.success_rate() - 0.3).abs() < 1e-12);
    }
}
