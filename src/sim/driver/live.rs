//! The live summary on stderr: one line rewritten in place on a terminal, a line every few
//! seconds otherwise (a log file or CI output stays readable).

use super::Shared;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Lines printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Prints the summary until aborted; does nothing when `enabled` is false.
pub(super) fn spawn(shared: Arc<Shared>, enabled: bool) -> JoinHandle<()> {
    tokio::spawn(async move {
        if !enabled {
            return;
        }
        let tty = std::io::stderr().is_terminal();
        let mut tick = tokio::time::interval(if tty {
            Duration::from_millis(500)
        } else {
            PLAIN_EVERY
        });
        tick.tick().await;
        loop {
            tick.tick().await;
            print(&shared, tty);
        }
    })
}

fn print(shared: &Shared, tty: bool) {
    let pending = shared.jobs.lock().len() as u64;
    let line = shared
        .tally
        .lock()
        .line(shared.t0.elapsed().as_secs_f64(), pending);
    let mut err = std::io::stderr().lock();
    let _ = if tty {
        // Clear the line, write, stay on it; the final report starts on a fresh line.
        write!(err, "\r\x1b[2K{line}")
    } else {
        writeln!(err, "{line}")
    };
    let _ = err.flush();
}

/// Ends the rewritten line so what follows starts on a fresh one.
pub(super) fn finish(enabled: bool) {
    if enabled && std::io::stderr().is_terminal() {
        eprintln!();
    }
}
