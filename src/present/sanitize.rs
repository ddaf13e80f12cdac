//! Untrusted text made harmless for a terminal.
//!
//! Job ids, error messages, tenant names and rationales come from workers we do not control.
//! Printed raw they could move the cursor, change the window title (OSC), hide text behind bidi
//! overrides or smuggle invisible characters into an export. [`sanitize`] is applied once where
//! API data enters the console (its snapshot of the service), by exports and on every line the
//! CLI verbs print, so every later use is safe.

/// Longest text (in characters) kept from one untrusted field; the rest becomes `…`.
pub const MAX_CHARS: usize = 256;

/// Sanitises `input` with the default cap [`MAX_CHARS`].
pub fn sanitize(input: &str) -> String {
    sanitize_capped(input, MAX_CHARS)
}

/// Sanitises `input`, keeping at most `max_chars` characters of output (then `…`).
///
/// - C0 controls and DEL become their Unicode control pictures (`ESC` → `␛`, `LF` → `␊`), so
///   the text stays on one line and an escape sequence is visible, not executed;
/// - C1 controls (U+0080–U+009F, e.g. the 8-bit CSI) become `<U+009B>`;
/// - bidi embeddings, overrides, isolates and marks, zero-width characters and the BOM are
///   removed; line/paragraph separators become spaces.
pub fn sanitize_capped(input: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(input.len().min(max_chars * 4));
    let mut kept = 0;
    for c in input.chars() {
        if kept >= max_chars {
            out.push('…');
            break;
        }
        match classify(c) {
            Class::Keep => out.push(c),
            Class::Drop => continue,
            Class::Replace(r) => out.push(r),
            Class::Escape => out.push_str(&format!("<U+{:04X}>", u32::from(c))),
        }
        kept += 1;
    }
    out
}

/// Sanitises each line of a text built for printing (CLI output), keeping the line breaks.
pub fn sanitize_multiline(input: &str) -> String {
    input
        .split('\n')
        .map(|line| sanitize_capped(line, 4 * MAX_CHARS))
        .collect::<Vec<_>>()
        .join("\n")
}

/// True when [`sanitize`] would return `input` unchanged.
pub fn is_clean(input: &str) -> bool {
    input.chars().count() <= MAX_CHARS && input.chars().all(|c| matches!(classify(c), Class::Keep))
}

enum Class {
    Keep,
    Drop,
    Replace(char),
    Escape,
}

fn classify(c: char) -> Class {
    match c {
        '\u{0}'..='\u{1f}' => Class::Replace(control_picture(c)),
        '\u{7f}' => Class::Replace('␡'),
        '\u{80}'..='\u{9f}' => Class::Escape,
        c if is_invisible(c) => Class::Drop,
        '\u{2028}' | '\u{2029}' => Class::Replace(' '),
        _ => Class::Keep,
    }
}

/// U+2400 + code is the "control picture" of each C0 control.
fn control_picture(c: char) -> char {
    char::from_u32(0x2400 + u32::from(c)).unwrap_or('?')
}

/// Bidi controls (which can reorder what an operator reads) and zero-width characters.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{061c}'                  // Arabic letter mark
        | '\u{200b}'..='\u{200f}'   // zero-width space/joiners, LRM, RLM
        | '\u{202a}'..='\u{202e}'   // LRE, RLE, PDF, LRO, RLO
        | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}'   // LRI, RLI, FSI, PDI
        | '\u{180e}'                // Mongolian vowel separator
        | '\u{feff}'                // BOM / zero-width no-break space
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(sanitize("\x1b[2Jboom"), "␛[2Jboom");
        assert_eq!(sanitize("a\x1b]0;pwned\x07b"), "a␛]0;pwned␇b");
        assert_eq!(sanitize("line1\nline2\r\t"), "line1␊line2␍␉");
        assert_eq!(sanitize("del\x7f"), "del␡");
    }

    #[test]
    fn c1_controls_are_spelled_out() {
        assert_eq!(sanitize("x\u{9b}31m"), "x<U+009B>31m");
    }

    #[test]
    fn bidi_and_zero_width_are_removed() {
        assert_eq!(sanitize("abc\u{202e}fed\u{202c}"), "abcfed");
        assert_eq!(sanitize("a\u{2066}b\u{2069}c\u{200b}d\u{feff}"), "abcd");
        assert_eq!(sanitize("x\u{2028}y"), "x y");
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let s = "payment-42 · timeout → 503 ünïcødé 日本";
        assert_eq!(sanitize(s), s);
        assert!(is_clean(s));
        assert!(!is_clean("\x1b"));
    }

    #[test]
    fn multiline_keeps_line_breaks_only() {
        assert_eq!(sanitize_multiline("a\x1b[1m\nb\r\n"), "a␛[1m\nb␍\n");
    }

    #[test]
    fn length_is_capped_in_characters() {
        let long = "é".repeat(MAX_CHARS + 10);
        let out = sanitize(&long);
        assert_eq!(out.chars().count(), MAX_CHARS + 1);
        assert!(out.ends_with('…'));
        assert_eq!(sanitize_capped("abcdef", 3), "abc…");
        assert_eq!(sanitize_capped("abc", 3), "abc");
    }
}
