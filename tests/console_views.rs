//! The design's views held against the console (`shared/seeds/views.md`): smart vs static over
//! time with its headline, the savings the shadow model backs, and the Configuration block.
//! Rendered from fixed data at the breakpoints, as in `console_snapshots`.

use crate::common::console_fixture as fixture;
use crate::console_snapshots::{key, screen};

use retryctl::tui::view::Glyphs;

/// Analytics opens with smart vs static over the last day: the estimated difference as a
/// headline, two sparklines on one scale, the measured outcome and the estimated savings,
/// each naming its window or saying it is estimated.
#[test]
fn smart_vs_static_over_time_at_160x45_and_80x24() {
    let mut app = fixture::app_with_trend();
    let wide = screen(&mut app, 160, 45, &Glyphs::unicode());
    // From trend.json: difference 0.1951, 3032 jobs, smart 82%, static 63%, measured 79%.
    for part in [
        "Smart vs static · last 24h",
        "+20 pts",
        "estimated (3032 jobs)",
        "82%",
        "63%",
        "measured smart 79%",
        "of 2978 ended",
    ] {
        assert!(wide.contains(part), "{part}\n{wide}");
    }
    insta::assert_snapshot!("trend_160x45", wide);
    app.wide = false;
    key(&mut app, '3');
    let tab = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(tab.contains("+20 pts"), "{tab}");
    insta::assert_snapshot!("trend_80x24", tab);
    let ascii = screen(&mut app, 80, 24, &Glyphs::ascii());
    assert!(ascii.is_ascii(), "{ascii}");
    assert!(ascii.contains("est. per job:"), "{ascii}");
}

/// A service up for an hour answers since its start, and the heading says so.
#[test]
fn smart_vs_static_since_the_start_names_the_time() {
    let mut app = fixture::app();
    let mut snap = app.data.clone().unwrap();
    let mut trend = fixture::trend();
    trend.from = Some(snap.summary.started_at);
    trend.steps.drain(..136);
    snap = snap.with_trend(Some(trend));
    app.on_snapshot(snap);
    let s = screen(&mut app, 160, 45, &Glyphs::unicode());
    assert!(s.contains("Smart vs static · since 08:57"), "{s}");
}

/// The Configuration block: the strategy deciding each queue (a model in canary shows as an
/// upgrade pending), the global limits, and the keys that export and import.
#[test]
fn configuration_block_has_strategy_per_queue_and_import() {
    let mut app = fixture::app_with_trend();
    app.analytics_scroll = usize::MAX;
    key(&mut app, '3');
    let s = screen(&mut app, 160, 45, &Glyphs::unicode());
    for part in [
        "Configuration",
        "strategy per queue, last 5m00s",
        "payments bayesian",
        "max attempts 10",
        "e export config",
        "I import rules",
    ] {
        assert!(s.contains(part), "{part}\n{s}");
    }
    insta::assert_snapshot!("configuration_160x45", s);
}

/// Import: the service's dry-run diff, scrollable, confirmed with y.
#[test]
fn import_confirmation_shows_the_services_diff() {
    let mut app = fixture::app();
    let changes = (0..30)
        .map(|i| retryctl::model::diff::FieldChange {
            path: format!("policies[{i}].max_attempts"),
            before: Some(3.into()),
            after: Some(5.into()),
        })
        .collect();
    let check = retryctl::tui::app::ImportCheck {
        path: "rules.toml".into(),
        strategy: fixture::strategy(),
        changes,
    };
    app.on_import_checked(Ok(Box::new(check)));
    let s = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(s.contains("30 fields change"), "{s}");
    assert!(s.contains("y/enter apply"), "{s}");
    insta::assert_snapshot!("import_confirm_80x24", s);
}

/// At 80×24 the Selected pane has two rows for the pattern analysis: the figures take the
/// short labels and fit whole (outcomes, recovery time and the peak window).
#[test]
fn pattern_analysis_fits_whole_at_80x24() {
    let mut app = fixture::app();
    app.wide = false;
    key(&mut app, '2');
    let s = screen(&mut app, 80, 24, &Glyphs::unicode());
    let rows: Vec<&str> = s.lines().filter(|l| l.contains("1h02m:")).collect();
    assert_eq!(rows.len(), 1, "{s}");
    for part in ["58 failed", "ok ≤5s 23", "gave up 1", "max 3"] {
        assert!(rows[0].contains(part), "{part}\n{s}");
    }
    let timing = s.lines().find(|l| l.contains("recovery")).expect(&s);
    for part in ["6.8s ± 3.2s", "p90 11.2s", "peak 09:30–10:00 31 failed"] {
        assert!(timing.contains(part), "{part}\n{s}");
    }
    assert!(!rows[0].contains('…') && !timing.contains('…'), "{s}");
}
