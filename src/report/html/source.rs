//! The source of a finding with its steps marked: per file the finding names, the lines
//! around each step, and in the finding's own file the whole routine when its extent can be
//! read off kernel style (the name at the start of a line above, a `}` at the start of a line
//! below, at most [`MAX_ROUTINE`] lines apart).

use std::fmt::Write;
use std::ops::Range;

use super::esc;
use crate::report::{find_word, Mark, SourceText, Sources};
use crate::rules::Finding;

/// Lines shown before and after a step outside the routine.
const CONTEXT: u32 = 3;
/// The longest routine looked for.
const MAX_ROUTINE: u32 = 250;
/// A longer routine shows its first two lines, its last, and windows around its steps.
const SHOW_WHOLE: u32 = 60;

/// A note on the source: a step of the path, or the finding's own location.
pub(super) struct Note<'a> {
    /// The anchor of the note's line.
    pub id: String,
    /// The step's number (`!` for the finding's location when no step is there).
    pub label: String,
    /// `primary`, `step` or `chain` (the bubble's class).
    pub kind: &'static str,
    pub file: &'a str,
    pub mark: Mark<'a>,
    pub text: String,
    pub nesting: usize,
}

pub(super) fn windows(out: &mut String, f: &Finding, notes: &[Note], sources: &Sources) {
    let mut files: Vec<&str> = vec![&f.file];
    for n in notes {
        if !files.contains(&n.file) {
            files.push(n.file);
        }
    }
    for file in files {
        let here: Vec<&Note> = notes
            .iter()
            .filter(|n| n.file == file && n.mark.line > 0)
            .collect();
        if here.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<div class=\"file\">{}</div>", esc(file));
        let Some(text) = sources.get(file) else {
            out.push_str("<p class=\"none\">The file cannot be read: no source.</p>\n");
            continue;
        };
        let routine = (file == f.file)
            .then(|| routine_extent(&text, &f.function, f.line))
            .flatten();
        let ranges = ranges(routine, &here, text.len());
        out.push_str("<table class=\"code\">\n");
        for (i, range) in ranges.iter().enumerate() {
            if i > 0 {
                out.push_str("<tr class=\"gap\"><td class=\"ln\">&#8942;</td><td></td></tr>\n");
            }
            for line in range.clone() {
                line_rows(out, &text, line, &here, sources);
            }
        }
        out.push_str("</table>\n");
    }
}

/// The lines to show: the routine, and a window around each note; merged where they touch.
fn ranges(routine: Option<Range<u32>>, notes: &[&Note], lines: u32) -> Vec<Range<u32>> {
    let mut all: Vec<Range<u32>> = Vec::new();
    if let Some(r) = routine {
        if r.end - r.start <= SHOW_WHOLE {
            all.push(r);
        } else {
            all.push(r.start..r.start + 2);
            all.push(r.end - 1..r.end);
        }
    }
    for n in notes {
        let line = n.mark.line.min(lines.max(1));
        all.push(line.saturating_sub(CONTEXT).max(1)..(line + CONTEXT + 1).min(lines + 1));
    }
    all.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<u32>> = Vec::new();
    for r in all.into_iter().filter(|r| r.start < r.end) {
        match merged.last_mut() {
            Some(last) if r.start <= last.end + 1 => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// One source line, its marks, and the notes on it.
fn line_rows(out: &mut String, text: &SourceText, line: u32, notes: &[&Note], sources: &Sources) {
    let Some((_, src)) = text.line(line) else {
        return;
    };
    let on: Vec<&&Note> = notes.iter().filter(|n| n.mark.line == line).collect();
    let mut marks: Vec<Range<usize>> = on
        .iter()
        .filter_map(|n| sources.locate(n.file, &n.mark))
        .map(|l| l.range)
        .filter(|r| r.end > r.start && r.end <= src.len())
        .collect();
    marks.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut html = String::with_capacity(src.len() + 32);
    let mut at = 0;
    for r in marks {
        if r.start < at {
            continue; // overlaps a mark already drawn
        }
        html.push_str(&esc(&src[at..r.start]));
        let _ = write!(html, "<mark>{}</mark>", esc(&src[r.clone()]));
        at = r.end;
    }
    html.push_str(&esc(&src[at..]));
    let primary = on.iter().any(|n| n.kind == "primary");
    let _ = writeln!(
        out,
        "<tr{}><td class=\"ln\">{line}</td><td class=\"src\">{html}</td></tr>",
        if primary { " class=\"primary\"" } else { "" }
    );
    for n in on {
        let _ = writeln!(
            out,
            "<tr class=\"note\" id=\"{}\"><td class=\"ln\"></td><td class=\"src\">\
             <span class=\"bubble {}\">{}</span>{}</td></tr>",
            n.id,
            n.kind,
            esc(&n.label),
            super::backticks(&n.text)
        );
    }
}

/// The lines of the routine `function` around `line`, in kernel style: its name at the start
/// of a line (the return type may stand on the line above), its body closed by a `}` at the
/// start of a line.
fn routine_extent(text: &SourceText, function: &str, line: u32) -> Option<Range<u32>> {
    if function.is_empty() || line == 0 {
        return None;
    }
    let lowest = line.saturating_sub(MAX_ROUTINE).max(1);
    let mut start = (lowest..=line).rev().find(|&l| {
        text.line(l).is_some_and(|(_, s)| {
            !s.starts_with(char::is_whitespace)
                && !s.trim_end().ends_with(';')
                && find_word(s, function).is_some()
        })
    })?;
    if let Some((_, above)) = start.checked_sub(1).and_then(|l| text.line(l)) {
        let t = above.trim_end();
        let type_line = !t.is_empty()
            && !above.starts_with(char::is_whitespace)
            && !t.ends_with([';', '}', '{', ')', '/', '\\', ','])
            && !t.starts_with(['#', '/', '*']);
        if type_line {
            start -= 1;
        }
    }
    let end = (line..=(start + MAX_ROUTINE).min(text.len()))
        .find(|&l| text.line(l).is_some_and(|(_, s)| s.starts_with('}')))?;
    Some(start..end + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> SourceText {
        SourceText::new(s.to_string())
    }

    #[test]
    fn the_routine_is_read_off_kernel_style() {
        let t = text(
            "static int x;\n\nstatic int\nfoo_open(int a)\n{\n\tint b;\n\tbar();\n}\n\nint y(void) {}\n",
        );
        assert_eq!(routine_extent(&t, "foo_open", 7), Some(3..9));
        // A prototype is not the definition.
        let t = text("int foo(int);\nint foo(int a)\n{\n\treturn a;\n}\n");
        assert_eq!(routine_extent(&t, "foo", 4), Some(2..6));
        assert_eq!(routine_extent(&t, "bar", 4), None);
        assert_eq!(routine_extent(&t, "", 4), None);
    }

    #[test]
    fn windows_merge_where_they_touch() {
        let note = |line| Note {
            id: String::new(),
            label: String::new(),
            kind: "step",
            file: "a.c",
            mark: Mark {
                line,
                ..Mark::default()
            },
            text: String::new(),
            nesting: 0,
        };
        let (a, b, c) = (note(5), note(12), note(40));
        let got = ranges(Some(4..10), &[&a, &b, &c], 42);
        assert_eq!(got, vec![2..16, 37..43]);
        // A long routine: its head, its end, and the windows.
        let got = ranges(Some(4..100), &[&a, &c], 142);
        assert_eq!(got, vec![2..9, 37..44, 99..100]);
        // A line past the end of the file stays inside it.
        let d = note(90);
        assert_eq!(ranges(None, &[&d], 10), vec![7..11]);
    }
}
