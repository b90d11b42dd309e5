use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use modrace::kb::Kb;
use modrace::normalize::Normalizer;

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
            let (scan, build) = rayon::join(
                || modrace::scan::scan(&paths, &normalizer),
                || modrace::buildinfo::BuildInfo::read(&paths),
            );
            let scan = scan?;
            if !cli.quiet {
                for w in &scan.warnings {
                    eprintln!("{w}");
                }
            }
            let index = modrace::index::Index::build(&scan, &kb);
            let report = modrace::entries::compute(&index, &kb, &build);
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
