//! One finding's section: what is wrong, the path step by step, the annotated source, the fix.

use std::fmt::Write;

use super::source::{self, Note};
use super::{backticks, badge, esc, Page};
use crate::facts::Span;
use crate::fix::{unified_diff, FilePatch};
use crate::report::flow::{self, Step};
use crate::report::{find_word, Mark, Sources};
use crate::rules::{Finding, Role};

pub(super) fn section(out: &mut String, n: usize, f: &Finding, sources: &Sources, page: &Page) {
    let _ = writeln!(
        out,
        "<section class=\"finding\" id=\"f{n}\" data-rule=\"{}\">\n\
         <h2>{} {} <a href=\"#top\" title=\"back to the index\">#{n}</a></h2>",
        f.rule.as_str(),
        badge(f.rule, f.severity),
        esc(f.name),
    );
    let mut place = format!("{}:{}", esc(&f.file), f.line);
    if f.column > 0 {
        let _ = write!(place, ":{}", f.column);
    }
    if !f.function.is_empty() {
        let _ = write!(place, " · routine <code>{}</code>", esc(&f.function));
    }
    let _ = write!(place, " · slot <code>{}</code>", esc(&f.slot.to_string()));
    let _ = writeln!(out, "<p class=\"where\">{place}</p>");
    let _ = writeln!(out, "<p class=\"msg\">{}</p>", backticks(&f.message));
    if !f.help.is_empty() {
        let _ = writeln!(out, "<p class=\"help\">{}</p>", backticks(&f.help));
    }
    let steps = flow::steps(f);
    let notes = notes(f, &steps, n, sources);
    steps_list(out, &notes);
    source::windows(out, f, &notes, sources);
    if let Some(patch) = super::patch_of(f, page.patches) {
        fix(out, f, patch, page);
    }
    out.push_str("</section>\n");
}

/// The notes to put on the source: the finding's own line (unless a step is there already),
/// then the steps, numbered.
fn notes<'a>(f: &'a Finding, steps: &[Step<'a>], n: usize, sources: &Sources) -> Vec<Note<'a>> {
    let mut notes = Vec::with_capacity(steps.len() + 1);
    let primary_step = steps
        .iter()
        .any(|s| s.file == f.file && s.mark.line == f.line && s.nesting == 0);
    if !primary_step && f.line > 0 {
        notes.push(Note {
            id: format!("f{n}-0"),
            label: "!".to_string(),
            kind: "primary",
            file: &f.file,
            mark: Mark::primary(f),
            text: crate::report::one_line(&f.message),
            nesting: 0,
        });
    }
    // A step of the chain at a line some evidence names (MR004's chain is its evidence too)
    // is shown once, as the evidence.
    let shown = |s: &&Step| {
        s.role.is_some()
            || !steps
                .iter()
                .any(|e| e.role.is_some() && e.file == s.file && e.mark.line == s.mark.line)
    };
    for (i, s) in steps.iter().filter(shown).enumerate() {
        let kind = match s.role {
            None => "chain",
            Some(Role::Primary) => "primary",
            Some(_) => "step",
        };
        notes.push(Note {
            id: format!("f{n}-{}", i + 1),
            label: (i + 1).to_string(),
            kind,
            file: s.file,
            mark: call_mark(s, steps, sources),
            text: s.text.clone(),
            nesting: s.nesting,
        });
    }
    notes
}

/// A step of the chain knows its line, not its column: its mark is the call it makes, from
/// its callee to its closing parenthesis, when the line names the callee.
fn call_mark<'a>(s: &Step<'a>, steps: &[Step<'a>], sources: &Sources) -> Mark<'a> {
    let mut mark = s.mark;
    // Evidence at a step of the chain (the call that sleeps, MR004's calls without the lock)
    // marks that step's call, not the statement's start.
    let at_step = || {
        steps
            .iter()
            .find(|c| c.role.is_none() && c.file == s.file && c.mark.line == s.mark.line)
            .and_then(|c| c.call)
    };
    let Some(call) = s.call.or_else(at_step) else {
        return mark;
    };
    let callee = call.split('(').next().unwrap_or_default().trim();
    let text = sources.get(s.file);
    let Some((start, line)) = text.as_deref().and_then(|t| t.line(mark.line)) else {
        return mark;
    };
    let Some(at) = find_word(line, callee).filter(|_| !callee.is_empty()) else {
        return mark;
    };
    let open = at + callee.len() + line[at + callee.len()..].find('(').unwrap_or(0);
    let mut depth = 0usize;
    let end = line[open..]
        .char_indices()
        .find_map(|(i, c)| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => return None,
            }
            (depth == 0).then_some(open + i + 1)
        })
        .unwrap_or(line.trim_end().len());
    let offset = |i: usize| u32::try_from(start + i).unwrap_or(u32::MAX);
    mark.column = u32::try_from(at + 1).unwrap_or(0);
    mark.span = Some(Span {
        start: offset(at),
        end: offset(end),
        line: mark.line,
        column: mark.column,
    });
    mark
}

