//! Rendered screens of the console from fixed data and a fixed clock, at each breakpoint.
//! A change to the layout or the text shows up as a snapshot diff in review.

use crate::common::console_fixture as fixture;

use chrono::{DateTime, Duration, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use retryctl::model::{Method, RetryPreview, TimelineEntry};
use retryctl::tui::app::{App, Conn, Mode};
use retryctl::tui::state::Snapshot;
use retryctl::tui::theme::Theme;
use retryctl::tui::view::{self, Ctx, Glyphs};

pub(crate) fn screen(app: &mut App, width: u16, height: u16, glyphs: &Glyphs) -> String {
    screen_at(app, width, height, glyphs, fixture::now())
}

fn screen_at(
    app: &mut App,
    width: u16,
    height: u16,
    glyphs: &Glyphs,
    now: DateTime<Utc>,
) -> String {
    view::fit(app, width, height);
    let theme = Theme::dark(false);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let ctx = Ctx {
        app,
        theme: &theme,
        glyphs,
        now,
    };
    terminal.draw(|f| view::render(f, &ctx)).unwrap();
    terminal.backend().to_string()
}

pub(crate) fn key(app: &mut App, c: char) {
    app.on_key(
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
        fixture::now(),
    );
}

#[test]
fn wide_160x45() {
    insta::assert_snapshot!(screen(&mut fixture::app(), 160, 45, &Glyphs::unicode()));
}

#[test]
fn wide_120x40() {
    insta::assert_snapshot!(screen(&mut fixture::app(), 120, 40, &Glyphs::unicode()));
}

#[test]
fn tabs_100x30_live() {
    insta::assert_snapshot!(screen(&mut fixture::app(), 100, 30, &Glyphs::unicode()));
}

#[test]
fn tabs_80x24_each_tab() {
    let mut app = fixture::app();
    for tab in ['1', '2', '3', '4'] {
        app.wide = false;
        key(&mut app, tab);
        let name = format!("tabs_80x24_tab{tab}");
        insta::assert_snapshot!(name, screen(&mut app, 80, 24, &Glyphs::unicode()));
    }
}

/// The Analytics tab marks what does not fit and scrolls to it.
#[test]
fn analytics_tab_marks_and_scrolls_to_what_does_not_fit() {
    let mut app = fixture::app();
    app.wide = false;
    key(&mut app, '3');
    let top = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(top.contains("more below") && !top.contains("CRIT"), "{top}");
    key(&mut app, 'G');
    let bottom = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(
        bottom.contains("more above") && bottom.contains("CRIT circuit open"),
        "{bottom}"
    );
    key(&mut app, 'k');
    let between = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(between.contains("above, 1 below"), "{between}");
}

#[test]
fn strategy_tab_at_minimum_size_elides_lists_with_a_count() {
    let mut app = fixture::app();
    screen(&mut app, 60, 16, &Glyphs::unicode());
    key(&mut app, '1');
    let text = screen(&mut app, 60, 16, &Glyphs::unicode());
    assert!(
        text.contains("Policies (priority order) … 4 policies"),
        "{text}"
    );
    assert!(
        text.contains("Models") && text.contains("retrain"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn ascii_80x24() {
    insta::assert_snapshot!(screen(&mut fixture::app(), 80, 24, &Glyphs::ascii()));
}

/// What the console said when an override reached a job that had just succeeded (seen at
/// 80×24 in tmux against a real service).
const REFUSED: &str = "override pay-1201 refused: job pay-1201 is succeeded and can no longer \
                       be changed (409 conflict, /api/v1/retry/jobs/pay-1201/override)";

#[test]
fn a_long_failure_wraps_over_two_footer_lines_at_80x24() {
    let mut app = fixture::app();
    app.wide = false;
    key(&mut app, '2');
    app.on_outcome(false, REFUSED.into());
    let text = screen(&mut app, 80, 24, &Glyphs::unicode());
    let footer: Vec<&str> = text.lines().rev().take(2).collect();
    assert!(
        footer[1].contains("refused: job pay-1201 is succeeded")
            && footer[0].contains("be changed (409 conflict"),
        "{text}"
    );
    insta::assert_snapshot!(text);
    // A short result keeps the footer at two lines.
    app.on_outcome(true, "killed pay-1201".into());
    let text = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(
        text.lines().rev().nth(1).unwrap().contains(" enter apply"),
        "{text}"
    );
}

/// A long success (seen at 60 columns: "… (check pla" cut with no marker) wraps as a failure does.
#[test]
fn a_long_success_is_not_cut_at_60x16() {
    let mut app = fixture::app();
    app.wide = false;
    key(&mut app, '2');
    let said = "override pay-1201: next attempt in 5m (check plan: #2 +5m00s override)";
    app.on_outcome(true, said.into());
    let text = screen(&mut app, 60, 16, &Glyphs::unicode());
    let footer: String = text.lines().rev().take(2).collect::<Vec<_>>().join("");
    assert!(footer.contains("override)"), "{text}");
}

#[test]
fn below_minimum_size() {
    let text = screen(&mut fixture::app(), 50, 12, &Glyphs::unicode());
    assert!(text.contains("terminal too small (need 60×16)"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn reconnecting_keeps_stale_data() {
    let mut app = fixture::app();
    let now = fixture::now() + Duration::seconds(12);
    app.on_disconnected("connection refused".into(), now + Duration::seconds(3));
    let text = screen_at(&mut app, 120, 40, &Glyphs::unicode(), now);
    assert!(text.contains("RECONNECTING IN 3s"), "{text}");
    assert!(text.contains("STALE: data from 12s ago"), "{text}");
    assert!(text.contains("pay-1201"), "last data still shown");
    insta::assert_snapshot!(text);
    assert!(matches!(app.conn, Conn::Reconnecting { .. }));
}

#[test]
fn help_overlay_lists_the_live_keymap() {
    let mut app = fixture::app();
    key(&mut app, '?');
    let text = screen(&mut app, 120, 40, &Glyphs::unicode());
    assert!(
        text.contains("ctrl+o/o") && text.contains("override the job's delay"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn help_overlay_scrolls_at_80x24() {
    let mut app = fixture::app();
    // Laid out once so the app knows how much of the help fits.
    screen(&mut app, 80, 24, &Glyphs::unicode());
    key(&mut app, '?');
    let top = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(top.contains("quit") && top.contains("more below"), "{top}");
    assert!(!top.contains("use static backoff"), "{top}");
    insta::assert_snapshot!("help_80x24_top", top);
    app.on_key(
        KeyEvent::new(KeyCode::End, KeyModifiers::NONE),
        fixture::now(),
    );
    let bottom = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(bottom.contains("more above") && !bottom.contains("more below"));
    assert!(bottom.contains("use static backoff"), "{bottom}");
    insta::assert_snapshot!("help_80x24_bottom", bottom);
    key(&mut app, 'k');
    let up_one = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(up_one.contains("1 more below"), "{up_one}");
}

#[test]
fn override_dialog() {
    let mut app = fixture::app();
    key(&mut app, 'o');
    for c in "90s".chars() {
        key(&mut app, c);
    }
    app.on_key(
        KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
        fixture::now(),
    );
    insta::assert_snapshot!(screen(&mut app, 120, 40, &Glyphs::unicode()));
}

/// `--read-only` lists no key that would be refused: not in the footer, the selected job's
/// keys, the Strategy pane or the help; export (it only reads) stays.
#[test]
fn read_only_offers_no_action_keys() {
    let mut app = fixture::app();
    app.read_only = true;
    let text = screen(&mut app, 160, 45, &Glyphs::unicode());
    for hidden in [
        "enter apply",
        "x kill",
        "retrain",
        "o override",
        "f retry now",
    ] {
        assert!(!text.contains(hidden), "{hidden:?} offered:\n{text}");
    }
    assert!(
        text.contains("p preview") && text.contains("export"),
        "{text}"
    );
    key(&mut app, '?');
    let help = screen(&mut app, 100, 45, &Glyphs::unicode());
    assert!(
        !help.contains("kill") && !help.contains("retrain"),
        "{help}"
    );
    assert!(help.contains("export configuration"), "{help}");
}

/// Counters are the running service's; when the console sees the service restart (its
/// `started_at` changes), the Analytics heading says they were reset instead of dropping silently.
#[test]
fn counters_say_they_were_reset_after_a_service_restart() {
    let mut app = fixture::app();
    let text = screen(&mut app, 160, 45, &Glyphs::unicode());
    assert!(text.contains("Counters since start 08:57"), "{text}");
    let mut summary = fixture::summary();
    summary.started_at = fixture::now() - Duration::seconds(30);
    app.on_snapshot(Snapshot::new(
        summary,
        fixture::jobs(),
        Some(fixture::detail()),
        fixture::now(),
    ));
    let text = screen(&mut app, 160, 45, &Glyphs::unicode());
    assert!(text.contains("Counters since restart 09:59"), "{text}");
}

#[test]
fn alerts_dialog() {
    let mut app = fixture::app();
    key(&mut app, 'a');
    insta::assert_snapshot!(screen(&mut app, 100, 30, &Glyphs::unicode()));
}

/// A finished job has no plan: the selected-job pane says how it ended instead of previewing an
/// attempt it will never get.
#[test]
fn a_finished_job_shows_no_plan() {
    let mut app = fixture::app();
    let mut text = screen(&mut app, 160, 45, &Glyphs::unicode());
    for _ in 0..6 {
        if text.contains("Selected · img-42") {
            break;
        }
        key(&mut app, 'j');
        text = screen(&mut app, 160, 45, &Glyphs::unicode());
    }
    assert!(text.contains("Selected · img-42"), "{text}");
    assert!(text.contains("plan none: it was given up"), "{text}");
    assert!(!text.contains("plan #"), "{text}");
}

/// A plan of `steps` attempts after the first, for the fixture's first job.
fn plan(steps: u32) -> RetryPreview {
    let job = fixture::jobs().jobs[0].clone();
    let timeline = (2..2 + steps)
        .map(|n| TimelineEntry {
            attempt_number: n,
            scheduled_time: fixture::now() + Duration::seconds(30 * i64::from(n)),
            estimated_success: 0.05 * f64::from(n),
            delay_ms: 30_000 * u64::from(n),
            method: Method::Bayesian,
            rationale: format!(
                "bayesian step {n}: the posterior says wait a little longer than before"
            ),
            overridden: false,
        })
        .collect();
    RetryPreview {
        job_id: job.job_id.clone(),
        current_attempt: 1,
        features: job.features(),
        recommendations: vec![],
        timeline,
        generated_at: fixture::now(),
    }
}

#[test]
fn preview_scrolls_with_a_more_below_marker_at_60x16() {
    let mut app = fixture::app();
    screen(&mut app, 60, 16, &Glyphs::unicode());
    key(&mut app, 'p');
    app.on_preview(Ok(Box::new(plan(14))));
    let top = screen(&mut app, 60, 16, &Glyphs::unicode());
    assert!(top.contains("#2 ") && top.contains("more below"), "{top}");
    assert!(!top.contains("#15"), "{top}");
    insta::assert_snapshot!("preview_60x16_top", top);
    key(&mut app, 'j');
    assert!(
        matches!(app.mode, Mode::Preview { scroll: 1, .. }),
        "j scrolls, not closes"
    );
    app.on_key(
        KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE),
        fixture::now(),
    );
    app.on_key(
        KeyEvent::new(KeyCode::End, KeyModifiers::NONE),
        fixture::now(),
    );
    let bottom = screen(&mut app, 60, 16, &Glyphs::unicode());
    assert!(
        bottom.contains("#15") && bottom.contains("more above"),
        "{bottom}"
    );
    key(&mut app, 'q');
    assert_eq!(app.mode, Mode::Normal);
}

/// `--ascii` prints ASCII only, text from the service (`≥` in a rationale) included.
#[test]
fn ascii_prints_only_ascii_on_every_tab_and_size() {
    let mut app = fixture::app();
    for (width, height) in [(160, 45), (100, 30), (80, 24), (60, 16)] {
        for tab in ['1', '2', '3', '4'] {
            screen(&mut app, width, height, &Glyphs::ascii());
            key(&mut app, tab);
            let text = screen(&mut app, width, height, &Glyphs::ascii());
            assert!(text.is_ascii(), "{width}x{height} tab {tab}:\n{text}");
        }
    }
}

/// The first screen line at each size.
fn header_at(app: &mut App, width: u16, height: u16, now: DateTime<Utc>) -> String {
    let text = screen_at(app, width, height, &Glyphs::unicode(), now);
    text.lines().next().unwrap_or_default().to_string()
}

const SIZES: [(u16, u16); 4] = [(160, 45), (100, 30), (80, 24), (60, 16)];

/// The connection state and the status text are on the header at every size, even while
/// reconnecting; the URL and the role go first.
#[test]
fn the_header_keeps_connection_and_status_text_at_every_size() {
    let mut app = fixture::app();
    for (w, h) in SIZES {
        let head = header_at(&mut app, w, h, fixture::now());
        assert!(
            head.contains("●") && head.contains("(17 - 961 / 1012)"),
            "{w}x{h}: {head}"
        );
    }
    let now = fixture::now() + Duration::seconds(12);
    app.on_disconnected("connection refused".into(), now + Duration::seconds(3));
    for (w, h) in SIZES {
        let head = header_at(&mut app, w, h, now);
        assert!(
            head.contains("RECONN") && head.contains("3s"),
            "{w}x{h}: {head}"
        );
        assert!(
            head.contains("STALE") && head.contains("12s"),
            "{w}x{h}: {head}"
        );
        assert!(head.contains("(17 - 961 / 1012)"), "{w}x{h}: {head}");
    }
    insta::assert_snapshot!(
        "header_reconnecting_60x16",
        header_at(&mut app, 60, 16, now)
    );
}

/// An emergency stop is a badge on the header, so every tab at every size shows it.
#[test]
fn emergency_stop_is_a_header_badge_at_every_size() {
    let mut summary = fixture::summary();
    summary.guardrails.emergency_stop = true;
    let mut app = fixture::app_with(summary, fixture::jobs(), Some(fixture::detail()));
    for (w, h) in SIZES {
        for tab in ['1', '2', '3', '4'] {
            screen(&mut app, w, h, &Glyphs::unicode());
            key(&mut app, tab);
            let head = header_at(&mut app, w, h, fixture::now());
            assert!(head.contains("E-STOP"), "{w}x{h} tab {tab}: {head}");
        }
    }
    insta::assert_snapshot!(
        "emergency_stop_60x16",
        screen(&mut app, 60, 16, &Glyphs::unicode())
    );
}

/// A store refusing writes shows as `DEGRADED: <reason>` next to the connection state on every
/// tab at every size, with the emergency stop and the status text beside it.
#[test]
fn a_degraded_store_is_on_the_header_at_every_size() {
    let mut summary = fixture::summary();
    summary.degraded = true;
    summary.degradation = Some(retryctl::model::Degradation {
        kind: retryctl::model::StoreFailureKind::Full,
        reason: "store full".into(),
        detail: "database or disk is full".into(),
        since: fixture::now(),
    });
    summary.guardrails.emergency_stop = true;
    let mut app = fixture::app_with(summary, fixture::jobs(), Some(fixture::detail()));
    for (w, h) in SIZES {
        for tab in ['1', '2', '3', '4'] {
            screen(&mut app, w, h, &Glyphs::unicode());
            key(&mut app, tab);
            let head = header_at(&mut app, w, h, fixture::now());
            for shown in ["●", "DEGRADED: store full", "E-STOP", "(17 - 961 / 1012)"] {
                assert!(head.contains(shown), "{w}x{h} tab {tab}: {shown} in {head}");
            }
        }
    }
    insta::assert_snapshot!(
        "header_degraded_60x16",
        header_at(&mut app, 60, 16, fixture::now())
    );
    insta::assert_snapshot!(
        "header_degraded_160x45",
        header_at(&mut app, 160, 45, fixture::now())
    );
}

/// Ids that differ only at the end stay apart (cut in the middle) and every cut is marked.
#[test]
fn long_job_ids_are_cut_in_the_middle_and_marked() {
    let mut jobs = fixture::jobs();
    for (i, job) in jobs.jobs.iter_mut().enumerate().take(4) {
        job.job_id = format!("newsletter-batch-2026-11-23-000{i}-recipient-shard");
        job.queue = "notifications-high".into();
    }
    let mut app = fixture::app_with(fixture::summary(), jobs, Some(fixture::detail()));
    for (w, h) in [(100, 30), (80, 24)] {
        app.wide = false;
        key(&mut app, '2');
        let text = screen(&mut app, w, h, &Glyphs::unicode());
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("recipient") && l.contains("/5"))
            .collect();
        assert_eq!(rows.len(), 4, "{text}");
        for row in &rows {
            assert!(row.contains('…'), "{w}x{h}: {row}");
        }
        let distinct: std::collections::HashSet<String> = rows
            .iter()
            .map(|r| r.split_whitespace().nth(1).unwrap_or("").to_string())
            .collect();
        assert_eq!(distinct.len(), 4, "{w}x{h}: ids must stay apart:\n{text}");
        if w >= 100 {
            assert!(
                text.contains("notific…"),
                "queue cut with a marker:\n{text}"
            );
        }
    }
}

pub(crate) fn keys(app: &mut App, names: &str) {
    for name in names.split(' ') {
        let k = retryctl::tui::keymap::Key::try_from(name).unwrap();
        app.on_key(KeyEvent::new(k.code, k.mods), fixture::now());
    }
}

fn type_text(app: &mut App, text: &str) {
    text.chars().for_each(|c| key(app, c));
}

/// The three sizes every incident dialog is checked at.
const DIALOG_SIZES: [(u16, u16); 3] = [(160, 45), (80, 24), (60, 16)];

/// The bulk dialog over the applied filter, then the service's dry-run count with the kill
/// confirmed by typing the count: whole words at every size, the question never cut.
#[test]
fn bulk_kill_dialog_and_typed_confirmation() {
    let mut app = fixture::app();
    key(&mut app, '/');
    type_text(&mut app, "queue:webhooks error:connection_refused");
    keys(&mut app, "enter B right tab");
    type_text(&mut app, "provider down, INC-2211");
    for (w, h) in DIALOG_SIZES {
        let s = screen(&mut app, w, h, &Glyphs::unicode());
        assert!(
            s.contains("[kill]") && s.contains("provider down"),
            "{w}x{h}\n{s}"
        );
        insta::assert_snapshot!(format!("bulk_form_{w}x{h}"), s);
    }
    keys(&mut app, "enter");
    app.on_bulk_counted(Ok(fixture::bulk_dry_run()));
    type_text(&mut app, "41");
    for (w, h) in DIALOG_SIZES {
        let s = screen(&mut app, w, h, &Glyphs::unicode());
        for part in [
            "kill 412 jobs matching",
            "type 412 to confirm: 41_",
            "3 finished",
        ] {
            assert!(s.contains(part), "{w}x{h}: {part}\n{s}");
        }
        insta::assert_snapshot!(format!("bulk_confirm_{w}x{h}"), s);
    }
}

/// A read-only console refuses `B` with a message and opens nothing.
#[test]
fn bulk_is_refused_read_only() {
    let mut app = fixture::app();
    app.read_only = true;
    key(&mut app, '/');
    type_text(&mut app, "queue:payments");
    keys(&mut app, "enter B");
    let s = screen(&mut app, 80, 24, &Glyphs::unicode());
    // The footer wraps the refusal over two lines at 80 columns, at a space.
    assert!(
        s.contains("✗ read-only console (--read-only):") && s.contains("\"nothing was sent"),
        "{s}"
    );
    assert!(!s.contains("Bulk action"), "{s}");
}

/// The pause dialog for the selected job, and the list of pauses in force to resume; the
/// header counts the paused scopes and the open circuit at every size.
#[test]
fn pause_dialog_resume_list_and_banner() {
    let mut app = fixture::app();
    keys(&mut app, "P tab tab");
    type_text(&mut app, "db failover");
    for (w, h) in DIALOG_SIZES {
        let s = screen(&mut app, w, h, &Glyphs::unicode());
        assert!(
            s.contains("[payments/timeout]") && s.contains("10m"),
            "{w}x{h}\n{s}"
        );
        insta::assert_snapshot!(format!("pause_form_{w}x{h}"), s);
    }
    keys(&mut app, "esc");
    let mut summary = fixture::summary();
    summary.pauses = fixture::pauses();
    let mut app = fixture::app_with(summary, fixture::jobs(), Some(fixture::detail()));
    for (w, h) in SIZES {
        for tab in ['1', '2', '3', '4'] {
            screen(&mut app, w, h, &Glyphs::unicode());
            key(&mut app, tab);
            let head = header_at(&mut app, w, h, fixture::now());
            for shown in ["2 PAUSED", "1 ", "OPEN", "(17 - 961 / 1012)"] {
                assert!(head.contains(shown), "{w}x{h} tab {tab}: {shown} in {head}");
            }
        }
    }
    key(&mut app, '2');
    keys(&mut app, "U");
    for (w, h) in DIALOG_SIZES {
        let s = screen(&mut app, w, h, &Glyphs::unicode());
        assert!(
            s.contains("sync/service_unavailable  for 10m00s"),
            "{w}x{h}\n{s}"
        );
        insta::assert_snapshot!(format!("resume_list_{w}x{h}"), s);
    }
}

/// A job whose circuit an operator forced open is not handed out: its row says so instead of
/// a countdown or "due, no worker yet".
#[test]
fn a_job_behind_a_circuit_forced_open_reads_as_held() {
    let mut summary = fixture::summary();
    summary.circuits =
        vec![serde_json::from_value(serde_json::json!({
        "queue": "sync", "error_class": "service_unavailable", "state": "open",
        "failure_rate": 0.9, "forced": {"queue": "sync", "error_class": "service_unavailable",
        "state": "open", "reason": "crm down", "actor": "operator:alice",
        "forced_at": "2026-11-23T09:50:00Z"}
    }))
    .unwrap()];
    let mut app = fixture::app_with(summary, fixture::jobs(), Some(fixture::detail()));
    let s = screen(&mut app, 160, 45, &Glyphs::unicode());
    let row = s.lines().find(|l| l.contains("sync-7")).unwrap();
    assert!(row.contains("held: circuit open"), "{s}");
    let other = s.lines().find(|l| l.contains("email-88")).unwrap();
    assert!(!other.contains("held"), "{s}");
}

/// Enter on an alert in the Alerts tab puts its jobs on the Live tab, filtered.
#[test]
fn enter_on_an_alert_filters_the_live_tab() {
    let mut app = fixture::app();
    app.wide = false;
    key(&mut app, '4');
    keys(&mut app, "enter");
    let s = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(
        s.contains("filter \"queue:sync error:service_unavailable\""),
        "{s}"
    );
    insta::assert_snapshot!(s);
}

/// `i` opens the selected job's detail: the full id (wrapped, never shortened), attempts with
/// their times, the errors the live stream saw, the plan and the audit entries; it scrolls
/// where it does not fit and says so.
#[test]
fn job_detail_at_each_size() {
    let mut app = fixture::app();
    keys(&mut app, "i");
    app.on_job_info("pay-1201".into(), Ok(Box::new(fixture::job_info())));
    for (w, h) in DIALOG_SIZES {
        let s = screen(&mut app, w, h, &Glyphs::unicode());
        assert!(s.contains("job id pay-1201"), "{w}x{h}\n{s}");
        insta::assert_snapshot!(format!("job_detail_{w}x{h}"), s);
    }
    let s = screen(&mut app, 160, 45, &Glyphs::unicode());
    for part in [
        "#1  2026-11-23 09:59:46",
        "incident 42: wait for the gateway failover",
        "upstream gateway timeout",
        "c copy id",
    ] {
        assert!(s.contains(part), "{part}\n{s}");
    }
    // At 60x16 it scrolls to the audit entries at the bottom.
    screen(&mut app, 60, 16, &Glyphs::unicode());
    keys(&mut app, "G");
    let bottom = screen(&mut app, 60, 16, &Glyphs::unicode());
    assert!(
        bottom.contains("more above") && bottom.contains("by operator:bob"),
        "{bottom}"
    );
}

/// A job id longer than the whole detail is wrapped over rows, every character shown.
#[test]
fn a_long_job_id_is_shown_whole_in_the_detail() {
    let mut app = fixture::app();
    let mut info = fixture::job_info();
    let id = format!("newsletter-batch-{}-end", "0123456789".repeat(8));
    info.detail.job.job_id = id.clone();
    keys(&mut app, "i");
    app.on_job_info(id.clone(), Ok(Box::new(info)));
    let s = screen(&mut app, 60, 16, &Glyphs::unicode());
    let rows: String = s
        .lines()
        .skip_while(|l| !l.contains("job id"))
        .take(3)
        .flat_map(|l| l.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-'))
        .collect();
    assert!(rows.contains(&id), "{id} in\n{s}");
}

/// `S` sorts the list and the title says by what; the selected job stays selected.
#[test]
fn sorting_is_named_in_the_title() {
    let mut app = fixture::app();
    let first = screen(&mut app, 120, 40, &Glyphs::unicode());
    assert!(first.contains("by next attempt"), "{first}");
    key(&mut app, 'S');
    let s = screen(&mut app, 120, 40, &Glyphs::unicode());
    assert!(
        s.contains("by attempts") && s.contains("jobs sorted by attempts"),
        "{s}"
    );
    assert_eq!(
        app.selected_job().map(|j| j.job_id.as_str()),
        Some("pay-1201")
    );
    let rows: Vec<&str> = s.lines().filter(|l| l.contains("/5 ")).collect();
    assert!(
        rows[0].contains("report-3") && rows[0].contains("4/5"),
        "{rows:?}"
    );
    for (w, h) in [(80, 24), (60, 16)] {
        app.wide = false;
        key(&mut app, '2');
        let s = screen(&mut app, w, h, &Glyphs::unicode());
        assert!(s.contains("by attempts"), "{w}x{h}\n{s}");
        insta::assert_snapshot!(format!("sorted_by_attempts_{w}x{h}"), s);
    }
}

/// Analytics with `/series`: per-queue sparklines for failures, retries and give-ups over the
/// window it names, the latest and peak counts, and the top error classes; the queues that do
/// not fit are counted, busiest first shown.
#[test]
fn sparklines_and_top_errors_at_160x45_and_80x24() {
    let mut app = fixture::app_with_series();
    let wide = screen(&mut app, 160, 45, &Glyphs::unicode());
    for part in [
        "Last 15m",
        "webhooks",
        "gave up",
        "Top errors (E to filter)",
    ] {
        assert!(wide.contains(part), "{part}\n{wide}");
    }
    // webhooks' latest failures step and its peak, from series.json.
    assert!(wide.contains("   12   41"), "{wide}");
    insta::assert_snapshot!("sparklines_160x45", wide);
    app.wide = false;
    key(&mut app, '3');
    let tab = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(tab.contains("+3 queues not shown"), "{tab}");
    assert!(
        tab.contains("webhooks"),
        "the busiest queue comes first\n{tab}"
    );
    insta::assert_snapshot!("sparklines_80x24", tab);
    let ascii = screen(&mut app, 80, 24, &Glyphs::ascii());
    assert!(ascii.is_ascii(), "{ascii}");
    insta::assert_snapshot!("sparklines_80x24_ascii", ascii);
}

/// Without `/series` (an older service) the pane is as before and `E` says why it lists
/// nothing.
#[test]
fn no_series_leaves_the_sparklines_out() {
    let mut app = fixture::app();
    let s = screen(&mut app, 160, 45, &Glyphs::unicode());
    assert!(!s.contains("Last 15m") && !s.contains("Top errors"), "{s}");
    key(&mut app, 'E');
    assert_eq!(app.mode, Mode::Normal);
    let s = screen(&mut app, 160, 45, &Glyphs::unicode());
    assert!(s.contains("the service sent no series"), "{s}");
}

/// Group by error: `E` lists the top error classes with their counts; Enter on one filters
/// the Live pane by `error:CLASS`. On the Analytics tab, Enter opens the same list.
#[test]
fn group_by_error_filters_the_live_pane() {
    let mut app = fixture::app_with_series();
    key(&mut app, 'E');
    keys(&mut app, "down");
    let s = screen(&mut app, 160, 45, &Glyphs::unicode());
    assert!(s.contains("Failures by error class, last 15m"), "{s}");
    insta::assert_snapshot!("group_by_error_160x45", s);
    keys(&mut app, "enter");
    assert_eq!(app.filter, "error:timeout");
    assert_eq!(app.focus, retryctl::tui::app::Pane::Live);
    let s = screen(&mut app, 160, 45, &Glyphs::unicode());
    assert!(s.contains("filter \"error:timeout\""), "{s}");

    let mut app = fixture::app_with_series();
    app.wide = false;
    key(&mut app, '3');
    keys(&mut app, "enter");
    let s = screen(&mut app, 80, 24, &Glyphs::unicode());
    insta::assert_snapshot!("group_by_error_80x24", s);
    keys(&mut app, "enter");
    assert_eq!(app.filter, "error:connection_refused");
    assert_eq!(app.mode, Mode::Normal);
}

/// A filter that matches nothing says so in the list, with the field syntax when a term looks
/// like a mistyped field, instead of leaving an empty frame that reads as a frozen console.
#[test]
fn a_filter_that_matches_nothing_says_so() {
    let mut app = fixture::app();
    key(&mut app, '/');
    type_text(&mut app, "quue=payments");
    keys(&mut app, "enter");
    let s = screen(&mut app, 120, 40, &Glyphs::unicode());
    assert!(s.contains("no job matches \"quue=payments\""), "{s}");
    assert!(s.contains("fields are queue:"), "{s}");

    key(&mut app, '/');
    keys(&mut app, "ctrl+u");
    type_text(&mut app, "nosuchword");
    keys(&mut app, "enter");
    let s = screen(&mut app, 120, 40, &Glyphs::unicode());
    assert!(
        s.contains("no job matches \"nosuchword\" · / to change"),
        "{s}"
    );
    assert!(!s.contains("fields are"), "{s}");
}

/// A training job as `/summary` shows it, from `json` over a running job's fields.
fn training_job(extra: serde_json::Value) -> retryctl::model::MlJob {
    let mut job = serde_json::json!({
        "job_id": "train-3",
        "state": "running",
        "progress": "cross-validation fold 2 of 3",
        "started_at": fixture::now() - Duration::seconds(42),
    });
    job.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(job).unwrap()
}

/// The Strategy tab at 80x24 with `ml` as the summary's ML state.
fn strategy_tab(ml: impl FnOnce(&mut retryctl::model::MlSummary)) -> App {
    let mut summary = fixture::summary();
    summary.ml_enabled = true;
    ml(&mut summary.ml);
    let mut app = fixture::app_with(summary, fixture::jobs(), Some(fixture::detail()));
    app.wide = false;
    key(&mut app, '1');
    app
}

#[test]
fn a_training_shows_a_spinner_and_its_time_then_its_result() {
    let mut app = strategy_tab(|ml| ml.training = Some(training_job(serde_json::json!({}))));
    let running = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(
        running.contains("training ⠷ 42s cross-validation fold 2 of 3"),
        "{running}"
    );
    app.on_tick();
    let next = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(
        next.contains("training ⠯ 42s"),
        "the spinner turns:\n{next}"
    );
    insta::assert_snapshot!("training_running_80x24", running);

    let metrics = serde_json::json!({"rows": 200, "log_loss": 0.1334, "brier": 0.04, "ece": 0.0065,
        "accuracy": 0.95, "f1_score": 0.96});
    let version = serde_json::json!({
        "version": "ml-3", "model_type": "gradient_boost", "features": [], "state": "candidate",
        "canary_percent": 0.0, "trained_at": fixture::now() - Duration::seconds(20),
        "data_from": fixture::now() - Duration::hours(2), "data_to": fixture::now(),
        "training_rows": 800, "holdout_rows": 200, "training_ms": 2400, "cross_validation": [],
        "holdout": metrics, "bayesian_holdout": {"rows": 200, "log_loss": 0.4671, "brier": 0.12,
        "ece": 0.038, "accuracy": 0.8, "f1_score": 0.85}, "updated_at": fixture::now()
    });
    let finished = serde_json::json!({"state": "succeeded", "progress": "trained ml-3",
        "finished_at": fixture::now() - Duration::seconds(20), "model": version});
    let mut app = strategy_tab(|ml| ml.last_training = Some(training_job(finished)));
    let done = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(
        done.contains("trained ml-3 log-loss 0.133 (bayes 0.467), 20s ago"),
        "{done}"
    );
    assert!(!done.contains("⠷"), "no spinner once it ended:\n{done}");

    let failed = serde_json::json!({"state": "failed", "progress": "failed",
        "finished_at": fixture::now() - Duration::seconds(5),
        "error": "12 retries recorded: at least 100 for training plus a held-out share are needed"});
    let mut app = strategy_tab(|ml| ml.last_training = Some(training_job(failed)));
    let refused = screen(&mut app, 80, 24, &Glyphs::unicode());
    assert!(
        refused.contains("training failed 12 retries recorded"),
        "{refused}"
    );
}
