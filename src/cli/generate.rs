//! `modrace completions SHELL` and `modrace man`: shell completions and manual pages,
//! generated from the command-line definition itself so they cannot drift from it.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use super::{write_stdout, Cli};

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "modrace", &mut out);
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The page of `modrace` on standard output, or every page (`modrace.1`, `modrace-check.1`,
/// ...) written into `dir`.
pub fn man(dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cmd = Cli::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir).map_err(|e| {
                anyhow::anyhow!("cannot write the pages into {}: {e}", dir.display())
            })?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            write_stdout(&out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
