//! A trained model as it is stored and served: its kind, the features it uses, the encoder
//! fitted with it (the vocabulary), and the fitted parameters. [`Fitted::to_bytes`] is the
//! document a model version stores; [`Fitted::from_bytes`] reads it back, refusing a document
//! that does not fit together.

use super::encode::{Encoder, Value};
use super::features::{FeatureSet, Situation};
use super::gbt::Boosted;
use super::logistic::Logistic;
use super::{MlError, Model, ModelKind};
use serde::{Deserialize, Serialize};

/// A model ready to score rows.
#[derive(Debug)]
pub struct Fitted {
    features: FeatureSet,
    encoder: Encoder,
    model: Params,
}

#[derive(Debug)]
enum Params {
    Logistic(Logistic),
    Boosted(Box<Boosted>),
}

/// The stored form.
#[derive(Serialize, Deserialize)]
struct Document {
    kind: ModelKind,
    features: Vec<String>,
    encoder: Encoder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    logistic: Option<Logistic>,
    /// forust's own JSON of the booster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    booster: Option<String>,
}

impl Fitted {
    pub fn logistic(features: FeatureSet, encoder: Encoder, model: Logistic) -> Self {
        Self {
            features,
            encoder,
            model: Params::Logistic(model),
        }
    }

    pub fn boosted(features: FeatureSet, encoder: Encoder, model: Boosted) -> Self {
        Self {
            features,
            encoder,
            model: Params::Boosted(Box::new(model)),
        }
    }

    pub fn kind(&self) -> ModelKind {
        match self.model {
            Params::Logistic(_) => ModelKind::Logistic,
            Params::Boosted(_) => ModelKind::GradientBoost,
        }
    }

    pub fn features(&self) -> &FeatureSet {
        &self.features
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// P(success) of a retry of `situation` after each of `delays_ms`, in one batch.
    pub fn predict_delays(
        &self,
        situation: &Situation<'_>,
        delays_ms: &[u64],
    ) -> Result<Vec<f64>, MlError> {
        let rows: Vec<Vec<Value<'_>>> = delays_ms
            .iter()
            .map(|&d| self.features.row(situation, d))
            .collect();
        self.predict_rows(&rows)
    }

    /// P(success) for raw rows in this model's feature order.
    pub fn predict_rows(&self, rows: &[Vec<Value<'_>>]) -> Result<Vec<f64>, MlError> {
        match &self.model {
            Params::Logistic(m) => rows
                .iter()
                .map(|r| Ok(m.predict(&self.encoder.dense(r)?)))
                .collect(),
            Params::Boosted(m) => {
                let columns = self.encoder.indexed_columns(rows)?;
                Ok(m.predict_columns(&columns, rows.len()))
            }
        }
    }

    /// Each feature's contribution to the log-odds of a retry of `situation` after
    /// `delay_ms`, largest magnitude first.
    pub fn contributions(
        &self,
        situation: &Situation<'_>,
        delay_ms: u64,
    ) -> Result<Vec<(String, f64)>, MlError> {
        let row = self.features.row(situation, delay_ms);
        let names = self.features.names();
        let per_feature = match &self.model {
            Params::Logistic(m) => {
                let slots = m.contributions(&self.encoder.dense(&row)?);
                let mut sums = vec![0.0; names.len()];
                for (slot, c) in self.encoder.slot_columns().into_iter().zip(slots) {
                    sums[slot] += c;
                }
                sums
            }
            Params::Boosted(m) => m.contributions(&self.encoder.indexed(&row)?),
        };
        let mut out: Vec<(String, f64)> = names.into_iter().zip(per_feature).collect();
        out.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        Ok(out)
    }

    /// The document a model version stores.
    pub fn to_bytes(&self) -> Result<Vec<u8>, MlError> {
        let (logistic, booster) = match &self.model {
            Params::Logistic(m) => (Some(m.clone()), None),
            Params::Boosted(m) => (None, Some(m.to_json()?)),
        };
        let doc = Document {
            kind: self.kind(),
            features: self.features.names(),
            encoder: self.encoder.clone(),
            logistic,
            booster,
        };
        serde_json::to_vec(&doc).map_err(|e| MlError::Stored(e.to_string()))
    }

    /// A model stored by [`Self::to_bytes`]; an inconsistent document is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MlError> {
        let doc: Document =
            serde_json::from_slice(bytes).map_err(|e| MlError::Stored(e.to_string()))?;
        let features = FeatureSet::select(&doc.features)?;
        if features.names() != doc.features || doc.encoder.columns() != doc.features.len() {
            return Err(MlError::Stored(
                "the feature list and the encoder do not match".into(),
            ));
        }
        let model = match (doc.kind, doc.logistic, doc.booster) {
            (ModelKind::Logistic, Some(m), None) if m.weights.len() == doc.encoder.width() => {
                Params::Logistic(m)
            }
            (ModelKind::GradientBoost, None, Some(json)) => {
                Params::Boosted(Box::new(Boosted::from_json(&json, doc.encoder.columns())?))
            }
            _ => {
                return Err(MlError::Stored(
                    "the parameters do not fit the model kind and its encoder".into(),
                ));
            }
        };
        Ok(Self {
            features,
            encoder: doc.encoder,
            model,
        })
    }
}
