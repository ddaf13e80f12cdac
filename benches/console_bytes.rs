//! Bytes written to the terminal per second in steady state (the SSH cost): 120×40, 50 jobs in
//! backoff, the Analytics pane's sparklines (series and smart vs static), 10 frames per second for 60 simulated seconds, a fresh snapshot every second. The
//! frames go through ratatui's real crossterm backend into a byte counter; the clock is
//! simulated, so this runs in well under a second and is reproducible.
//!
//! Run: `cargo bench --bench console_bytes`

#[path = "../tests/common/console_fixture.rs"]
mod fixture;

use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use retryctl::tui::state::Snapshot;
use retryctl::tui::theme::Theme;
use retryctl::tui::view::{self, Ctx, Glyphs};
use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

const FPS: i64 = 10;
const SECONDS: i64 = 60;

/// Counts what would go to the terminal.
#[derive(Default, Clone)]
struct Counter(Rc<Cell<u64>>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.set(self.0.get() + buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    let theme = Theme::dark(false);
    let glyphs = Glyphs::unicode();
    let mut app = fixture::app_with(fixture::summary(), fixture::many_jobs(50), None);
    view::fit(&mut app, 120, 40);
    let options = TerminalOptions {
        viewport: Viewport::Fixed(Rect::new(0, 0, 120, 40)),
    };
    let counter = Counter::default();
    let mut terminal = Terminal::with_options(CrosstermBackend::new(counter.clone()), options)
        .expect("terminal over a counter");
    let mut now = fixture::now();
    let mut first_frame = 0;
    for frame in 0..FPS * SECONDS {
        if frame % FPS == 0 {
            let snap = Snapshot::new(fixture::summary(), fixture::many_jobs(50), None, now)
                .with_series(Some(fixture::series()))
                .with_trend(Some(fixture::trend()));
            app.on_snapshot(snap);
        }
        app.on_tick();
        let ctx = Ctx {
            app: &app,
            theme: &theme,
            glyphs: &glyphs,
            now,
        };
        terminal.draw(|f| view::render(f, &ctx)).expect("draw");
        if frame == 0 {
            first_frame = counter.0.get();
        }
        now += chrono::Duration::milliseconds(1000 / FPS);
    }
    let total = counter.0.get();
    let steady = (total - first_frame) as f64 / SECONDS as f64;
    println!("first full frame: {first_frame} bytes");
    println!(
        "steady state at 120x40, 50 jobs in backoff, {FPS} fps: {:.1} KB/s ({steady:.0} bytes/s)",
        steady / 1024.0
    );
}
