//! Colours by named, documented slots.
//!
//! Themes are TOML files in `themes/` (`dark` is the default). Each key is a slot below and each
//! value a colour name (`red`, `lightblue`, `darkgray`, `reset`, ...), `#rrggbb`, or an index
//! `0`–`255`. A file overrides only the slots it names; the rest come from `dark`. With
//! `NO_COLOR` set no colour is used at all: selection is reverse video, focus and critical
//! severity are bold, and severity also carries a symbol, so nothing relies on colour alone.

use crate::model::position::line_at;
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::str::FromStr;

/// Themes shipped in the binary, by name.
pub const BUILTIN: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
];

macro_rules! slots {
    ($($(#[doc = $doc:literal])+ $slot:ident,)+) => {
        /// A theme file: every slot optional, unknown keys refused.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ThemeFile {
            $($slot: Option<String>,)+
        }

        /// The resolved colours of every slot.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Palette {
            $($(#[doc = $doc])+ pub $slot: Color,)+
        }

        impl Palette {
            fn overlay(&mut self, file: &ThemeFile) -> Result<(), ThemeError> {
                $(if let Some(text) = &file.$slot {
                    self.$slot = parse_color(stringify!($slot), text)?;
                })+
                Ok(())
            }

            /// The slot names, in declaration order (documented in `themes/dark.toml`).
            pub const SLOTS: &'static [&'static str] = &[$(stringify!($slot)),+];
        }
    };
}

slots! {
    /// Ordinary text.
    text,
    /// Secondary text: labels, units, stale data.
    dim,
    /// Borders of unfocused panes.
    border,
    /// Border and title of the focused pane.
    focus,
    /// Pane titles and headings.
    title,
    /// Foreground of the selected row.
    selection_fg,
    /// Background of the selected row.
    selection_bg,
    /// Good news: connected, success, closed circuits.
    ok,
    /// Waiting and caution: backoff countdowns, reconnecting, warning alerts.
    warn,
    /// Failures: errors, critical alerts, open circuits, exhausted jobs.
    critical,
    /// Informational highlights: info alerts, method names, links.
    info,
    /// Spinners and the active tab.
    accent,
    /// Bars of charts and histograms.
    bar,
}

/// A theme could not be loaded; names the slot or the TOML problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("theme {origin}: {message}")]
pub struct ThemeError {
    pub origin: String,
    pub message: String,
}

/// The palette plus whether colour may be used at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub palette: Palette,
    /// `NO_COLOR`: emphasis by modifiers and symbols only.
    pub no_color: bool,
}

impl Theme {
    /// `name` is a built-in theme (`dark`, `light`, `high-contrast`, `ansi16`) or a file path.
    pub fn load(name: &str, no_color: bool) -> Result<Theme, ThemeError> {
        let mut palette = Palette::base()?;
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => palette.overlay(&parse_file(n, text)?)?,
            None => {
                let text = std::fs::read_to_string(name).map_err(|e| ThemeError {
                    origin: name.to_string(),
                    message: format!("{e} (built-in themes: dark, light, high-contrast, ansi16)"),
                })?;
                palette.overlay(&parse_file(name, &text)?)?;
            }
        }
        Ok(Theme { palette, no_color })
    }

    /// The default theme, honouring `no_color`.
    pub fn dark(no_color: bool) -> Theme {
        Theme {
            palette: Palette::base().expect("the shipped dark theme is tested to parse"),
            no_color,
        }
    }

    /// Style with `color` as foreground (none under `NO_COLOR`).
    pub fn fg(&self, color: Color) -> Style {
        if self.no_color {
            Style::new()
        } else {
            Style::new().fg(color)
        }
    }

    /// Ordinary text.
    pub fn text(&self) -> Style {
        self.fg(self.palette.text)
    }

    /// Secondary text.
    pub fn dim(&self) -> Style {
        if self.no_color {
            Style::new().add_modifier(Modifier::DIM)
        } else {
            Style::new().fg(self.palette.dim)
        }
    }

    /// The selected row: colours, or reverse video without them; bold either way.
    pub fn selected(&self) -> Style {
        let style = Style::new().add_modifier(Modifier::BOLD);
        if self.no_color {
            style.add_modifier(Modifier::REVERSED)
        } else {
            style
                .fg(self.palette.selection_fg)
                .bg(self.palette.selection_bg)
        }
    }

    /// Border of a pane, bold when focused.
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(self.palette.focus).add_modifier(Modifier::BOLD)
        } else {
            self.fg(self.palette.border)
        }
    }

    /// Headings.
    pub fn title(&self) -> Style {
        self.fg(self.palette.title).add_modifier(Modifier::BOLD)
    }

    pub fn ok(&self) -> Style {
        self.fg(self.palette.ok)
    }

    pub fn warn(&self) -> Style {
        self.fg(self.palette.warn)
    }

    /// Failures are bold too, so they stand out without colour.
    pub fn critical(&self) -> Style {
        self.fg(self.palette.critical).add_modifier(Modifier::BOLD)
    }

    pub fn info(&self) -> Style {
        self.fg(self.palette.info)
    }

    pub fn accent(&self) -> Style {
        self.fg(self.palette.accent)
    }

    pub fn bar(&self) -> Style {
        self.fg(self.palette.bar)
    }
}

