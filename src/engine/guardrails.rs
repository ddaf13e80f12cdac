//! Guardrails applied to every recommendation, in this order: emergency stop, max attempts,
//! max retry age, min delay, max delay, then the pacing guardrails: retry budget per queue
//! (token bucket), retry share per queue (`max_budget_percent` of the queue's traffic, see
//! `share`), per-tenant quota per minute, circuit breaker per (queue, error class).
//!
//! Guardrails shape, they never drop: the pacing guardrails only delay a retry, also past
//! `max_delay_ms` (the answer then names `max_delay` and says the job keeps its place in line).
//! Only these end a job: the emergency stop, `max_attempts`, `max_retry_age` (also when pacing
//! would run the retry after it), a tenant quota of 0 (the operator's kill of that tenant's
//! retries), and, before the guardrails, a tier's non-retryable answer.
//!
//! A circuit opens when, of the retries into its (queue, error class) over its window, at least
//! `min_samples` ran and at least `failure_rate_threshold` failed (successes count in the rate);
//! the probe's success closes it and starts a fresh window.
//!
//! Every window is counted on one clock, the decision's time (see `clock`): records far from it
//! count at it, so another clock's timestamps cannot distort a count.
//!
//! `evaluate` is read-only (preview uses it too); `commit` spends the budget, the share, the
//! tenant quota and the circuit's probe slot once a recommendation is final. Each guardrail that
//! changed the answer is reported by name with a detail.

use super::rules::fmt_ms;
use crate::model::guardrail::{
    CIRCUIT_BREAKER, EMERGENCY_STOP, MAX_ATTEMPTS, MAX_BUDGET_PERCENT, MAX_DELAY, MAX_RETRY_AGE,
    MIN_DELAY, RETRY_BUDGET, TENANT_QUOTA,
};
use crate::model::{
    BudgetUse, CircuitForce, CircuitView, ForcedCircuit, GuardrailEffect, PolicyGuardrails,
    TenantUse, after_ms, before_ms,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Sub-windows of a circuit breaker's sliding window.
const SLOTS: usize = 10;
/// Most (queue, error class) circuits and queues tracked; idle closed ones are dropped first.
const MAX_KEYS: usize = 10_000;

/// What the guardrails need to know about the failed attempt.
#[derive(Debug, Clone, Copy)]
pub struct GuardInput<'a> {
    pub attempt: u32,
    pub queue: &'a str,
    pub tenant: Option<&'a str>,
    pub error_class: &'a str,
    pub now: DateTime<Utc>,
    /// Milliseconds since the job's first failure, when known.
    pub elapsed_ms: Option<u64>,
}

/// The answer after the guardrails, and what to spend if it is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub should_retry: bool,
    pub delay_ms: u64,
    pub max_attempts: u32,
    pub effects: Vec<GuardrailEffect>,
    spend: Spend,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Spend {
    budget: bool,
    share: bool,
    /// What pacing's scan learned, kept by the queue's traffic once the retry is committed.
    share_scan: Option<share::Blocked>,
    tenant_minute: Option<i64>,
    probe: bool,
}

/// A queue's token bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Bucket {
    tokens: f64,
    updated: DateTime<Utc>,
}

