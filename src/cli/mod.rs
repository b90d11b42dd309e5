//! One module per command, over one [`Session`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use modrace::diag::Warning;
use modrace::session::Session;
use modrace::sleep::UnknownPolicy;

mod bkl;
mod check;
mod entries;
mod era;
mod facts;
mod generate;
mod history;
mod kb;
mod memo;
mod progress;
mod relative;
mod rules;
mod scope;
mod stats;
mod why_sleeps;

/// The end of `modrace --help` and of the manual page.
const AFTER_HELP: &str = "\
Exit status:
  0  success; for check: no finding
  1  check found something (with --fix: findings remain after the fixes)
  2  error: a missing path, no C file under the paths, an unknown rule or option, an invalid
     knowledge base, a file --fix could not change

Environment:
  NO_COLOR          no colors in check's text output unless --color always
  CLICOLOR_FORCE    colors even when standard output is not a terminal (--color auto)
  MODRACE_TIMINGS   1: print each phase's time and memory on standard error (as --timings)";

#[derive(Parser)]
#[command(
    name = "modrace",
    version,
    about = "Find module unload races in Linux kernel source trees",
    after_long_help = AFTER_HELP
)]
pub struct Cli {
    /// Knowledge base merged over the built-in one: its entries are added, or replace the
    /// built-in entries of the same name (`modrace kb --print` shows the built-in one).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with = "kb_replace"
    )]
    pub kb: Option<PathBuf>,
    /// The kernel era whose knowledge and rules to use (linux-2.4, linux-6), instead of the
    /// one the tree's top-level Makefile says.
    #[arg(long, global = true, value_name = "NAME")]
    pub era: Option<String>,
    /// Knowledge base to use instead of the built-in one, wholesale.
    #[arg(long, global = true, value_name = "FILE")]
    pub kb_replace: Option<PathBuf>,
    /// Take a preprocessor symbol as defined (NAME or NAME=VALUE).
    #[arg(
        long = "define",
        short = 'D',
        global = true,
        value_name = "NAME[=VALUE]"
    )]
    pub defines: Vec<String>,
    /// Take a preprocessor symbol as undefined.
    #[arg(long = "undef", short = 'U', global = true, value_name = "NAME")]
    pub undefs: Vec<String>,
    /// Do not print warnings about skipped files.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Keep the facts of each file, and whole results, in DIR between runs (default:
    /// $XDG_CACHE_HOME/modrace or ~/.cache/modrace; bounded to 4 GiB on disk, oldest entries first).
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Read and write no cache: parse every file.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Add wall times to the outputs (`stats.seconds` in JSON and SARIF, the `bkl` and
    /// `stats` texts) and print each phase's time and memory on standard error. Without it
    /// two runs on the same tree print the same bytes.
    #[arg(long, global = true)]
    pub timings: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum UnknownArg {
    Sleeps,
    NoSleep,
    Unknown,
}

impl From<UnknownArg> for UnknownPolicy {
    fn from(a: UnknownArg) -> Self {
        match a {
            UnknownArg::Sleeps => UnknownPolicy::Sleeps,
            UnknownArg::NoSleep => UnknownPolicy::NoSleep,
            UnknownArg::Unknown => UnknownPolicy::Report,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
pub enum Command {
    /// How well the front end parses a tree.
    Stats {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Parse the files as they are, without normalization (the baseline).
        #[arg(long)]
        bare: bool,
    },
    /// List every routine a module hands to the kernel, with its slot and how it got there.
    Entries {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// List the registration calls instead: how many routines each led to, or why none.
        #[arg(long)]
        sites: bool,
    },
    /// Check both rules of the mail: MR004 (rule 1: the core calls a name-taking slot
    /// without the big kernel lock) and MR001-MR003, MR005, MR006 (rule 2: a name-taking
    /// routine of module code must pin its module before anything that may sleep).
    ///
    /// Exit status: 0 no finding, 1 findings (with --fix: findings remaining after the
    /// fixes), 2 error (a bad path or option, no C file found, a file --fix could not
    /// change).
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        args: check::Args,
    },
    /// Check every release of a git directory (by tag, read from the object database: no
    /// checkout) and follow each finding across them: its birth, death and lifespan, and how
    /// it died (routine changed, function or file removed, no longer modular).
    History {
        #[command(flatten)]
        args: history::Args,
    },
    /// List the rules.
    Rules,
    /// Explain a rule: what is wrong, why it matters, a wrong and a right example.
    Explain {
        /// A rule code (MR001) or name (sleep-before-inc).
        code: String,
    },
    /// Whether the core holds the big kernel lock where it calls each slot (rule 1).
    Bkl {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Whether a function may sleep, and the call chain down to what sleeps.
    WhySleeps {
        /// A function, macro or primitive name.
        function: String,
        /// The kernel tree.
        #[arg(long, required = true)]
        tree: PathBuf,
        /// The GFP mask the function is given, for one whose sleeping depends on its mask.
        #[arg(long, value_name = "NAME")]
        mask: Option<String>,
        /// What a callee with no definition (or an unresolvable pointer) counts as.
        #[arg(long, value_enum, default_value = "no-sleep")]
        unknown: UnknownArg,
        /// Look the name up as this file (relative to the tree) sees it: its static functions.
        #[arg(long, value_name = "PATH")]
        file: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// The knowledge base: a summary, or the whole of it with --print.
    Kb {
        /// Print the knowledge base in use as TOML: the built-in one as shipped, or with
        /// --kb, the built-in one with the file merged over it.
        #[arg(long)]
        print: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page, or write every page (modrace.1, modrace-check.1, ...) into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print the facts modrace extracts from files, as JSON (for debugging the front end).
    Facts {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Include the statement tree of every function body (what `check` walks)
        #[arg(long)]
        bodies: bool,
    },
}

/// Runs the command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.timings {
        modrace::timing::enable();
    }
    progress::install(cli.quiet || cli.timings);
    let kb_options = era::KbOptions::from(&cli);
    let (defines, undefs, timings) = (cli.defines.clone(), cli.undefs.clone(), cli.timings);
    let cache_dir = (!cli.no_cache)
        .then(|| cli.cache_dir.clone())
        .map(|d| d.ok_or(()));
    // One command, one session, then the process ends: the session is leaked rather than
    // dropped, because freeing a tree's facts one allocation at a time costs a tenth of a
    // second that the operating system does at once (history makes and drops its own).
    let session = |roots: Vec<PathBuf>, cached: bool| -> anyhow::Result<&'static Session> {
        let (kb, era) = era::knowledge_base(&kb_options, &roots)?;
        let mut session = Session::new(roots, kb, &defines, &undefs);
        session.era = era;
        session.timings = timings;
        if cached {
            session.cache = memo::open_cache(cache_dir.clone(), cli.quiet)?;
        }
        Ok(&*Box::leak(Box::new(session)))
    };
    let quiet = cli.quiet;
    match cli.command {
        Command::Stats {
            paths,
            format,
            bare,
        } => {
            // The baseline parses everything and keeps nothing: no cache directory is made.
            stats::run(session(paths, !bare)?, format, bare, quiet)
        }
        Command::Entries {
            paths,
            format,
            sites,
        } => entries::run(session(paths, true)?, format, sites, quiet),
        Command::Check { paths, args } => {
            let scope = scope::of(paths, &args.only, args.partial, quiet);
            check::run(session(scope.roots, true)?, &args, &scope.only, quiet)
        }
        Command::History { args } => {
            let session_for = |version: Option<modrace::kb::KernelVersion>| {
                let (kb, era) = era::knowledge_base_for(&kb_options, version)?;
                let mut session = Session::new(Vec::new(), kb, &defines, &undefs);
                session.era = era;
                session.timings = timings;
                session.cache = memo::open_cache(cache_dir.clone(), true)?;
                Ok(session)
            };
            history::run(&args, &session_for, quiet)
        }
        Command::Rules => rules::list(),
        Command::Explain { code } => rules::explain(&code),
        Command::Bkl { paths, format } => bkl::run(session(paths, true)?, format, quiet),
        Command::WhySleeps {
            function,
            tree,
            mask,
            unknown,
            file,
            format,
        } => why_sleeps::run(
            session(vec![tree], true)?,
            &function,
            mask.as_deref(),
            unknown.into(),
            file.as_deref(),
            format,
            quiet,
        ),
        Command::Facts { paths, bodies } => facts::run(session(paths, true)?, bodies),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man { dir } => generate::man(dir.as_deref()),
        Command::Kb { print } => {
            let (kb, _) = era::knowledge_base(&kb_options, &[])?;
            let base = era::builtin_text(&kb_options)?;
            let o = &kb_options;
            kb::run(&kb, base, o.kb.as_deref(), o.kb_replace.as_deref(), print)
        }
    }
}

/// Pretty JSON and a newline.
fn json_line<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    Ok(modrace::report::escape::json(
        serde_json::to_string_pretty(value)? + "\n",
    ))
}

/// Writes to standard output; a reader that went away (`modrace ... | head`) ends the output
/// quietly instead of panicking as `print!` does.
fn write_stdout(text: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    modrace::progress::finish();
    match std::io::stdout().lock().write_all(text) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The scan's warnings (skipped files), unless `-q`.
fn print_warnings(warnings: &[Warning], quiet: bool) {
    // The work is done: the progress line goes before anything else is printed.
    modrace::progress::finish();
    if !quiet {
        for line in modrace::diag::grouped_lines(warnings) {
            eprintln!("{line}");
        }
    }
}
