//! The `retryctl` binary: parse the command line, dispatch, turn errors into messages.

use clap::Parser;
use retryctl::cli::runbook::{self, bulk, controls, jobs, ml, pauses};
use retryctl::cli::{Cli, Command, demo, eval, man, remote, service, simulate};
use retryctl::metrics::log_sink::LogSink;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The console draws on the terminal and logs to a file instead (tui::run sets that up).
    match &cli.command {
        Command::Tui(_) => {}
        Command::Demo(args) if !args.headless => {}
        // The live summary and the report matter here; the service's start-up chatter not.
        Command::Demo(_) | Command::Simulate(_) => init_logging("warn"),
        _ => init_logging("info"),
    }
    // eval runs its own runtime when it talks to a service (--api), so it runs outside this one.
    let command = match cli.command {
        Command::Eval(args) => return exit_code(eval::eval(&args)),
        command => command,
    };
    if let Command::Serve(_) = command {
        service_heap::tune();
        retryctl::server::set_training_priority(background::lower_this_thread);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            say(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve(args) => service::serve(args).await,
            Command::Demo(args) => demo::demo(args).await,
            Command::Simulate(args) => simulate::simulate(args).await,
            Command::Tui(args) => Ok(retryctl::tui::run(args).await?),
            Command::Status(args) => remote::status(args).await,
            Command::Preview(args) => remote::preview(args).await,
            Command::Override(args) => remote::override_job(args).await,
            Command::Jobs(args) => jobs::jobs(args).await,
            Command::Job(args) => jobs::job(args).await,
            Command::Kill(args) => jobs::act(jobs::JobAction::Kill, args).await,
            Command::RetryNow(args) => jobs::act(jobs::JobAction::RetryNow, args).await,
            Command::Bulk(args) => bulk::bulk(args).await,
            Command::Pause(args) => pauses::pause(args).await,
            Command::Pauses(args) => pauses::pauses(args).await,
            Command::Resume(args) => pauses::resume(args).await,
            Command::Estop(args) => controls::estop(args).await,
            Command::Circuit(args) => controls::circuit(args).await,
            Command::Circuits(args) => controls::circuits(args).await,
            Command::Ml(args) => ml::ml(args).await,
            Command::Ack(args) => controls::ack(args).await,
            Command::Changes(args) => controls::changes(args).await,
            Command::Export(args) => remote::export(args).await,
            Command::Import(args) => remote::import(args).await,
            Command::Completions(args) => remote::completions(args),
            Command::Man(args) => man::man(&args),
            Command::Eval(_) => unreachable!("eval runs before the runtime starts"),
        }
    });
    exit_code(result)
}

fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("error: {}", error_text(&e)));
            if e.downcast_ref::<simulate::CheckFailed>().is_some() {
                ExitCode::from(simulate::CHECK_FAILED_EXIT)
            } else if runbook::is_refusal(&e) {
                ExitCode::from(runbook::REFUSED_EXIT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Writes a line to stderr; if stderr fails there is no one to tell, and `eprintln!` would panic.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The error and its causes joined by `: `, skipping a cause whose text the message already
/// carries (many of our errors name their cause in their own message).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain().map(|c| c.to_string()) {
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// Logs to stderr; `RETRYCTL_LOG` takes a filter like `info` or `retryctl=debug`. A line stderr
/// refuses (full disk, closed pipe) is dropped and counted, never an error (see `LogSink`).
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RETRYCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogSink::stderr())
        // Its report of a failed write is an `eprintln!`, which panics when stderr fails.
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// glibc's allocator as the service uses it. The console keeps the defaults (its memory is
/// measured small with them); the service holds large tables whose snapshots and restores
/// make short-lived peaks, and those peaks would stay resident in malloc's free lists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod service_heap {
    /// Most malloc arenas the service uses. glibc gives each thread that meets a locked arena
    /// one of its own, up to 8 per core; every arena keeps the pages its freed blocks sit
    /// among, so the service's resident memory grew by tens of MB per arena while the heap in
    /// use stayed flat. Two arenas keep it near one arena's (105 vs 99 MiB after 10⁶ attempts;
    /// 4 arenas: 152 MiB) without one arena's cost: on an idle machine one arena served
    /// `POST /failures` on the memory store about 20 % slower (7,925–8,895/s against
    /// 10,455–10,827/s with two; README "Start-up after `kill -9`, and memory").
    const ARENAS: libc::c_int = 2;

    /// Blocks at least this large come straight from `mmap` and go back to the system when
    /// freed. glibc's default threshold starts at 128 KiB and rises to the size of every large
    /// block freed (up to 32 MiB), so after the first snapshot its copies and encodings of
    /// several MB come from the arenas, and their pages stay resident among live blocks: with
    /// the default the service held 81–104 MiB after 2·10⁶ attempts, with 4 MiB fixed 77–80 MiB
    /// in three runs (README "Start-up after `kill -9`, and memory").
    const MMAP_THRESHOLD: libc::c_int = 4 << 20;

    /// Gives the pages of freed heap chunks back to the system, in every arena.
    fn release() {
        // SAFETY: malloc_trim takes no pointer and may be called from any thread at any time.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// Whether the operator chose the number of arenas (`MALLOC_ARENA_MAX`, or
    /// `glibc.malloc.arena_max` in `GLIBC_TUNABLES`): glibc has applied it, and it wins.
    fn arenas_chosen_by_environment() -> bool {
        std::env::var_os("MALLOC_ARENA_MAX").is_some()
            || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.arena_max"))
    }

    /// Whether the operator chose the mmap threshold (`MALLOC_MMAP_THRESHOLD_`, or
    /// `glibc.malloc.mmap_threshold` in `GLIBC_TUNABLES`): glibc has applied it, and it wins.
    fn mmap_threshold_chosen_by_environment() -> bool {
        std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
            || std::env::var("GLIBC_TUNABLES")
                .is_ok_and(|t| t.contains("glibc.malloc.mmap_threshold"))
    }

    /// Called before the runtime starts its threads.
    pub fn tune() {
        if !arenas_chosen_by_environment() {
            // SAFETY: mallopt takes no pointer; called before any other thread exists.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, ARENAS);
            }
        }
        if !mmap_threshold_chosen_by_environment() {
            // SAFETY: as above.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            }
        }
        retryctl::server::set_memory_release(release);
    }
}

/// The priority of the service's background work (ML training).
mod background {
    /// The nice value a training thread takes: with the request handlers at 0, the scheduler
    /// gives it about a tenth of a core they want, so serving stays quick during a training,
    /// which still uses whatever CPU is idle.
    #[cfg(target_os = "linux")]
    const TRAINING_NICE: libc::c_int = 10;

    /// Lowers the calling thread's priority to [`TRAINING_NICE`].
    #[cfg(target_os = "linux")]
    pub fn lower_this_thread() {
        // On Linux the nice value is per thread: PRIO_PROCESS with who = 0 is the caller.
        // SAFETY: setpriority takes no pointer. A failure leaves the priority as it was.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, 0, TRAINING_NICE);
        }
    }

    /// Elsewhere the nice value is per process; the training keeps the service's priority.
    #[cfg(not(target_os = "linux"))]
    pub fn lower_this_thread() {}
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod service_heap {
    /// Other allocators have neither `mallopt` nor `malloc_trim`; nothing to tune.
    pub fn tune() {}
}
