//! `modrace check`: both rules of the mail, as diagnostics, a patch, or fixes in place.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;

use modrace::fix::{apply_patch, unified_diff, FilePatch};
use modrace::report::{self, Options};
use modrace::rules::{rule, CheckReport, Code, Finding, RuleFilter};
use modrace::session::Session;

use modrace::sleep::UnknownPolicy;

use super::memo::{Memo, Stored};
use super::{print_warnings, write_stdout, ColorChoice, UnknownArg};

/// `check`'s options.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value = "text")]
    pub format: report::Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report only these rules: codes or names, comma-separated (`MR001,late-inc`); an
    /// unknown one is an error.
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub select: Vec<String>,
    /// Do not report these rules: codes or names, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub ignore: Vec<String>,
    /// Whether a call to a function the tree does not define may sleep.
    #[arg(long, value_enum, default_value = "no-sleep")]
    pub unknown: UnknownArg,
    /// Color the text output: auto colors a terminal unless NO_COLOR is set (CLICOLOR_FORCE
    /// colors any output).
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Print a unified diff that fixes MR001, MR002 and MR003 findings (apply with
    /// `patch -p1` or `git apply` in the scanned directory) instead of the report. Exit
    /// status as without it: 1 when the tree has findings.
    #[arg(long, conflicts_with = "fix")]
    pub diff: bool,
    /// Apply those fixes to the files in place. Exit status 1 while findings remain after
    /// the fixes, 2 when a file could not be changed.
    #[arg(long)]
    pub fix: bool,
}

/// Rule codes or names from the command line; an unknown one is an error, not an empty
/// selection.
fn codes(list: &[String]) -> anyhow::Result<Vec<Code>> {
    list.iter()
        .map(|c| {
            rule(c)
                .map(|r| r.code)
                .ok_or_else(|| anyhow!("no rule `{c}`; `modrace rules` lists them"))
        })
        .collect()
}

pub fn run(session: &Session, args: &Args, quiet: bool) -> anyhow::Result<ExitCode> {
    let filter = RuleFilter {
        select: codes(&args.select)?,
        ignore: codes(&args.ignore)?,
    };
    if let Some(output) = args.output.as_deref() {
        if modrace::source::is_input(output, &session.roots) {
            anyhow::bail!(
                "--output {} is one of the files checked; not overwritten",
                output.display()
            );
        }
    }
    let fixing = args.diff || args.fix;
    if fixing {
        let out = session.check(&filter, args.unknown.into(), true)?;
        print_warnings(&out.warnings, quiet);
        let outcome = out.value;
        return write_fixes(
            &outcome.patches,
            &outcome.report,
            args.diff,
            args.output.as_deref(),
            quiet,
        );
    }
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => auto_color(args.output.is_none() && std::io::stdout().is_terminal()),
    };
    let root = session
        .roots
        .first()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .map(|p| {
            if p.is_file() {
                p.parent().map(|d| d.to_path_buf()).unwrap_or(p)
            } else {
                p
            }
        });
    // Everything besides the tree that the printed bytes depend on.
    let salt = format!(
        "check {:?} {filter:?} {:?} color={color} {root:?}",
        args.format,
        UnknownPolicy::from(args.unknown)
    );
    let memo = Memo::new(session, true, salt)?;
    if let Some(stored) = memo.as_ref().and_then(Memo::get) {
        print_warnings(&stored.warnings, quiet);
        write_output(args.output.as_deref(), &stored.output)?;
        return Ok(stored.exit_code());
    }
    // SARIF carries the fixes with the results.
    let sarif = args.format == report::Format::Sarif;
    let out = session.check(&filter, args.unknown.into(), sarif)?;
    print_warnings(&out.warnings, quiet);
    let outcome = out.value;
    let report = &outcome.report;
    let _report = modrace::timing::Phase::start("report");
    let text = report::render_with(
        args.format,
        report,
        &report::read_from_roots(&session.roots),
        &Options {
            color,
            src_root: root.as_deref(),
            patches: &outcome.patches,
        },
    );
    write_output(args.output.as_deref(), text.as_bytes())?;
    let exit = u8::from(!report.findings.is_empty());
    if let Some(memo) = &memo {
        let stored = Stored {
            warnings: out.warnings,
            output: text.into_bytes(),
            exit,
        };
        memo.put(out.inputs, &stored);
    }
    Ok(ExitCode::from(exit))
}

