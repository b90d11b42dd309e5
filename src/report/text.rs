//! The text format: rustc/ruff-style diagnostics for people.
//!
//! ```text
//! error[MR001]: `foo_open` may sleep in `kmalloc(4096, GFP_KERNEL)` before MOD_INC_USE_COUNT at line 13
//!   --> drivers/char/foo.c:10:8
//!    |
//! 10 |         buf = kmalloc(4096, GFP_KERNEL);
//!    |               ^^^^^^^^^^^^^^^^^^^^^^^^^ `kmalloc(4096, GFP_KERNEL)` may sleep
//! ...
//! 13 |         MOD_INC_USE_COUNT;
//!    |         ------------------ the use count is raised only here
//!    |
//!    = note: `foo_open` is reached by name through `file_operations.open`
//!    = chain: foo_open (drivers/char/foo.c:10) -> kmalloc(4096, GFP_KERNEL)
//!    = help: move MOD_INC_USE_COUNT to the top of the routine and drop the count on every failure return
//!
//! 1 finding (MR001: 1)
//! ```
//!
//! The excerpt shows the primary line and the line of each piece of evidence, in line order,
//! with `...` for the gaps; tabs are expanded to multiples of 8 columns. Evidence in another
//! file gets its own `:::` section. A file that cannot be read loses its excerpt, not its
//! diagnostic: its locations are listed as notes instead.

use std::fmt::Write;

use super::{Located, Mark, Sources};
use crate::kb::EraChoice;
use crate::rules::CheckReport;
use crate::rules::{Finding, Severity};

/// Tab stops, as the kernel's coding style has them.
const TAB: usize = 8;

/// Which era's knowledge and rules ran, when a Makefile or `--era` chose it (a tree that
/// says nothing gets the default era without a word, as before eras existed).
fn era_line(report: &CheckReport) -> Option<String> {
    let era = report.era.as_ref()?;
    let how = match &era.chosen {
        EraChoice::Assumed => return None,
        EraChoice::Given => "as given".to_string(),
        EraChoice::Makefile { version } => format!("the tree's Makefile says {version}"),
    };
    Some(format!(
        "era: {} ({how}); {} rules",
        era.name,
        era.rules.as_str()
    ))
}

pub(crate) fn render(report: &CheckReport, sources: &Sources, color: bool) -> String {
    let paint = Paint { on: color };
    let mut out = String::new();
    for f in &report.findings {
        finding(&mut out, f, sources, paint);
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{}",
        paint.wrap(Style::Bold, &super::summary(&report.findings))
    );
    suppressed(&mut out, report, paint);
    if let Some(line) = era_line(report) {
        let _ = writeln!(out, "{line}");
    }
    if report.stats.incomplete > 0 {
        let n = report.stats.incomplete;
        let _ = writeln!(
            out,
            "{}: {n} routine{} hit the path analysis' bounds; {} findings are a lower bound",
            paint.wrap(Style::Bold, "note"),
            if n == 1 { "" } else { "s" },
            if n == 1 { "its" } else { "their" },
        );
    }
    out
}

/// `--show-suppressed`: one line per suppressed finding, with the comment's reason.
fn suppressed(out: &mut String, report: &CheckReport, paint: Paint) {
    let esc = |t: &str| super::escape::terminal(t).into_owned();
    for s in report.suppressed.iter().flatten() {
        let f = &s.finding;
        let _ = writeln!(
            out,
            "{}: {}:{}: {} [{}] in {}: {} (line {}: {})",
            paint.wrap(Style::Bold, "suppressed"),
            esc(&f.file),
            f.line,
            f.rule,
            f.name,
            esc(&f.function),
            esc(&f.message),
            s.suppressed_at,
            esc(&s.reason),
        );
    }
}

/// One underline (or caret) on a source line.
struct Annotation<'a> {
    mark: Mark<'a>,
    primary: bool,
    label: String,
}