/// One sub-window of a circuit's failure-rate window (by record timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
struct Slot {
    index: i64,
    total: u32,
    failures: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Breaker {
    Closed,
    /// Open until `probe_at`; then half-open: one retry (the probe) goes through.
    Open {
        opened_at: DateTime<Utc>,
        probe_at: DateTime<Utc>,
        probe_reserved: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Circuit {
    slots: [Slot; SLOTS],
    state: Breaker,
    last_seen: DateTime<Utc>,
}

/// Mutable guardrail state: budgets, tenant quotas, circuits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuardrailState {
    budgets: HashMap<String, Bucket>,
    /// tenant → minute index → retries scheduled in that minute.
    tenants: HashMap<String, BTreeMap<i64, u32>>,
    /// "queue\u{1f}error_class" → circuit.
    circuits: HashMap<String, Circuit>,
    /// queue → attempts and retries in the share's window (absent in older snapshots).
    #[serde(default)]
    traffic: HashMap<String, share::Traffic>,
    /// The time of the latest decision, where far-off records are counted.
    #[serde(default)]
    clock: clock::DecisionClock,
    /// "queue\u{1f}error_class" → the operator's forced state. Not in snapshots: the store
    /// keeps forced circuits, and the service sets them again after a restore.
    #[serde(skip)]
    forced: HashMap<String, ForcedCircuit>,
    /// Spends not yet in a shared ledger (see `ledger`); not in snapshots.
    #[serde(skip)]
    ledger: ledger::Ledger,
}

fn circuit_key(queue: &str, error_class: &str) -> String {
    format!("{queue}\u{1f}{error_class}")
}

fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis().div_euclid(60_000)
}

impl GuardrailState {
    /// Applies every guardrail to a proposed answer without changing any state.
    pub fn evaluate(
        &self,
        cfg: &PolicyGuardrails,
        input: GuardInput<'_>,
        should_retry: bool,
        delay_ms: u64,
        max_attempts: u32,
    ) -> Verdict {
        let mut v = bounded(cfg, input, should_retry, delay_ms, max_attempts);
        if !v.should_retry {
            return v;
        }
        let max_delay = max_delay_of(cfg);
        self.retry_budget(cfg, input, &mut v);
        self.retry_share(cfg, input, &mut v);
        self.tenant_quota(cfg, input, &mut v);
        self.circuit_breaker(cfg, input, &mut v);
        if v.spend.probe && v.should_retry {
            // The circuit may have moved the retry into a later minute: re-check the quota.
            self.tenant_quota(cfg, input, &mut v);
        }
        paced_past_max_delay(max_delay, &mut v);
        max_retry_age(cfg, input, &mut v);
        if !v.should_retry {
            v.delay_ms = 0;
            v.spend = Spend::default();
        }
        v
    }

    /// Spends what a kept verdict uses: a budget token, a tenant-minute slot, the probe; and
    /// moves the decision clock to the decision's time.
    pub fn commit(&mut self, cfg: &PolicyGuardrails, input: GuardInput<'_>, v: &Verdict) {
        self.clock.decided(input.now);
        if !v.should_retry {
            return;
        }
        if v.spend.budget {
            let tokens = self.tokens_at(cfg, input.queue, input.now);
            self.bound_keys();
            self.budgets.insert(
                input.queue.to_string(),
                Bucket {
                    tokens: tokens - 1.0,
                    // A decision dated before the last one (a late report) refills nothing.
                    updated: self
                        .budgets
                        .get(input.queue)
                        .map_or(input.now, |b| b.updated.max(input.now)),
                },
            );
        }
        let runs_at = after_ms(input.now, v.delay_ms);
        if v.spend.share {
            self.traffic
                .entry(input.queue.to_string())
                .or_default()
                .retry(input.now, runs_at, v.spend.share_scan);
        }
        let tenant_minute = v.spend.tenant_minute.zip(input.tenant);
        if let Some((minute, tenant)) = tenant_minute {
            let slots = self.tenants.entry(tenant.to_string()).or_default();
            *slots.entry(minute).or_insert(0) += 1;
            let oldest = minute_of(input.now) - 1;
            // Only the front can be old: a burst keeps every minute ahead of it.
            while slots.first_key_value().is_some_and(|(m, _)| *m < oldest) {
                slots.pop_first();
            }
        }
        self.note_spent(ledger::Spent {
            queue: input.queue,
            now: input.now,
            token: v.spend.budget,
            share_slot: v.spend.share.then(|| share::slot_index(runs_at)),
            tenant_minute: tenant_minute.map(|(m, t)| (t, m)),
        });
        if v.spend.probe
            && let Some(c) = self
                .circuits
                .get_mut(&circuit_key(input.queue, input.error_class))
            && let Breaker::Open { probe_reserved, .. } = &mut c.state
        {
            *probe_reserved = true;
        }
    }

