//! Console settings: flags (each also readable from a `RETRYCTL_*` variable) over the console
//! config file (`$XDG_CONFIG_HOME/retryctl/console.toml`) over defaults.
//!
//! [`resolve`] is a pure function of the parsed flags and the parsed file, so the precedence is
//! covered by a table of test cases; [`load`] only adds reading the file.

use crate::client::DEFAULT_API;
use crate::model::position::line_at;
use clap::Args;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Flags of `retryctl tui`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct TuiArgs {
    /// Service URL [default: http://127.0.0.1:7878]
    #[arg(long, env = "RETRYCTL_API", value_name = "URL")]
    pub api: Option<String>,
    /// Bearer token (operator for actions, viewer for a read-only console)
    #[arg(long, env = "RETRYCTL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How often to poll the service, e.g. 1s, 500ms [default: 1s]
    #[arg(long, env = "RETRYCTL_REFRESH", value_name = "INTERVAL")]
    pub refresh: Option<String>,
    /// Frames per second for spinners and countdowns [default: 10]
    #[arg(long, env = "RETRYCTL_FPS")]
    pub fps: Option<u32>,
    /// Theme: dark, light, high-contrast, ansi16, or a theme file [default: dark]
    #[arg(long, env = "RETRYCTL_THEME")]
    pub theme: Option<String>,
    /// Key bindings file laid over the defaults (same shape as keymap.toml)
    #[arg(long, env = "RETRYCTL_KEYMAP", value_name = "FILE")]
    pub keymap: Option<PathBuf>,
    /// Refuse every action that would change the service
    #[arg(long, env = "RETRYCTL_READ_ONLY")]
    pub read_only: bool,
    /// ASCII spinners and borders (also chosen when the locale is not UTF-8)
    #[arg(long, env = "RETRYCTL_ASCII")]
    pub ascii: bool,
    /// Mouse: the wheel scrolls, a click selects (the terminal's own text selection then
    /// needs Shift)
    #[arg(long, env = "RETRYCTL_MOUSE")]
    pub mouse: bool,
    /// Console config file [default: $XDG_CONFIG_HOME/retryctl/console.toml]
    #[arg(
        long = "console-config",
        env = "RETRYCTL_CONSOLE_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
}

/// The console config file. Every key is optional; unknown keys are an error naming them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleFile {
    pub api: Option<String>,
    pub token: Option<String>,
    /// A duration string: `1s`, `500ms`.
    pub refresh: Option<String>,
    pub fps: Option<u32>,
    pub theme: Option<String>,
    pub keymap: Option<PathBuf>,
    pub read_only: Option<bool>,
    pub ascii: Option<bool>,
    /// The mouse scrolls and selects (`--mouse`).
    pub mouse: Option<bool>,
    /// Where Ctrl+E proposes to write the export.
    pub export_path: Option<String>,
}

/// The settings the console runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub api: String,
    pub token: Option<String>,
    pub refresh: Duration,
    pub fps: u32,
    pub theme: String,
    pub keymap: Option<PathBuf>,
    pub read_only: bool,
    pub ascii: bool,
    pub mouse: bool,
    pub export_path: String,
}

/// A setting is unusable; names the setting (and the file) and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

const MIN_REFRESH: Duration = Duration::from_millis(100);
const MAX_REFRESH: Duration = Duration::from_secs(3600);

/// Flags (and env) over the file over defaults.
pub fn resolve(args: &TuiArgs, file: &ConsoleFile) -> Result<ConsoleConfig, ConfigError> {
    let refresh = match args.refresh.as_ref().map(|r| ("--refresh", r)) {
        Some(flag) => Some(flag),
        None => file.refresh.as_ref().map(|r| ("refresh", r)),
    };
    let refresh = match refresh {
        Some((origin, text)) => parse_refresh(origin, text)?,
        None => Duration::from_secs(1),
    };
    let fps = args.fps.or(file.fps).unwrap_or(10);
    if !(1..=60).contains(&fps) {
        return Err(ConfigError {
            origin: "fps".into(),
            message: format!("{fps} is out of range: use 1 to 60"),
        });
    }
    Ok(ConsoleConfig {
        api: pick(&args.api, &file.api).unwrap_or_else(|| DEFAULT_API.to_string()),
        token: pick(&args.token, &file.token),
        refresh,
        fps,
        theme: pick(&args.theme, &file.theme).unwrap_or_else(|| "dark".to_string()),
        keymap: args.keymap.clone().or_else(|| file.keymap.clone()),
        read_only: args.read_only || file.read_only.unwrap_or(false),
        ascii: args.ascii || file.ascii.unwrap_or(false),
        mouse: args.mouse || file.mouse.unwrap_or(false),
        export_path: file
            .export_path
            .clone()
            .unwrap_or_else(|| "retryctl-config.toml".into()),
    })
}

