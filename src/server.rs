//! The HTTP service (temporary module list until the core skeleton lands).

pub mod alert_rules;
pub mod events;
pub mod ops;
pub mod schedule;
pub mod window;
