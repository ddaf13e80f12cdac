use super::*;
use crate::model::{JobDetail, JobPage, JobState, Summary};
use ratatui::crossterm::event::{KeyEvent, MouseEvent};

fn now() -> DateTime<Utc> {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn snapshot(role: &str) -> Snapshot {
    let mut summary: Summary =
        serde_json::from_str(include_str!("../../../tests/data/console/summary.json")).unwrap();
    summary.role = role.to_string();
    let jobs: JobPage =
        serde_json::from_str(include_str!("../../../tests/data/console/jobs.json")).unwrap();
    let detail: JobDetail =
        serde_json::from_str(include_str!("../../../tests/data/console/detail.json")).unwrap();
    Snapshot::new(summary, jobs, Some(detail), now())
}

/// An app that has not heard from the service yet.
fn blank(read_only: bool) -> App {
    App::new(AppConfig {
        api: "http://127.0.0.1:7878".into(),
        keymap: Keymap::defaults().unwrap(),
        read_only,
        export_path: "retryctl-config.toml".into(),
    })
}

fn app(role: &str, read_only: bool) -> App {
    let mut app = blank(read_only);
    app.on_snapshot(snapshot(role));
    app
}

fn press(app: &mut App, keys: &str) -> Vec<Effect> {
    keys.split(' ')
        .filter_map(|k| {
            let key = crate::tui::keymap::Key::try_from(k).unwrap();
            app.on_key(KeyEvent::new(key.code, key.mods), now())
        })
        .collect()
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE), now());
    }
}