    fn tokens_at(&self, cfg: &PolicyGuardrails, queue: &str, now: DateTime<Utc>) -> f64 {
        let b = &cfg.retry_budget;
        match self.budgets.get(queue) {
            None => b.capacity,
            Some(bucket) => {
                let secs = (now - bucket.updated).num_milliseconds().max(0) as f64 / 1000.0;
                (bucket.tokens + secs * b.refill_per_second).min(b.capacity)
            }
        }
    }

    fn retry_budget(&self, cfg: &PolicyGuardrails, input: GuardInput<'_>, v: &mut Verdict) {
        let b = &cfg.retry_budget;
        if !b.enabled || !v.should_retry {
            return;
        }
        let tokens = self.tokens_at(cfg, input.queue, input.now);
        v.spend.budget = true;
        if tokens >= 1.0 {
            return;
        }
        if b.refill_per_second <= 0.0 {
            stop(v, MAX_RETRY_AGE, text::budget_never_refills(input.queue));
            return;
        }
        let wait = ((1.0 - tokens) / b.refill_per_second * 1000.0).ceil() as u64;
        if wait <= v.delay_ms {
            return;
        }
        let detail = text::budget_wait(input.queue, v.delay_ms, wait);
        push(v, RETRY_BUDGET, wait, detail);
    }

    /// `max_budget_percent`: paces a retry that would take the queue's retries over their
    /// share of its traffic in some window to the first sub-window where it fits (see `share`).
    fn retry_share(&self, cfg: &PolicyGuardrails, input: GuardInput<'_>, v: &mut Verdict) {
        if !v.should_retry || cfg.max_budget_percent >= 100.0 {
            return;
        }
        v.spend.share = true;
        let Some(traffic) = self.traffic.get(input.queue) else {
            return;
        };
        let attempts = traffic.attempts(input.now);
        let allowed = share::allowed(cfg.max_budget_percent, attempts);
        let at = after_ms(input.now, v.delay_ms);
        let share::Paced { at: paced, learned } = traffic.pace(allowed, at);
        v.spend.share_scan = learned;
        if paced == at {
            return;
        }
        let delay = (paced - input.now).num_milliseconds().max(0) as u64;
        let counts = text::ShareCounts {
            retries: traffic.retries(at),
            attempts,
            allowed,
            percent: cfg.max_budget_percent,
        };
        let detail = text::share_paced(input.queue, counts, v.delay_ms, delay);
        push(v, MAX_BUDGET_PERCENT, delay, detail);
    }

    /// Counts an observed attempt in its queue's traffic, at its record timestamp or, when
    /// that is far from the decision clock, at the decision clock.
    pub fn observe_attempt(&mut self, queue: &str, at: DateTime<Utc>) {
        let at = self.clock.place(at);
        // Every replayed attempt comes here: the queue's name is copied only for a new queue.
        if let Some(traffic) = self.traffic.get_mut(queue) {
            traffic.attempt(at);
            return;
        }
        if self.traffic.len() >= MAX_KEYS {
            self.traffic.clear();
        }
        self.traffic
            .entry(queue.to_string())
            .or_default()
            .attempt(at);
    }

    fn tenant_quota(&self, cfg: &PolicyGuardrails, input: GuardInput<'_>, v: &mut Verdict) {
        let Some(tenant) = input.tenant.filter(|_| cfg.per_tenant_limits) else {
            return;
        };
        if !v.should_retry {
            return;
        }
        let quota = quota_of(cfg, tenant);
        if quota == 0 {
            stop(v, TENANT_QUOTA, text::tenant_zero(tenant));
            return;
        }
        let first = minute_of(after_ms(input.now, v.delay_ms));
        let minute = self
            .tenants
            .get(tenant)
            .map_or(first, |slots| first_minute_with_room(slots, quota, first));
        v.spend.tenant_minute = Some(minute);
        if minute != first {
            let at_ms = minute * 60_000 - input.now.timestamp_millis();
            let delay = (at_ms.max(0) as u64).max(v.delay_ms);
            push(
                v,
                TENANT_QUOTA,
                delay,
                text::tenant_full(tenant, quota, delay),
            );
        }
    }

