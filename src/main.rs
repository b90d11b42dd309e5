use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use modrace::facts::BodyPolicy;
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
    },
}

fn main() -> ExitCode {
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
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let kb = match &cli.kb {
        Some(path) => Kb::load(path)?,
        None => Kb::builtin(),
    };
    let normalizer = Normalizer::new(&kb.data, &cli.defines, &cli.undefs);
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
                Format::Text => print!("{}", stats.to_text()),
                Format::Json => println!("{}", serde_json::to_string_pretty(&stats)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Entries {
            paths,
            format,
            sites,
        } => {
            // The build files are read while the sources are parsed.
            let bodies = BodyPolicy::mentioning(&modrace::check::body_words(&kb));
            let (scan, build) = rayon::join(
                || modrace::scan::scan_bodies(&paths, &normalizer, &bodies),
                || modrace::buildinfo::BuildInfo::read(&paths),
            );
            let scan = scan?;
            if !cli.quiet {
                for w in &scan.warnings {
                    eprintln!("{w}");
                }
            }
            let index = modrace::index::Index::build(&scan, &kb);
            let mut report = modrace::entries::compute(&index, &kb, &build);
            modrace::bkl::analyse(&index, &kb, &report.entries).annotate(&mut report.entries);
            match (format, sites) {
                (Format::Text, false) => print!("{}", report.to_text()),
                (Format::Json, false) => {
                    println!("{}", serde_json::to_string_pretty(&report.entries)?)
                }
                (Format::Text, true) => print!("{}", report.sites_text()),
                (Format::Json, true) => {
                    println!("{}", serde_json::to_string_pretty(&report.registrations)?)
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules => {
            for r in modrace::rules::RULES {
                println!(
                    "{}  {:<18} {:<8} {}",
                    r.code,
                    r.name,
                    r.severity.as_str(),
                    r.summary
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { code } => {
            let Some(r) = modrace::rules::rule(&code) else {
                anyhow::bail!("no rule `{code}`; `modrace rules` lists them");
            };
            println!("{} {} ({})\n", r.code, r.name, r.severity.as_str());
            println!("{}\n", textwrap(r.explanation, 78));
            println!("Wrong:\n\n{}\n", indent(r.wrong));
            println!("Right:\n\n{}", indent(r.right));
            Ok(ExitCode::SUCCESS)
        }
        Command::Bkl { paths, format } => {
            let bodies = BodyPolicy::mentioning(&modrace::check::body_words(&kb));
            let (scan, build) = rayon::join(
                || modrace::scan::scan_bodies(&paths, &normalizer, &bodies),
                || modrace::buildinfo::BuildInfo::read(&paths),
            );
            let scan = scan?;
            if !cli.quiet {
                for w in &scan.warnings {
                    eprintln!("{w}");
                }
            }
            let index = modrace::index::Index::build(&scan, &kb);
            let entries = modrace::entries::compute(&index, &kb, &build).entries;
            let report = modrace::bkl::analyse(&index, &kb, &entries);
            match format {
                Format::Text => print!("{}", report.to_text()),
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
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
            let scan = modrace::scan::scan(std::slice::from_ref(&tree), &normalizer)?;
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
        Command::Facts { paths } => {
            let scan = modrace::scan::scan(&paths, &normalizer)?;
            for w in &scan.warnings {
                eprintln!("{w}");
            }
            println!("{}", serde_json::to_string_pretty(&scan.files)?);
            Ok(ExitCode::SUCCESS)
        }
    }
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
