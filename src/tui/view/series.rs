//! The top of the Analytics pane: per-queue sparklines of failures, retries and give-ups over
//! the service's `/series` window, with the latest step's count and the window's peak.
//!
//! ```text
//! ┌ Last 15m ────────────────────────┐
//! │bar 50s · counts per 10s  now peak│  what a bar sums, what the numbers count
//! │webhooks                          │  one title row per queue …
//! │ failed   ▁▂▅█▇▃▁▁▁▁▁▁▁▁   12   41│  … and SERIES_ROWS sparklines
//! │ retries  ▁▁▂▅▇▅▂▁▁▁▁▁▁▁    9   32│
//! │ gave up        ▁▂           0    1│
//! │+3 queues not shown               │  queues that do not fit, busiest shown first
//! └──────────────────────────────────┘
//! ```
//!
//! The bars cover the whole window: when the pane is narrower than the window has steps, each
//! bar sums adjacent steps (the newest bar may hold fewer). The numbers stay per step, as the
//! service counts them.

use super::Ctx;
use crate::model::{QueueSeries, Series};
use crate::present::fmt;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

/// Rows of one queue: its name and one sparkline per count.
const QUEUE_ROWS: u16 = 1 + SERIES_ROWS;
const SERIES_ROWS: u16 = 3;
/// Columns of the label before each sparkline and of the numbers after it.
const LABEL_WIDTH: u16 = 9;
const NUMBER_WIDTH: u16 = 5;
/// The box's border and its heading row.
const CHROME: u16 = 3;

/// Rows the series box takes in a pane of `height` rows: at most half of it, and none when the
/// service sent no series (an older service) or nothing happened in the window.
pub fn height(series: Option<&Series>, height: u16) -> u16 {
    let Some(s) = series.filter(|s| !s.queues.is_empty()) else {
        return 0;
    };
    let wanted = CHROME + QUEUE_ROWS * s.queues.len() as u16;
    let room = (height / 2).max(CHROME + 1);
    if wanted <= room {
        return wanted;
    }
    // The queues that fit and a line counting the others.
    CHROME + QUEUE_ROWS * ((room - CHROME - 1) / QUEUE_ROWS) + 1
}

/// Draws the queues that fit in `inner` (the box's inside), busiest first, and a line counting
/// those left out.
pub fn render(frame: &mut Frame, inner: Rect, ctx: &Ctx, s: &Series) {
    let mut queues: Vec<&QueueSeries> = s.queues.iter().collect();
    queues.sort_by_key(|q| std::cmp::Reverse(q.failures.iter().sum::<u64>()));
    let rows = inner.height.saturating_sub(1);
    let mut fit = usize::from(rows / QUEUE_ROWS);
    if fit < queues.len() {
        // Keep a row for the count of the ones left out.
        fit = usize::from(rows.saturating_sub(1) / QUEUE_ROWS);
    }
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let per = s
        .steps
        .div_ceil(usize::from(spark_width(inner.width)).max(1))
        .max(1);
    frame.render_widget(Paragraph::new(heading(s, per, inner.width, ctx)), head);
    let mut y = body.y;
    for q in queues.iter().take(fit) {
        queue(
            frame,
            Rect::new(body.x, y, body.width, QUEUE_ROWS),
            ctx,
            s,
            q,
        );
        y += QUEUE_ROWS;
    }
    let hidden = queues.len() - fit.min(queues.len());
    if hidden > 0 && y < body.bottom() {
        let plural = if hidden == 1 { "queue" } else { "queues" };
        let line = Line::styled(
            format!("+{hidden} {plural} not shown (taller terminal)"),
            ctx.theme.dim(),
        );
        frame.render_widget(Paragraph::new(line), Rect::new(body.x, y, body.width, 1));
    }
}

/// The box's title, naming the window (`Last 15m`).
pub fn title(s: &Series) -> String {
    format!("Last {}", window(s))
}

/// The series' window, `15m`.
pub fn window(s: &Series) -> String {
    span(s.window_ms)
}

/// `15m`, `1h`, or `fmt::ms` for a span that is not whole minutes.
fn span(ms: u64) -> String {
    match ms {
        0 => "0s".into(),
        m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{}m", m / 60_000),
        m => fmt::ms(m),
    }
}

fn spark_width(width: u16) -> u16 {
    width.saturating_sub(LABEL_WIDTH + 2 * NUMBER_WIDTH)
}

/// What a bar and the numbers count (`bar 50s · counts per 10s`), over the `now` and `peak`
/// columns.
fn heading<'a>(s: &Series, per: usize, width: u16, ctx: &Ctx) -> Line<'a> {
    let bar = span(s.step_ms * per as u64);
    let left = format!(
        "bar {bar} {} counts per {}",
        ctx.glyphs.dot,
        span(s.step_ms)
    );
    let room = usize::from(width.saturating_sub(2 * NUMBER_WIDTH));
    let left = super::flow::fit_line(Line::from(left), room, ctx.glyphs.ellipsis).to_string();
    let w = usize::from(NUMBER_WIDTH);
    Line::from(vec![
        Span::styled(format!("{left:<room$}"), ctx.theme.dim()),
        Span::styled(format!("{:>w$}{:>w$}", "now", "peak"), ctx.theme.dim()),
    ])
}

