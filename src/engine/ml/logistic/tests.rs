use super::*;
use crate::engine::ml::metrics::ece;
use crate::engine::ml::synthetic::draw;
use std::num::NonZeroUsize;

const INTERCEPT: f64 = -0.5;
const WEIGHTS: [f64; 3] = [1.5, -2.0, 0.7];

fn fit(rows: &[Vec<f64>], labels: &[bool]) -> Logistic {
    Logistic::fit(rows, labels, &Settings::default()).expect("fits")
}

fn ece10(model: &Logistic, rows: &[Vec<f64>], labels: &[bool]) -> f64 {
    let p: Vec<f64> = rows.iter().map(|r| model.predict(r)).collect();
    ece(&p, labels, NonZeroUsize::new(10).unwrap()).unwrap()
}

#[test]
fn recovers_the_coefficients_of_a_logistic_model() {
    let (rows, labels, _) = draw(20_000, INTERCEPT, &WEIGHTS, 7);
    let m = fit(&rows, &labels);
    // Standard errors here are about 0.02-0.03; 0.1 is four of them.
    assert!((m.intercept - INTERCEPT).abs() < 0.1, "{m:?}");
    for (got, want) in m.weights.iter().zip(WEIGHTS) {
        assert!((got - want).abs() < 0.1, "{m:?}");
    }
}

#[test]
fn is_calibrated_on_held_out_rows_of_the_same_model() {
    let (rows, labels, _) = draw(20_000, INTERCEPT, &WEIGHTS, 11);
    let (test_rows, test_labels, _) = draw(50_000, INTERCEPT, &WEIGHTS, 12);
    let m = fit(&rows, &labels);
    let calibrated = ece10(&m, &test_rows, &test_labels);
    assert!(calibrated < 0.02, "ECE {calibrated}");
    // The same check tells an overconfident model apart.
    let doubled = Logistic {
        intercept: m.intercept,
        weights: m.weights.iter().map(|w| 2.0 * w).collect(),
    };
    let overconfident = ece10(&doubled, &test_rows, &test_labels);
    assert!(overconfident > 0.05, "ECE {overconfident}");
}

#[test]
fn success_is_the_positive_class_whatever_its_share() {
    // linfa-logistic would call the majority class positive; here `true` always is.
    for (intercept, share) in [(2.5, 0.9), (-2.5, 0.1)] {
        let (rows, labels, _) = draw(5_000, intercept, &[0.3], 3);
        let m = fit(&rows, &labels);
        let mean = rows.iter().map(|r| m.predict(r)).sum::<f64>() / rows.len() as f64;
        let observed = labels.iter().filter(|&&s| s).count() as f64 / labels.len() as f64;
        assert!(
            (mean - observed).abs() < 1e-6,
            "mean {mean} observed {observed}"
        );
        assert!((mean - share).abs() < 0.03, "mean {mean} share {share}");
    }
}

#[test]
fn separable_and_collinear_rows_still_converge() {
    // Perfectly separated by x0, and x1 a copy of x0: without the ridge, no finite optimum.
    let rows: Vec<Vec<f64>> = (0..200).map(|i| vec![f64::from(i) - 99.5; 2]).collect();
    let labels: Vec<bool> = (0..200).map(|i| i >= 100).collect();
    let m = fit(&rows, &labels);
    assert!(
        m.predict(&rows[0]) < 0.01 && m.predict(&rows[199]) > 0.99,
        "{m:?}"
    );
    assert!((m.weights[0] - m.weights[1]).abs() < 1e-6, "{m:?}");
}

#[test]
fn bad_training_input_is_a_named_error() {
    let s = Settings::default();
    let rows = vec![vec![0.0], vec![1.0]];
    assert_eq!(
        Logistic::fit(&rows, &[true, true], &s),
        Err(MlError::OneClass("successes"))
    );
    assert_eq!(Logistic::fit(&[], &[], &s), Err(MlError::NoRows));
    let err = Logistic::fit(&rows, &[true], &s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "training rows against labels: 2 values against 1"
    );
    let ragged = vec![vec![0.0], vec![1.0, 2.0]];
    let err = Logistic::fit(&ragged, &[true, false], &s).unwrap_err();
    assert_eq!(err.to_string(), "row 1: 2 values, the first row has 1");
    let infinite = vec![vec![0.0], vec![f64::INFINITY]];
    let err = Logistic::fit(&infinite, &[true, false], &s).unwrap_err();
    assert_eq!(err.to_string(), "row 1: value inf in slot 0 is not finite");
}

#[test]
fn a_row_of_the_wrong_width_predicts_nan_for_the_fallback() {
    let m = Logistic {
        intercept: 0.0,
        weights: vec![1.0, 2.0],
    };
    assert!((m.predict(&[0.0, 0.0]) - 0.5).abs() < 1e-12);
    assert!(m.predict(&[1.0]).is_nan());
    assert_eq!(m.contributions(&[1.0, -1.0]), [1.0, -2.0]);
}
