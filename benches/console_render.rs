//! Console render cost: one frame at 200×60 with 10,000 pending jobs in the console's state
//! (the service sends a page; this is the worst case of a page that large), with the per-queue
//! sparklines and smart vs static over the day in the Analytics pane.
//!
//! Run: `cargo bench --bench console_render`

#[path = "../tests/common/console_fixture.rs"]
mod fixture;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use retryctl::tui::theme::Theme;
use retryctl::tui::view::{self, Ctx, Glyphs};
use std::hint::black_box;

fn render(c: &mut Criterion) {
    let mut plain = fixture::app_with(fixture::summary(), fixture::many_jobs(10_000), None);
    view::fit(&mut plain, 200, 60);
    let mut app = fixture::app_with(fixture::summary(), fixture::many_jobs(10_000), None);
    // With the Analytics pane's sparklines: the per-queue series and smart vs static over the
    // last day, as the poller brings them.
    let snap = app.data.clone().unwrap();
    app.on_snapshot(
        snap.with_series(Some(fixture::series()))
            .with_trend(Some(fixture::trend())),
    );
    view::fit(&mut app, 200, 60);
    let theme = Theme::dark(false);
    let glyphs = Glyphs::unicode();
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut now = fixture::now();
    // The same frame without the series, for comparison on the same machine and load.
    c.bench_function("frame 200x60, 10k jobs, no series (tick + draw)", |b| {
        b.iter(|| {
            now += chrono::Duration::milliseconds(100);
            plain.on_tick();
            let ctx = Ctx {
                app: &plain,
                theme: &theme,
                glyphs: &glyphs,
                now,
            };
            terminal.draw(|f| view::render(f, black_box(&ctx))).unwrap();
        })
    });
    c.bench_function("frame 200x60, 10k jobs, sparklines (tick + draw)", |b| {
        b.iter(|| {
            now += chrono::Duration::milliseconds(100);
            app.on_tick();
            let ctx = Ctx {
                app: &app,
                theme: &theme,
                glyphs: &glyphs,
                now,
            };
            terminal.draw(|f| view::render(f, black_box(&ctx))).unwrap();
        })
    });
    c.bench_function("snapshot of 10k jobs (sanitise + filter + spinners)", |b| {
        b.iter(|| {
            let snap = retryctl::tui::state::Snapshot::new(
                fixture::summary(),
                fixture::many_jobs(10_000),
                None,
                fixture::now(),
            );
            app.on_snapshot(black_box(snap));
        })
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
