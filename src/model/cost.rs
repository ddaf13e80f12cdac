//! The operator's cost: what a retry costs against a second of waiting and a lost job.

use serde::{Deserialize, Serialize};

/// Weights of the cost the Bayesian tier minimises: attempts × `per_attempt` + seconds waited ×
/// `per_second`; a job that never succeeds costs `give_up_penalty` (`[engine.cost]`, and
/// `GET|PUT /engine/cost` while the service runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CostWeights {
    #[schema(minimum = 0.0, maximum = 1e9)]
    pub per_attempt: f64,
    #[schema(minimum = 0.0, maximum = 1e9)]
    pub per_second: f64,
    #[schema(minimum = 0.0, maximum = 1e9)]
    pub give_up_penalty: f64,
}

/// The largest a cost weight may be. Costs add weights times seconds and attempts over a
/// plan; a weight such as 10³⁰⁶ made them infinite, and an infinite cost stored in a job's
/// explanation could not be read back.
pub const MAX_COST_WEIGHT: f64 = 1e9;

impl Default for CostWeights {
    fn default() -> Self {
        Self {
            per_attempt: 1.0,
            per_second: 0.05,
            give_up_penalty: 100.0,
        }
    }
}
