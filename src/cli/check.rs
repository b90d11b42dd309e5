//! `modrace check`: both rules of the mail, as diagnostics, a patch, or fixes in place.

use modrace::report::mbox::Split;
use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;

use modrace::cache::Key;
use modrace::fix::{apply_patch, unified_diff, FilePatch};
use modrace::report::{self, Options};
use modrace::rules::{rule, Baseline, CheckReport, Code, Finding, RuleFilter, Triage};
use modrace::session::Session;

use modrace::sleep::UnknownPolicy;

use super::memo::{Memo, Stored};
use super::relative::Relative;
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
    /// Print a unified diff that fixes MR001, MR002, MR003, MR101, MR103 and MR106 findings (apply with
    /// `patch -p1` or `git apply` in the scanned directory) instead of the report. Exit
    /// status as without it: 1 when the tree has findings.
    #[arg(long, conflicts_with = "fix")]
    pub diff: bool,
    /// With --diff: write the fixes as a patch series to DIR, one patch per file in `git
    /// format-patch` form (subject, changelog, diffstat; `From:` from GIT_AUTHOR_NAME and
    /// GIT_AUTHOR_EMAIL), ready for `git am` or `git send-email`. DIR must be new or empty.
    #[arg(long, value_name = "DIR", requires = "diff")]
    pub split: Option<PathBuf>,
    /// With --split: one patch per file, per directory, or per subsystem (the first two
    /// directories of the path: drivers/net, fs/ext2).
    #[arg(long, value_enum, default_value_t = SplitArg::File, requires = "split")]
    pub split_by: SplitArg,
    /// Apply those fixes to the files in place. Exit status 1 while findings remain after
    /// the fixes, 2 when a file could not be changed.
    #[arg(long)]
    pub fix: bool,
    /// Report only the findings this baseline file does not list (keyed by rule, file,
    /// function and slot, not by line); a file that cannot be read is an error (exit 2).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the run's findings (those no comment suppresses) to FILE as a baseline.
    #[arg(long, value_name = "FILE", conflicts_with = "baseline")]
    pub write_baseline: Option<PathBuf>,
    /// List the findings `modrace: ignore` comments suppress, with their reasons (text and
    /// JSON).
    #[arg(long)]
    pub show_suppressed: bool,
    /// Report only findings under this directory (relative to the tree, or a path on disk
    /// inside it; repeat or separate with commas for several); the whole tree is analysed.
    #[arg(long, value_name = "DIR", value_delimiter = ',')]
    pub only: Vec<PathBuf>,
    /// Write the report's paths relative to DIR instead of the tree's root (every format; in
    /// SARIF a file outside DIR gets an absolute URI). Patches (--diff, --split) and baselines
    /// keep the tree's paths: patches apply at the tree's root, baseline keys must not depend
    /// on where the command ran.
    #[arg(long, value_name = "DIR")]
    pub relative_to: Option<PathBuf>,
    /// A PATH inside a kernel tree is analysed alone (what it calls outside it is unknown),
    /// instead of with the whole tree and reported under PATH.
    #[arg(long)]
    pub partial: bool,
}

