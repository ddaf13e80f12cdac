//! Strategy pane: today at a glance, per-queue status lines, active strategy and tier, parameters, guardrails and budget use, policies in
//! priority order, success rate by error class, model status, actions.
//!
//! The pane fits any width and height rather than cutting text off at its edge: parameter
//! groups wrap as whole units, long names end in an ellipsis, and the lists (queues, policies,
//! error classes) share the rows left over, each ending in "… N more" when it does not fit.

mod glance;

use super::flow::{column, elide, flow, noun_for, share_rows};
use super::{Ctx, summary_pane};
use crate::model::{MlAutoRollback, MlCanary, MlJob, MlLiveCheck, RetryPolicy, Summary};
use crate::present::fmt;
use crate::tui::action::Action;
use crate::tui::app::Pane;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use throbber_widgets_tui::Throbber;

/// The widest a bar gets, however wide the pane.
const MAX_BAR: usize = 20;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let focused = ctx.app.focus == Pane::Strategy;
    summary_pane(frame, area, ctx, ("Strategy", focused), |s, inner| {
        let (width, height) = (usize::from(inner.width), usize::from(inner.height));
        pane_lines(s, ctx, width, height)
    });
}

/// Lines always shown, then a list that gives up rows when the pane is short.
struct Section {
    head: Vec<Line<'static>>,
    items: Vec<Vec<Line<'static>>>,
    /// What the items are, one and many: `("queue", "queues")`.
    noun: (&'static str, &'static str),
}

impl Section {
    fn fixed(head: Vec<Line<'static>>) -> Section {
        Section {
            head,
            items: Vec::new(),
            noun: ("", ""),
        }
    }
}

fn pane_lines(s: &Summary, ctx: &Ctx, width: usize, height: usize) -> Vec<Line<'static>> {
    let sections = [
        Section::fixed(glance::today(s, ctx, width)),
        Section {
            head: glance::queues_heading(s, ctx),
            items: glance::queues(s, ctx, width),
            noun: ("queue", "queues"),
        },
        Section::fixed(active(s, ctx, width)),
        Section {
            head: guardrails(s, ctx, width),
            items: queues(s, ctx, width),
            noun: ("queue", "queues"),
        },
        Section {
            head: vec![heading("Policies (priority order)", ctx)],
            items: policies(&s.policies, ctx, width),
            noun: ("policy", "policies"),
        },
        Section {
            head: vec![heading("Success by error class", ctx)],
            items: error_classes(s, ctx, width),
            noun: ("class", "classes"),
        },
        Section::fixed(models(s, ctx, width)),
        Section::fixed(actions(ctx, width)),
    ];
    let mut sections = sections;
    shrink_heads(&mut sections, height, ctx);
    let fixed: usize = sections.iter().map(|sec| sec.head.len()).sum();
    let needs: Vec<usize> = sections
        .iter()
        .map(|sec| sec.items.iter().map(Vec::len).sum())
        .collect();
    let shares = share_rows(&needs, height.saturating_sub(fixed));
    sections
        .into_iter()
        .zip(shares)
        .flat_map(|(sec, rows)| section_lines(sec, rows, ctx))
        .collect()
}

/// Which heads give up all but their first line (ending in an ellipsis) when the heads alone do
/// not fit, in this order: today's figures, the active strategy, models, guardrails.
const SHRINK_ORDER: [usize; 4] = [0, 2, 6, 3];

fn shrink_heads(sections: &mut [Section], height: usize, ctx: &Ctx) {
    for i in SHRINK_ORDER {
        let fixed: usize = sections.iter().map(|sec| sec.head.len()).sum();
        if fixed <= height {
            return;
        }
        let head = &mut sections[i].head;
        if head.len() > 1 {
            head.truncate(1);
            head[0].push_span(Span::styled(
                format!(" {}", ctx.glyphs.ellipsis),
                ctx.theme.dim(),
            ));
        }
    }
}