#[test]
fn override_validates_then_sends() {
    let mut app = app("operator", false);
    press(&mut app, "ctrl+o");
    assert!(matches!(app.mode, Mode::Override(_)));
    typed(&mut app, "2m");
    assert!(press(&mut app, "enter").is_empty(), "no reason yet");
    let Mode::Override(form) = &app.mode else {
        panic!("dialog closed")
    };
    assert!(form.error.as_deref().unwrap().contains("reason"));
    press(&mut app, "tab");
    typed(&mut app, "db failover");
    let effects = press(&mut app, "enter");
    let Some(Effect::Call(Call::Override { job_id, req })) = effects.first() else {
        panic!("{effects:?}")
    };
    assert_eq!((job_id.as_str(), req.delay_ms), ("pay-1201", Some(120_000)));
    assert_eq!(req.reason, "db failover");
    assert!(matches!(app.mode, Mode::Loading(_)), "{:?}", app.mode);
    app.on_outcome(true, "override pay-1201 sent (db failover)".into());
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn a_refused_override_reopens_the_dialog_with_what_was_typed() {
    let mut app = app("operator", false);
    press(&mut app, "o");
    typed(&mut app, "2m");
    press(&mut app, "tab");
    typed(&mut app, "db failover");
    assert_eq!(press(&mut app, "enter").len(), 1);
    // Another call's answer does not touch the sent override.
    app.on_outcome(false, "kill img-42 refused: 409".into());
    let refusal = "override pay-1201 refused: job pay-1201 already succeeded (409 conflict)";
    app.on_outcome(false, refusal.into());
    let Mode::Override(form) = &app.mode else {
        panic!("dialog not reopened: {:?}", app.mode)
    };
    assert_eq!(
        (form.delay.text.as_str(), form.reason.text.as_str()),
        ("2m", "db failover")
    );
    assert_eq!(form.error.as_deref(), Some(refusal));
}

#[test]
fn esc_cancels_an_override() {
    let mut app = app("operator", false);
    press(&mut app, "o");
    typed(&mut app, "30s");
    assert!(press(&mut app, "esc").is_empty());
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn read_only_refuses_and_sends_nothing() {
    for (role, flag, why) in [
        ("operator", true, "--read-only"),
        ("viewer", false, "viewer"),
    ] {
        let mut app = app(role, flag);
        for keys in [
            "enter", "x", "f", "s", "o", "R", "A", "ctrl+r", "B", "P", "U",
        ] {
            assert!(press(&mut app, keys).is_empty(), "{keys} sent something");
            assert_eq!(app.mode, Mode::Normal, "{keys} opened a dialog");
            let last = app.last.clone().unwrap();
            assert!(!last.ok && last.text.contains(why), "{keys}: {}", last.text);
        }
        // Reading still works, exporting too (it only reads the strategy).
        assert_eq!(press(&mut app, "space"), vec![Effect::Refresh]);
        press(&mut app, "a");
        assert_eq!(app.mode, Mode::Alerts);
        press(&mut app, "esc e");
        assert!(matches!(app.mode, Mode::Export { .. }), "{role}: e exports");
        press(&mut app, "esc");
        // What would be refused is not offered.
        let offered = app.offered();
        assert!(offered.iter().all(|a| !a.mutates()), "{offered:?}");
        assert!(offered.contains(&Action::Export) && offered.contains(&Action::Preview));
    }
    assert!(app("operator", false).offered().contains(&Action::Kill));
}

#[test]
fn an_action_error_from_while_disconnected_clears_when_the_service_answers() {
    let mut app = app("operator", false);
    app.on_disconnected("refused".into(), now());
    app.on_outcome(false, "apply refused: connection refused".into());
    app.on_snapshot(snapshot("operator"));
    assert_eq!(app.last, None);
    // While connected, a refusal stays until the next action.
    app.on_outcome(false, "kill refused: 409".into());
    app.on_snapshot(snapshot("operator"));
    assert!(app.last.is_some());
}

#[test]
fn kill_asks_for_a_reason_and_retrain_asks_first() {
    let mut app = app("operator", false);
    assert!(press(&mut app, "x").is_empty());
    assert!(press(&mut app, "esc").is_empty());
    assert_eq!(app.mode, Mode::Normal);
    press(&mut app, "x");
    assert!(
        press(&mut app, "enter").is_empty(),
        "no reason, nothing sent"
    );
    let Mode::Reason(form) = &app.mode else {
        panic!("the reason dialog closed: {:?}", app.mode)
    };
    assert!(
        form.error
            .as_deref()
            .unwrap()
            .contains("reason is required")
    );
    typed(&mut app, "poison message");
    let effects = press(&mut app, "enter");
    assert_eq!(
        effects,
        vec![Effect::Call(Call::Kill {
            job_id: "pay-1201".into(),
            reason: "poison message".into(),
        })]
    );
    press(&mut app, "ctrl+r");
    let effects = press(&mut app, "enter");
    assert!(
        matches!(&effects[..], [Effect::Call(Call::Retrain { job_type, .. })] if job_type == "payment")
    );
}

#[test]
fn selection_moves_and_survives_refresh() {
    let mut app = app("operator", false);
    press(&mut app, "j j");
    assert_eq!(app.selected_job().unwrap().job_id, "pay-1199");
    app.on_snapshot(snapshot("operator"));
    assert_eq!(app.selected_job().unwrap().job_id, "pay-1199");
    press(&mut app, "G");
    assert_eq!(app.selected_job().unwrap().job_id, "img-42");
    press(&mut app, "g k");
    assert_eq!(app.selected_job().unwrap().job_id, "pay-1201");
}

/// The fixture with the given jobs in the given states (the others unchanged), in the given
/// order when `order` is not empty.
fn snapshot_with(states: &[(&str, JobState)], order: &[&str]) -> Snapshot {
    let mut snap = snapshot("operator");
    for job in &mut snap.jobs.jobs {
        if let Some((_, state)) = states.iter().find(|(id, _)| *id == job.job_id) {
            job.state = *state;
        }
    }
    if !order.is_empty() {
        snap.jobs
            .jobs
            .retain(|j| order.contains(&j.job_id.as_str()));
        snap.jobs
            .jobs
            .sort_by_key(|j| order.iter().position(|id| *id == j.job_id));
    }
    snap
}

fn selected(app: &App) -> &str {
    app.selected_job().map_or("", |j| j.job_id.as_str())
}

#[test]
fn start_up_selects_the_first_pending_row() {
    // A console opened on a list that starts with finished jobs.
    let first_done = [
        ("pay-1201", JobState::Succeeded),
        ("email-88", JobState::Killed),
    ];
    let mut app = blank(false);
    app.on_snapshot(snapshot_with(&first_done, &[]));
    assert_eq!(selected(&app), "pay-1199");
}

#[test]
fn a_job_that_finishes_under_the_selection_keeps_it() {
    let mut app = app("operator", false);
    press(&mut app, "j j j");
    assert_eq!(selected(&app), "sync-7");
    // The service lists finished jobs last: sync-7 moves down and the selection follows it.
    let order = [
        "pay-1201", "email-88", "pay-1199", "report-3", "img-42", "sync-7",
    ];
    app.on_snapshot(snapshot_with(&[("sync-7", JobState::Succeeded)], &order));
    assert_eq!(selected(&app), "sync-7");
    assert_eq!(
        app.last, None,
        "nothing to report: the selection did not move"
    );
    // Polls that reorder the rows do not move it either.
    app.on_snapshot(snapshot_with(&[("sync-7", JobState::Succeeded)], &[]));
    assert_eq!(selected(&app), "sync-7");
}

#[test]
fn a_job_gone_from_the_list_hands_the_selection_to_its_neighbour_once() {
    let mut app = app("operator", false);
    press(&mut app, "G k");
    assert_eq!(selected(&app), "report-3");
    let order = ["img-42", "pay-1201", "email-88"];
    app.on_snapshot(snapshot_with(&[], &order));
    assert_eq!(selected(&app), "email-88", "the row that took its place");
    let said = app.last.clone().unwrap();
    assert!(said.ok && said.text == "report-3 left the list; selected email-88");
    // From then on it follows email-88, wherever it is listed.
    app.on_snapshot(snapshot_with(&[], &["email-88", "img-42", "pay-1201"]));
    assert_eq!(selected(&app), "email-88");
}

#[test]
fn bottom_stays_at_the_bottom_across_polls() {
    let mut app = app("operator", false);
    press(&mut app, "G");
    for _ in 0..3 {
        app.on_snapshot(snapshot("operator"));
    }
    assert_eq!(selected(&app), "img-42");
}

#[test]
fn a_finished_row_the_operator_chose_keeps_the_selection() {
    let mut app = app("operator", false);
    press(&mut app, "G");
    assert_eq!(selected(&app), "img-42");
    app.on_snapshot(snapshot("operator"));
    assert_eq!(selected(&app), "img-42");
    // With nothing pending, a job that just finished stays selected.
    app = self::app("operator", false);
    let all_done: Vec<(&str, JobState)> =
        ["pay-1201", "email-88", "pay-1199", "sync-7", "report-3"]
            .into_iter()
            .map(|id| (id, JobState::Succeeded))
            .collect();
    press(&mut app, "j");
    app.on_snapshot(snapshot_with(&all_done, &[]));
    assert_eq!(selected(&app), "email-88");
}

#[test]
fn filter_narrows_the_list() {
    let mut app = app("operator", false);
    press(&mut app, "/");
    typed(&mut app, "email");
    assert_eq!(press(&mut app, "enter"), vec![Effect::Refresh]);
    assert_eq!(app.visible.len(), 1);
    assert_eq!(app.selected_job().unwrap().job_id, "email-88");
    press(&mut app, "/");
    typed(&mut app, " queue:emails");
    press(&mut app, "enter");
    assert_eq!(app.watch().0.queue.as_deref(), Some("emails"));
}

#[test]
fn tabs_and_panes() {
    let mut app = app("operator", false);
    press(&mut app, "tab");
    assert_eq!(app.focus, Pane::Analytics);
    press(&mut app, "tab");
    assert_eq!(app.focus, Pane::Strategy);
    press(&mut app, "4");
    assert_eq!(
        app.focus,
        Pane::Analytics,
        "alerts live in the analytics pane when wide"
    );
    app.wide = false;
    press(&mut app, "4");
    assert_eq!(app.focus, Pane::Alerts);
    press(&mut app, "tab");
    assert_eq!(app.focus, Pane::Strategy);
}

#[test]
fn alerts_dialog_acks_the_selected_alert() {
    let mut app = app("operator", false);
    press(&mut app, "ctrl+a j");
    assert!(press(&mut app, "A").is_empty(), "asks why first");
    assert!(matches!(app.mode, Mode::Reason(_)), "{:?}", app.mode);
    typed(&mut app, "on it");
    let effects = press(&mut app, "enter");
    assert_eq!(
        effects,
        vec![Effect::Call(Call::Ack {
            alert_id: "retry_storm:payments".into(),
            reason: "on it".into(),
        })]
    );
}

#[test]
fn ctrl_c_quits_even_while_typing_and_help_closes() {
    let mut app = app("operator", false);
    press(&mut app, "?");
    assert_eq!(app.mode, Mode::Help { scroll: 0 });
    press(&mut app, "q");
    assert_eq!(app.mode, Mode::Normal);
    press(&mut app, "o");
    assert_eq!(press(&mut app, "ctrl+c"), vec![Effect::Quit]);
}

#[test]
fn help_scrolls_within_what_fits_and_other_keys_close_it() {
    let mut app = app("operator", false);
    app.help_fit = Fit {
        visible: 10,
        total: 28,
    };
    press(&mut app, "? j j down");
    assert_eq!(app.mode, Mode::Help { scroll: 3 });
    press(&mut app, "k pagedown");
    assert_eq!(app.mode, Mode::Help { scroll: 12 });
    press(&mut app, "pagedown");
    assert_eq!(
        app.mode,
        Mode::Help { scroll: 18 },
        "clamped to the last page"
    );
    press(&mut app, "j end");
    assert_eq!(app.mode, Mode::Help { scroll: 18 });
    press(&mut app, "home");
    assert_eq!(app.mode, Mode::Help { scroll: 0 });
    press(&mut app, "k");
    assert_eq!(app.mode, Mode::Help { scroll: 0 });
    press(&mut app, "esc");
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn export_asks_for_a_path_with_a_known_extension() {
    let mut app = app("viewer", false);
    press(&mut app, "e");
    for _ in 0..4 {
        press(&mut app, "backspace");
    }
    typed(&mut app, "yaml");
    let effects = press(&mut app, "enter");
    assert_eq!(
        effects,
        vec![Effect::Export(Export {
            path: "retryctl-config.yaml".into(),
            format: ExportFormat::Yaml,
            replace: false,
        })]
    );
}

#[test]
fn an_existing_export_file_is_replaced_only_when_confirmed() {
    let mut app = app("viewer", false);
    app.on_export_exists("cfg.toml".into(), ExportFormat::Toml);
    assert!(press(&mut app, "n").is_empty(), "no keeps the file");
    assert_eq!(app.mode, Mode::Normal);
    app.on_export_exists("cfg.toml".into(), ExportFormat::Toml);
    assert_eq!(
        press(&mut app, "y"),
        vec![Effect::Export(Export {
            path: "cfg.toml".into(),
            format: ExportFormat::Toml,
            replace: true,
        })]
    );
}

#[test]
fn lost_connection_keeps_the_data() {
    let mut app = app("operator", false);
    app.on_disconnected("refused".into(), now());
    assert!(app.data.is_some());
    assert!(matches!(app.conn, Conn::Reconnecting { .. }));
}

#[test]
fn a_refused_filter_falls_back_to_the_last_one_that_worked() {
    let mut app = app("operator", false);
    press(&mut app, "/");
    typed(&mut app, "state:scheduled");
    press(&mut app, "enter");
    app.on_filter_answered(&app.watch().0);
    press(&mut app, "/ ctrl+u");
    typed(&mut app, "state:bogus");
    assert_eq!(press(&mut app, "enter"), [Effect::Refresh]);
    let refused = app.watch().0;
    app.on_filter_refused(&refused, "/jobs: 400 bad_request".into());
    assert_eq!(app.filter, "state:scheduled");
    assert_eq!(
        app.conn,
        Conn::Connected,
        "the service answered: not a lost connection"
    );
    let error = app.filter_error.clone().unwrap();
    assert!(
        error.contains("\"state:bogus\" refused: /jobs: 400"),
        "{error}"
    );
    // A late refusal of a query no longer wanted changes nothing.
    app.on_filter_refused(&refused, "late".into());
    assert_eq!(app.filter, "state:scheduled");
}

#[test]
fn esc_clears_an_applied_filter_and_ctrl_u_the_typed_one() {
    let mut app = app("operator", false);
    press(&mut app, "/");
    typed(&mut app, "pay");
    press(&mut app, "enter");
    assert_eq!(app.visible.len(), 2);
    press(&mut app, "/ ctrl+u");
    let Mode::Filter(input) = &app.mode else {
        panic!("filter closed")
    };
    assert_eq!(input.text, "");
    press(&mut app, "esc");
    assert_eq!(app.filter, "pay", "esc in the input cancels the input only");
    assert_eq!(press(&mut app, "esc"), [Effect::Refresh]);
    assert_eq!(app.filter, "");
    assert_eq!(app.visible.len(), 6);
}

fn bulk_result(matched: u64, changed: u64, dry_run: bool) -> crate::model::BulkResult {
    crate::model::BulkResult {
        action: crate::model::BulkAction::Kill,
        dry_run,
        matched,
        changed,
        skipped: vec![],
        audit_id: None,
        needs_confirm: true,
        as_of: Some(chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000)),
        arrived_after: 0,
    }
}

#[test]
fn bulk_needs_a_filter_the_service_can_apply() {
    let mut app = app("operator", false);
    assert!(press(&mut app, "B").is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.last
            .clone()
            .unwrap()
            .text
            .contains("apply a filter first")
    );
    press(&mut app, "/");
    typed(&mut app, "queue:payments two words");
    press(&mut app, "enter B");
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.last.clone().unwrap().text.contains("at most one word"));
}

#[test]
fn bulk_kill_counts_first_then_asks_for_the_count() {
    let mut app = app("operator", false);
    press(&mut app, "/");
    typed(&mut app, "queue:payments error:timeout");
    press(&mut app, "enter B");
    assert!(matches!(app.mode, Mode::Bulk(_)), "{:?}", app.mode);
    press(&mut app, "right tab");
    typed(&mut app, "provider down");
    let effects = press(&mut app, "enter");
    let [Effect::Call(Call::BulkDryRun(req))] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert!(req.dry_run && req.action == crate::model::BulkAction::Kill);
    assert_eq!(req.filter.queue.as_deref(), Some("payments"));
    assert_eq!(req.filter.error_class.as_deref(), Some("timeout"));
    app.on_bulk_counted(Ok(bulk_result(415, 412, true)));
    let Mode::BulkConfirm(c) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(
        c.question(),
        "kill 412 jobs matching queue:payments error:timeout?"
    );
    // y does not confirm a kill; a wrong count is refused and nothing is sent.
    typed(&mut app, "y41");
    assert!(press(&mut app, "enter").is_empty());
    let Mode::BulkConfirm(c) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert!(c.error.as_deref().unwrap().contains("type 412"));
    press(&mut app, "backspace backspace backspace");
    typed(&mut app, "412");
    let effects = press(&mut app, "enter");
    let [
        Effect::Call(Call::Bulk {
            filter,
            req,
            expected,
        }),
    ] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    assert_eq!(filter, "queue:payments error:timeout");
    assert_eq!(
        (req.dry_run, req.confirm, *expected),
        (false, Some(412), 412),
        "the count confirmed is the jobs that would change, not the finished ones"
    );
    assert_eq!(
        req.as_of,
        bulk_result(415, 412, true).as_of,
        "the dry run's as_of goes back"
    );
    assert_eq!(req.reason, "provider down");
}

#[test]
fn a_refused_dry_run_reopens_the_dialog_and_nothing_pending_sends_nothing() {
    let mut app = app("operator", false);
    press(&mut app, "/");
    typed(&mut app, "queue:payments");
    press(&mut app, "enter B tab");
    typed(&mut app, "why");
    press(&mut app, "enter");
    app.on_bulk_counted(Err("bulk retry_now dry run refused: nope".into()));
    let Mode::Bulk(form) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert!(form.error.as_deref().unwrap().contains("nope"));
    assert_eq!(form.reason.text, "why");
    press(&mut app, "enter");
    app.on_bulk_counted(Ok(bulk_result(3, 0, true)));
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.last.clone().unwrap().text.contains("nothing sent"));
}

