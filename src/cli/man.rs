//! `retryctl man`: manual pages generated from the CLI definition (clap_mangen), one for
//! `retryctl` and one per subcommand (`retryctl-serve.1`, …), so they can never disagree with
//! `--help`.

use anyhow::Context;
use clap::{Args, CommandFactory};
use std::path::{Path, PathBuf};

/// Options of `retryctl man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing), e.g. /usr/local/share/man/man1
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

/// Writes the pages into `--dir` and lists the files written on stdout.
pub fn man(args: &ManArgs) -> anyhow::Result<()> {
    let written = write_pages(&args.dir)?;
    let list: String = written
        .iter()
        .map(|path| format!("{}\n", path.display()))
        .collect();
    super::remote::print(&list)
}

/// Renders `retryctl.1` and a page per visible subcommand into `dir`; the paths written.
pub fn write_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the man page directory {}", dir.display()))?;
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    // Sets each subcommand's display name (`retryctl-serve`), which names its page.
    cmd.build();
    let mut written = Vec::new();
    write_tree(cmd, dir, &mut written)
        .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
    Ok(written)
}

/// The page of `cmd`, then those of its visible subcommands, depth first.
fn write_tree(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let subcommands: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    written.push(clap_mangen::Man::new(cmd).generate_to(dir)?);
    for sub in subcommands {
        write_tree(sub, dir, written)?;
    }
    Ok(())
}