/// A section in `rows` rows besides its head; with no room at all the heading still says how
/// many items there are.
fn section_lines(sec: Section, rows: usize, ctx: &Ctx) -> Vec<Line<'static>> {
    let (ellipsis, dim) = (ctx.glyphs.ellipsis, ctx.theme.dim());
    let mut lines = sec.head;
    if rows == 0 && !sec.items.is_empty() {
        let n = sec.items.len();
        let count = format!(" {ellipsis} {n} {}", noun_for(n, sec.noun));
        if let Some(heading) = lines.first_mut() {
            heading.push_span(Span::styled(count, dim));
        }
        return lines;
    }
    lines.extend(elide(sec.items, rows, sec.noun, ellipsis, dim));
    lines
}

fn heading(text: &'static str, ctx: &Ctx) -> Line<'static> {
    Line::styled(text, ctx.theme.title())
}

/// `label value`, wrapped as one unit.
fn pair(label: &'static str, value: String, ctx: &Ctx) -> Vec<Span<'static>> {
    vec![
        Span::styled(format!("{label} "), ctx.theme.dim()),
        Span::styled(value, ctx.theme.text()),
    ]
}

fn wrap(groups: Vec<Vec<Span<'static>>>, width: usize, ctx: &Ctx) -> Vec<Line<'static>> {
    flow(groups, width, 1, ctx.glyphs.ellipsis)
}

fn active(s: &Summary, ctx: &Ctx, width: usize) -> Vec<Line<'static>> {
    let mut groups = vec![
        pair("active", s.strategy_name.clone(), ctx),
        pair("tier", s.active_tier.as_str().to_string(), ctx),
        pair("ML", ml_state(s), ctx),
        pair("threshold", format!("{:.2}", s.bayesian_threshold), ctx),
        pair("cred", format!("{:.2}", s.credibility), ctx),
        pair("explore", fmt::pct(s.exploration_rate), ctx),
    ];
    groups.extend(ml_details(s, ctx));
    wrap(groups, width, ctx)
}

/// `off`, `on` (nothing deployed), or the serving version and how it serves.
fn ml_state(s: &Summary) -> String {
    match (&s.ml.serving, s.ml_enabled) {
        (Some(v), true) if s.ml.arm.as_deref() == Some("canary") => {
            format!("{v} canary {:.0}%", s.ml.canary_percent)
        }
        (Some(v), true) => v.clone(),
        (_, true) => "on".into(),
        _ => "off".into(),
    }
}

/// The shadow, the drift score, a training in progress, when there are any.
fn ml_details(s: &Summary, ctx: &Ctx) -> Vec<Vec<Span<'static>>> {
    let mut out = Vec::new();
    if let Some(shadow) = &s.ml.shadow {
        out.push(pair("shadow", shadow.clone(), ctx));
    }
    if let Some(drift) = s.ml.drift_score {
        // With nothing serving, the drift is the shadow's: a stale candidate, not a served one.
        let of = if s.ml.serving.is_none() && s.ml.shadow.is_some() {
            " (shadow)"
        } else {
            ""
        };
        out.push(pair("drift", format!("{drift:.2}{of}"), ctx));
    }
    if let Some(c) = &s.ml.canary {
        out.extend(canary(c, ctx));
    }
    if let Some(p) = &s.ml.auto_promotion {
        let when = format!("{} {}", p.version, p.at.format("%H:%M:%SZ"));
        out.push(pair("promoted", when, ctx));
    }
    if let Some(check) = &s.ml.live_check {
        out.extend(live_check(check, ctx));
    }
    if let Some(rollback) = &s.ml.auto_rollback {
        out.extend(auto_rollback(rollback, ctx));
    }
    if let Some(job) = &s.ml.training {
        out.push(training(job, ctx));
    } else if let Some(job) = &s.ml.last_training {
        out.push(training_result(job, ctx));
    }
    out
}

/// The serving version's live check: outcomes counted, its log-loss beside the Bayesian
/// tier's on the same retries, its decisions' cost beside the Bayesian tier's, each with the
/// difference in (cluster-robust) standard errors and the margin a rollback needs.
fn live_check(c: &MlLiveCheck, ctx: &Ctx) -> Vec<Vec<Span<'static>>> {
    let text = |t: String| vec![Span::styled(t, ctx.theme.text())];
    let mut out = vec![
        pair("live check", format!("{} outcomes,", c.outcomes), ctx),
        text(format!("{} clusters", c.clusters)),
        text(format!("(judged from {})", c.min_outcomes)),
        pair("log-loss", format!("{:.3}", c.model_log_loss), ctx),
        text(format!("vs bayes {:.3}", c.bayesian_log_loss)),
    ];
    out.extend(in_standard_errors(c.difference, c.standard_error, c.margin).map(text));
    if let Some(d) = &c.decisions {
        let excess = d.difference - d.tolerance * d.bayesian_cost;
        out.push(pair("decisions cost", format!("{:.2}", d.model_cost), ctx));
        out.push(text(format!("vs bayes {:.2}", d.bayesian_cost)));
        out.extend(in_standard_errors(excess, d.standard_error, d.margin).map(text));
    }
    out
}

