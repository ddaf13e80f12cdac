//! The operator console (`retryctl tui`).
//!
//! One task owns the terminal and runs a biased `select!` over input, snapshots from the poller
//! and ticks; views only read state, `App::dispatch` only changes UI state and returns the
//! [`app::Effect`] the loop then performs.

pub mod action;
pub mod keymap;
pub mod sanitize;
pub mod theme;
