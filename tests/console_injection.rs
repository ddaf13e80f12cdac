//! Hostile text from workers (escape sequences, OSC strings, bidi overrides, zero-width
//! characters) renders as harmless visible text on screen and in an export.

use crate::common::console_fixture as fixture;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use retryctl::model::{DataCollection, PolicyGuardrails, RetryStrategy};
use retryctl::present::export;
use retryctl::present::export::ExportFormat;
use retryctl::tui::theme::Theme;
use retryctl::tui::view::{self, Ctx, Glyphs};

const EVIL_ID: &str = "job\x1b[2J\x1b]0;pwned\x07\u{202e}di";
const EVIL_ERROR: &str =
    "boom\x1b[31mred\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\\u{200b}\u{2066}x\u{2069}\r\nnext";

fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}')
}

#[test]
fn hostile_text_is_visible_and_inert_on_screen() {
    let mut summary = fixture::summary();
    summary.alerts[0].message = EVIL_ERROR.into();
    summary.recent_errors[0].message = EVIL_ERROR.into();
    summary.recent_errors[0].job_id = Some(EVIL_ID.into());
    let mut jobs = fixture::jobs();
    jobs.jobs[0].job_id = EVIL_ID.into();
    jobs.jobs[0].last_error = EVIL_ERROR.into();
    jobs.jobs[0].recommendation.rationale = EVIL_ERROR.into();
    let mut app = fixture::app_with(summary, jobs, None);
    app.wide = true;
    let theme = Theme::dark(false);
    let glyphs = Glyphs::unicode();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let ctx = Ctx {
        app: &app,
        theme: &theme,
        glyphs: &glyphs,
        now: fixture::now(),
    };
    terminal.draw(|f| view::render(f, &ctx)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let text: String = buffer.content().iter().map(|c| c.symbol()).collect();
    assert!(
        !text.chars().any(forbidden),
        "a raw control or bidi character reached the screen"
    );
    assert!(
        text.contains("job␛[2J␛]0;pwned␇di"),
        "the id is shown, escapes made visible"
    );
    assert!(
        text.contains("boom␛[31mred␛]8;;http://evil␛\\link"),
        "{text}"
    );
}

#[test]
fn hostile_text_is_inert_in_an_export() {
    let strategy = RetryStrategy {
        name: EVIL_ID.into(),
        enabled: true,
        policies: vec![],
        bayesian_threshold: 0.75,
        ml_enabled: false,
        ml_model: None,
        guardrails: PolicyGuardrails::default(),
        data_collection: DataCollection::default(),
        bayesian_enabled: true,
    };
    let doc = export::build(&strategy, EVIL_ERROR, fixture::now());
    for format in [ExportFormat::Toml, ExportFormat::Json, ExportFormat::Yaml] {
        let text = export::encode(&doc, format).unwrap();
        assert!(
            !text.chars().any(|c| forbidden(c) && c != '\n'),
            "{format:?}: {text}"
        );
        let back = export::decode(&text, format, "x").unwrap();
        assert_eq!(back.strategy.name, "job␛[2J␛]0;pwned␇di");
        assert!(!back.source.chars().any(forbidden), "{format:?}");
    }
}
