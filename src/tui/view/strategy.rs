//! Strategy pane: active strategy and tier, parameters, guardrails and budget use, policies in
//! priority order, success rate by error class, model status, actions.

use super::{Ctx, block, fmt};
use crate::model::{RetryPolicy, Summary};
use crate::tui::action::Action;
use crate::tui::app::Pane;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let focused = ctx.app.focus == Pane::Strategy;
    let outer = block("Strategy", focused, ctx);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let Some(data) = &ctx.app.data else {
        frame.render_widget(
            Paragraph::new(Line::styled("no data yet", ctx.theme.dim())),
            inner,
        );
        return;
    };
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    active(&mut lines, &data.summary, ctx);
    guardrails(&mut lines, &data.summary, ctx, width);
    policies(&mut lines, &data.summary.policies, ctx);
    error_classes(&mut lines, &data.summary, ctx, width);
    models(&mut lines, &data.summary, ctx);
    actions(&mut lines, ctx);
    frame.render_widget(Paragraph::new(lines), inner);
}

fn heading<'a>(text: &'a str, ctx: &Ctx) -> Line<'a> {
    Line::styled(text, ctx.theme.title())
}

fn pair<'a>(label: &'a str, value: String, ctx: &Ctx) -> Vec<Span<'a>> {
    vec![
        Span::styled(format!(" {label} "), ctx.theme.dim()),
        Span::styled(value, ctx.theme.text()),
    ]
}

fn active(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx) {
    let ml = if s.ml_enabled { "on" } else { "off" };
    lines.push(Line::from(
        [
            pair("active", s.strategy_name.clone(), ctx),
            pair("tier", s.active_tier.as_str().to_string(), ctx),
            pair("ML", ml.to_string(), ctx),
        ]
        .concat(),
    ));
    lines.push(Line::from(
        [
            pair("threshold", format!("{:.2}", s.bayesian_threshold), ctx),
            pair("cred", format!("{:.2}", s.credibility), ctx),
            pair("explore", fmt::pct(s.exploration_rate), ctx),
        ]
        .concat(),
    ));
}

fn guardrails(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx, width: usize) {
    let g = &s.guardrails;
    let arrow = ctx.glyphs.arrow;
    lines.push(heading("Guardrails", ctx));
    lines.push(Line::from(
        [
            pair(
                "attempts",
                format!("{}{}", ctx.glyphs.le, g.max_attempts),
                ctx,
            ),
            pair(
                "delay",
                format!(
                    "{}{arrow}{}",
                    fmt::ms(g.min_delay_ms),
                    fmt::ms(g.max_delay_ms)
                ),
                ctx,
            ),
            pair("budget", format!("{:.0}%", g.max_budget_percent), ctx),
        ]
        .concat(),
    ));
    if g.emergency_stop {
        lines.push(Line::styled(
            " EMERGENCY STOP: no retries",
            ctx.theme.critical(),
        ));
    }
    let bar_width = width.saturating_sub(24).clamp(4, 20);
    for b in &s.budgets {
        let frac = if b.capacity > 0.0 {
            b.tokens_available / b.capacity
        } else {
            0.0
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<10.10} ", b.queue), ctx.theme.dim()),
            Span::styled(ctx.glyphs.bar(frac, bar_width), ctx.theme.bar()),
            Span::styled(
                format!(" {:.0}/{:.0}", b.tokens_available, b.capacity),
                ctx.theme.text(),
            ),
        ]));
    }
    for tn in &s.tenants {
        lines.push(Line::from(pair(
            "tenant",
            format!(
                "{} {}/{} per min",
                tn.tenant, tn.retries_last_minute, tn.quota_per_minute
            ),
            ctx,
        )));
    }
}

fn policies(lines: &mut Vec<Line>, policies: &[RetryPolicy], ctx: &Ctx) {
    lines.push(heading("Policies (priority order)", ctx));
    let mut sorted: Vec<&RetryPolicy> = policies.iter().collect();
    sorted.sort_by_key(|p| std::cmp::Reverse(p.priority));
    let arrow = ctx.glyphs.arrow;
    for p in sorted {
        let shape = if p.stop_on_validation {
            "stop".to_string()
        } else {
            format!(
                "{}{arrow}{} x{} {}",
                fmt::ms(p.base_delay_ms),
                fmt::ms(p.max_delay_ms),
                p.max_attempts,
                jitter(p, if ctx.glyphs.ascii { "+-" } else { "±" })
            )
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:>3} ", p.priority), ctx.theme.dim()),
            Span::styled(format!("{:<12.12}", p.name), ctx.theme.info()),
            Span::styled(format!(" {shape}"), ctx.theme.text()),
        ]));
    }
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

fn error_classes(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx, width: usize) {
    lines.push(heading("Success by error class", ctx));
    let bar_width = width.saturating_sub(20).clamp(4, 20);
    for e in &s.error_classes {
        let style = if e.success_rate < 0.5 {
            ctx.theme.critical()
        } else {
            ctx.theme.bar()
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<12.12} ", e.error_class), ctx.theme.dim()),
            Span::styled(ctx.glyphs.bar(e.success_rate, bar_width), style),
            Span::styled(
                format!(" {:>4}", fmt::pct(e.success_rate)),
                ctx.theme.text(),
            ),
        ]));
    }
}

fn models(lines: &mut Vec<Line>, s: &Summary, ctx: &Ctx) {
    let m = &s.models;
    lines.push(heading("Models", ctx));
    let trained = m
        .last_trained
        .map_or("never".to_string(), |t| fmt::ago(t, ctx.now));
    lines.push(Line::from(
        [
            pair(
                "bayesian",
                format!("{} ({} warm)", m.bayesian_models, m.warm_models),
                ctx,
            ),
            pair("trained", trained, ctx),
        ]
        .concat(),
    ));
    let ml = match &m.ml {
        Some(ml) => format!(
            "{} {} acc {:.2} f1 {:.2} canary {:.0}%",
            ml.model_type, ml.version, ml.accuracy, ml.f1_score, ml.canary_percent
        ),
        None => "not deployed".to_string(),
    };
    lines.push(Line::from(pair("ML", ml, ctx)));
}

fn actions(lines: &mut Vec<Line>, ctx: &Ctx) {
    let km = &ctx.app.keymap;
    lines.push(Line::from(vec![
        Span::styled(
            format!(" {}", km.label(Action::Retrain)),
            ctx.theme.accent(),
        ),
        Span::styled(" retrain  ", ctx.theme.dim()),
        Span::styled(km.label(Action::Export), ctx.theme.accent()),
        Span::styled(" export", ctx.theme.dim()),
    ]));
}