fn pick(flag: &Option<String>, file: &Option<String>) -> Option<String> {
    flag.clone().or_else(|| file.clone())
}

/// `1s`, `500ms`, `2m`; a bare number means seconds.
fn parse_refresh(origin: &str, text: &str) -> Result<Duration, ConfigError> {
    let err = |message: String| ConfigError {
        origin: origin.to_string(),
        message,
    };
    let d = match text.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => crate::model::parse_duration(text).map_err(err)?,
    };
    if !(MIN_REFRESH..=MAX_REFRESH).contains(&d) {
        return Err(err(format!("`{text}` is out of range: use 100ms to 1h")));
    }
    Ok(d)
}

/// The default config file path (`$XDG_CONFIG_HOME/retryctl/console.toml`).
pub fn default_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "retryctl").map(|d| d.config_dir().join("console.toml"))
}

/// Where the console writes its log (`$XDG_STATE_HOME/retryctl/console.log`, else the cache
/// dir, else the temp dir): never the screen.
pub fn log_file() -> PathBuf {
    let dir = directories::ProjectDirs::from("", "", "retryctl").map(|d| {
        d.state_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| d.cache_dir().to_path_buf())
    });
    dir.unwrap_or_else(std::env::temp_dir).join("console.log")
}

/// Reads the config file named by the flags, or the default one if it exists, and resolves.
pub fn load(args: &TuiArgs) -> Result<ConsoleConfig, ConfigError> {
    let (path, required) = match &args.config {
        Some(p) => (Some(p.clone()), true),
        None => (default_file(), false),
    };
    let file = match path {
        Some(p) if required || p.exists() => read_file(&p)?,
        _ => ConsoleFile::default(),
    };
    resolve(args, &file)
}

fn read_file(path: &Path) -> Result<ConsoleFile, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        origin: origin.clone(),
        message: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| line_at(&text, s.start));
        ConfigError {
            origin: match line {
                Some(l) => format!("{origin} line {l}"),
                None => origin,
            },
            message: e.message().to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ConsoleFile {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn precedence_flags_over_file_over_defaults() {
        let flags = TuiArgs {
            api: Some("http://flag:1".into()),
            fps: Some(5),
            ..TuiArgs::default()
        };
        let f = file("api = \"http://file:1\"\ntheme = \"light\"\nrefresh = \"250ms\"\nfps = 30");
        // (flags, file) -> (api, theme, refresh ms, fps)
        let cases = [
            (
                TuiArgs::default(),
                ConsoleFile::default(),
                (DEFAULT_API, "dark", 1000, 10),
            ),
            (
                TuiArgs::default(),
                f.clone(),
                ("http://file:1", "light", 250, 30),
            ),
            (
                flags.clone(),
                ConsoleFile::default(),
                ("http://flag:1", "dark", 1000, 5),
            ),
            (flags, f, ("http://flag:1", "light", 250, 5)),
        ];
        for (args, file, (api, theme, refresh, fps)) in cases {
            let c = resolve(&args, &file).unwrap();
            assert_eq!(
                (
                    c.api.as_str(),
                    c.theme.as_str(),
                    c.refresh.as_millis(),
                    c.fps
                ),
                (api, theme, refresh, fps)
            );
        }
    }

    #[test]
    fn booleans_from_either_source_turn_on() {
        let on = resolve(&TuiArgs::default(), &file("read_only = true\nascii = true")).unwrap();
        assert!(on.read_only && on.ascii);
        let flag = TuiArgs {
            read_only: true,
            ..TuiArgs::default()
        };
        assert!(resolve(&flag, &ConsoleFile::default()).unwrap().read_only);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = resolve(
            &TuiArgs {
                fps: Some(0),
                ..TuiArgs::default()
            },
            &ConsoleFile::default(),
        );
        assert_eq!(e.unwrap_err().origin, "fps");
        let e = resolve(&TuiArgs::default(), &file("refresh = \"10ms\"")).unwrap_err();
        assert_eq!(e.origin, "refresh");
        let e = resolve(
            &TuiArgs {
                refresh: Some("soon".into()),
                ..TuiArgs::default()
            },
            &ConsoleFile::default(),
        );
        assert_eq!(e.unwrap_err().origin, "--refresh");
        assert_eq!(
            resolve(
                &TuiArgs {
                    refresh: Some("2".into()),
                    ..TuiArgs::default()
                },
                &ConsoleFile::default()
            )
            .unwrap()
            .refresh,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn unknown_file_keys_are_refused_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.toml");
        std::fs::write(&path, "api = \"http://x:1\"\nrefesh = \"1s\"\n").unwrap();
        let args = TuiArgs {
            config: Some(path),
            ..TuiArgs::default()
        };
        let e = load(&args).unwrap_err();
        assert!(
            e.origin.ends_with("line 2") && e.message.contains("refesh"),
            "{e}"
        );
    }
}
