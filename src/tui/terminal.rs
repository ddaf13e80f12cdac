//! Taking the terminal and giving it back: on quit, on SIGTERM, on a panic and around a Ctrl+Z
//! suspend. Giving it back is idempotent (the panic hook and the normal exit path may both run),
//! and always leaves the cursor visible, which ratatui's own restore does not.

use ratatui::DefaultTerminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::{cursor, event, execute, terminal};
use std::io::{self, Write};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// True while the console holds the terminal (raw mode, alternate screen).
static HELD: AtomicBool = AtomicBool::new(false);
/// Whether the console asks the terminal for mouse events while it holds it.
static MOUSE: AtomicBool = AtomicBool::new(false);

/// Raw mode and the alternate screen (and mouse reports with `mouse`); the first call also
/// installs the panic hook.
pub fn take(mouse: bool) -> io::Result<DefaultTerminal> {
    install_panic_hook();
    MOUSE.store(mouse, Ordering::SeqCst);
    hold()?;
    ratatui::Terminal::new(CrosstermBackend::new(io::stdout()))
}

/// Takes the terminal again after a suspend (the caller redraws everything).
pub fn hold() -> io::Result<()> {
    terminal::enable_raw_mode()?;
    HELD.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    let mut taken = execute!(out, terminal::EnterAlternateScreen);
    if taken.is_ok() && MOUSE.load(Ordering::SeqCst) {
        taken = execute!(out, event::EnableMouseCapture);
    }
    if let Err(e) = taken {
        let _ = give_back();
        return Err(e);
    }
    Ok(())
}

/// Asks the terminal to put `text` on the system clipboard (OSC 52). Terminals that do not
/// support it ignore the sequence; tmux passes it on with `set-clipboard on`.
pub fn copy(text: &str) -> io::Result<()> {
    use ratatui::crossterm::clipboard::CopyToClipboard;
    execute!(io::stdout(), CopyToClipboard::to_clipboard_from(text))
}

/// Back to the shell: raw mode off, main screen, cursor visible. Does nothing when the
/// terminal was already given back.
pub fn give_back() -> io::Result<()> {
    give_back_to(&mut io::stdout())
}

/// [`give_back`], writing the escape sequences to `out`.
pub fn give_back_to(out: &mut impl Write) -> io::Result<()> {
    if !HELD.swap(false, Ordering::SeqCst) {
        return Ok(());
    }
    let raw = terminal::disable_raw_mode();
    if MOUSE.load(Ordering::SeqCst) {
        let _ = execute!(out, event::DisableMouseCapture);
    }
    let screen = execute!(out, terminal::LeaveAlternateScreen, cursor::Show);
    raw.and(screen)
}

/// A panic prints its message on the shell's screen, not on the console's.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = give_back();
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn giving_back_leaves_the_alternate_screen_and_shows_the_cursor_once() {
        HELD.store(true, Ordering::SeqCst);
        let mut out = Vec::new();
        give_back_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\x1b[?1049l"),
            "alternate screen left: {text:?}"
        );
        assert!(text.contains("\x1b[?25h"), "cursor shown: {text:?}");
        let mut again = Vec::new();
        give_back_to(&mut again).unwrap();
        assert!(
            again.is_empty(),
            "a second call (panic hook, then exit) writes nothing"
        );
    }
}
