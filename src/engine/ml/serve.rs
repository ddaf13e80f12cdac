//! The ML tier's decision: the model's P(success) over the delay grid, scored in one batch, and
//! the delay that minimises the Bayesian tier's expected cost (`[engine.cost]`):
//! `per_attempt + per_second · delay + (1 − P(success)) · continuation`, where the
//! continuation — the expected cost of what follows if this retry fails — is the survival
//! model's plan value from that elapsed time (the Bayesian tier's own dynamic program). The
//! model says how likely *this* job's next retry is to work; the survival model values the
//! attempts after it. Stopping costs the give-up penalty, as in tier 2.

use super::MlError;
use super::features::Situation;
use super::fitted::Fitted;
use crate::engine::rules::fmt_ms;
use crate::engine::survival::{GRID_MS, SurvivalModel, View};
use crate::model::{Alternative, FeatureContribution};

/// Contributions shown in an explanation.
pub const TOP_CONTRIBUTIONS: usize = 3;

/// Where the decision is made from.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a> {
    pub situation: Situation<'a>,
    /// The survival model of the job's (job type, error class), for the continuation.
    pub survival: &'a SurvivalModel,
    /// The view the survival model decides in (`Models::select`), which values the continuation.
    pub view: View,
    /// Attempts left, the next one included (≥ 1).
    pub attempts: usize,
}

/// The model's choice: the delay (or stop), its P(success) and cost, and every delay weighed.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// `None`: stopping costs less than any retry.
    pub delay_ms: Option<u64>,
    pub success: f64,
    pub cost: f64,
    pub give_up_cost: f64,
    pub alternatives: Vec<Alternative>,
}

/// Scores the grid boundaries reachable within the delay bounds in one batch and picks the
/// cheapest. A non-finite or out-of-range probability is an error, so the caller falls back.
pub fn choose(model: &Fitted, s: Setting<'_>) -> Result<Choice, MlError> {
    let params = s.survival.params();
    let elapsed = s.situation.elapsed_ms;
    let (indices, delays): (Vec<usize>, Vec<u64>) = s
        .survival
        .reachable(elapsed)
        .map(|j| (j, GRID_MS[j].saturating_sub(elapsed)))
        .filter(|&(_, d)| d >= params.min_delay_ms && d <= params.max_delay_ms)
        .unzip();
    if delays.is_empty() {
        return Err(MlError::Row {
            row: 0,
            problem: format!(
                "no delay on the grid between {} and {} from {} elapsed",
                fmt_ms(params.min_delay_ms),
                fmt_ms(params.max_delay_ms),
                fmt_ms(elapsed)
            ),
        });
    }
    let p = model.predict_delays(&s.situation, &delays)?;
    if let Some(bad) = p.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(MlError::Row {
            row: bad,
            problem: format!("the model gave {} for a probability", p[bad]),
        });
    }
    let alternatives: Vec<Alternative> = indices
        .iter()
        .zip(&delays)
        .zip(&p)
        .map(|((&j, &delay_ms), &p)| Alternative {
            delay_ms,
            success_probability: p,
            expected_cost: params.per_attempt
                + params.per_second * delay_ms as f64 / 1000.0
                + (1.0 - p) * s.survival.continuation(s.view, j, s.attempts),
            chosen: false,
        })
        .collect();
    Ok(pick(alternatives, params.give_up))
}

fn pick(mut alternatives: Vec<Alternative>, give_up_cost: f64) -> Choice {
    let best = alternatives
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.expected_cost.total_cmp(&b.1.expected_cost))
        .map(|(i, a)| (i, a.expected_cost, a.success_probability, a.delay_ms));
    let Some((i, cost, success, delay)) = best.filter(|b| b.1 < give_up_cost) else {
        return Choice {
            delay_ms: None,
            success: best.map_or(0.0, |b| b.2),
            cost: give_up_cost,
            give_up_cost,
            alternatives,
        };
    };
    alternatives[i].chosen = true;
    Choice {
        delay_ms: Some(delay),
        success,
        cost,
        give_up_cost,
        alternatives,
    }
}

/// The top contributions of the prediction at `delay_ms`, for the explanation.
pub fn top_contributions(
    model: &Fitted,
    situation: &Situation<'_>,
    delay_ms: u64,
) -> Result<Vec<FeatureContribution>, MlError> {
    let mut all = model.contributions(situation, delay_ms)?;
    all.truncate(TOP_CONTRIBUTIONS);
    Ok(all
        .into_iter()
        .map(|(feature, log_odds)| FeatureContribution { feature, log_odds })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alt(delay_ms: u64, cost: f64) -> Alternative {
        Alternative {
            delay_ms,
            success_probability: 0.5,
            expected_cost: cost,
            chosen: false,
        }
    }

    #[test]
    fn the_cheapest_delay_is_chosen_unless_giving_up_is_cheaper() {
        let c = pick(
            vec![alt(1_000, 3.0), alt(5_000, 2.0), alt(9_000, 2.5)],
            10.0,
        );
        assert_eq!(c.delay_ms, Some(5_000));
        assert_eq!(c.alternatives.iter().filter(|a| a.chosen).count(), 1);
        assert!(c.alternatives[1].chosen);
        let stop = pick(vec![alt(1_000, 12.0)], 10.0);
        assert_eq!(stop.delay_ms, None);
        assert_eq!(stop.cost, 10.0);
        assert!(stop.alternatives.iter().all(|a| !a.chosen));
    }
}