/// `--baseline` and `--show-suppressed` as the session takes them, and the baseline file's
/// bytes (for the memo's key).
fn triage(args: &Args, only: &[String]) -> anyhow::Result<(Triage, Vec<u8>)> {
    let mut triage = Triage {
        baseline: None,
        show_suppressed: args.show_suppressed,
        only: only.to_vec(),
    };
    let Some(path) = &args.baseline else {
        return Ok((triage, Vec::new()));
    };
    let bytes =
        std::fs::read(path).map_err(|e| anyhow!("cannot read baseline {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let baseline =
        report::baseline::parse(&text).map_err(|e| anyhow!("baseline {}: {e}", path.display()))?;
    triage.baseline = Some(baseline);
    Ok((triage, bytes))
}

/// What `check` says on standard error besides the warnings: how many findings the baseline
/// hid.
fn notes(args: &Args, report: &CheckReport) -> Vec<String> {
    let shown = |p: &Path| modrace::diag::escape_terminal(&p.display().to_string()).into_owned();
    match (&args.baseline, report.stats.baseline_hidden) {
        (Some(path), Some(n)) => vec![format!(
            "baseline {}: {n} known finding{} not reported",
            shown(path),
            if n == 1 { "" } else { "s" }
        )],
        _ => Vec::new(),
    }
}

fn print_notes(notes: &[String], quiet: bool) {
    for n in notes.iter().filter(|_| !quiet) {
        eprintln!("{n}");
    }
}

fn write_baseline(path: &Path, report: &CheckReport) -> anyhow::Result<()> {
    let text = report::baseline::render(&Baseline::of(&report.findings));
    std::fs::write(path, text).map_err(|e| anyhow!("cannot write baseline {}: {e}", path.display()))
}

/// Rule codes or names from the command line; an unknown one is an error, not an empty
/// selection.
pub(super) fn codes(list: &[String]) -> anyhow::Result<Vec<Code>> {
    list.iter()
        .map(|c| {
            rule(c)
                .map(|r| r.code)
                .ok_or_else(|| anyhow!("no rule `{c}`; `modrace rules` lists them"))
        })
        .collect()
}

pub fn run(
    session: &Session,
    args: &Args,
    only: &[String],
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let filter = RuleFilter {
        select: codes(&args.select)?,
        ignore: codes(&args.ignore)?,
    };
    for (flag, file) in [
        ("--output", &args.output),
        ("--write-baseline", &args.write_baseline),
    ] {
        if let Some(file) = file.as_deref() {
            if modrace::source::is_input(file, &session.roots) {
                anyhow::bail!(
                    "{flag} {} is one of the files checked; not overwritten",
                    file.display()
                );
            }
        }
    }
    let (triage, baseline_bytes) = triage(args, only)?;
    let fixing = args.diff || args.fix;
    if fixing {
        return run_fixes(session, args, &filter, &triage, quiet);
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
    let sarif = args.format == report::Format::Sarif;
    let relative = (args.relative_to.as_deref())
        .map(|dir| Relative::new(dir, &session.roots, sarif))
        .transpose()?;
    // Everything besides the tree that the printed bytes depend on.
    let salt = format!(
        "check {:?} {filter:?} {:?} color={color} {root:?} show-suppressed={} baseline={:?} {:?} only={only:?} relative-to={:?}",
        args.format,
        UnknownPolicy::from(args.unknown),
        args.show_suppressed,
        args.baseline.as_ref().map(|_| Key::of(&baseline_bytes)),
        args.baseline,
        relative.as_ref().map(Relative::dir),
    );
    // Writing a baseline is a side effect a stored result would skip.
    let memo = match args.write_baseline {
        Some(_) => None,
        None => Memo::new(session, true, salt)?,
    };
    if let Some(stored) = memo.as_ref().and_then(Memo::get) {
        print_warnings(&stored.warnings, quiet);
        print_notes(&stored.notes, quiet);
        write_output(args.output.as_deref(), &stored.output)?;
        return Ok(stored.exit_code());
    }
    // SARIF carries the fixes with the results, the HTML report shows them.
    let with_fixes = sarif || args.format == report::Format::Html;
    let out = session.check_triaged(&filter, args.unknown.into(), with_fixes, &triage)?;
    print_warnings(&out.warnings, quiet);
    let outcome = out.value;
    let report = &outcome.report;
    let notes = notes(args, report);
    print_notes(&notes, quiet);
    if let Some(path) = &args.write_baseline {
        write_baseline(path, report)?;
    }
    let _report = modrace::timing::Phase::start("report");
    let rename = relative.as_ref().map(|r| |p: &str| r.rename(p));
    let text = report::render_with(
        args.format,
        report,
        &report::read_from_roots(&session.roots),
        &Options {
            color,
            src_root: relative.as_ref().map(Relative::dir).or(root.as_deref()),
            tree: root.as_deref(),
            patches: &outcome.patches,
            rename: rename.as_ref().map(|f| f as &dyn Fn(&str) -> String),
        },
    );
    write_output(args.output.as_deref(), text.as_bytes())?;
    let exit = u8::from(!report.findings.is_empty());
    if let Some(memo) = &memo {
        let stored = Stored {
            warnings: out.warnings,
            notes,
            output: text.into_bytes(),
            exit,
        };
        memo.put(out.inputs, &stored);
    }
    Ok(ExitCode::from(exit))
}

/// `check --diff` and `check --fix`: the patches, printed, written as a series or applied.
fn run_fixes(
    session: &Session,
    args: &Args,
    filter: &RuleFilter,
    triage: &Triage,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(dir) = args.relative_to.as_deref().filter(|_| !quiet) {
        eprintln!(
            "note: --relative-to {} does not move the patches' paths: they stay relative to \
             the tree's root, where `patch -p1` and `git am` apply them",
            modrace::diag::escape_terminal(&dir.display().to_string())
        );
    }
    let out = session.check_triaged(filter, args.unknown.into(), true, triage)?;
    print_warnings(&out.warnings, quiet);
    print_notes(&notes(args, &out.value.report), quiet);
    if let Some(path) = &args.write_baseline {
        write_baseline(path, &out.value.report)?;
    }
    let outcome = out.value;
    if let Some(dir) = &args.split {
        write_series(dir, &outcome.patches, &outcome.report, args.split_by.into())?;
        return Ok(exit_code(&outcome.report));
    }
    write_fixes(
        &outcome.patches,
        &outcome.report,
        args.diff,
        args.output.as_deref(),
        quiet,
    )
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

/// `--diff --split DIR`: the patch series (one patch per file, directory or subsystem), into
/// a new or empty DIR.
fn write_series(
    dir: &Path,
    patches: &[FilePatch],
    report: &CheckReport,
    split: Split,
) -> anyhow::Result<()> {
    let shown = || modrace::diag::escape_terminal(&dir.display().to_string()).into_owned();
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "--split {} is not empty; patches are not written over files",
            shown()
        );
    }
    std::fs::create_dir_all(dir).map_err(|e| anyhow!("cannot create {}: {e}", shown()))?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let from = match (env("GIT_AUTHOR_NAME"), env("GIT_AUTHOR_EMAIL")) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        _ => "Your Name <you@example.org>".to_string(),
    };
    for patch in report::mbox::series(patches, report, &from, split) {
        let path = dir.join(&patch.name);
        std::fs::write(&path, &patch.bytes)
            .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The status of a run that printed its fixes: 1 when the tree has findings.
fn exit_code(report: &CheckReport) -> ExitCode {
    if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SplitArg {
    File,
    Dir,
    Subsystem,
}

impl From<SplitArg> for Split {
    fn from(a: SplitArg) -> Self {
        match a {
            SplitArg::File => Split::File,
            SplitArg::Dir => Split::Dir,
            SplitArg::Subsystem => Split::Subsystem,
        }
    }
}
