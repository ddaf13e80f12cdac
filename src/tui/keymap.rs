//! Key bindings: a table from key strings (`"ctrl+r"`) to [`Action`]s.
//!
//! Defaults live in the top-level `keymap.toml`, embedded in the binary. A user file has the same
//! shape and replaces the bindings of each action it names; everything else keeps its default.
//! Unknown actions, unparsable keys and a key bound to two actions stop start-up with an error
//! naming the file and line.

use super::action::Action;
use crate::model::position::line_at;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// The shipped default bindings.
pub const DEFAULT_KEYMAP: &str = include_str!("../../keymap.toml");

/// A key with the modifiers that matter (Ctrl, Alt); Shift is folded into the character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    /// The key a terminal event stands for, normalised the same way key strings are.
    pub fn from_event(ev: &KeyEvent) -> Key {
        Key::new(ev.code, ev.modifiers)
    }

    fn new(code: KeyCode, mods: KeyModifiers) -> Key {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        // Shift is already in the character ('G') or in the key (BackTab).
        if matches!(code, KeyCode::Char(_) | KeyCode::BackTab) {
            mods.remove(KeyModifiers::SHIFT);
        }
        Key { code, mods }
    }
}

impl TryFrom<&str> for Key {
    type Error = String;

    /// Parses `"q"`, `"G"`, `"?"`, `"ctrl+r"`, `"alt+x"`, `"shift+tab"`, `"space"`, `"f5"`, ...
    fn try_from(text: &str) -> Result<Key, String> {
        let (mods, name) = split_modifiers(text)?;
        let code = parse_code(name, mods).ok_or_else(|| format!("unknown key `{text}`"))?;
        if mods.contains(KeyModifiers::CONTROL) {
            reject_terminal_aliases(code, text)?;
        }
        let shifted = mods.contains(KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) if shifted => KeyCode::Char(c.to_ascii_uppercase()),
            KeyCode::Tab if shifted => KeyCode::BackTab,
            other => other,
        };
        Ok(Key::new(code, mods))
    }
}

fn split_modifiers(text: &str) -> Result<(KeyModifiers, &str), String> {
    let mut mods = KeyModifiers::NONE;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty key".into());
    }
    while let Some((head, tail)) = rest.split_once('+').filter(|(_, t)| !t.is_empty()) {
        mods |= match head.to_ascii_lowercase().as_str() {
            "ctrl" | "control" => KeyModifiers::CONTROL,
            "alt" | "meta" => KeyModifiers::ALT,
            "shift" => KeyModifiers::SHIFT,
            other => return Err(format!("unknown modifier `{other}` in `{text}`")),
        };
        rest = tail;
    }
    Ok((mods, rest))
}

fn parse_code(name: &str, mods: KeyModifiers) -> Option<KeyCode> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(KeyCode::Char(if mods.is_empty() {
            c
        } else {
            c.to_ascii_lowercase()
        }));
    }
    let lower = name.to_ascii_lowercase();
    if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
        return (1..=12).contains(&n).then_some(KeyCode::F(n));
    }
    Some(match lower.as_str() {
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "enter" | "return" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "space" => KeyCode::Char(' '),
        "backspace" => KeyCode::Backspace,
        "delete" | "del" => KeyCode::Delete,
        "insert" | "ins" => KeyCode::Insert,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pageup" | "pgup" => KeyCode::PageUp,
        "pagedown" | "pgdn" => KeyCode::PageDown,
        _ => return None,
    })
}

/// A terminal sends Ctrl+I as Tab, Ctrl+M as Enter, Ctrl+[ as Esc and Ctrl+H as Backspace:
/// binding them apart would silently never fire, so say so.
fn reject_terminal_aliases(code: KeyCode, text: &str) -> Result<(), String> {
    let same_as = match code {
        KeyCode::Char('i') => "tab",
        KeyCode::Char('m') | KeyCode::Char('j') => "enter",
        KeyCode::Char('[') => "esc",
        KeyCode::Char('h') => "backspace",
        _ => return Ok(()),
    };
    Err(format!(
        "`{text}` cannot be told apart from `{same_as}` in a terminal; bind `{same_as}` instead"
    ))
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl+")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt+")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift+")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => f.write_str(code_name(other)),
        }
    }
}

fn code_name(code: KeyCode) -> &'static str {
    match code {
        KeyCode::BackTab => "shift+tab",
        KeyCode::Tab => "tab",
        KeyCode::Enter => "enter",
        KeyCode::Esc => "esc",
        KeyCode::Backspace => "backspace",
        KeyCode::Delete => "delete",
        KeyCode::Insert => "insert",
        KeyCode::Up => "up",
        KeyCode::Down => "down",
        KeyCode::Left => "left",
        KeyCode::Right => "right",
        KeyCode::Home => "home",
        KeyCode::End => "end",
        KeyCode::PageUp => "pageup",
        KeyCode::PageDown => "pagedown",
        _ => "?",
    }
}