    fn circuit_breaker(&self, cfg: &PolicyGuardrails, input: GuardInput<'_>, v: &mut Verdict) {
        if !v.should_retry {
            return;
        }
        let key = circuit_key(input.queue, input.error_class);
        match self.forced.get(&key) {
            Some(f) if f.state == CircuitForce::Open => return forced_open(cfg, f, input, v),
            Some(_) => return,
            None => {}
        }
        if !cfg.circuit_breaker.enabled {
            return;
        }
        let Some(c) = self.circuits.get(&key) else {
            return;
        };
        let Breaker::Open {
            probe_at,
            probe_reserved,
            ..
        } = c.state
        else {
            return;
        };
        let at = after_ms(input.now, v.delay_ms);
        if !probe_reserved {
            v.spend.probe = true;
            if at < probe_at {
                let delay = (probe_at - input.now).num_milliseconds().max(0) as u64;
                push(v, CIRCUIT_BREAKER, delay, text::probe(input, probe_at));
            }
            return;
        }
        let after_probe = after_ms(probe_at, cfg.circuit_breaker.open_ms);
        if at >= after_probe {
            return;
        }
        let delay = (after_probe - input.now).num_milliseconds().max(0) as u64;
        push(v, CIRCUIT_BREAKER, delay, text::after_probe(input, delay));
    }

    /// Feeds a retry outcome into the circuit of (queue, error class), at its record timestamp
    /// or, when that is far from the decision clock, at the decision clock. Only retries count
    /// (attempt ≥ 2): first runs say nothing about a dependency's recovery.
    pub fn observe_retry(
        &mut self,
        cfg: &PolicyGuardrails,
        queue: &str,
        error_class: &str,
        success: bool,
        at: DateTime<Utc>,
    ) {
        let cb = &cfg.circuit_breaker;
        if !cb.enabled || cb.window_ms == 0 {
            return;
        }
        let at = self.clock.place(at);
        if self.circuits.len() >= MAX_KEYS {
            self.evict_idle_circuits(at, cb.window_ms);
        }
        let circuit = self
            .circuits
            .entry(circuit_key(queue, error_class))
            .or_insert_with(|| Circuit {
                slots: [Slot::default(); SLOTS],
                state: Breaker::Closed,
                last_seen: at,
            });
        circuit.last_seen = circuit.last_seen.max(at);
        let sub = (cb.window_ms / SLOTS as u64).max(1) as i64;
        let index = at.timestamp_millis().div_euclid(sub);
        let slot = &mut circuit.slots[index.rem_euclid(SLOTS as i64) as usize];
        if slot.index != index {
            *slot = Slot {
                index,
                total: 0,
                failures: 0,
            };
        }
        slot.total += 1;
        slot.failures += u32::from(!success);
        let was_open = matches!(circuit.state, Breaker::Open { .. });
        circuit.state = next_state(&circuit.state, circuit.rate_at(index), cfg, success, at);
        if self
            .forced
            .get(&circuit_key(queue, error_class))
            .is_some_and(|f| f.state == CircuitForce::Closed)
        {
            circuit.state = Breaker::Closed;
        }
        if was_open && circuit.state == Breaker::Closed {
            // A recovered dependency starts a fresh window, so the outage's failures do not
            // open it again. A success while closed is one sample of the rate: clearing the
            // window on each would make the rule "min_samples failures in a row", which a
            // rate limit's every window ends with (its jobs fail until the reset).
            circuit.slots = [Slot::default(); SLOTS];
        }
    }

    fn evict_idle_circuits(&mut self, at: DateTime<Utc>, window_ms: u64) {
        let horizon = before_ms(at, window_ms);
        self.circuits
            .retain(|_, c| c.state != Breaker::Closed || c.last_seen >= horizon);
    }