#[test]
fn pause_the_selected_jobs_queue_then_resume_it() {
    let mut app = app("operator", false);
    press(&mut app, "P");
    let Mode::Pause(form) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(form.scope_label(), "payments/timeout");
    press(&mut app, "down tab ctrl+u");
    typed(&mut app, "15m");
    press(&mut app, "tab");
    typed(&mut app, "db failover");
    let effects = press(&mut app, "enter");
    let [Effect::Call(Call::Pause(req))] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(req.queue, "payments");
    assert_eq!(req.error_class, None, "down chose the whole queue");
    assert_eq!(req.r#for.as_deref(), Some("15m"));
    // Nothing in force: resume says so.
    assert!(press(&mut app, "U").is_empty());
    assert!(app.last.clone().unwrap().text.contains("no pause in force"));
    let mut snap = snapshot("operator");
    snap.summary.pauses = vec![
        serde_json::from_value(serde_json::json!({
            "id": "p-1", "queue": "payments", "reason": "db failover", "actor": "operator:a",
            "created_at": "2026-11-23T09:59:00Z"
        }))
        .unwrap(),
    ];
    app.on_snapshot(snap);
    press(&mut app, "U");
    assert_eq!(app.mode, Mode::Resume { selected: 0 });
    press(&mut app, "enter");
    typed(&mut app, "failover done");
    assert_eq!(
        press(&mut app, "enter"),
        vec![Effect::Call(Call::Resume {
            pause_id: "p-1".into(),
            scope: "payments".into(),
            reason: "failover done".into(),
        })]
    );
}

#[test]
fn enter_on_an_alert_shows_its_jobs() {
    let mut app = app("viewer", false);
    press(&mut app, "ctrl+a");
    let effects = press(&mut app, "enter");
    assert_eq!(effects, vec![Effect::Refresh]);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.focus, Pane::Live);
    assert_eq!(app.filter, "queue:sync error:service_unavailable");
    // On the Alerts tab too (a viewer may look; nothing is changed).
    app.wide = false;
    press(&mut app, "4 j enter");
    assert_eq!(app.filter, "queue:payments");
}