/// A keymap file could not be used; says which file, which line and what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct KeymapError {
    pub origin: String,
    pub line: Option<usize>,
    pub message: String,
}

/// The live bindings.
#[derive(Debug, Clone)]
pub struct Keymap {
    by_key: HashMap<Key, Action>,
    by_action: BTreeMap<Action, Vec<Key>>,
}

/// One parsed file: action → (line, keys with their lines).
type Parsed = BTreeMap<Action, Vec<(Key, usize)>>;

impl Keymap {
    /// The embedded defaults.
    pub fn defaults() -> Result<Keymap, KeymapError> {
        Keymap::build(parse_file("keymap.toml (built in)", DEFAULT_KEYMAP)?, None)
    }

    /// The defaults with `user` (the text of a file named `origin`) laid over them.
    pub fn with_user(origin: &str, user: &str) -> Result<Keymap, KeymapError> {
        let mut merged = parse_file("keymap.toml (built in)", DEFAULT_KEYMAP)?;
        let overrides = parse_file(origin, user)?;
        for (action, keys) in &overrides {
            merged.insert(*action, keys.clone());
        }
        Keymap::build(merged, Some((origin, &overrides)))
    }

    fn build(parsed: Parsed, user: Option<(&str, &Parsed)>) -> Result<Keymap, KeymapError> {
        let mut by_key: HashMap<Key, Action> = HashMap::new();
        let mut by_action: BTreeMap<Action, Vec<Key>> = BTreeMap::new();
        for (action, keys) in &parsed {
            for (key, line) in keys {
                if let Some(other) = by_key.insert(*key, *action) {
                    return Err(duplicate(*key, *action, other, *line, user));
                }
                by_action.entry(*action).or_default().push(*key);
            }
        }
        Ok(Keymap { by_key, by_action })
    }

    /// The action bound to a key press, if any.
    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        self.by_key.get(&Key::from_event(ev)).copied()
    }

    /// The keys bound to `action`, in file order.
    pub fn keys(&self, action: Action) -> &[Key] {
        self.by_action
            .get(&action)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The keys of `action` joined for display, e.g. `ctrl+o/o`; empty when unbound.
    pub fn label(&self, action: Action) -> String {
        let keys: Vec<String> = self.keys(action).iter().map(Key::to_string).collect();
        keys.join("/")
    }

    /// Actions with no key at all.
    pub fn unbound(&self) -> Vec<Action> {
        Action::ALL
            .into_iter()
            .filter(|a| self.keys(*a).is_empty())
            .collect()
    }
}

fn duplicate(
    key: Key,
    action: Action,
    other: Action,
    line: usize,
    user: Option<(&str, &Parsed)>,
) -> KeymapError {
    // Name the user's line when the clash involves the user's file.
    let (origin, line) = match user {
        Some((origin, u)) if u.contains_key(&action) => (origin.to_string(), line),
        Some((origin, u)) if u.contains_key(&other) => (origin.to_string(), line_of(u, other, key)),
        _ => ("keymap.toml (built in)".to_string(), line),
    };
    KeymapError {
        origin,
        line: Some(line),
        message: format!(
            "key `{key}` is bound to both `{}` and `{}`; remove one binding",
            other.name(),
            action.name()
        ),
    }
}

fn line_of(parsed: &Parsed, action: Action, key: Key) -> usize {
    parsed[&action]
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(0, |(_, l)| *l)
}

type RawFile = BTreeMap<String, toml::Spanned<Vec<toml::Spanned<String>>>>;