fn steps_list(out: &mut String, notes: &[Note]) {
    if notes.is_empty() {
        return;
    }
    out.push_str("<ol class=\"steps\">\n");
    for note in notes {
        let at = if note.mark.line > 0 {
            format!("{}:{}", esc(note.file), note.mark.line)
        } else {
            esc(note.file).into_owned()
        };
        let _ = writeln!(
            out,
            "<li style=\"margin-left:{}em\"><span class=\"bubble {}\">{}</span>\
             <a href=\"#{}\">{at}</a> {}</li>",
            note.nesting * 2,
            note.kind,
            esc(&note.label),
            note.id,
            backticks(&note.text),
        );
    }
    out.push_str("</ol>\n");
}

/// The part of the patch that changes the finding's routine (or its line), as a unified diff
/// with the tree's paths (as `patch -p1` takes it at the tree's root).
fn fix(out: &mut String, f: &Finding, patch: &FilePatch, page: &Page) {
    let routine = patch.routines.iter().find(|r| r.function == f.function);
    let diff = unified_diff(
        &(page.tree_path)(&patch.file),
        &patch.original,
        &patch.patched,
    );
    let diff = String::from_utf8_lossy(&diff);
    let mut kept = String::new();
    let mut keep = true;
    for line in diff.split_inclusive('\n') {
        if line.starts_with("@@ -") {
            // The hunks of the routine, or without one (a table's owner), the hunk at the line.
            let (first, last) = routine.map_or((f.line, f.line), |r| (r.first_line, r.last_line));
            keep = match hunk_old_lines(line) {
                Some((start, len)) => start <= last && start + len.max(1) > first,
                None => true,
            };
        }
        if keep || line.starts_with("--- ") || line.starts_with("+++ ") {
            kept.push_str(line);
        }
    }
    if !kept.contains("\n@@ ") {
        return;
    }
    out.push_str("<details class=\"fix\" open><summary>fix (<code>check --diff</code>)</summary>\n<pre class=\"diff\">");
    for line in kept.lines() {
        let class = match line.as_bytes().first() {
            _ if line.starts_with("--- ") || line.starts_with("+++ ") => "head",
            Some(b'@') => "hunk",
            Some(b'+') => "add",
            Some(b'-') => "del",
            _ => "ctx",
        };
        let _ = write!(out, "<span class=\"{class}\">{}</span>", esc(line));
    }
    out.push_str("</pre>\n</details>\n");
}

/// The first line and the length of a hunk's old side: `@@ -12,7 +12,9 @@`.
fn hunk_old_lines(header: &str) -> Option<(u32, u32)> {
    let old = header.strip_prefix("@@ -")?.split(' ').next()?;
    let (start, len) = old.split_once(',').unwrap_or((old, "1"));
    Some((start.parse().ok()?, len.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunk_headers_give_the_old_lines() {
        assert_eq!(hunk_old_lines("@@ -12,7 +12,9 @@ foo"), Some((12, 7)));
        assert_eq!(hunk_old_lines("@@ -3 +3,2 @@"), Some((3, 1)));
        assert_eq!(hunk_old_lines("@@ -x +3 @@"), None);
    }
}