    fn bound_keys(&mut self) {
        if self.budgets.len() >= MAX_KEYS {
            // Full buckets carry no information: dropping them changes nothing.
            self.budgets.retain(|_, b| b.tokens < 1.0);
        }
        if self.tenants.len() >= MAX_KEYS {
            self.tenants.clear();
        }
    }

    /// Budget, tenant and circuit views for the console, at `now`.
    pub fn status(
        &self,
        cfg: &PolicyGuardrails,
        now: DateTime<Utc>,
    ) -> (Vec<BudgetUse>, Vec<TenantUse>, Vec<CircuitView>) {
        let mut budgets: Vec<BudgetUse> = self
            .budgets
            .keys()
            .map(|q| BudgetUse {
                queue: q.clone(),
                tokens_available: self.tokens_at(cfg, q, now).max(0.0),
                capacity: cfg.retry_budget.capacity,
            })
            .collect();
        budgets.sort_by(|a, b| a.queue.cmp(&b.queue));
        let minute = minute_of(now);
        let mut tenants: Vec<TenantUse> = self
            .tenants
            .iter()
            .map(|(t, slots)| TenantUse {
                tenant: t.clone(),
                retries_last_minute: slots.get(&minute).copied().unwrap_or(0),
                quota_per_minute: quota_of(cfg, t),
            })
            .collect();
        tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        let mut circuits: Vec<CircuitView> = self
            .circuits
            .iter()
            .map(|(key, c)| c.view(key, cfg, now))
            .collect();
        for view in &mut circuits {
            if let Some(f) = self
                .forced
                .get(&circuit_key(&view.queue, &view.error_class))
            {
                forced_view(view, f);
            }
        }
        for (key, f) in &self.forced {
            if !self.circuits.contains_key(key) {
                let mut view = Circuit::idle().view(key, cfg, now);
                forced_view(&mut view, f);
                circuits.push(view);
            }
        }
        circuits.sort_by(|a, b| (&a.queue, &a.error_class).cmp(&(&b.queue, &b.error_class)));
        (budgets, tenants, circuits)
    }

    /// Circuits currently open or half-open, forced open ones included, forced closed ones
    /// not.
    pub fn open_circuits(&self) -> usize {
        let breaker_open = self.circuits.iter().filter(|(key, c)| {
            c.state != Breaker::Closed && !self.forced.contains_key(key.as_str())
        });
        let forced_open = self
            .forced
            .values()
            .filter(|f| f.state == CircuitForce::Open);
        breaker_open.count() + forced_open.count()
    }

    /// Forces a circuit open or closed until [`Self::release`]; forcing it closed also closes
    /// an open breaker.
    pub fn force(&mut self, forced: ForcedCircuit) {
        let key = circuit_key(&forced.queue, &forced.error_class);
        if forced.state == CircuitForce::Closed
            && let Some(c) = self.circuits.get_mut(&key)
        {
            c.state = Breaker::Closed;
        }
        self.forced.insert(key, forced);
    }

    /// Releases a forced circuit: the breaker decides again from its window. Returns what was
    /// forced, if anything.
    pub fn release(&mut self, queue: &str, error_class: &str) -> Option<ForcedCircuit> {
        self.forced.remove(&circuit_key(queue, error_class))
    }

    /// The forced circuits, by queue then error class.
    pub fn forced(&self) -> Vec<ForcedCircuit> {
        let mut forced: Vec<ForcedCircuit> = self.forced.values().cloned().collect();
        forced.sort_by(|a, b| (&a.queue, &a.error_class).cmp(&(&b.queue, &b.error_class)));
        forced
    }

