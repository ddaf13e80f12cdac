//! Importing rules from a file written by `export`, over the API `retryctl import` uses: the
//! service checks the file's strategy first (`PUT /strategy?dry_run=true`) and answers each
//! field that would change; the console shows that diff and applies the strategy only when
//! the operator confirms.

use super::form::Input;
use super::{App, Call, Effect, Mode, Outcome};
use crate::model::RetryStrategy;
use crate::model::diff::FieldChange;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use std::path::PathBuf;

/// Rows page up and page down move the diff.
const IMPORT_PAGE: usize = 10;

/// The service's dry run of an import: the file, the strategy in it, what would change.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportCheck {
    pub path: PathBuf,
    pub strategy: RetryStrategy,
    pub changes: Vec<FieldChange>,
}

impl ImportCheck {
    /// `strategy smart with 4 policies from rules.toml`.
    pub fn what(&self) -> String {
        format!(
            "strategy {} with {} policies from {}",
            self.strategy.name,
            self.strategy.policies.len(),
            self.path.display()
        )
    }
}

/// What the footer says once the strategy was applied.
pub fn import_done_text(check: &ImportCheck) -> String {
    let n = check.changes.len();
    let fields = if n == 1 { "field" } else { "fields" };
    format!("imported {} ({n} {fields} changed)", check.what())
}

impl App {
    /// The file dialog, offering the last file exported or imported.
    pub(super) fn open_import(&mut self) -> Option<Effect> {
        self.open(Mode::Import {
            path: Input::with(&self.export_path),
            error: None,
        })
    }

    /// Asks the service to check the file's strategy (nothing is applied yet).
    pub(super) fn submit_import(&mut self, path: Input) -> Option<Effect> {
        let file = path.text.trim().to_string();
        if file.is_empty() {
            return self.open(Mode::Import {
                path,
                error: Some("enter the file to import (.toml, .json or .yaml)".into()),
            });
        }
        self.export_path = file.clone();
        self.mode = Mode::Loading(format!("checking {file} with the service (dry run)"));
        Some(Effect::Call(Call::ImportDryRun(PathBuf::from(file))))
    }

    /// The dry run's answer: the diff to confirm, or why the file or the service refused.
    pub fn on_import_checked(&mut self, result: Result<Box<ImportCheck>, String>) {
        match result {
            Ok(check) => self.mode = Mode::ImportConfirm { check, scroll: 0 },
            Err(why) => {
                self.mode = Mode::Normal;
                self.last = Some(Outcome {
                    ok: false,
                    text: why,
                });
            }
        }
    }

    /// y or Enter applies; the arrows scroll the diff; anything else cancels.
    pub(super) fn on_import_confirm_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let max = self.import_max.get();
        if let Mode::ImportConfirm { scroll, .. } = &mut self.mode {
            let moved = match key.code {
                KeyCode::Up | KeyCode::Char('k') => Some(scroll.saturating_sub(1)),
                KeyCode::Down | KeyCode::Char('j') => Some(*scroll + 1),
                KeyCode::PageUp => Some(scroll.saturating_sub(IMPORT_PAGE)),
                KeyCode::PageDown => Some(*scroll + IMPORT_PAGE),
                _ => None,
            };
            if let Some(to) = moved {
                *scroll = to.min(max);
                return None;
            }
        }
        let Mode::ImportConfirm { check, .. } = std::mem::replace(&mut self.mode, Mode::Normal)
        else {
            return None;
        };
        match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => Some(Effect::Call(Call::Import(check))),
            _ => self.cancelled(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::AppConfig;
    use crate::tui::keymap::Keymap;
    use ratatui::crossterm::event::KeyModifiers;

    fn app() -> App {
        App::new(AppConfig {
            api: "http://127.0.0.1:7878".into(),
            keymap: Keymap::defaults().unwrap(),
            read_only: false,
            export_path: "rules.toml".into(),
        })
    }

    fn press(app: &mut App, code: KeyCode) -> Option<Effect> {
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE), chrono::Utc::now())
    }

    fn check(changes: usize) -> Box<ImportCheck> {
        let change = FieldChange {
            path: "policies[0].max_attempts".into(),
            before: Some(3.into()),
            after: Some(5.into()),
        };
        Box::new(ImportCheck {
            path: "rules.toml".into(),
            strategy: crate::model::RetryStrategy {
                name: "smart".into(),
                ..serde_json::from_value(serde_json::json!({
                    "name": "x", "enabled": true, "policies": [], "bayesian_threshold": 0.7,
                    "ml_enabled": false
                }))
                .unwrap()
            },
            changes: vec![change; changes],
        })
    }

    #[test]
    fn the_file_is_checked_by_the_service_before_anything_is_applied() {
        let mut app = app();
        assert_eq!(press(&mut app, KeyCode::Char('I')), None);
        assert!(matches!(app.mode, Mode::Import { .. }));
        let effect = press(&mut app, KeyCode::Enter);
        assert_eq!(
            effect,
            Some(Effect::Call(Call::ImportDryRun("rules.toml".into())))
        );
        app.on_import_checked(Ok(check(30)));
        // Scrolling the diff sends nothing; the view says how far it can go.
        app.import_max.set(12);
        for _ in 0..20 {
            assert_eq!(press(&mut app, KeyCode::Down), None);
        }
        assert!(matches!(app.mode, Mode::ImportConfirm { scroll: 12, .. }));
        let effect = press(&mut app, KeyCode::Char('y'));
        assert_eq!(effect, Some(Effect::Call(Call::Import(check(30)))));
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn cancel_and_refusals_apply_nothing_and_say_why() {
        let mut app = app();
        app.on_import_checked(Ok(check(1)));
        assert_eq!(press(&mut app, KeyCode::Esc), None);
        assert_eq!(app.mode, Mode::Normal);
        app.on_import_checked(Err("import refused: policies[0].name: empty".into()));
        assert_eq!(app.mode, Mode::Normal);
        let last = app.last.clone().unwrap();
        assert!(
            !last.ok && last.text.contains("policies[0].name"),
            "{last:?}"
        );
        // An empty file name is refused in the dialog.
        press(&mut app, KeyCode::Char('I'));
        if let Mode::Import { path, .. } = &mut app.mode {
            path.clear();
        }
        assert_eq!(press(&mut app, KeyCode::Enter), None);
        assert!(matches!(app.mode, Mode::Import { error: Some(_), .. }));
    }

    #[test]
    fn a_read_only_console_does_not_offer_import() {
        let mut app = App::new(AppConfig {
            api: String::new(),
            keymap: Keymap::defaults().unwrap(),
            read_only: true,
            export_path: "rules.toml".into(),
        });
        assert!(!app.offers(crate::tui::action::Action::Import));
        assert_eq!(press(&mut app, KeyCode::Char('I')), None);
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn the_footer_counts_the_fields_changed() {
        assert_eq!(
            import_done_text(&check(2)),
            "imported strategy smart with 0 policies from rules.toml (2 fields changed)"
        );
    }
}
