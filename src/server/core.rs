//! The service core: the shared state ([`state`]), bulk actions on a job filter ([`bulk`]), the ingest path that records attempts and
//! failures, lets the engine learn and keeps the retry schedule ([`ingest`], with the pure
//! job state changes in [`schedule`]), the operational memory ([`ops`]: events, rate windows,
//! alerts, the jobs known pending or killed in [`known_jobs`]; the per-queue time series in [`series`]; smart vs static per cohort of first
//! failures in [`cohorts`]), operator pauses of a queue or error class
//! ([`pauses`]), circuits forced open or closed by an operator ([`circuits`]), whether the store takes writes ([`store_health`]: the degraded state and the
//! write probe), the alert rules ([`alert_rules`], evaluated by [`alerts`]), and the lifecycle
//! ([`housekeeping`]: start-up, background tasks, shutdown), and learning from a log other
//! replicas share ([`follow`]) with one of them running the chores ([`leader`]) and the pacing
//! counters they share kept in step ([`ledger`]).
//!
//! The core knows no route and no handler: the API calls it, never the reverse. Its errors
//! are the edge's [`ApiError`](super::edge::ApiError), so a handler passes them on with `?`.

pub mod alert_rules;
pub mod alerts;
pub mod bulk;
pub mod circuits;
pub mod cohorts;
pub mod events;
pub mod follow;
pub mod housekeeping;
pub mod ingest;
pub mod job_locks;
pub mod known_jobs;
pub mod leader;
pub mod ledger;
pub mod ml;
pub mod ops;
pub mod patterns;
pub mod pauses;
pub mod replica_counts;
pub mod schedule;
pub mod series;
pub mod shadow_cache;
pub mod state;
pub mod store_health;
pub mod views;
pub mod window;

pub use housekeeping::{Background, StartError, set_memory_release, shutdown_signal, start_state};
pub use ml::set_training_priority;
pub use state::{AppState, Change};