#[test]
fn detail_fetches_the_selected_job_scrolls_and_copies_its_id() {
    let mut app = app("viewer", false);
    assert_eq!(
        press(&mut app, "i"),
        vec![Effect::Call(Call::JobInfo("pay-1201".into()))]
    );
    let detail = snapshot("viewer").detail.unwrap();
    let info = crate::tui::state::JobInfo::new(detail, vec![], false);
    app.on_job_info("pay-1201".into(), Ok(Box::new(info)));
    assert!(matches!(app.mode, Mode::Detail { .. }), "{:?}", app.mode);
    app.detail_max.set(3);
    press(&mut app, "j j j j G");
    let Mode::Detail { scroll, .. } = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(*scroll, 3, "clamped to what the view can scroll");
    // A viewer may copy: nothing is sent to the service.
    assert_eq!(press(&mut app, "c"), vec![Effect::Copy("pay-1201".into())]);
    press(&mut app, "esc");
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(press(&mut app, "c"), vec![Effect::Copy("pay-1201".into())]);
}

#[test]
fn sorting_keeps_the_selected_job() {
    let mut app = app("operator", false);
    press(&mut app, "j");
    let chosen = app.selected_job().unwrap().job_id.clone();
    for _ in 0..4 {
        press(&mut app, "S");
        assert_eq!(app.selected_job().unwrap().job_id, chosen, "{:?}", app.sort);
    }
    assert_eq!(app.sort, SortKey::NextAttempt, "four presses come back");
}

