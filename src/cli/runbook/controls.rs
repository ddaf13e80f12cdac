//! `retryctl estop on|off` (`POST /emergency-stop`), `retryctl circuit Q E open|closed|auto`
//! (`POST /circuits/{queue}/{error_class}`), `retryctl circuits` (`GET /circuits`),
//! `retryctl ack ALERT` (`POST /alerts/{id}/ack`) and `retryctl changes` (`GET /changes`).

use super::jobs::audit_table;
use super::{ConnArgs, Refused, cell, print, print_json, reason, stamp};
use crate::client::ChangesQuery;
use crate::model::{
    ActionRequest, CircuitForceRequest, CircuitView, EmergencyStopRequest, parse_duration,
};
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};

/// `on` engages the emergency stop, `off` releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Engage: every recommendation says stop until released
    On,
    /// Release: recommendations are made as usual again
    Off,
}

/// Options of `retryctl estop`.
#[derive(Debug, Clone, Args)]
pub struct EstopArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[arg(value_enum)]
    pub switch: Switch,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    /// Print the API's answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// What `retryctl circuit` sets a circuit to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CircuitSetting {
    /// Hold retries into it until released
    Open,
    /// Keep the breaker from opening it
    Closed,
    /// Release: the breaker decides again
    Auto,
}

/// Options of `retryctl circuit`.
#[derive(Debug, Clone, Args)]
pub struct CircuitArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The queue
    pub queue: String,
    /// The error class
    pub error_class: String,
    #[arg(value_enum)]
    pub setting: CircuitSetting,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    /// Print the API's answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl circuits`.
#[derive(Debug, Clone, Args)]
pub struct CircuitsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Print the API's answer (GET /circuits) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl ack`.
#[derive(Debug, Clone, Args)]
pub struct AckArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The alert's id (e.g. circuit_open:webhooks/connection_refused; `retryctl status` lists
    /// active alerts)
    pub alert: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    /// Print the API's answer (the alert) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl changes`.
#[derive(Debug, Clone, Args)]
pub struct ChangesArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Only changes since: a duration back from now (1h, 30m) or an RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only these kinds, comma-separated: strategy, guardrails, emergency_stop, bulk, job,
    /// alert, pause
    #[arg(long)]
    pub kind: Option<String>,
    /// Most changes listed (the newest), 1 to 1000 [default: 100]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: Option<u32>,
    /// Print the API's answer (GET /changes) as JSON
    #[arg(long)]
    pub json: bool,
}

/// `retryctl estop on|off --reason`.
pub async fn estop(args: EstopArgs) -> anyhow::Result<()> {
    let req = EmergencyStopRequest {
        engaged: args.switch == Switch::On,
        reason: reason("estop", &args.reason)?,
    };
    let state = args
        .conn
        .client()?
        .emergency_stop(&req)
        .await
        .context("estop")?;
    if args.json {
        return print_json(&state);
    }
    let text = match (state.engaged, state.changed) {
        (true, true) => "emergency stop engaged: every recommendation says stop until released",
        (false, true) => "emergency stop released: recommendations are made as usual",
        (true, false) => "emergency stop was already engaged; nothing changed",
        (false, false) => "emergency stop was not engaged; nothing changed",
    };
    print(&format!("{text}\n"))
}

/// `retryctl circuit QUEUE ERROR_CLASS open|closed|auto --reason`.
pub async fn circuit(args: CircuitArgs) -> anyhow::Result<()> {
    let setting = args.setting.to_possible_value().expect("no skipped values");
    let req = CircuitForceRequest {
        state: setting.get_name().to_string(),
        reason: reason("circuit", &args.reason)?,
    };
    let label = format!("{}/{}", args.queue, args.error_class);
    let result = args
        .conn
        .client()?
        .force_circuit(&args.queue, &args.error_class, &req)
        .await
        .with_context(|| format!("circuit {}", cell(&label, 120)))?;
    if args.json {
        return print_json(&result);
    }
    let now = match args.setting {
        CircuitSetting::Open => "forced open: retries into it are held until released",
        CircuitSetting::Closed => "forced closed: the breaker will not open it",
        CircuitSetting::Auto => "released: the breaker decides again",
    };
    let changed = if result.changed {
        String::new()
    } else {
        " (it already was; nothing changed)".into()
    };
    print(&format!("circuit {} {now}{changed}\n", cell(&label, 120)))
}