    /// Keeps the forced circuits and the spends not yet in a shared ledger across a restore of
    /// learned state (neither is in it).
    pub fn restored(mut self, previous: &GuardrailState) -> Self {
        self.forced = previous.forced.clone();
        self.keep_ledger(previous);
        self
    }
}

/// A forced-open circuit defers the retry by the breaker's open time (at least): nothing is
/// dropped, and the service holds the scope's due jobs from `/claim` until it is released.
fn forced_open(cfg: &PolicyGuardrails, f: &ForcedCircuit, input: GuardInput<'_>, v: &mut Verdict) {
    let delay = v.delay_ms.max(cfg.circuit_breaker.open_ms);
    push(
        v,
        CIRCUIT_BREAKER,
        delay,
        text::forced_open(input, f, delay),
    );
}

fn forced_view(view: &mut CircuitView, f: &ForcedCircuit) {
    view.state = f.state.as_str().to_string();
    if f.state == CircuitForce::Closed {
        view.probe_at = None;
    }
    view.forced = Some(f.clone());
}

impl Circuit {
    /// A circuit with nothing observed (for the view of a forced circuit never seen).
    fn idle() -> Self {
        Self {
            slots: [Slot::default(); SLOTS],
            state: Breaker::Closed,
            last_seen: DateTime::<Utc>::MIN_UTC,
        }
    }

    /// (failure rate, samples) over the window ending at slot `index`.
    fn rate_at(&self, index: i64) -> (f64, u32) {
        let (mut total, mut failures) = (0u32, 0u32);
        for s in &self.slots {
            if s.index > index - SLOTS as i64 && s.index <= index {
                total += s.total;
                failures += s.failures;
            }
        }
        let rate = if total == 0 {
            0.0
        } else {
            failures as f64 / total as f64
        };
        (rate, total)
    }