fn queue(frame: &mut Frame, area: Rect, ctx: &Ctx, s: &Series, q: &QueueSeries) {
    let rows: [(&str, &[u64], Style); SERIES_ROWS as usize] = [
        ("failed", &q.failures, ctx.theme.warn()),
        ("retries", &q.retries, ctx.theme.bar()),
        ("gave up", &q.give_ups, ctx.theme.critical()),
    ];
    let name = Line::styled(q.queue.clone(), ctx.theme.title());
    frame.render_widget(Paragraph::new(name), Rect { height: 1, ..area });
    let spark_width = spark_width(area.width);
    let bars: Vec<Vec<u64>> = rows
        .iter()
        .map(|(_, counts, _)| buckets(counts, s.steps, usize::from(spark_width)))
        .collect();
    // One scale for the queue's three rows, so their heights compare.
    let max = bars.iter().flatten().copied().max().unwrap_or(0).max(1);
    for (i, ((label, counts, style), bars)) in rows.iter().zip(&bars).enumerate() {
        let row = Rect::new(area.x, area.y + 1 + i as u16, area.width, 1);
        let [l, spark, n] = Layout::horizontal([
            Constraint::Length(LABEL_WIDTH),
            Constraint::Length(spark_width),
            Constraint::Min(0),
        ])
        .areas(row);
        frame.render_widget(
            Paragraph::new(Span::styled(format!(" {label}"), ctx.theme.dim())),
            l,
        );
        let line = Sparkline::default()
            .data(bars)
            .max(max)
            .bar_set(ctx.glyphs.spark.clone())
            .style(*style);
        // The newest bar ends next to the numbers.
        let used = (bars.len() as u16).min(spark.width);
        let spark = Rect {
            x: spark.x + spark.width - used,
            width: used,
            ..spark
        };
        frame.render_widget(line, spark);
        frame.render_widget(Paragraph::new(numbers(counts, ctx)), n);
    }
}

/// The latest step's count and the window's peak step, right-aligned in their columns.
fn numbers<'a>(counts: &[u64], ctx: &Ctx) -> Line<'a> {
    let latest = counts.last().copied().unwrap_or(0);
    let peak = counts.iter().copied().max().unwrap_or(0);
    let w = usize::from(NUMBER_WIDTH);
    Line::from(vec![
        Span::styled(format!("{:>w$}", fmt::count(latest)), ctx.theme.text()),
        Span::styled(format!("{:>w$}", fmt::count(peak)), ctx.theme.dim()),
    ])
}

/// `counts` (oldest first, `steps` long) summed into at most `width` bars, each of the same
/// number of steps counted back from the newest; the oldest bar may hold fewer steps.
pub fn buckets(counts: &[u64], steps: usize, width: usize) -> Vec<u64> {
    let steps = steps.max(counts.len());
    if width == 0 || steps == 0 {
        return Vec::new();
    }
    let per = steps.div_ceil(width);
    let mut bars: Vec<u64> = counts.rchunks(per).map(|c| c.iter().sum()).collect();
    bars.reverse();
    bars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_sum_steps_from_the_newest_and_cover_the_window() {
        let counts: Vec<u64> = (1..=10).collect();
        assert_eq!(
            buckets(&counts, 10, 20),
            counts,
            "one step per bar when it fits"
        );
        assert_eq!(buckets(&counts, 10, 5), [3, 7, 11, 15, 19]);
        // 10 steps in 4 bars: 3 steps a bar from the newest, the oldest bar holds one.
        assert_eq!(buckets(&counts, 10, 4), [1, 9, 18, 27]);
        assert_eq!(buckets(&counts, 10, 4).iter().sum::<u64>(), 55);
        assert!(buckets(&counts, 10, 0).is_empty());
    }

    #[test]
    fn spans_read_as_minutes_where_whole() {
        assert_eq!(span(900_000), "15m");
        assert_eq!(span(3_600_000), "1h");
        assert_eq!(span(50_000), "50s");
        assert_eq!(span(90_000), "1m30s");
    }

    #[test]
    fn the_box_takes_at_most_half_the_pane_and_nothing_without_data() {
        let s = |n: usize| Series {
            queues: vec![QueueSeries::default(); n],
            ..Series::default()
        };
        assert_eq!(height(None, 40), 0);
        assert_eq!(height(Some(&s(0)), 40), 0);
        assert_eq!(height(Some(&s(1)), 40), CHROME + QUEUE_ROWS);
        assert_eq!(height(Some(&s(9)), 40), CHROME + 4 * QUEUE_ROWS + 1);
        assert_eq!(height(Some(&s(9)), 6), CHROME + 1, "room for the count");
    }
}
