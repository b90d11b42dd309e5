use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use modrace::kb::Kb;
use modrace::normalize::Normalizer;
use modrace::sleep::{report::WhySleeps, SleepAnalysis, UnknownPolicy};

#[derive(Parser)]
#[command(
    name = "modrace",
    version,
    about = "Find module unload races in Linux kernel source trees"
)]
struct Cli {
    /// Knowledge base to use instead of the built-in one.
    #[arg(long, global = true, value_name = "FILE")]
    kb: Option<PathBuf>,
    /// Take a preprocessor symbol as defined (NAME or NAME=VALUE).
    #[arg(
        long = "define",
        short = 'D',
        global = true,
        value_name = "NAME[=VALUE]"
    )]
    defines: Vec<String>,
    /// Take a preprocessor symbol as undefined.
    #[arg(long = "undef", short = 'U', global = true, value_name = "NAME")]
    undefs: Vec<String>,
    /// Do not print warnings about skipped files.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum UnknownArg {
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
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
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
    /// Check rule 2 of the mail on every name-taking entry routine of module code.
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: modrace::report::Format,
        /// Write the report to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Report only these rules (comma-separated codes).
        #[arg(long, value_delimiter = ',', value_name = "CODES")]
        select: Vec<String>,
        /// Do not report these rules (comma-separated codes).
        #[arg(long, value_delimiter = ',', value_name = "CODES")]
        ignore: Vec<String>,
        /// Whether a call to a function the tree does not define may sleep.
        #[arg(long, value_enum, default_value = "no-sleep")]
        unknown: UnknownArg,
        /// Color the text output.
        #[arg(long, value_enum, default_value = "auto")]
        color: ColorChoice,
        /// Print a unified diff that fixes MR001, MR002 and MR003 findings (apply with
        /// `patch -p1` or `git apply` in the scanned directory) instead of the report.
        #[arg(long, conflicts_with = "fix")]
        diff: bool,
        /// Apply those fixes to the files in place.
        #[arg(long)]
        fix: bool,
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
    /// Print the facts modrace extracts from files, as JSON (for debugging the front end).
    Facts {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Include the statement tree of every function body (what `check` walks)
        #[arg(long)]
        bodies: bool,
    },
}

/// glibc grows each thread's heap by 128 kB at a time, with an `mprotect` call each time: a
/// `check` of a whole tree made 108,000 of them (the parser allocates and frees a tree per
/// file). Growing by 64 MB makes it a few dozen, for a few MB more of peak memory.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn grow_heaps_in_large_steps() {
    // SAFETY: mallopt only sets a tunable of the allocator; it is called before any thread
    // exists, and a refused value leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn grow_heaps_in_large_steps() {}