/// A canary's realized cost per ended episode, its arm beside the Bayesian arm, the
/// difference in (cluster-robust) standard errors, and the margins of its verdicts.
fn canary(c: &MlCanary, ctx: &Ctx) -> Vec<Vec<Span<'static>>> {
    let text = |t: String| vec![Span::styled(t, ctx.theme.text())];
    let z = if c.standard_error > 0.0 {
        format!("{:+.1} SE", c.difference / c.standard_error)
    } else {
        "- SE".into()
    };
    let margins = match (c.promote_margin, c.rollback_margin) {
        (Some(p), Some(r)) => format!("(promote < -{p:.1}, rollback > {r:.1})"),
        _ => "(no verdict below 5 clusters)".into(),
    };
    vec![
        pair("canary cost", format!("{:.2}", c.ml_cost), ctx),
        text(format!("a job ({} ended)", c.ml_episodes)),
        text(format!("vs bayes {:.2}", c.bayesian_cost)),
        text(format!("({} ended)", c.bayesian_episodes)),
        text(z),
        text(margins),
    ]
}

/// `+3.1 SE`, `(rollback > 3.4)`: a difference in standard errors and the margin it must
/// exceed, as two groups that wrap apart.
fn in_standard_errors(difference: f64, standard_error: f64, margin: Option<f64>) -> [String; 2] {
    let z = if standard_error > 0.0 {
        format!("{:+.1} SE", difference / standard_error)
    } else {
        "- SE".into()
    };
    let margin = margin.map_or("(no rollback below 5 clusters)".into(), |m| {
        format!("(rollback > {m:.1})")
    });
    [z, margin]
}

/// The live check's last rollback: the version and when, in the warning colour, then its
/// reason word by word so it wraps within the pane.
fn auto_rollback(r: &MlAutoRollback, ctx: &Ctx) -> Vec<Vec<Span<'static>>> {
    let when = format!(
        "{} {} ({})",
        r.version,
        r.at.format("%H:%M:%SZ"),
        fmt::ago(r.at, ctx.now)
    );
    let mut out = vec![vec![
        Span::styled("rolled back ", ctx.theme.warn()),
        Span::styled(when, ctx.theme.warn()),
    ]];
    let reason = crate::present::sanitize::sanitize(&r.reason);
    out.extend(
        reason
            .split_whitespace()
            .map(|word| vec![Span::styled(word.to_string(), ctx.theme.text())]),
    );
    out
}

/// A training in progress: a spinner, how long it has run, and what it is doing.
fn training(job: &MlJob, ctx: &Ctx) -> Vec<Span<'static>> {
    let spinner = Throbber::default()
        .throbber_set(ctx.glyphs.spinner.clone())
        .throbber_style(ctx.theme.accent())
        .to_symbol_span(&ctx.app.spinner);
    let elapsed = fmt::whole_secs(-fmt::until(job.started_at, ctx.now));
    vec![
        Span::styled("training ", ctx.theme.dim()),
        spinner,
        Span::styled(format!("{elapsed} {}", job.progress), ctx.theme.text()),
    ]
}

