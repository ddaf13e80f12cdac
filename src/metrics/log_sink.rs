//! The service's log sink: stderr, but a line that cannot be written (a full disk, a closed
//! pipe) is dropped and counted in `retryctl_log_write_errors_total`, never reported as an
//! error. `tracing-subscriber` reacts to a failed write by printing to stderr with
//! `eprintln!`, which panics when stderr itself is the thing failing; inside a request that
//! panic cost the request its answer. A sink that never fails keeps logging out of the
//! request's fate.

use prometheus_client::metrics::counter::Counter;
use std::io::{self, Write};
use std::sync::LazyLock;
use tracing_subscriber::fmt::MakeWriter;

/// Log lines dropped because the sink failed, process-wide (every service instance in the
/// process exports the same counter: they share stderr).
pub static LOG_WRITE_ERRORS: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Makes one [`Dropping`] writer per log line, over stderr (or another writer, in tests).
#[derive(Debug, Clone, Copy)]
pub struct LogSink<F = fn() -> io::Stderr> {
    open: F,
}

impl LogSink {
    /// The sink over the process's stderr.
    pub fn stderr() -> Self {
        Self { open: io::stderr }
    }
}

impl<F, W> LogSink<F>
where
    F: Fn() -> W,
    W: Write,
{
    /// A sink over whatever `open` returns for each line.
    pub fn over(open: F) -> Self {
        Self { open }
    }
}

impl<'a, F, W> MakeWriter<'a> for LogSink<F>
where
    F: Fn() -> W + 'a,
    W: Write,
{
    type Writer = Dropping<W>;

    fn make_writer(&'a self) -> Self::Writer {
        Dropping((self.open)())
    }
}

/// A writer that reports every write as done: what the inner writer refused is counted in
/// [`LOG_WRITE_ERRORS`] and dropped.
#[derive(Debug)]
pub struct Dropping<W>(W);

impl<W: Write> Write for Dropping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.write_all(buf).is_err() {
            LOG_WRITE_ERRORS.inc();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // A failed flush loses nothing more than the failed write already counted.
        let _ = self.0.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::StorageFull))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::StorageFull))
        }
    }

    #[test]
    fn a_failing_writer_is_counted_and_never_an_error() {
        let sink = LogSink::over(|| Full);
        let before = LOG_WRITE_ERRORS.get();
        let mut writer = sink.make_writer();
        writer.write_all(b"a line\n").unwrap();
        writer.flush().unwrap();
        // Other tests may log through the sink at the same time: at least ours was counted.
        assert!(LOG_WRITE_ERRORS.get() > before);
    }

    #[test]
    fn a_working_writer_gets_every_byte() {
        let sink = LogSink::over(Vec::new);
        let mut writer = sink.make_writer();
        writer.write_all(b"hello\n").unwrap();
        assert_eq!(writer.0, b"hello\n");
    }
}