#[test]
fn pages_turn_with_the_services_cursor_and_a_new_filter_starts_again() {
    let mut app = app("operator", false);
    assert_eq!(app.job_query().cursor, None);
    // The fixture's page is the whole list: there is no next page to turn to.
    assert!(press(&mut app, "]").is_empty());
    assert!(
        app.last
            .as_ref()
            .is_some_and(|o| !o.ok && o.text.contains("last page"))
    );
    assert!(press(&mut app, "[").is_empty());
    assert!(
        app.last
            .as_ref()
            .is_some_and(|o| o.text.contains("first page"))
    );

    let mut snap = snapshot("operator");
    snap.jobs.next_cursor = Some("page-2-cursor".into());
    app.on_snapshot(snap);
    press(&mut app, "down");
    assert_eq!(press(&mut app, "]"), vec![Effect::Refresh]);
    assert_eq!(app.pages.number(), 2);
    assert_eq!(app.watch().0.cursor.as_deref(), Some("page-2-cursor"));
    assert_eq!((app.selected, app.selected_id.as_deref()), (0, None));
    // The filter's terms go with the cursor; a refusal of that query is the filter's.
    press(&mut app, "[");
    assert_eq!(app.job_query().cursor, None);
    press(&mut app, "]");
    press(&mut app, "/");
    typed(&mut app, "queue:payments");
    press(&mut app, "enter");
    assert_eq!(
        app.pages.number(),
        1,
        "a new filter starts at the first page"
    );
    assert_eq!(app.job_query().queue.as_deref(), Some("payments"));
    assert_eq!(app.job_query().cursor, None);
}

