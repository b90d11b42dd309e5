//! `check --diff --split DIR`: the fixes as a patch series ready to mail, one patch per file
//! (or per directory, or subsystem: `--split-by`) in `git format-patch` form: a subject that says what the patch does, a changelog naming
//! each finding it fixes and why it matters, a diffstat, the diff (with function headings),
//! numbered `0001-…patch`. `git am` takes them; the maintainer adds the sign-off.

use crate::fix::{unified_diff, FilePatch};
use crate::rules::{rule, CheckReport, Code, Finding};

/// One patch of the series: its file name and its bytes.
pub struct MailPatch {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// How the fixes are cut into patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    /// One patch per file.
    #[default]
    File,
    /// One patch per directory (`drivers/char`).
    Dir,
    /// One patch per subsystem: the first two directories of the path (`drivers/net`,
    /// `fs/ext2`, `net/ipv4`), or the one a shallower file is in (`kernel`).
    Subsystem,
}

impl Split {
    /// The name of the patch `file` goes into.
    fn group(self, file: &str) -> String {
        let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
        match self {
            Split::File => file.to_string(),
            Split::Dir => dir.to_string(),
            Split::Subsystem => dir.split('/').take(2).collect::<Vec<_>>().join("/"),
        }
    }
}

/// The series for `patches`, cut by `split` (groups in the order of their first file);
/// `from` is the `From:` header (the user's identity, or a placeholder the maintainer
/// replaces).
pub fn series(
    patches: &[FilePatch],
    report: &CheckReport,
    from: &str,
    split: Split,
) -> Vec<MailPatch> {
    let mut groups: Vec<(String, Vec<&FilePatch>)> = Vec::new();
    for p in patches {
        let key = split.group(&p.file);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(p),
            None => groups.push((key, vec![p])),
        }
    }
    let total = groups.len();
    groups
        .iter()
        .enumerate()
        .map(|(i, (key, files))| {
            let fixed: Vec<&Finding> = (report.findings.iter())
                .filter(|f| {
                    files
                        .iter()
                        .any(|p| f.file == p.file && p.fixes.contains(&(f.rule, f.line)))
                })
                .collect();
            let diffs: Vec<(&str, Vec<u8>)> = files
                .iter()
                .map(|p| {
                    (
                        p.file.as_str(),
                        unified_diff(&p.file, &p.original, &p.patched),
                    )
                })
                .collect();
            let mut out = Vec::new();
            out.extend(
                format!(
                    "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n\
                     From: {from}\nSubject: [PATCH {}/{total}] {}\n\n",
                    i + 1,
                    subject(key, &fixed)
                )
                .bytes(),
            );
            out.extend(changelog(&fixed).bytes());
            out.extend(b"---\n");
            out.extend(diffstat(&diffs).bytes());
            out.extend(b"\n");
            for (file, diff) in &diffs {
                out.extend(format!("diff --git a/{0} b/{0}\n", file).bytes());
                out.extend(diff);
            }
            out.extend(format!("-- \nmodrace {}\n\n", env!("CARGO_PKG_VERSION")).bytes());
            MailPatch {
                name: format!("{:04}-{}.patch", i + 1, slug(key)),
                bytes: out,
            }
        })
        .collect()
}

/// `drivers/char/foo.c: ...`, in the kernel's subject style: the file and what changes.
fn subject(file: &str, fixed: &[&Finding]) -> String {
    let prefix = file.strip_suffix(".c").unwrap_or(file);
    let mut what: Vec<String> = fixed.iter().map(|f| action(f)).collect();
    what.dedup();
    let first = what
        .first()
        .cloned()
        .unwrap_or_else(|| "fix module unload races".into());
    match what.len() {
        0 | 1 => format!("{prefix}: {first}"),
        n => format!("{prefix}: {first} (and {} more)", n - 1),
    }
}

fn action(f: &Finding) -> String {
    match f.rule {
        Code::Mr101 => format!("set the owner of {}", f.function),
        Code::Mr106 => format!("end the thread {} without returning into it", f.function),
        Code::Mr002 => format!("drop the use count on {}'s failure paths", f.function),
        _ => format!("raise the use count first in {}", f.function),
    }
}

/// Why: each finding's message, and the rule's explanation once per rule.
fn changelog(fixed: &[&Finding]) -> String {
    let mut text = String::new();
    let mut explained: Vec<Code> = Vec::new();
    for f in fixed {
        text.push_str(&wrap(
            &format!("{} (line {}): {}.", f.rule, f.line, f.message),
            72,
        ));
        if !explained.contains(&f.rule) {
            explained.push(f.rule);
            if let Some(r) = rule(f.rule.as_str()) {
                text.push('\n');
                text.push_str(&wrap(r.explanation, 72));
                text.push('\n');
            }
        }
    }
    let codes: Vec<&str> = explained.iter().map(|c| c.as_str()).collect();
    text.push_str(&format!("Found by modrace ({}).\n\n", codes.join(", ")));
    text
}

/// ` path | 3 ++-` per file and the summary line, as `git diff --stat` writes them.
fn diffstat(diffs: &[(&str, Vec<u8>)]) -> String {
    let mut out = String::new();
    let (mut all_plus, mut all_minus) = (0usize, 0usize);
    let width = diffs.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
    for (file, diff) in diffs {
        let (mut plus, mut minus) = (0usize, 0usize);
        for l in diff.split(|&b| b == b'\n') {
            if l.starts_with(b"+") && !l.starts_with(b"+++ ") {
                plus += 1;
            } else if l.starts_with(b"-") && !l.starts_with(b"--- ") {
                minus += 1;
            }
        }
        out.push_str(&format!(
            " {file:<width$} | {} {}{}\n",
            plus + minus,
            "+".repeat(plus.min(60)),
            "-".repeat(minus.min(60)),
        ));
        all_plus += plus;
        all_minus += minus;
    }
    let count = |n: usize, what: &str, sign: char| match n {
        0 => String::new(),
        1 => format!(", 1 {what}({sign})"),
        n => format!(", {n} {what}s({sign})"),
    };
    let files = match diffs.len() {
        1 => "1 file changed".to_string(),
        n => format!("{n} files changed"),
    };
    out.push_str(&format!(
        " {files}{}{}\n",
        count(all_plus, "insertion", '+'),
        count(all_minus, "deletion", '-'),
    ));
    out
}

/// A file name's slug for the patch's name: `drivers-char-foo.c`.
fn slug(file: &str) -> String {
    let s: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.chars().take(52).collect()
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::Split;

    #[test]
    fn files_group_by_file_directory_or_subsystem() {
        let f = "drivers/net/pcmcia/3c589_cs.c";
        assert_eq!(Split::File.group(f), f);
        assert_eq!(Split::Dir.group(f), "drivers/net/pcmcia");
        assert_eq!(Split::Subsystem.group(f), "drivers/net");
        assert_eq!(Split::Subsystem.group("kernel/module.c"), "kernel");
        assert_eq!(Split::Dir.group("top.c"), "");
    }
}
