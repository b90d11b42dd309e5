//! `modrace history`: `check` on every release of a git directory, and each finding's birth,
//! death and lifespan.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::anyhow;

use modrace::kb::KernelVersion;
use modrace::rules::RuleFilter;
use modrace::session::{run_history, HistoryInput, Session};
use modrace::source::git::{select_tags, GitDir};

use super::check::codes;
use super::{write_stdout, UnknownArg};

/// `history`'s output formats: those of the other commands, and a page.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// One self-contained HTML page with SVG charts (findings per release by rule, a
    /// lifeline per finding); no script, nothing fetched.
    Html,
}

/// `history`'s options.
#[derive(clap::Args)]
pub struct Args {
    /// The git directory: a bare repository, or a work tree's `.git`.
    pub gitdir: PathBuf,
    /// The releases: A..B is every tag from A to B (both included) in release order
    /// (2.3.41 < 2.3.42pre1 < 2.3.42 < ... < 2.4.0-test1 < 2.4.0-test2pre1 < ... <
    /// 2.4.0-prerelease < 2.4.0).
    #[arg(required_unless_present = "tags", conflicts_with = "tags")]
    pub range: Option<String>,
    /// The releases as a list of tags, in the order given.
    #[arg(long, value_delimiter = ',', value_name = "T1,T2,...")]
    pub tags: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the output to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Follow only these rules: codes or names, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub select: Vec<String>,
    /// Do not follow these rules.
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub ignore: Vec<String>,
    /// Whether a call to a function the tree does not define may sleep.
    #[arg(long, value_enum, default_value = "no-sleep")]
    pub unknown: UnknownArg,
}

/// Runs `history`; `session_for` gives the session of a release whose Makefile says a
/// version.
pub fn run(
    args: &Args,
    session_for: &dyn Fn(Option<KernelVersion>) -> anyhow::Result<Session>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let filter = RuleFilter {
        select: codes(&args.select)?,
        ignore: codes(&args.ignore)?,
    };
    let git = GitDir::open(&args.gitdir)?;
    let all = git.tags()?;
    let tags = select_tags(&all, args.range.as_deref(), &args.tags)?;
    let input = HistoryInput {
        git: &git,
        tags: &tags,
        filter: &filter,
        unknown: args.unknown.into(),
    };
    let started = Instant::now();
    let n = tags.len();
    let progress = |at: usize, r: &modrace::rules::history::Release| {
        if !quiet {
            eprintln!(
                "[{}/{n}] {}: {} findings ({} born, {} died; {} of {} files parsed) {:.1} s",
                at + 1,
                modrace::diag::escape_terminal(&r.tag),
                r.findings,
                r.born,
                r.died,
                r.parsed,
                r.files,
                started.elapsed().as_secs_f64()
            );
        }
    };
    let history = run_history(&input, session_for, &progress)?;
    let text = match args.format {
        Format::Text => modrace::report::history::text(&history),
        Format::Json => modrace::report::history::json(&history),
        Format::Html => modrace::report::history_html::render(&history),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?,
        None => write_stdout(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