fn error_event(seq: u64, job: &str, message: &str) -> crate::model::Event {
    crate::model::Event {
        seq,
        at: now() + chrono::Duration::seconds(seq as i64),
        kind: "failure".into(),
        job_id: Some(job.into()),
        message: message.into(),
    }
}

fn stream_ids(app: &App) -> Vec<String> {
    let errors = app.stream_errors();
    let at = app.stream_offset(&errors);
    errors[at..]
        .iter()
        .map(|e| e.job_id.clone().unwrap())
        .collect()
}

#[test]
fn the_error_stream_takes_the_focus_scrolls_holds_still_and_filters() {
    let mut app = app("operator", false);
    app.stream_rows = 3;
    app.events.extend((1..=6).map(|i| {
        let message = if i % 2 == 0 {
            "timeout"
        } else {
            "connection refused"
        };
        error_event(i, &format!("job-{i}"), message)
    }));
    let selected = app.selected;
    press(&mut app, "L");
    assert!(app.stream.focused);
    press(&mut app, "down down");
    assert_eq!(app.selected, selected, "the job table did not move");
    assert_eq!(stream_ids(&app)[0], "job-4");
    // New errors arrive above the view; it stays on job-4.
    app.events.extend([error_event(7, "job-7", "timeout")]);
    assert_eq!(stream_ids(&app)[0], "job-4");
    press(&mut app, "home");
    assert_eq!(
        stream_ids(&app)[0],
        "job-7",
        "back at the top it follows the newest"
    );
    press(&mut app, "end");
    assert_eq!(stream_ids(&app), ["job-1"]);

    press(&mut app, "/");
    assert!(matches!(app.mode, Mode::StreamFilter(_)));
    typed(&mut app, "TIMEOUT");
    press(&mut app, "enter");
    assert_eq!(app.filter, "", "the job filter is untouched");
    assert_eq!(stream_ids(&app), ["job-7", "job-6", "job-4", "job-2"]);
    press(&mut app, "down");
    let effects = press(&mut app, "enter");
    assert_eq!(
        effects,
        vec![Effect::Call(Call::JobInfo("job-6".into()))],
        "enter opens the highlighted error's job"
    );
    app.mode = Mode::Normal;
    // Esc clears the stream's filter first, then leaves the stream.
    press(&mut app, "esc");
    assert_eq!((app.stream.filter.as_str(), app.stream.focused), ("", true));
    press(&mut app, "esc");
    assert!(!app.stream.focused);
    press(&mut app, "down");
    assert_ne!(
        app.selected, selected,
        "the movement keys are the table's again"
    );
}

