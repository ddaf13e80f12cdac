//! Features as numbers, against a vocabulary fitted on the training rows and stored with the
//! model, so training and serving encode a row the same way.
//!
//! A numeric feature is standardised with the training mean and standard deviation; a missing
//! one becomes the mean (0 after standardising). A categorical feature keeps the values seen at
//! least `min_count` times in training; any other value — rare, unseen, or missing — encodes
//! as "missing" (no one-hot slot set, or NaN in the indexed form), never hashed onto a
//! value the model learned.

use super::MlError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// How a feature is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    Numeric,
    Categorical,
}

/// One raw feature value of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Num(f64),
    Cat(&'a str),
    Missing,
}

/// The fitted encoding of every feature, in the order the rows give them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Column {
    name: String,
    codec: Codec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Codec {
    Numeric {
        mean: f64,
        scale: f64,
    },
    /// Known value → its index (the one-hot slot within the column).
    Categorical {
        vocabulary: BTreeMap<String, usize>,
    },
}

impl Encoder {
    /// Fits the encoding of `features` (name, kind) on `rows`, each one value per feature.
    pub fn fit(
        features: &[(&str, FeatureKind)],
        rows: &[Vec<Value<'_>>],
        min_count: usize,
    ) -> Result<Self, MlError> {
        for (i, row) in rows.iter().enumerate() {
            check_width(i, row.len(), features.len())?;
        }
        let columns = features
            .iter()
            .enumerate()
            .map(|(j, &(name, kind))| {
                let values = rows.iter().map(|r| r[j]);
                let codec = match kind {
                    FeatureKind::Numeric => fit_numeric(name, values)?,
                    FeatureKind::Categorical => fit_categorical(name, values, min_count)?,
                };
                Ok(Column {
                    name: name.to_string(),
                    codec,
                })
            })
            .collect::<Result<_, MlError>>()?;
        Ok(Self { columns })
    }

    /// Number of features (length of a raw or [`Self::indexed`] row).
    pub fn columns(&self) -> usize {
        self.columns.len()
    }

    /// For each slot of a [`Self::dense`] row, the index of the feature it belongs to.
    pub fn slot_columns(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .flat_map(|(i, c)| std::iter::repeat_n(i, c.width()))
            .collect()
    }

    /// Length of a [`Self::dense`] row.
    pub fn width(&self) -> usize {
        self.columns.iter().map(Column::width).sum()
    }

    /// Names of the dense slots: `name` for a numeric feature, `name=value` for each known
    /// value of a categorical one.
    pub fn slot_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width());
        for c in &self.columns {
            match &c.codec {
                Codec::Numeric { .. } => names.push(c.name.clone()),
                Codec::Categorical { vocabulary } => {
                    let mut known: Vec<_> = vocabulary.iter().collect();
                    known.sort_by_key(|&(_, &i)| i);
                    names.extend(known.iter().map(|(v, _)| format!("{}={v}", c.name)));
                }
            }
        }
        names
    }

    /// The known values of categorical feature `name`, in slot order.
    pub fn vocabulary(&self, name: &str) -> Option<Vec<&str>> {
        let column = self.columns.iter().find(|c| c.name == name)?;
        let Codec::Categorical { vocabulary } = &column.codec else {
            return None;
        };
        let mut known: Vec<_> = vocabulary.iter().collect();
        known.sort_by_key(|&(_, &i)| i);
        Some(known.into_iter().map(|(v, _)| v.as_str()).collect())
    }

    /// Standardised numerics and one-hot categoricals, for linear models.
    pub fn dense(&self, row: &[Value<'_>]) -> Result<Vec<f64>, MlError> {
        check_width(0, row.len(), self.columns.len())?;
        let mut out = Vec::with_capacity(self.width());
        for (c, &v) in self.columns.iter().zip(row) {
            match (&c.codec, c.check(v)?) {
                (Codec::Numeric { mean, scale }, Some(x)) => out.push((x - mean) / scale),
                (Codec::Numeric { .. }, None) => out.push(0.0),
                (Codec::Categorical { vocabulary }, _) => {
                    let slot = out.len();
                    out.resize(slot + vocabulary.len(), 0.0);
                    if let Some(i) = c.index(v) {
                        out[slot + i] = 1.0;
                    }
                }
            }
        }
        Ok(out)
    }

    /// One number per feature, for trees: the raw numeric value or the categorical index, NaN
    /// for missing or unknown.
    pub fn indexed(&self, row: &[Value<'_>]) -> Result<Vec<f64>, MlError> {
        check_width(0, row.len(), self.columns.len())?;
        self.columns
            .iter()
            .zip(row)
            .map(|(c, &v)| c.indexed(v))
            .collect()
    }

    /// [`Self::indexed`] for many rows in one column-major buffer (feature by feature), the
    /// layout the trees fit and predict from: one allocation rather than one per row.
    pub fn indexed_columns(&self, rows: &[Vec<Value<'_>>]) -> Result<Vec<f64>, MlError> {
        for (i, row) in rows.iter().enumerate() {
            check_width(i, row.len(), self.columns.len())?;
        }
        let mut out = Vec::with_capacity(rows.len() * self.columns.len());
        for (j, c) in self.columns.iter().enumerate() {
            for row in rows {
                out.push(c.indexed(row[j])?);
            }
        }
        Ok(out)
    }
}

impl Column {
    fn width(&self) -> usize {
        match &self.codec {
            Codec::Numeric { .. } => 1,
            Codec::Categorical { vocabulary } => vocabulary.len(),
        }
    }

    /// The numeric value, if any, after checking `v` fits this column's kind.
    fn check(&self, v: Value<'_>) -> Result<Option<f64>, MlError> {
        kind_check(&self.name, &self.codec, v)
    }

    /// `v` as [`Encoder::indexed`] gives it.
    fn indexed(&self, v: Value<'_>) -> Result<f64, MlError> {
        Ok(match (&self.codec, self.check(v)?) {
            (Codec::Numeric { .. }, x) => x.unwrap_or(f64::NAN),
            (Codec::Categorical { .. }, _) => self.index(v).map_or(f64::NAN, |i| i as f64),
        })
    }

    fn index(&self, v: Value<'_>) -> Option<usize> {
        match (&self.codec, v) {
            (Codec::Categorical { vocabulary }, Value::Cat(s)) => vocabulary.get(s).copied(),
            _ => None,
        }
    }
}

fn kind_check(name: &str, codec: &Codec, v: Value<'_>) -> Result<Option<f64>, MlError> {
    let problem = match (codec, v) {
        (_, Value::Missing) | (Codec::Categorical { .. }, Value::Cat(_)) => return Ok(None),
        (Codec::Numeric { .. }, Value::Num(x)) if x.is_finite() => return Ok(Some(x)),
        (Codec::Numeric { .. }, Value::Num(x)) => format!("{x} is not a finite number"),
        (Codec::Numeric { .. }, Value::Cat(s)) => format!("numeric, got the text '{s}'"),
        (Codec::Categorical { .. }, Value::Num(x)) => format!("categorical, got the number {x}"),
    };
    Err(MlError::Feature {
        column: name.to_string(),
        problem,
    })
}

fn check_width(row: usize, got: usize, want: usize) -> Result<(), MlError> {
    if got == want {
        return Ok(());
    }
    Err(MlError::Row {
        row,
        problem: format!("{got} feature values, the features are {want}"),
    })
}

fn fit_numeric<'a>(name: &str, values: impl Iterator<Item = Value<'a>>) -> Result<Codec, MlError> {
    let probe = Codec::Numeric {
        mean: 0.0,
        scale: 1.0,
    };
    let (mut n, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for v in values {
        if let Some(x) = kind_check(name, &probe, v)? {
            // Welford's update: stable for large counts and offsets.
            n += 1.0;
            let d = x - mean;
            mean += d / n;
            m2 += d * (x - mean);
        }
    }
    let sd = if n > 1.0 {
        (m2 / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    let scale = if sd > 0.0 { sd } else { 1.0 };
    Ok(Codec::Numeric { mean, scale })
}

fn fit_categorical<'a>(
    name: &str,
    values: impl Iterator<Item = Value<'a>>,
    min_count: usize,
) -> Result<Codec, MlError> {
    let probe = Codec::Categorical {
        vocabulary: BTreeMap::new(),
    };
    // Counted in a hash map (a value per row: hashing beats the ordered map's string
    // comparisons), then the kept values ordered, so the slots do not depend on row order.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in values {
        kind_check(name, &probe, v)?;
        if let Value::Cat(s) = v {
            *counts.entry(s).or_default() += 1;
        }
    }
    let mut kept: Vec<&str> = counts
        .into_iter()
        .filter(|&(_, n)| n >= min_count.max(1))
        .map(|(s, _)| s)
        .collect();
    kept.sort_unstable();
    let vocabulary = kept
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s.to_string(), i))
        .collect();
    Ok(Codec::Categorical { vocabulary })
}

#[cfg(test)]
mod tests;