/// How the last training ended: the version with its held-out log-loss beside the Bayesian
/// tier's, or the error.
fn training_result(job: &MlJob, ctx: &Ctx) -> Vec<Span<'static>> {
    let ago = job
        .finished_at
        .map_or(String::new(), |t| format!(", {}", fmt::ago(t, ctx.now)));
    match &job.model {
        Some(v) => pair(
            "trained",
            format!(
                "{} log-loss {:.3} (bayes {:.3}){ago}",
                v.version, v.holdout.log_loss, v.bayesian_holdout.log_loss
            ),
            ctx,
        ),
        None => vec![
            Span::styled("training failed ", ctx.theme.dim()),
            Span::styled(
                format!(
                    "{}{ago}",
                    job.error.as_deref().unwrap_or("(no reason given)")
                ),
                ctx.theme.critical(),
            ),
        ],
    }
}

fn guardrails(s: &Summary, ctx: &Ctx, width: usize) -> Vec<Line<'static>> {
    let g = &s.guardrails;
    let arrow = ctx.glyphs.arrow;
    let delay = format!(
        "{}{arrow}{}",
        fmt::ms(g.min_delay_ms),
        fmt::ms(g.max_delay_ms)
    );
    let groups = vec![
        pair(
            "attempts",
            format!("{}{}", ctx.glyphs.le, g.max_attempts),
            ctx,
        ),
        pair("delay", delay, ctx),
        pair(
            "retry share",
            format!("{}{:.0}%", ctx.glyphs.le, g.max_budget_percent),
            ctx,
        ),
    ];
    let mut lines = vec![heading("Guardrails", ctx)];
    lines.extend(wrap(groups, width, ctx));
    if g.emergency_stop {
        lines.push(Line::styled(
            " EMERGENCY STOP: no retries",
            ctx.theme.critical(),
        ));
    }
    lines
}

/// Retry tokens per queue (a bar) and tenant quotas: one item each. The first bar carries a
/// caption, because the token buckets are a separate limit from the retry share above them.
fn queues(s: &Summary, ctx: &Ctx, width: usize) -> Vec<Vec<Line<'static>>> {
    let longest = s.budgets.iter().map(|b| b.queue.len()).max().unwrap_or(0);
    let name_width = longest.min(width / 3).max(1);
    let budgets = s.budgets.iter().map(|b| {
        let frac = if b.capacity > 0.0 {
            b.tokens_available / b.capacity
        } else {
            0.0
        };
        let count = format!(" {:.0}/{:.0}", b.tokens_available, b.capacity);
        let name = column(&b.queue, name_width, ctx.glyphs.ellipsis);
        bar_line(name, (frac, ctx.theme.bar()), count, width, ctx)
    });
    let tenants = s.tenants.iter().map(|t| {
        let quota = format!(
            "{} {}/{} per min",
            t.tenant, t.retries_last_minute, t.quota_per_minute
        );
        wrap(vec![pair("tenant", quota, ctx)], width, ctx)
    });
    let caption = Line::styled(" retry tokens now/capacity", ctx.theme.dim());
    budgets
        .enumerate()
        .map(|(i, line)| match i {
            0 => vec![caption.clone(), line],
            _ => vec![line],
        })
        .chain(tenants)
        .collect()
}

/// ` name ███░░ value`: the bar takes what the name and value leave (none if too little).
fn bar_line(
    name: String,
    (frac, style): (f64, Style),
    value: String,
    width: usize,
    ctx: &Ctx,
) -> Line<'static> {
    let bar_width = width.saturating_sub(name.chars().count() + value.chars().count() + 2);
    let bar = if bar_width >= 3 {
        ctx.glyphs.bar(frac, bar_width.min(MAX_BAR))
    } else {
        String::new()
    };
    Line::from(vec![
        Span::styled(format!(" {name} "), ctx.theme.dim()),
        Span::styled(bar, style),
        Span::styled(value, ctx.theme.text()),
    ])
}

