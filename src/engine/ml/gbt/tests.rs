use super::*;
use crate::engine::ml::logistic::{self, Logistic};
use crate::engine::ml::metrics::{auc, ece, log_loss};
use crate::engine::ml::synthetic::draw;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::num::NonZeroUsize;

const INTERCEPT: f64 = -0.5;
const WEIGHTS: [f64; 3] = [1.5, -2.0, 0.7];

/// Row-major rows as one column-major buffer.
fn columns(rows: &[Vec<f64>]) -> Vec<f64> {
    (0..rows[0].len())
        .flat_map(|j| rows.iter().map(move |r| r[j]))
        .collect()
}

fn fit(rows: &[Vec<f64>], labels: &[bool]) -> Boosted {
    Boosted::fit(&columns(rows), rows[0].len(), labels, &Settings::default()).expect("fits")
}

fn predict_all(model: &dyn Model, rows: &[Vec<f64>]) -> Vec<f64> {
    rows.iter().map(|r| model.predict(r)).collect()
}

#[test]
fn on_logistic_data_it_is_calibrated_and_near_the_truth() {
    let (rows, labels, _) = draw(10_000, INTERCEPT, &WEIGHTS, 21);
    let (test_rows, test_labels, truth) = draw(20_000, INTERCEPT, &WEIGHTS, 22);
    let p = predict_all(&fit(&rows, &labels), &test_rows);
    let calibration = ece(&p, &test_labels, NonZeroUsize::new(10).unwrap()).unwrap();
    assert!(calibration < 0.03, "ECE {calibration}");
    let (loss, best) = (
        log_loss(&p, &test_labels).unwrap(),
        log_loss(&truth, &test_labels).unwrap(),
    );
    assert!(
        loss < best + 0.03,
        "log-loss {loss} against the true model's {best}"
    );
    let (ranked, best) = (
        auc(&p, &test_labels).unwrap(),
        auc(&truth, &test_labels).unwrap(),
    );
    assert!(
        ranked > best - 0.02,
        "AUC {ranked} against the true model's {best}"
    );
}

/// Success with chance 0.95 when |x0| > 1 and 0.05 otherwise: a U shape in x0 that no single
/// weight can express.
fn u_shaped(rows: &[Vec<f64>], seed: u64) -> Vec<bool> {
    let mut rng = StdRng::seed_from_u64(seed);
    rows.iter()
        .map(|r| rng.random::<f64>() < if r[0].abs() > 1.0 { 0.95 } else { 0.05 })
        .collect()
}

#[test]
fn it_learns_what_a_linear_model_cannot() {
    let (rows, _, _) = draw(10_000, 0.0, &[1.0, 1.0], 31);
    let (test_rows, _, _) = draw(10_000, 0.0, &[1.0, 1.0], 32);
    let (labels, test_labels) = (u_shaped(&rows, 33), u_shaped(&test_rows, 34));
    let trees = auc(&predict_all(&fit(&rows, &labels), &test_rows), &test_labels).unwrap();
    let linear = Logistic::fit(&rows, &labels, &logistic::Settings::default()).unwrap();
    let line = auc(&predict_all(&linear, &test_rows), &test_labels).unwrap();
    // The best possible AUC here is about 0.94, a linear score's about 0.5.
    assert!(
        trees > 0.85 && line < 0.6,
        "trees AUC {trees}, logistic AUC {line}"
    );
}

#[test]
fn success_is_the_positive_class_and_missing_values_are_scored() {
    for share in [0.9f64, 0.1] {
        let intercept = (share / (1.0 - share)).ln();
        let (mut rows, labels, _) = draw(4_000, intercept, &[0.3, 0.3], 41);
        for row in rows.iter_mut().step_by(5) {
            row[1] = f64::NAN;
        }
        let m = fit(&rows, &labels);
        let p = predict_all(&m, &rows);
        assert!(p.iter().all(|p| (0.0..=1.0).contains(p)), "{m:?}");
        let mean = p.iter().sum::<f64>() / p.len() as f64;
        assert!((mean - share).abs() < 0.03, "mean {mean} share {share}");
    }
}

#[test]
fn a_stored_booster_predicts_as_before() {
    let (rows, labels, _) = draw(2_000, INTERCEPT, &WEIGHTS, 51);
    let m = fit(&rows, &labels);
    let back = Boosted::from_json(&m.to_json().unwrap(), 3).unwrap();
    for row in &rows[..50] {
        assert_eq!(back.predict(row), m.predict(row));
    }
    let many = m.predict_columns(&columns(&rows[..50]), 50);
    let one_by_one: Vec<f64> = rows[..50].iter().map(|r| m.predict(r)).collect();
    assert_eq!(many, one_by_one);
    assert!(m.predict_columns(&[0.0; 5], 2).iter().all(|p| p.is_nan()));
    assert!(m.predict(&[0.0, 0.0]).is_nan());
    assert_eq!(m.kind(), ModelKind::GradientBoost);
}

#[test]
fn bad_training_input_is_a_named_error() {
    let s = Settings::default();
    assert_eq!(
        Boosted::fit(&[0.0, 1.0], 1, &[false, false], &s).unwrap_err(),
        MlError::OneClass("failures")
    );
    let err = Boosted::fit(&[0.0, 1.0, 2.0], 2, &[true, false], &s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "feature values against rows x width: 3 values against 4"
    );
    let infinite = [0.0, 1.0, 2.0, f64::NEG_INFINITY];
    let err = Boosted::fit(&infinite, 2, &[true, false], &s).unwrap_err();
    assert_eq!(err.to_string(), "row 1: value -inf in slot 1 is not finite");
    let err = Boosted::from_json("{", 1).unwrap_err();
    assert!(err.to_string().starts_with("gradient boosting: "), "{err}");
}
