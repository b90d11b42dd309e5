//! `check --diff --split DIR`: the fixes as a patch series ready to mail, one patch per file
//! in `git format-patch` form: a subject that says what the patch does, a changelog naming
//! each finding it fixes and why it matters, a diffstat, the diff (with function headings),
//! numbered `0001-…patch`. `git am` takes them; the maintainer adds the sign-off.

use crate::fix::{unified_diff, FilePatch};
use crate::rules::{rule, CheckReport, Code, Finding};

/// One patch of the series: its file name and its bytes.
pub struct MailPatch {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The series for `patches`, in their order; `from` is the `From:` header (the user's
/// identity, or a placeholder the maintainer replaces).
pub fn series(patches: &[FilePatch], report: &CheckReport, from: &str) -> Vec<MailPatch> {
    let total = patches.len();
    patches
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let fixed: Vec<&Finding> = (report.findings.iter())
                .filter(|f| f.file == p.file && p.fixes.contains(&(f.rule, f.line)))
                .collect();
            let diff = unified_diff(&p.file, &p.original, &p.patched);
            let mut out = Vec::new();
            out.extend(
                format!(
                    "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n\
                     From: {from}\nSubject: [PATCH {}/{total}] {}\n\n",
                    i + 1,
                    subject(&p.file, &fixed)
                )
                .bytes(),
            );
            out.extend(changelog(&fixed).bytes());
            out.extend(b"---\n");
            out.extend(diffstat(&p.file, &diff).bytes());
            out.extend(b"\n");
            out.extend(format!("diff --git a/{0} b/{0}\n", p.file).bytes());
            out.extend(&diff);
            out.extend(format!("-- \nmodrace {}\n\n", env!("CARGO_PKG_VERSION")).bytes());
            MailPatch {
                name: format!("{:04}-{}.patch", i + 1, slug(&p.file)),
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

/// ` path | 3 ++-` and the summary line, as `git diff --stat` writes them.
fn diffstat(file: &str, diff: &[u8]) -> String {
    let lines = diff.split(|&b| b == b'\n');
    let (mut plus, mut minus) = (0usize, 0usize);
    for l in lines {
        if l.starts_with(b"+") && !l.starts_with(b"+++ ") {
            plus += 1;
        } else if l.starts_with(b"-") && !l.starts_with(b"--- ") {
            minus += 1;
        }
    }
    let count = |n: usize, what: &str, sign: char| match n {
        0 => String::new(),
        1 => format!(", 1 {what}({sign})"),
        n => format!(", {n} {what}s({sign})"),
    };
    format!(
        " {file} | {} {}{}\n 1 file changed{}{}\n",
        plus + minus,
        "+".repeat(plus.min(60)),
        "-".repeat(minus.min(60)),
        count(plus, "insertion", '+'),
        count(minus, "deletion", '-'),
    )
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
