//! Symbols for UTF-8 terminals and their ASCII stand-ins (`--ascii`, non-UTF-8 locales).

use ratatui::buffer::Buffer;
use ratatui::symbols::{bar, border};
use throbber_widgets_tui::symbols::throbber::{self, Set};

/// Every non-ASCII symbol the views draw.
#[derive(Debug, Clone)]
pub struct Glyphs {
    pub ascii: bool,
    pub border: border::Set<'static>,
    pub spinner: Set,
    pub bar_full: &'static str,
    pub bar_empty: &'static str,
    pub ok: &'static str,
    pub fail: &'static str,
    pub critical: &'static str,
    pub warning: &'static str,
    pub info: &'static str,
    pub arrow: &'static str,
    pub flag: &'static str,
    pub dot: &'static str,
    pub times: &'static str,
    pub up_down: &'static str,
    pub le: &'static str,
    /// Ends text that was shortened to fit.
    pub ellipsis: &'static str,
    /// The levels of a sparkline's bars.
    pub spark: bar::Set<'static>,
}

/// Sparkline levels in ASCII: low marks to `#`.
const ASCII_SPARK: bar::Set<'static> = bar::Set {
    full: "#",
    seven_eighths: "#",
    three_quarters: "=",
    five_eighths: "=",
    half: "-",
    three_eighths: "-",
    one_quarter: "_",
    one_eighth: "_",
    empty: " ",
};

const ASCII_BORDER: border::Set<'static> = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

impl Glyphs {
    pub fn unicode() -> Glyphs {
        Glyphs {
            ascii: false,
            border: border::ROUNDED,
            spinner: throbber::BRAILLE_SIX,
            bar_full: "█",
            bar_empty: "░",
            ok: "✓",
            fail: "✗",
            critical: "✖",
            warning: "▲",
            info: "●",
            arrow: "→",
            flag: "⚑",
            dot: "·",
            times: "×",
            up_down: "↑↓",
            le: "≤",
            ellipsis: "…",
            spark: bar::NINE_LEVELS,
        }
    }

    pub fn ascii() -> Glyphs {
        Glyphs {
            ascii: true,
            border: ASCII_BORDER,
            spinner: throbber::ASCII,
            bar_full: "#",
            bar_empty: ".",
            ok: "+",
            fail: "x",
            critical: "!!",
            warning: "!",
            info: "i",
            arrow: "->",
            flag: "*",
            dot: "|",
            times: "x",
            up_down: "up/dn",
            le: "<=",
            ellipsis: "~",
            spark: ASCII_SPARK,
        }
    }

    /// Replaces every non-ASCII cell left in `buf` (text from the service such as `≥`, the
    /// sanitiser's `…`) with a one-column ASCII stand-in, so `--ascii` prints ASCII only.
    pub fn ascii_only(&self, buf: &mut Buffer) {
        if !self.ascii {
            return;
        }
        for cell in &mut buf.content {
            if !cell.symbol().is_ascii() {
                cell.set_symbol(ascii_stand_in(cell.symbol()));
            }
        }
    }

    /// ASCII when asked for, or when the locale is not UTF-8.
    pub fn choose(ascii_flag: bool) -> Glyphs {
        if ascii_flag || !locale_is_utf8() {
            Glyphs::ascii()
        } else {
            Glyphs::unicode()
        }
    }

    /// A bar of `width` cells filled to `fraction` (0..=1).
    pub fn bar(&self, fraction: f64, width: usize) -> String {
        let full = ((fraction.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
        format!(
            "{}{}",
            self.bar_full.repeat(full),
            self.bar_empty.repeat(width - full)
        )
    }
}

/// The first of LC_ALL, LC_CTYPE, LANG that is set decides, as in C's setlocale.
pub fn locale_is_utf8() -> bool {
    let value = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase();
    value.contains("utf-8") || value.contains("utf8")
}

/// One ASCII column for a non-ASCII symbol: the nearest look-alike, else `?`.
fn ascii_stand_in(symbol: &str) -> &'static str {
    match symbol {
        "≥" | "→" | "›" | "»" => ">",
        "≤" | "←" | "‹" | "«" => "<",
        "…" | "≈" | "∼" => "~",
        "·" | "│" | "┃" => "|",
        "×" => "x",
        "±" => "+",
        "–" | "—" | "─" => "-",
        "‘" | "’" => "'",
        "“" | "”" => "\"",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_glyphs_are_ascii() {
        let g = Glyphs::ascii();
        let all = [
            g.bar_full,
            g.bar_empty,
            g.ok,
            g.fail,
            g.critical,
            g.warning,
            g.info,
        ];
        let more = [
            g.arrow,
            g.flag,
            g.dot,
            g.times,
            g.up_down,
            g.le,
            g.ellipsis,
            g.border.top_left,
        ];
        assert!(all.iter().chain(more.iter()).all(|s| s.is_ascii()));
        assert!(g.spinner.symbols.iter().all(|s| s.is_ascii()));
    }

    #[test]
    fn bars_fill_proportionally() {
        let g = Glyphs::ascii();
        assert_eq!(g.bar(0.5, 4), "##..");
        assert_eq!(g.bar(2.0, 3), "###");
        assert_eq!(g.bar(f64::NAN, 2).len(), 2);
    }
}
