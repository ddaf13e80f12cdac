//! Operator-facing text shared by the console (`retryctl tui`) and the CLI verbs (`status`,
//! `preview`, `override`, `export`, `import`): neither imports the other, both build on this.
//!
//! - [`sanitize`]: untrusted text (job ids, error messages, policy names) made harmless for a
//!   terminal; applied where API data enters the console and to everything the CLI prints.
//! - [`fmt`]: durations, ages, ratios and counts as operators read them (`2m05s`, `78%`).
//! - [`overrides`]: the "retry this job later" input (`30s`, `14:30`, an RFC 3339 time).
//! - [`export`]: configuration export files (TOML, JSON, YAML) and their formats.
//!
//! Everything here is pure except [`export::write`] and [`export::read`], which touch one file.

pub mod export;
pub mod fmt;
pub mod overrides;
pub mod sanitize;