fn policies(policies: &[RetryPolicy], ctx: &Ctx, width: usize) -> Vec<Vec<Line<'static>>> {
    let mut sorted: Vec<&RetryPolicy> = policies.iter().collect();
    sorted.sort_by_key(|p| std::cmp::Reverse(p.priority));
    let longest = sorted.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let name_width = longest.min(width.saturating_sub(6) / 2).max(1);
    sorted
        .into_iter()
        .map(|p| {
            let name = column(&p.name, name_width, ctx.glyphs.ellipsis);
            let mut groups = vec![vec![
                Span::styled(format!("{:>3} ", p.priority), ctx.theme.dim()),
                Span::styled(name, ctx.theme.info()),
            ]];
            groups.extend(shape(p, ctx));
            // Continuation lines start under the name.
            flow(groups, width, 5, ctx.glyphs.ellipsis)
        })
        .collect()
}

/// A policy's backoff: `stop`, or `5s→1m00s x5 ±25%` as groups that wrap whole.
fn shape(p: &RetryPolicy, ctx: &Ctx) -> Vec<Vec<Span<'static>>> {
    let text = |t: String| vec![Span::styled(t, ctx.theme.text())];
    if p.stop_on_validation {
        return vec![text("stop".into())];
    }
    let arrow = ctx.glyphs.arrow;
    let delays = format!(
        "{}{arrow}{}",
        fmt::ms(p.base_delay_ms),
        fmt::ms(p.max_delay_ms)
    );
    let plus_minus = if ctx.glyphs.ascii { "+-" } else { "±" };
    vec![
        text(delays),
        text(format!("x{}", p.max_attempts)),
        text(jitter(p, plus_minus)),
    ]
}

fn jitter(p: &RetryPolicy, plus_minus: &str) -> String {
    match serde_json::to_value(p.jitter)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
    {
        Some(kind) if kind == "percent" => format!("{plus_minus}{:.0}%", p.jitter_percent),
        Some(kind) => kind,
        None => String::new(),
    }
}

fn error_classes(s: &Summary, ctx: &Ctx, width: usize) -> Vec<Vec<Line<'static>>> {
    let longest = s
        .error_classes
        .iter()
        .map(|e| e.error_class.len())
        .max()
        .unwrap_or(0);
    let name_width = longest.min(width * 2 / 5).max(1);
    s.error_classes
        .iter()
        .map(|e| {
            let name = column(&e.error_class, name_width, ctx.glyphs.ellipsis);
            let pct = format!(" {:>4}", fmt::pct(e.success_rate));
            // A class that fails more often than not stands out.
            let style = if e.success_rate < 0.5 {
                ctx.theme.critical()
            } else {
                ctx.theme.bar()
            };
            vec![bar_line(name, (e.success_rate, style), pct, width, ctx)]
        })
        .collect()
}

fn models(s: &Summary, ctx: &Ctx, width: usize) -> Vec<Line<'static>> {
    let m = &s.models;
    let trained = m
        .last_trained
        .map_or("never".to_string(), |t| fmt::ago(t, ctx.now));
    let mut groups = vec![
        pair(
            "bayesian",
            format!("{} ({} warm)", m.bayesian_models, m.warm_models),
            ctx,
        ),
        pair("trained", trained, ctx),
    ];
    match &m.ml {
        Some(ml) => {
            groups.push(pair("ML", format!("{} {}", ml.model_type, ml.version), ctx));
            groups.push(pair("acc", format!("{:.2}", ml.accuracy), ctx));
            groups.push(pair("f1", format!("{:.2}", ml.f1_score), ctx));
            groups.push(pair("canary", format!("{:.0}%", ml.canary_percent), ctx));
        }
        None => groups.push(pair("ML", "not deployed".into(), ctx)),
    }
    let mut lines = vec![heading("Models", ctx)];
    lines.extend(wrap(groups, width, ctx));
    lines
}

fn actions(ctx: &Ctx, width: usize) -> Vec<Line<'static>> {
    let km = &ctx.app.keymap;
    let action = |a: Action, what: &'static str| {
        vec![
            Span::styled(km.label(a), ctx.theme.accent()),
            Span::styled(format!(" {what}"), ctx.theme.dim()),
        ]
    };
    let groups = [
        (Action::Retrain, "retrain job model"),
        (Action::Export, "export"),
    ]
    .into_iter()
    .filter(|(a, _)| ctx.app.offers(*a))
    .map(|(a, what)| action(a, what))
    .collect();
    wrap(groups, width, ctx)
}