/// `retryctl circuits`: open, half-open and forced circuits, one per line.
pub async fn circuits(args: CircuitsArgs) -> anyhow::Result<()> {
    let list = args.conn.client()?.circuits().await.context("circuits")?;
    if args.json {
        return print_json(&list);
    }
    if list.is_empty() {
        return print("no open, half-open or forced circuits\n");
    }
    let lines: String = list.iter().map(circuit_line).collect();
    print(&lines)
}

fn circuit_line(c: &CircuitView) -> String {
    let label = cell(&format!("{}/{}", c.queue, c.error_class), 80);
    let forced = c.forced.as_ref().map_or_else(String::new, |f| {
        format!(
            "  forced by {} at {}: {}",
            cell(&f.actor, 40),
            stamp(f.forced_at),
            cell(&f.reason, 120)
        )
    });
    format!(
        "{label}  {}  failure rate {:.0}%{forced}\n",
        c.state,
        c.failure_rate * 100.0
    )
}

/// `retryctl ack ALERT --reason`.
pub async fn ack(args: AckArgs) -> anyhow::Result<()> {
    let req = ActionRequest::because(&reason("ack", &args.reason)?);
    let alert = args
        .conn
        .client()?
        .ack_alert(&args.alert, &req)
        .await
        .with_context(|| format!("ack {}", cell(&args.alert, 120)))?;
    if args.json {
        return print_json(&alert);
    }
    let state = if alert.active { "active" } else { "resolved" };
    print(&format!(
        "acknowledged {} ({:?}, {state}): {}\n",
        cell(&alert.id, 120),
        alert.severity,
        cell(&alert.message, 200)
    ))
}

/// `retryctl changes [--since 1h] [--kind pause,bulk] [--limit N]`.
pub async fn changes(args: ChangesArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    let since = args
        .since
        .as_deref()
        .map(|s| since(s, now))
        .transpose()
        .map_err(|e| Refused(format!("changes: --since: {e}")))?;
    let query = ChangesQuery {
        since: since.map(stamp),
        kind: args.kind.clone(),
        limit: args.limit,
    };
    let entries = args
        .conn
        .client()?
        .changes(&query)
        .await
        .context("changes")?;
    if args.json {
        return print_json(&entries);
    }
    if entries.is_empty() {
        return print("no changes\n");
    }
    print(&audit_table(&entries, now))
}

/// `1h` (back from `now`) or an RFC 3339 time.
fn since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.with_timezone(&Utc));
    }
    if text.trim().chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{text}` has no unit: say `{text}m` or `{text}h`"));
    }
    let back = parse_duration(text)
        .map_err(|_| format!("`{text}` is neither a duration (1h, 30m) nor an RFC 3339 time"))?;
    chrono::Duration::from_std(back)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| format!("`{text}` reaches too far back"))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn fuzz_time_since_is_a_time_or_names_the_input(
            text in crate::fuzz::hostile_text(),
            now_s in 0i64..8_000_000_000,
        ) {
            let now = DateTime::from_timestamp(now_s, 0).unwrap();
            if let Err(e) = since(&text, now) {
                proptest::prop_assert!(e.contains(&format!("`{text}`")), "{text:?}: {e}");
            }
        }
    }

    #[test]
    fn since_takes_a_duration_back_or_a_time() {
        let now: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        assert_eq!(stamp(since("1h", now).unwrap()), "2026-11-23T09:00:00Z");
        assert_eq!(
            stamp(since("2026-11-22T08:00:00+01:00", now).unwrap()),
            "2026-11-22T07:00:00Z"
        );
        assert!(since("60", now).unwrap_err().contains("no unit"));
        let err = since("yesterday", now).unwrap_err();
        assert!(err.contains("yesterday"), "{err}");
    }
}
