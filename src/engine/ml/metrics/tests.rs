use super::*;

fn ten() -> NonZeroUsize {
    NonZeroUsize::new(10).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn log_loss_and_brier_match_hand_computed_values() {
    let (p, y) = ([0.8, 0.4], [true, false]);
    let want = -(0.8f64.ln() + 0.6f64.ln()) / 2.0;
    assert!(close(log_loss(&p, &y).unwrap(), want));
    assert!(close(brier(&p, &y).unwrap(), (0.04 + 0.16) / 2.0));
}

#[test]
fn a_certain_miss_costs_a_large_finite_log_loss() {
    let loss = log_loss(&[0.0], &[true]).unwrap();
    assert!(loss.is_finite() && loss > 30.0, "{loss}");
    assert!(close(log_loss(&[1.0], &[true]).unwrap(), 0.0));
}

#[test]
fn ece_weights_each_bins_gap_by_its_rows() {
    // Bin 1: forecasts 0.1, outcomes 0/2 → gap 0.1; bin 9: forecasts 0.9, 1/2 → gap 0.4.
    let p = [0.1, 0.1, 0.9, 0.9];
    let y = [false, false, true, false];
    assert!(close(ece(&p, &y, ten()).unwrap(), 0.5 * 0.1 + 0.5 * 0.4));
    // A forecast of exactly 1 falls in the last bin, and matching rates give no error.
    assert!(close(ece(&[1.0, 0.0], &[true, false], ten()).unwrap(), 0.0));
}

#[test]
fn auc_ranks_with_ties_at_half() {
    let y = [false, false, true, true];
    assert!(close(auc(&[0.1, 0.4, 0.35, 0.8], &y).unwrap(), 0.75));
    assert!(close(auc(&[0.1, 0.2, 0.3, 0.4], &y).unwrap(), 1.0));
    assert!(close(auc(&[0.4, 0.3, 0.2, 0.1], &y).unwrap(), 0.0));
    assert!(close(auc(&[0.5; 4], &y).unwrap(), 0.5));
    // One success tied with one failure above the other failure: (1 + 0.5) / 2.
    assert!(close(
        auc(&[0.2, 0.6, 0.6], &[false, false, true]).unwrap(),
        0.75
    ));
}

#[test]
fn bad_input_is_a_named_error() {
    assert_eq!(log_loss(&[], &[]), Err(MlError::NothingToScore));
    let err = brier(&[0.5], &[true, false]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "forecasts against outcomes: 1 values against 2"
    );
    let err = ece(&[0.5, 1.5], &[true, false], ten()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "row 1: forecast 1.5 is not a probability in [0, 1]"
    );
    let err = auc(&[f64::NAN], &[true]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "row 0: forecast NaN is not a probability in [0, 1]"
    );
    assert_eq!(
        auc(&[0.2, 0.3], &[true, true]),
        Err(MlError::OneClass("successes"))
    );
}