fn finding(out: &mut String, f: &Finding, sources: &Sources, paint: Paint) {
    let sev = match f.severity {
        Severity::Error => Style::Error,
        Severity::Warning => Style::Warning,
    };
    let _ = writeln!(
        out,
        "{}{}",
        paint.wrap(sev, &format!("{}[{}]", f.severity.as_str(), f.rule)),
        paint.wrap(Style::Bold, &format!(": {}", super::one_line(&f.message)))
    );

    // The annotations, grouped by file, the finding's own file first.
    let (groups, mut notes) = annotation_groups(f);

    let width = groups
        .iter()
        .flat_map(|(_, anns)| anns.iter().map(|a| a.mark.line))
        .max()
        .unwrap_or(0)
        .max(1)
        .to_string()
        .len();
    let pad = " ".repeat(width);
    let gutter = paint.wrap(Style::Gutter, "|");
    for (i, (file, anns)) in groups.iter().enumerate() {
        // Resolve each annotation; the ones without a source line become notes.
        let mut located: Vec<(&Annotation, Located)> = Vec::new();
        let mut unlocated: Vec<&Annotation> = Vec::new();
        for a in anns {
            match sources.locate(file, &a.mark) {
                Some(l) => located.push((a, l)),
                None if a.primary && a.label.is_empty() => {}
                None => unlocated.push(a),
            }
        }
        unlocated.sort_by_key(|a| a.mark.line);
        notes.extend(
            unlocated
                .iter()
                .map(|a| format!("{file}:{}: {}", a.mark.line, a.label)),
        );
        located.sort_by_key(|(a, _)| (a.mark.line, !a.primary));
        let header = if i == 0 {
            let col = if f.column > 0 {
                format!(":{}", f.column)
            } else {
                String::new()
            };
            format!("--> {file}:{}{col}", f.line)
        } else if let Some((a, _)) = located.first() {
            format!("::: {file}:{}", a.mark.line)
        } else {
            continue;
        };
        let _ = writeln!(out, "{pad}{}", paint.wrap_prefix(Style::Gutter, &header));
        if located.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{pad} {gutter}");
        let source = sources.get(file);
        let mut previous: Option<u32> = None;
        let mut k = 0;
        while k < located.len() {
            let line = located[k].0.mark.line;
            let same: Vec<&(&Annotation, Located)> = located[k..]
                .iter()
                .take_while(|(a, _)| a.mark.line == line)
                .collect();
            k += same.len();
            if let Some(prev) = previous {
                let gap = line - prev;
                if gap == 2 {
                    // One line between: show it rather than an ellipsis.
                    if let Some((_, text)) = source.as_ref().and_then(|s| s.line(prev + 1)) {
                        source_line(out, paint, width, prev + 1, text);
                    }
                } else if gap > 2 {
                    let _ = writeln!(out, "{}", paint.wrap(Style::Gutter, "..."));
                }
            }
            previous = Some(line);
            source_line(out, paint, width, line, &same[0].1.line);
            annotations(out, paint, sev, &pad, &gutter, &same);
        }
    }

    footer(out, f, notes, &pad, &gutter, paint);
}