/// `--color auto`: the conventions of no-color.org and bixense.com/clicolors. `NO_COLOR` (set
/// and not empty) turns colors off, and wins over `CLICOLOR_FORCE` (set and not `0`), which
/// turns them on where standard output is not a terminal; `--color always|never` wins over both.
fn auto_color(terminal: bool) -> bool {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return false;
    }
    terminal || set("CLICOLOR_FORCE").is_some_and(|v| v != "0")
}

fn write_output(output: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match output {
        Some(file) => {
            std::fs::write(file, bytes).map_err(|e| anyhow!("cannot write {}: {e}", file.display()))
        }
        None => write_stdout(bytes),
    }
}

/// `check --diff` prints the patches; `check --fix` applies them. Both say which findings
/// are left for a human, and why. The exit status is the state of the tree after the
/// command: `--diff` changes nothing, so 1 when there is any finding; `--fix` gives 1 while
/// findings remain (not fixable, fixable only by hand, in a file it could not change).
fn write_fixes(
    patches: &[FilePatch],
    report: &CheckReport,
    diff: bool,
    output: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    // File names and help come from the tree: escaped before they reach the terminal.
    let esc = |t: &str| modrace::diag::escape_terminal(t).into_owned();
    let mut failed = false;
    let mut fixed: HashSet<(&str, Code, u32)> = HashSet::new();
    if diff {
        let mut text = Vec::new();
        for p in patches {
            text.extend(unified_diff(&p.file, &p.original, &p.patched));
        }
        write_output(output, &text)?;
    } else {
        let mut refused = 0;
        for p in patches {
            let what: Vec<String> = p
                .fixes
                .iter()
                .map(|(r, l)| format!("{r} line {l}"))
                .collect();
            match apply_patch(p) {
                Ok(()) => {
                    eprintln!("fixed {}: {}", esc(&p.file), what.join(", "));
                    fixed.extend(p.fixes.iter().map(|&(r, l)| (p.file.as_str(), r, l)));
                }
                Err(e) => {
                    eprintln!("error: {}", esc(&format!("{e:#}")));
                    eprintln!("not fixed {}: {}", esc(&p.file), what.join(", "));
                    refused += 1;
                    failed = true;
                }
            }
        }
        eprintln!(
            "{} of {} files changed, {refused} refused (unchanged)",
            patches.len() - refused,
            patches.len()
        );
    }
    let manual: Vec<&Finding> = (report.findings.iter())
        .filter(|f| f.rule.is_fixable() && f.help.starts_with("fix: manual"))
        .collect();
    if quiet && !manual.is_empty() {
        eprintln!(
            "{} findings left for a human (without -q: each one and why)",
            manual.len()
        );
    }
    for f in manual.iter().filter(|_| !quiet) {
        eprintln!(
            "{}:{}: {} left for a human: {}",
            esc(&f.file),
            f.line,
            f.rule,
            esc(&f.help)
        );
    }
    let remaining = report
        .findings
        .iter()
        .filter(|f| !fixed.contains(&(f.file.as_str(), f.rule, f.line)))
        .count();
    if !diff {
        eprintln!(
            "{} of {} findings fixed, {remaining} remaining",
            report.findings.len() - remaining,
            report.findings.len()
        );
    }
    Ok(if failed {
        // A file `--fix` refused to change (the reason is printed above).
        ExitCode::from(2)
    } else if remaining > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
