use super::*;
use FeatureKind::{Categorical, Numeric};
use Value::{Cat, Missing, Num};

const FEATURES: [(&str, FeatureKind); 2] = [("payload_kb", Numeric), ("error_class", Categorical)];

fn training_rows() -> Vec<Vec<Value<'static>>> {
    vec![
        vec![Num(1.0), Cat("timeout")],
        vec![Num(2.0), Cat("timeout")],
        vec![Num(3.0), Cat("timeout")],
        vec![Missing, Cat("refused")],
        vec![Num(2.0), Cat("refused")],
        vec![Num(2.0), Cat("rare")],
        vec![Num(2.0), Missing],
    ]
}

fn fitted() -> Encoder {
    Encoder::fit(&FEATURES, &training_rows(), 2).expect("valid rows")
}

#[test]
fn vocabulary_keeps_values_seen_min_count_times() {
    let e = fitted();
    assert_eq!(
        e.vocabulary("error_class"),
        Some(vec!["refused", "timeout"])
    );
    assert_eq!(e.vocabulary("payload_kb"), None);
    assert_eq!(e.width(), 3);
    assert_eq!(
        e.slot_names(),
        ["payload_kb", "error_class=refused", "error_class=timeout"]
    );
}

#[test]
fn numerics_are_standardised_and_missing_is_the_mean() {
    let e = fitted();
    // Known values 1, 2, 3, 2, 2, 2: mean 2, sample sd sqrt(2/5).
    let sd = (2.0f64 / 5.0).sqrt();
    let up = e.dense(&[Num(3.0), Cat("timeout")]).unwrap();
    assert!((up[0] - 1.0 / sd).abs() < 1e-12, "{up:?}");
    assert_eq!(&up[1..], &[0.0, 1.0]);
    assert_eq!(
        e.dense(&[Missing, Cat("refused")]).unwrap(),
        [0.0, 1.0, 0.0]
    );
}

#[test]
fn unseen_rare_and_missing_categories_encode_as_missing() {
    let e = fitted();
    for v in [Cat("rare"), Cat("never-seen"), Missing] {
        assert_eq!(e.dense(&[Num(2.0), v]).unwrap(), [0.0, 0.0, 0.0], "{v:?}");
        let idx = e.indexed(&[Num(2.0), v]).unwrap();
        assert_eq!(idx[0], 2.0);
        assert!(idx[1].is_nan(), "{v:?} -> {idx:?}");
    }
    assert_eq!(e.indexed(&[Missing, Cat("timeout")]).unwrap()[1], 1.0);
    assert!(e.indexed(&[Missing, Cat("timeout")]).unwrap()[0].is_nan());
}

#[test]
fn many_rows_index_column_by_column_as_each_row_does() {
    let e = fitted();
    let rows = vec![
        vec![Num(1.5), Cat("timeout")],
        vec![Missing, Cat("refused")],
        vec![Num(-2.0), Missing],
    ];
    let columns = e.indexed_columns(&rows).unwrap();
    for (i, row) in rows.iter().enumerate() {
        let one = e.indexed(row).unwrap();
        for (j, v) in one.iter().enumerate() {
            let c = columns[j * rows.len() + i];
            assert!(c == *v || (c.is_nan() && v.is_nan()), "row {i} slot {j}");
        }
    }
    let err = e.indexed_columns(&[vec![Num(1.0)]]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "row 0: 1 feature values, the features are 2"
    );
}

#[test]
fn a_stored_encoder_encodes_as_before() {
    let e = fitted();
    let json = serde_json::to_string(&e).unwrap();
    let back: Encoder = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
    let row = [Num(1.5), Cat("timeout")];
    assert_eq!(back.dense(&row).unwrap(), e.dense(&row).unwrap());
}

#[test]
fn wrong_kinds_and_widths_are_named_errors() {
    let e = fitted();
    let err = e.dense(&[Cat("big"), Missing]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "feature 'payload_kb': numeric, got the text 'big'"
    );
    let err = e.dense(&[Num(f64::INFINITY), Missing]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "feature 'payload_kb': inf is not a finite number"
    );
    let err = e.indexed(&[Missing, Num(3.0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "feature 'error_class': categorical, got the number 3"
    );
    let err = e.dense(&[Missing]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "row 0: 1 feature values, the features are 2"
    );
    let mut rows = training_rows();
    rows[4].pop();
    let err = Encoder::fit(&FEATURES, &rows, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "row 4: 1 feature values, the features are 2"
    );
}