    fn view(&self, key: &str, cfg: &PolicyGuardrails, now: DateTime<Utc>) -> CircuitView {
        let (queue, class) = key.split_once('\u{1f}').unwrap_or((key, ""));
        let sub = (cfg.circuit_breaker.window_ms / SLOTS as u64).max(1) as i64;
        let (rate, _) = self.rate_at(now.timestamp_millis().div_euclid(sub));
        let (state, probe_at) = match &self.state {
            Breaker::Closed => ("closed", None),
            Breaker::Open { probe_at, .. } if now >= *probe_at => ("half_open", Some(*probe_at)),
            Breaker::Open { probe_at, .. } => ("open", Some(*probe_at)),
        };
        CircuitView {
            queue: queue.to_string(),
            error_class: class.to_string(),
            state: state.to_string(),
            failure_rate: rate,
            probe_at,
            forced: None,
        }
    }
}

fn next_state(
    state: &Breaker,
    (rate, samples): (f64, u32),
    cfg: &PolicyGuardrails,
    success: bool,
    at: DateTime<Utc>,
) -> Breaker {
    let cb = &cfg.circuit_breaker;
    let open = || Breaker::Open {
        opened_at: at,
        probe_at: after_ms(at, cb.open_ms),
        probe_reserved: false,
    };
    match state {
        Breaker::Closed
            if samples >= cb.min_samples.max(1) && rate >= cb.failure_rate_threshold =>
        {
            open()
        }
        Breaker::Closed => Breaker::Closed,
        Breaker::Open { opened_at, .. } if success && at >= *opened_at => Breaker::Closed,
        Breaker::Open { probe_at, .. } if !success && at >= *probe_at => open(),
        other => other.clone(),
    }
}

/// The first minute at or after `first` holding fewer than `quota` retries. Only minutes
/// already holding retries can be full, so it walks the run of full minutes from `first` in
/// one pass over the map (a burst fills hundreds of minutes ahead of its decisions).
fn first_minute_with_room(slots: &BTreeMap<i64, u32>, quota: u32, first: i64) -> i64 {
    let mut minute = first;
    for (m, used) in slots.range(first..) {
        if *m != minute || *used < quota {
            return minute;
        }
        minute += 1;
    }
    minute
}

fn quota_of(cfg: &PolicyGuardrails, tenant: &str) -> u32 {
    cfg.tenant_quotas
        .get(tenant)
        .copied()
        .unwrap_or(cfg.tenant_quota_per_minute)
}

/// The guardrails before pacing: emergency stop, max attempts, max retry age, min/max delay.
fn bounded(
    cfg: &PolicyGuardrails,
    input: GuardInput<'_>,
    should_retry: bool,
    delay_ms: u64,
    max_attempts: u32,
) -> Verdict {
    let mut v = Verdict {
        should_retry,
        delay_ms,
        max_attempts: max_attempts.min(cfg.max_attempts.max(1)),
        effects: Vec::new(),
        spend: Spend::default(),
    };
    emergency_stop(cfg, &mut v);
    max_attempts_guard(cfg, input.attempt, &mut v);
    max_retry_age(cfg, input, &mut v);
    delay_bounds(cfg.min_delay_ms, max_delay_of(cfg), &mut v);
    if !v.should_retry {
        v.delay_ms = 0;
    }
    v
}

fn max_delay_of(cfg: &PolicyGuardrails) -> u64 {
    cfg.max_delay_ms.max(cfg.min_delay_ms)
}

fn stop(v: &mut Verdict, name: &str, detail: String) {
    v.should_retry = false;
    v.delay_ms = 0;
    v.effects.push(GuardrailEffect {
        name: name.to_string(),
        detail,
    });
}

fn push(v: &mut Verdict, name: &str, delay_ms: u64, detail: String) {
    v.delay_ms = delay_ms;
    v.effects.push(GuardrailEffect {
        name: name.to_string(),
        detail,
    });
}

fn emergency_stop(cfg: &PolicyGuardrails, v: &mut Verdict) {
    if cfg.emergency_stop && v.should_retry {
        stop(
            v,
            EMERGENCY_STOP,
            "emergency stop engaged: no retries".into(),
        );
    }
}

fn max_attempts_guard(cfg: &PolicyGuardrails, attempt: u32, v: &mut Verdict) {
    let max = cfg.max_attempts.max(1);
    if v.should_retry && attempt >= max {
        stop(
            v,
            MAX_ATTEMPTS,
            format!(
                "attempt {attempt} failed and the guardrail allows at most {max} attempts: stop"
            ),
        );
    }
}

/// Ends a job whose retry would run after its maximum retry age (its first failure plus
/// `max_retry_age`).
fn max_retry_age(cfg: &PolicyGuardrails, input: GuardInput<'_>, v: &mut Verdict) {
    let max = cfg.max_retry_age.as_millis();
    let elapsed = input.elapsed_ms.unwrap_or(0);
    if !v.should_retry || elapsed.saturating_add(v.delay_ms) <= max {
        return;
    }
    let detail = format!(
        "the job first failed {} ago; a retry in {} would run after its maximum retry age {}: stop",
        fmt_ms(elapsed),
        fmt_ms(v.delay_ms),
        fmt_ms(max)
    );
    stop(v, MAX_RETRY_AGE, detail);
}

/// Says so when pacing moved a retry past the maximum delay: the job keeps its place in line.
fn paced_past_max_delay(max_delay: u64, v: &mut Verdict) {
    if !v.should_retry || v.delay_ms <= max_delay {
        return;
    }
    v.effects.push(GuardrailEffect {
        name: MAX_DELAY.to_string(),
        detail: format!(
            "paced to {}, past the maximum delay {}: the job keeps its place in line",
            fmt_ms(v.delay_ms),
            fmt_ms(max_delay)
        ),
    });
}

fn delay_bounds(min_delay: u64, max_delay: u64, v: &mut Verdict) {
    if !v.should_retry {
        return;
    }
    if v.delay_ms < min_delay {
        let detail = format!(
            "raised {} to the minimum delay {}",
            fmt_ms(v.delay_ms),
            fmt_ms(min_delay)
        );
        push(v, MIN_DELAY, min_delay, detail);
    }
    if v.delay_ms > max_delay {
        let detail = format!(
            "lowered {} to the maximum delay {}",
            fmt_ms(v.delay_ms),
            fmt_ms(max_delay)
        );
        push(v, MAX_DELAY, max_delay, detail);
    }
}

mod clock;
mod ledger;
mod share;
mod shared;
mod text;

#[cfg(test)]
mod tests;