fn main() -> ExitCode {
    grow_heaps_in_large_steps();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
/// Pretty JSON and a newline.
fn json_line<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// Writes to standard output; a reader that went away (`modrace ... | head`) ends the output
/// quietly instead of panicking as `print!` does.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let kb_phase = modrace::timing::Phase::start("kb");
    let kb = match &cli.kb {
        Some(path) => Kb::load(path)?,
        None => Kb::builtin(),
    };
    let normalizer = Normalizer::new(&kb.data, &cli.defines, &cli.undefs);
    drop(kb_phase);
    match cli.command {
        Command::Stats {
            paths,
            format,
            bare,
        } => {
            let scan = if bare {
                modrace::scan::scan_bare(&paths)?
            } else {
                modrace::scan::scan(&paths, &normalizer)?
            };
            if !cli.quiet {
                for w in &scan.warnings {
                    eprintln!("{w}");
                }
            }
            let stats = modrace::stats::compute(&scan, 10);
            match format {
                Format::Text => write_stdout(&stats.to_text())?,
                Format::Json => write_stdout(&json_line(&stats)?)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Entries {
            paths,
            format,
            sites,
        } => {
            let (scan, build) = modrace::pipeline::scan_tree(&paths, &kb, &normalizer)?;
            if !cli.quiet {
                for w in &scan.warnings {
                    eprintln!("{w}");
                }
            }
            let index = modrace::index::Index::build(&scan, &kb);
            let mut report = modrace::entries::compute(&index, &kb, &build);
            modrace::bkl::analyse(&index, &kb, &report.entries).annotate(&mut report.entries);
            match (format, sites) {
                (Format::Text, false) => write_stdout(&report.to_text())?,
                (Format::Json, false) => write_stdout(&json_line(&report.entries)?)?,
                (Format::Text, true) => write_stdout(&report.sites_text())?,
                (Format::Json, true) => write_stdout(&json_line(&report.registrations)?)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            paths,
            format,
            output,
            select,
            ignore,
            unknown,
            color,
            diff,
            fix,
        } => {
            for code in select.iter().chain(&ignore) {
                if modrace::rules::rule(code).is_none() {
                    anyhow::bail!("no rule `{code}`; `modrace rules` lists them");
                }
            }
            let filter = modrace::check::RuleFilter { select, ignore };
            let outcome = modrace::pipeline::check_tree_with_fixes(
                &paths,
                &kb,
                &cli.defines,
                &cli.undefs,
                &filter,
                UnknownPolicy::from(unknown),
                diff || fix,
            )?;
            if !cli.quiet {
                for w in &outcome.warnings {
                    eprintln!("{w}");
                }
            }
            let report = outcome.report;
            if diff || fix {
                return write_fixes(&outcome.patches, &report, diff, output.as_deref());
            }
            use std::io::IsTerminal;
            let color = match color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => output.is_none() && std::io::stdout().is_terminal(),
            };
            let root = paths
                .first()
                .and_then(|p| std::fs::canonicalize(p).ok())
                .map(|p| {
                    if p.is_file() {
                        p.parent().map(|d| d.to_path_buf()).unwrap_or(p)
                    } else {
                        p
                    }
                });
            let _report = modrace::timing::Phase::start("report");
            let text = modrace::report::render_with(
                format,
                &report,
                &modrace::report::read_from_roots(&paths),
                &modrace::report::Options {
                    color,
                    src_root: root.as_deref(),
                },
            );
            match &output {
                Some(file) => std::fs::write(file, text)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?,
                None => write_stdout(&text)?,
            }
            Ok(if report.findings.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Rules => {
            let mut text = String::new();
            for r in modrace::rules::RULES {
                text.push_str(&format!(
                    "{}  {:<18} {:<8} {}\n",
                    r.code,
                    r.name,
                    r.severity.as_str(),
                    r.summary
                ));
            }
            write_stdout(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { code } => {
            let Some(r) = modrace::rules::rule(&code) else {
                anyhow::bail!("no rule `{code}`; `modrace rules` lists them");
            };
            write_stdout(&format!(
                "{} {} ({})\n\n{}\n\nWrong:\n\n{}\n\nRight:\n\n{}\n",
                r.code,
                r.name,
                r.severity.as_str(),
                textwrap(r.explanation, 78),
                indent(r.wrong),
                indent(r.right)
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bkl { paths, format } => {
            let (scan, build) = modrace::pipeline::scan_tree(&paths, &kb, &normalizer)?;
            if !cli.quiet {
                for w in &scan.warnings {
                    eprintln!("{w}");
                }
            }
            let index = modrace::index::Index::build(&scan, &kb);
            let entries = modrace::entries::compute(&index, &kb, &build).entries;
            let report = modrace::bkl::analyse(&index, &kb, &entries);
            match format {
                Format::Text => write_stdout(&report.to_text())?,
                Format::Json => write_stdout(&json_line(&report)?)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::WhySleeps {
            function,
            tree,
            mask,
            unknown,
            file,
            format,
        } => {
            // Guards of calls by parameter tests are read off statement trees.
            let scan = modrace::scan::scan_bodies(
                std::slice::from_ref(&tree),
                &normalizer,
                &modrace::facts::BodyPolicy::All,
            )?;
            if !cli.quiet {
                for w in &scan.warnings {
                    eprintln!("{w}");
                }
            }
            let index = modrace::index::Index::build(&scan, &kb);
            let file = match &file {
                Some(p) => Some(
                    scan.files
                        .iter()
                        .position(|f| &f.path == p)
                        .ok_or_else(|| anyhow::anyhow!("no file {p} in {}", tree.display()))?,
                ),
                None => None,
            };
            let policy = UnknownPolicy::from(unknown);
            let analysis = SleepAnalysis::compute(&index, &kb, policy);
            // A primitive is what the knowledge base says, wherever the tree defines it.
            let definitions = if analysis.is_known_primitive(&function) {
                Vec::new()
            } else {
                analysis.definitions(&index, file, &function)
            };
            if definitions.is_empty() && !analysis.is_known_primitive(&function) {
                anyhow::bail!(
                    "{function}: no function or macro of that name in {} (nor in the knowledge base)",
                    tree.display()
                );
            }
            let verdict = analysis.function_verdict_in(&index, file, &function, mask.as_deref());
            let report = WhySleeps::new(&function, mask.as_deref(), verdict, definitions, policy);
            let text = match format {
                Format::Text => report.to_text(),
                Format::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
            };
            write_stdout(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Facts { paths, bodies } => {
            let policy = if bodies {
                modrace::facts::BodyPolicy::All
            } else {
                modrace::facts::BodyPolicy::None
            };
            let scan = modrace::scan::scan_bodies(&paths, &normalizer, &policy)?;
            for w in &scan.warnings {
                eprintln!("{w}");
            }
            write_stdout(&json_line(&scan.files)?)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `check --diff` prints the patches; `check --fix` applies them. Both say which findings
/// are left for a human, and why.
fn write_fixes(
    patches: &[modrace::check::FilePatch],
    report: &modrace::check::CheckReport,
    diff: bool,
    output: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut failed = false;
    if diff {
        let mut text = Vec::new();
        for p in patches {
            text.extend(modrace::fix::unified_diff(&p.file, &p.original, &p.patched));
        }
        match output {
            Some(file) => std::fs::write(file, &text)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?,
            None => std::io::stdout().write_all(&text)?,
        }
    } else {
        for p in patches {
            match modrace::check::apply_patch(p) {
                Ok(()) => {
                    let what: Vec<String> = p
                        .fixes
                        .iter()
                        .map(|(r, l)| format!("{r} line {l}"))
                        .collect();
                    eprintln!("fixed {}: {}", p.file, what.join(", "));
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    failed = true;
                }
            }
        }
    }
    let fixable = ["MR001", "MR002", "MR003"];
    for f in &report.findings {
        if fixable.contains(&f.rule) && f.help.starts_with("fix: manual") {
            eprintln!(
                "{}:{}: {} left for a human: {}",
                f.file, f.line, f.rule, f.help
            );
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Wraps prose at `width` columns.
fn textwrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

fn indent(code: &str) -> String {
    code.lines()
        .map(|l| format!("    {}", l.replace('\t', "    ")))
        .collect::<Vec<_>>()
        .join("\n")
}