#[test]
fn the_error_stream_is_refused_when_not_shown_and_left_with_the_pane() {
    let mut app = app("operator", false);
    app.stream_rows = 0;
    press(&mut app, "L");
    assert!(!app.stream.focused);
    assert!(
        app.last
            .as_ref()
            .is_some_and(|o| o.text.contains("too short"))
    );
    app.stream_rows = 3;
    press(&mut app, "L");
    assert!(app.stream.focused);
    press(&mut app, "tab");
    assert!(!app.stream.focused, "another pane took the focus");
}

fn mouse(kind: ratatui::crossterm::event::MouseEventKind, column: u16, row: u16) -> MouseEvent {
    MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }
}

#[test]
fn the_mouse_selects_a_row_and_scrolls_what_is_under_it() {
    use ratatui::crossterm::event::{MouseButton, MouseEventKind};
    use ratatui::layout::Rect;
    let mut app = app("operator", false);
    app.stream_rows = 3;
    app.events
        .extend((1..=5).map(|i| error_event(i, &format!("job-{i}"), "timeout")));
    let mut hits = HitAreas {
        jobs: Rect::new(30, 5, 60, 6),
        first_job: 0,
        errors: Rect::new(30, 20, 60, 3),
        first_error: 0,
        ..HitAreas::default()
    };
    hits.set_pane(Pane::Strategy, Rect::new(0, 2, 29, 30));
    hits.set_pane(Pane::Live, Rect::new(29, 2, 62, 30));
    hits.set_pane(Pane::Analytics, Rect::new(91, 2, 29, 30));
    app.hits.set(hits);
    // A click on the third row selects the third visible job.
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 40, 7));
    assert_eq!(app.selected, 2);
    let third = app.selected_job().unwrap().job_id.clone();
    assert_eq!(app.selected_id.as_deref(), Some(third.as_str()));
    // Clicks below the last row or between the parts select nothing.
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 40, 15));
    assert_eq!(app.selected, 2);
    // The wheel over the table moves the selection.
    app.on_mouse(mouse(MouseEventKind::ScrollDown, 40, 6));
    assert_eq!(app.selected, 3);
    // Over the error stream it focuses and scrolls the stream, not the table.
    app.on_mouse(mouse(MouseEventKind::ScrollDown, 40, 21));
    assert!(app.stream.focused);
    assert_eq!(app.selected, 3);
    assert_eq!(stream_ids(&app)[0], "job-4");
    // A click on an error line highlights it.
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 40, 22));
    assert_eq!(stream_ids(&app)[0], "job-3");
    // A click on another pane focuses it; the wheel there scrolls it.
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 100, 10));
    assert_eq!((app.focus, app.stream.focused), (Pane::Analytics, false));
    // Over an overlay the wheel scrolls the overlay and clicks do nothing.
    app.help_fit = Fit {
        visible: 5,
        total: 40,
    };
    press(&mut app, "?");
    app.on_mouse(mouse(MouseEventKind::ScrollDown, 40, 6));
    assert_eq!(app.mode, Mode::Help { scroll: 1 });
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 40, 7));
    assert_eq!(app.mode, Mode::Help { scroll: 1 });
}