impl Palette {
    /// The dark theme: every slot set, the base every other theme overlays.
    fn base() -> Result<Palette, ThemeError> {
        let mut p = Palette {
            text: Color::Reset,
            dim: Color::Reset,
            border: Color::Reset,
            focus: Color::Reset,
            title: Color::Reset,
            selection_fg: Color::Reset,
            selection_bg: Color::Reset,
            ok: Color::Reset,
            warn: Color::Reset,
            critical: Color::Reset,
            info: Color::Reset,
            accent: Color::Reset,
            bar: Color::Reset,
        };
        p.overlay(&parse_file("dark", BUILTIN[0].1)?)?;
        Ok(p)
    }
}

fn parse_file(origin: &str, text: &str) -> Result<ThemeFile, ThemeError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start));
        ThemeError {
            origin: origin.to_string(),
            message: match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            },
        }
    })
}

fn parse_color(slot: &str, text: &str) -> Result<Color, ThemeError> {
    Color::from_str(text.trim()).map_err(|_| ThemeError {
        origin: slot.to_string(),
        message: format!("`{text}` is not a colour (use a name like `red`, `#rrggbb`, or 0-255)"),
    })
}

/// True when the environment asks for no colour (`NO_COLOR` set and not empty).
pub fn no_color_from_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_theme_parses() {
        for (name, _) in BUILTIN {
            Theme::load(name, false).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn dark_sets_every_slot_and_documents_it() {
        let text = BUILTIN[0].1;
        let file: toml::Table = toml::from_str(text).unwrap();
        for slot in Palette::SLOTS {
            assert!(file.contains_key(*slot), "dark.toml misses slot {slot}");
            assert!(
                text.contains(&format!("# {slot}:")),
                "dark.toml does not document {slot}"
            );
        }
    }

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, "warn = \"#ff8800\"\n").unwrap();
        let theme = Theme::load(path.to_str().unwrap(), false).unwrap();
        let dark = Theme::dark(false);
        assert_eq!(theme.palette.warn, Color::Rgb(0xff, 0x88, 0x00));
        assert_eq!(theme.palette.critical, dark.palette.critical);
    }

    #[test]
    fn bad_slot_and_bad_colour_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "text = \"red\"\nwarning = \"red\"\n").unwrap();
        let e = Theme::load(path.to_str().unwrap(), false).unwrap_err();
        assert!(
            e.message.contains("line 2") && e.message.contains("warning"),
            "{e}"
        );
        std::fs::write(&path, "warn = \"blurple\"\n").unwrap();
        let e = Theme::load(path.to_str().unwrap(), false).unwrap_err();
        assert!(e.origin == "warn" && e.message.contains("blurple"), "{e}");
    }

    #[test]
    fn no_color_keeps_emphasis_by_modifiers() {
        let t = Theme::dark(true);
        assert_eq!(t.critical().fg, None);
        assert!(t.critical().add_modifier.contains(Modifier::BOLD));
        assert!(t.selected().add_modifier.contains(Modifier::REVERSED));
        assert!(t.border(true).add_modifier.contains(Modifier::BOLD));
    }

    /// The fuzz tests of theme files (README "Fuzzing").
    mod fuzz {
        use super::*;
        use crate::fuzz::{
            damage, edit, edited_toml, hostile_text, hostile_toml, nameable_keys, says_where,
        };
        use proptest::prelude::*;

        /// What [`Theme::load`] does with a file's text.
        fn load(text: &str) -> Result<Palette, ThemeError> {
            let mut palette = Palette::base()?;
            palette.overlay(&parse_file("mine.toml", text)?)?;
            Ok(palette)
        }

        proptest! {
            #![proptest_config(crate::fuzz::config(256))]

            #[test]
            fn fuzz_console_any_colour_is_a_colour_or_named(text in hostile_text()) {
                if let Err(e) = parse_color("warn", &text) {
                    prop_assert!(e.origin == "warn" && e.message.contains(&text), "{e}");
                }
            }

            #[test]
            fn fuzz_console_any_theme_text_loads_or_says_why(text in hostile_text()) {
                if let Err(e) = load(&text) {
                    prop_assert!(!e.message.trim().is_empty(), "{e}");
                }
            }

            #[test]
            fn fuzz_console_damaged_themes_say_why(
                which in any::<prop::sample::Index>(),
                damage in damage(),
            ) {
                let text = damage.apply(BUILTIN[which.index(BUILTIN.len())].1);
                if let Err(e) = load(&text) {
                    prop_assert!(!e.message.trim().is_empty(), "{e}");
                }
            }

            /// One slot replaced, removed or added: the refusal names the slot.
            #[test]
            fn fuzz_console_edited_themes_name_the_slot(
                which in any::<prop::sample::Index>(),
                (at, change) in edit(hostile_toml()),
            ) {
                let seed = BUILTIN[which.index(BUILTIN.len())].1;
                let Some((text, path)) = edited_toml(seed, &at, &change) else {
                    return Ok(());
                };
                if let Err(e) = load(&text) {
                    let keys = nameable_keys(&path, &change);
                    prop_assert!(says_where(&e.to_string(), &keys),
                        "edit {change:?} at {path:?}: {e}");
                }
            }
        }
    }
}