/// The finding's annotations grouped by file, its own file first, and the evidence that has no
/// line (notes).
fn annotation_groups(f: &Finding) -> (Vec<(&str, Vec<Annotation<'_>>)>, Vec<String>) {
    let primary_evidence = super::primary_evidence_index(f);
    let mut groups: Vec<(&str, Vec<Annotation>)> = vec![(
        &f.file,
        vec![Annotation {
            mark: Mark::primary(f),
            primary: true,
            label: primary_evidence
                .map(|i| super::one_line(&f.evidence[i].note))
                .unwrap_or_default(),
        }],
    )];
    let mut notes: Vec<String> = Vec::new();
    for (i, e) in f.evidence.iter().enumerate() {
        if Some(i) == primary_evidence {
            continue;
        }
        if e.line == 0 {
            notes.push(format!("{}: {}", e.file, super::one_line(&e.note)));
            continue;
        }
        let ann = Annotation {
            mark: Mark::evidence(e),
            primary: false,
            label: super::one_line(&e.note),
        };
        match groups.iter_mut().find(|(file, _)| *file == e.file) {
            Some((_, anns)) => anns.push(ann),
            None => groups.push((&e.file, vec![ann])),
        }
    }
    (groups, notes)
}

/// The `= note:`, `= chain:` and `= help:` lines under the excerpts.
fn footer(
    out: &mut String,
    f: &Finding,
    notes: Vec<String>,
    pad: &str,
    gutter: &str,
    paint: Paint,
) {
    let mut extra: Vec<(&str, String)> = Vec::new();
    let slot = f.slot.to_string();
    // The slot a use-count finding's routine is reached through; the later eras' findings
    // name their table or reference in the message.
    let reached = f.rule.family() == crate::kb::RuleFamily::UseCount;
    if reached && !f.function.is_empty() && !f.message.contains(slot.as_str()) {
        extra.push((
            "note",
            format!("`{}` is reached by name through `{}`", f.function, f.slot),
        ));
    }
    extra.extend(notes.into_iter().map(|n| ("note", n)));
    if !f.chain.is_empty() {
        extra.push(("chain", chain(f)));
    }
    if !f.help.is_empty() {
        extra.push(("help", super::one_line(&f.help)));
    }
    if !extra.is_empty() {
        let _ = writeln!(out, "{pad} {gutter}");
    }
    for (kind, text) in extra {
        let _ = writeln!(
            out,
            "{pad} {} {}: {text}",
            paint.wrap(Style::Gutter, "="),
            paint.wrap(Style::Bold, kind)
        );
    }
}

/// `a (file:line) -> b (file:line) -> kmalloc(GFP_KERNEL)`.
fn chain(f: &Finding) -> String {
    let mut parts: Vec<String> = f
        .chain
        .iter()
        .map(|s| format!("{} ({}:{})", s.function, s.file, s.line))
        .collect();
    if let Some(last) = f.chain.last() {
        parts.push(super::one_line(&last.call));
    }
    parts.join(" -> ")
}

fn source_line(out: &mut String, paint: Paint, width: usize, number: u32, text: &str) {
    let _ = writeln!(
        out,
        "{} {}",
        paint.wrap(Style::Gutter, &format!("{number:>width$} |")),
        expand(text).trim_end()
    );
}

/// The line as displayed: tabs expanded to the next multiple of 8, control characters as
/// spaces.
fn expand(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut col = 0;
    for c in text.chars() {
        if c == '\t' {
            let next = (col / TAB + 1) * TAB;
            out.extend(std::iter::repeat_n(' ', next - col));
            col = next;
        } else {
            out.push(if c.is_control() { ' ' } else { c });
            col += 1;
        }
    }
    out
}

/// The display column (0-based) of byte `byte` of `text`, tabs expanded.
fn display_column(text: &str, byte: usize) -> usize {
    text[..byte].chars().fold(0, |col, c| {
        if c == '\t' {
            (col / TAB + 1) * TAB
        } else {
            col + 1
        }
    })
}

/// The rows under one source line: the underlines with the rightmost label on the first row,
/// then the other labels hanging from `|` connectors, right to left.
fn annotations(
    out: &mut String,
    paint: Paint,
    sev: Style,
    pad: &str,
    gutter: &str,
    anns: &[&(&Annotation<'_>, Located)],
) {
    struct Ann<'a> {
        start: usize,
        end: usize,
        style: Style,
        mark: char,
        label: &'a str,
    }
    let mut list: Vec<Ann> = anns
        .iter()
        .map(|(a, l)| {
            let start = display_column(&l.line, l.range.start);
            let end = display_column(&l.line, l.range.end).max(start + 1);
            Ann {
                start,
                end,
                style: if a.primary { sev } else { Style::Secondary },
                mark: if a.primary { '^' } else { '-' },
                label: &a.label,
            }
        })
        .collect();
    // Secondary first, so the primary underline is drawn on top.
    list.sort_by_key(|a| (a.style == sev, a.start));

    let mut row = Canvas::default();
    for a in &list {
        for c in a.start..a.end {
            row.put(c, a.mark, a.style);
        }
    }
    // The label of the rightmost annotation goes on the underline row.
    let mut hanging: Vec<&Ann> = list.iter().filter(|a| !a.label.is_empty()).collect();
    hanging.sort_by_key(|a| (a.start, a.style == sev));
    if let Some(last) = hanging.pop() {
        let at = row.len() + 1;
        row.text(at, last.label, last.style);
    }
    let _ = writeln!(out, "{pad} {gutter} {}", row.render(paint));
    while let Some(a) = hanging.pop() {
        let mut connectors = Canvas::default();
        for h in hanging.iter().chain(std::iter::once(&a)) {
            connectors.put(h.start, '|', h.style);
        }
        let _ = writeln!(out, "{pad} {gutter} {}", connectors.render(paint));
        let mut label = Canvas::default();
        for h in &hanging {
            label.put(h.start, '|', h.style);
        }
        label.text(a.start, a.label, a.style);
        let _ = writeln!(out, "{pad} {gutter} {}", label.render(paint));
    }
}

/// One row of characters, each with a style.
#[derive(Default)]
struct Canvas {
    cells: Vec<(char, Style)>,
}

impl Canvas {
    fn len(&self) -> usize {
        self.cells.len()
    }

    fn put(&mut self, col: usize, c: char, style: Style) {
        if self.cells.len() <= col {
            self.cells.resize(col + 1, (' ', Style::Plain));
        }
        self.cells[col] = (c, style);
    }

    fn text(&mut self, col: usize, s: &str, style: Style) {
        for (i, c) in expand(s).chars().enumerate() {
            self.put(col + i, c, style);
        }
    }

    fn render(&self, paint: Paint) -> String {
        let mut out = String::new();
        let mut run = String::new();
        let mut style = Style::Plain;
        for &(c, s) in &self.cells {
            if s != style && !run.is_empty() {
                out.push_str(&paint.wrap(style, &run));
                run.clear();
            }
            style = s;
            run.push(c);
        }
        out.push_str(&paint.wrap(style, &run));
        out.trim_end().to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Bold,
    Error,
    Warning,
    /// Gutter, line numbers, arrows.
    Gutter,
    /// Secondary underlines and their labels.
    Secondary,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Plain => "",
            Style::Bold => "\x1b[1m",
            Style::Error => "\x1b[1;31m",
            Style::Warning => "\x1b[1;33m",
            Style::Gutter | Style::Secondary => "\x1b[1;34m",
        }
    }
}

/// ANSI colors, or nothing.
#[derive(Clone, Copy)]
struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(self, style: Style, s: &str) -> String {
        if !self.on || style == Style::Plain || s.is_empty() || s.trim().is_empty() {
            return s.to_string();
        }
        format!("{}{s}\x1b[0m", style.code())
    }

    /// `-->` or `:::` colored, the path after it plain.
    fn wrap_prefix(self, style: Style, s: &str) -> String {
        match s.split_once(' ') {
            Some((arrow, rest)) if self.on => format!("{} {rest}", self.wrap(style, arrow)),
            _ => s.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_expand_to_multiples_of_eight() {
        assert_eq!(expand("\tx"), "        x");
        assert_eq!(expand("ab\tx"), "ab      x");
        assert_eq!(expand("12345678\tx"), "12345678        x");
        assert_eq!(expand("a\x0cb"), "a b");
        let line = "\t\tfoo(x);";
        assert_eq!(display_column(line, 2), 16);
        assert_eq!(display_column("ab\tc", 3), 8);
    }
}