fn parse_file(origin: &str, text: &str) -> Result<Parsed, KeymapError> {
    let err = |span: Option<std::ops::Range<usize>>, message: String| KeymapError {
        origin: origin.to_string(),
        line: span.map(|s| line_at(text, s.start)),
        message,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| err(e.span(), e.message().to_string()))?;
    let mut parsed = Parsed::new();
    for (name, keys) in raw {
        let action = Action::from_name(&name)
            .ok_or_else(|| err(Some(keys.span()), format!("unknown action `{name}`")))?;
        let mut list = Vec::new();
        for key in keys.get_ref() {
            let parsed_key = Key::try_from(key.get_ref().as_str())
                .map_err(|m| err(Some(key.span()), format!("{name}: {m}")))?;
            list.push((parsed_key, line_at(text, key.span().start)));
        }
        parsed.insert(action, list);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::try_from(s).unwrap()
    }

    #[test]
    fn key_strings_parse_and_match_events() {
        let ev = KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(key("ctrl+r"), Key::from_event(&ev));
        assert_eq!(key("Ctrl+R"), Key::from_event(&ev));
        let shift_g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(key("G"), Key::from_event(&shift_g));
        assert_eq!(key("shift+g"), key("G"));
        let backtab = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(key("shift+tab"), Key::from_event(&backtab));
        assert_eq!(key("space").code, KeyCode::Char(' '));
        assert_eq!(key("+").code, KeyCode::Char('+'));
        assert_eq!(key("ctrl++").code, KeyCode::Char('+'));
        assert_eq!(key("f5").code, KeyCode::F(5));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "ctrl+r",
            "G",
            "?",
            "space",
            "shift+tab",
            "pageup",
            "f5",
            "alt+x",
            "enter",
        ] {
            assert_eq!(key(s).to_string(), s, "{s}");
            assert_eq!(key(&key(s).to_string()), key(s));
        }
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        assert!(Key::try_from("hyper+x").unwrap_err().contains("modifier"));
        assert!(Key::try_from("banana").unwrap_err().contains("unknown key"));
        assert!(Key::try_from("ctrl+i").unwrap_err().contains("tab"));
        assert!(Key::try_from("ctrl+m").unwrap_err().contains("enter"));
        assert!(Key::try_from("").is_err());
    }

    #[test]
    fn user_file_overrides_only_what_it_names() {
        let km = Keymap::with_user("mine.toml", "kill = [\"X\"]\n").unwrap();
        assert_eq!(km.label(Action::Kill), "X");
        assert_eq!(
            km.keys(Action::Quit),
            Keymap::defaults().unwrap().keys(Action::Quit)
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = Keymap::with_user("mine.toml", "\n\nfrobnicate = [\"z\"]\n").unwrap_err();
        assert_eq!((e.origin.as_str(), e.line), ("mine.toml", Some(3)));
        assert!(e.message.contains("unknown action `frobnicate`"), "{e}");
        let e = Keymap::with_user("mine.toml", "quit = [\"q\"]\nkill = [\"ctrl+\u{1}x\"]\n");
        assert_eq!(e.unwrap_err().line, Some(2));
        let e = Keymap::with_user("mine.toml", "quit = \n").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn shipped_keymap_binds_every_action_with_a_plain_key() {
        let km = Keymap::defaults().unwrap();
        assert!(km.unbound().is_empty(), "unbound: {:?}", km.unbound());
        for action in Action::ALL {
            let keys = km.keys(action);
            if keys.iter().any(|k| k.mods.contains(KeyModifiers::CONTROL)) {
                assert!(
                    keys.iter().any(|k| k.mods.is_empty()),
                    "{} has only ctrl bindings",
                    action.name()
                );
            }
        }
    }

    #[test]
    fn duplicates_are_refused() {
        let e = Keymap::with_user("mine.toml", "# mine\nkill = [\"q\"]\n").unwrap_err();
        assert_eq!((e.origin.as_str(), e.line), ("mine.toml", Some(2)));
        assert!(e.message.contains("`q`"), "{e}");
        let e = Keymap::with_user("m.toml", "kill = [\"x\", \"x\"]").unwrap_err();
        assert!(e.message.contains("`x`"), "{e}");
    }

    /// The fuzz tests of `keymap.toml` (README "Fuzzing").
    mod fuzz {
        use super::*;
        use crate::fuzz::{
            damage, edit, edited_toml, hostile_text, hostile_toml, nameable_keys, says_where,
        };
        use proptest::prelude::*;

        /// A refusal names the user's file and says what is wrong.
        fn explained(e: &KeymapError) -> Result<(), TestCaseError> {
            prop_assert_eq!(e.origin.as_str(), "mine.toml");
            prop_assert!(!e.message.trim().is_empty(), "{}", e);
            Ok(())
        }

        proptest! {
            #![proptest_config(crate::fuzz::config(256))]

            #[test]
            fn fuzz_console_any_key_text_is_a_key_or_named(text in hostile_text()) {
                if let Err(e) = Key::try_from(text.as_str()) {
                    prop_assert!(e == "empty key" || e.contains(text.trim()), "{text:?}: {e}");
                }
            }

            #[test]
            fn fuzz_console_any_keymap_text_loads_or_says_why(text in hostile_text()) {
                if let Err(e) = Keymap::with_user("mine.toml", &text) {
                    explained(&e)?;
                }
            }

            #[test]
            fn fuzz_console_damaged_keymaps_say_where(damage in damage()) {
                let text = damage.apply(DEFAULT_KEYMAP);
                if let Err(e) = Keymap::with_user("mine.toml", &text) {
                    explained(&e)?;
                    let lines = text.lines().count().max(1);
                    prop_assert!(e.line.is_none_or(|l| (1..=lines).contains(&l)), "{e}");
                }
            }

            /// One binding replaced, removed or added: the refusal names the action and line.
            #[test]
            fn fuzz_console_edited_keymaps_name_the_action((at, change) in edit(hostile_toml())) {
                let Some((text, path)) = edited_toml(DEFAULT_KEYMAP, &at, &change) else {
                    return Ok(());
                };
                if let Err(e) = Keymap::with_user("mine.toml", &text) {
                    explained(&e)?;
                    prop_assert!(e.line.is_some(), "{e}");
                    let keys = nameable_keys(&path, &change);
                    prop_assert!(says_where(&e.to_string(), &keys),
                        "edit {change:?} at {path:?}: {e}");
                }
            }
        }
    }
}
