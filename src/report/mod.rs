//! The output formats of `modrace check`.
//!
//! [`render`] turns a [`CheckReport`] into one of five texts:
//!
//! - [`Format::Text`]: rustc/ruff-style diagnostics with source excerpts, for people;
//! - [`Format::Gcc`]: `file:line:col: error: message [MR001]` lines, for editors' quickfix lists;
//! - [`Format::Json`]: the report as JSON, for scripts;
//! - [`Format::Sarif`]: a SARIF 2.1.0 log, for GitHub code scanning and other SARIF viewers;
//! - [`Format::Html`]: one self-contained page in the manner of scan-view, for a browser.
//!
//! [`Options::rename`] rewrites every path of the report (`--relative-to`); the files are still
//! read, and the patches' diffs still named, by their paths in the tree.
//!
//! Rendering never reads the file system itself: the caller passes a `source` function that
//! returns the text of a file given its path as it appears in the findings (relative to the
//! scanned root). [`read_from_roots`] builds one for the paths given on the command line. A file
//! that cannot be read only costs its excerpt: the diagnostic is printed without it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::str::FromStr;

use crate::ctext::is_ident_byte;
use crate::facts::Span;
use crate::rules::CheckReport;
use crate::rules::{Evidence, Finding};

pub mod baseline;
pub mod bkl;
pub mod entries;
pub mod escape;
mod flow;
pub mod gcc;
pub mod history;
pub mod history_html;
pub mod html;
pub mod json;
pub mod mbox;
mod relative;
pub mod rules_doc;
pub mod sarif;
pub mod text;

/// An output format of `modrace check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// rustc-style diagnostics with source excerpts.
    #[default]
    Text,
    /// One `file:line:col: severity: message [CODE]` line per finding, plus `note:` lines.
    Gcc,
    /// The findings and statistics as pretty-printed JSON.
    Json,
    /// A SARIF 2.1.0 log.
    Sarif,
    /// One self-contained HTML page: an index of the findings, the annotated source of each.
    Html,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Text,
        Format::Gcc,
        Format::Json,
        Format::Sarif,
        Format::Html,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Gcc => "gcc",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Html => "html",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown format `{s}` (expected text, gcc, json, sarif or html)")
            })
    }
}

/// Everything [`render_with`] can be told besides the format.
#[derive(Clone, Copy, Default)]
pub struct Options<'a> {
    /// ANSI colors in the text format (the other formats ignore it).
    pub color: bool,
    /// The directory the printed paths are relative to (the tree's root, or the directory
    /// of `--relative-to`). SARIF then records it as the `file://` URI of `%SRCROOT%` in
    /// `originalUriBaseIds`; it should be absolute.
    pub src_root: Option<&'a Path>,
    /// The tree that was checked, as the HTML report names it.
    pub tree: Option<&'a Path>,
    /// The fixes `--diff` would make: SARIF gives each result it fixes a `fixes` object, the
    /// HTML report shows each finding's diff.
    pub patches: &'a [crate::fix::FilePatch],
    /// How to write a path of the tree (`--relative-to`); `None` keeps the tree's paths.
    pub rename: Option<&'a dyn Fn(&str) -> String>,
}

/// Renders `report` in `format`. `source` returns the text of a file given its path as written
/// in the findings, or `None` when it cannot be read; `color` turns on ANSI colors in the text
/// format. A non-empty result ends with a newline (gcc output for no findings is empty).
pub fn render(
    format: Format,
    report: &CheckReport,
    source: &dyn Fn(&str) -> Option<String>,
    color: bool,
) -> String {
    render_with(
        format,
        report,
        source,
        &Options {
            color,
            ..Options::default()
        },
    )
}

/// [`render`] with all the options.
pub fn render_with(
    format: Format,
    report: &CheckReport,
    source: &dyn Fn(&str) -> Option<String>,
    options: &Options,
) -> String {
    let Some(rename) = options.rename else {
        return render_paths(format, report, source, options, &|p| p.to_string());
    };
    let rebased = relative::rebase(report, options.patches, rename);
    let read = |p: &str| source(rebased.tree_path(p));
    let options = Options {
        patches: &rebased.patches,
        ..*options
    };
    render_paths(format, &rebased.report, &read, &options, &|p| {
        rebased.tree_path(p).to_string()
    })
}

/// [`render_with`] once the paths are renamed; `tree_path` gives a renamed path's path in the
/// tree.
fn render_paths(
    format: Format,
    report: &CheckReport,
    source: &dyn Fn(&str) -> Option<String>,
    options: &Options,
    tree_path: &dyn Fn(&str) -> String,
) -> String {
    match format {
        Format::Text | Format::Gcc => {
            // Input text is escaped before it is drawn, so that colors stay modrace's own.
            let (report, paths) = escape::report(report);
            let read = |p: &str| {
                let original = paths.get(p).map_or(p, String::as_str);
                source(original).map(|t| escape::terminal(&t).into_owned())
            };
            match format {
                Format::Text => text::render(&report, &Sources::new(&read), options.color),
                _ => gcc::render(&report),
            }
        }
        Format::Json => json::render(report),
        Format::Sarif => escape::json(sarif::render(
            report,
            &Sources::new(source),
            options.src_root,
            options.patches,
        )),
        Format::Html => html::render(
            report,
            &Sources::new(source),
            &html::Page {
                tree: options.tree,
                patches: options.patches,
                tree_path,
            },
        ),
    }
}

/// A `source` function for findings of a scan of `roots` (the paths given to `check`): a path
/// is looked up under each root in turn, a root that is a file standing for its directory.
/// Files are read as lossy UTF-8; missing, unreadable and oversized files give `None`.
pub fn read_from_roots(roots: &[PathBuf]) -> impl Fn(&str) -> Option<String> {
    let bases: Vec<PathBuf> = roots
        .iter()
        .map(|root| {
            if root.is_file() {
                root.parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("."))
            } else {
                root.clone()
            }
        })
        .collect();
    move |path: &str| {
        bases.iter().find_map(|base| {
            let file = base.join(path);
            let meta = std::fs::metadata(&file).ok()?;
            if !meta.is_file() || meta.len() > crate::source::MAX_FILE_BYTES {
                return None;
            }
            let bytes = std::fs::read(&file).ok()?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        })
    }
}

/// The text of one file, split into lines.
pub(crate) struct SourceText {
    text: String,
    /// Byte offset of the start of each line.
    starts: Vec<usize>,
}

impl SourceText {
    fn new(text: String) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        if starts.len() > 1 && starts.last() == Some(&text.len()) {
            // A final newline does not start a line.
            starts.pop();
        }
        SourceText { text, starts }
    }

    /// The number of lines.
    pub(crate) fn len(&self) -> u32 {
        u32::try_from(self.starts.len()).unwrap_or(u32::MAX)
    }

    /// Line `line` (1-based) without its line ending, and the byte offset where it starts.
    pub(crate) fn line(&self, line: u32) -> Option<(usize, &str)> {
        let i = (line as usize).checked_sub(1)?;
        let start = *self.starts.get(i)?;
        let end = self.starts.get(i + 1).copied().unwrap_or(self.text.len());
        let text = &self.text[start..end];
        let text = text.strip_suffix('\n').unwrap_or(text);
        Some((start, text.strip_suffix('\r').unwrap_or(text)))
    }
}

/// The `source` function with a cache: each file is read and split once per render.
pub(crate) struct Sources<'a> {
    read: &'a dyn Fn(&str) -> Option<String>,
    cache: RefCell<HashMap<String, Option<Rc<SourceText>>>>,
}

impl<'a> Sources<'a> {
    pub(crate) fn new(read: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Sources {
            read,
            cache: RefCell::default(),
        }
    }

    pub(crate) fn get(&self, path: &str) -> Option<Rc<SourceText>> {
        if let Some(cached) = self.cache.borrow().get(path) {
            return cached.clone();
        }
        let text = (self.read)(path).map(|t| Rc::new(SourceText::new(t)));
        self.cache
            .borrow_mut()
            .insert(path.to_string(), text.clone());
        text
    }

    /// A location's line and what to highlight on it, when the file can be read and has
    /// that line.
    pub(crate) fn locate(&self, path: &str, at: &Mark) -> Option<Located> {
        let source = self.get(path)?;
        let (start, line) = source.line(at.line)?;
        let range = highlight(line, start, at);
        Some(Located {
            line: line.to_string(),
            range,
        })
    }
}

/// A location to show: a line, a 1-based byte column (0 when unknown), and what else is
/// known about it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Mark<'a> {
    pub line: u32,
    pub column: u32,
    /// Byte offsets in the file, when known (`end > start`).
    pub span: Option<Span>,
    /// The routine a finding is about: at column 1 of a line naming it, its name is
    /// highlighted (findings about a whole routine point at its first line).
    pub function: Option<&'a str>,
}

impl<'a> Mark<'a> {
    pub(crate) fn primary(f: &'a Finding) -> Self {
        // The evidence at the primary location may know its extent.
        let span = primary_evidence_index(f).map(|i| f.evidence[i].span);
        Mark {
            line: f.line,
            column: f.column,
            span,
            function: Some(&f.function),
        }
    }

    pub(crate) fn evidence(e: &'a Evidence) -> Self {
        Mark {
            line: e.line,
            column: e.span.column,
            span: Some(e.span),
            function: None,
        }
    }
}

/// A location's line, and the byte range of the line to highlight (empty only when the line
/// is blank).
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub line: String,
    pub range: Range<usize>,
}

/// The first piece of evidence at the finding's own location: its note labels the primary
/// location, and its span tells how far to underline.
pub(crate) fn primary_evidence_index(f: &Finding) -> Option<usize> {
    f.evidence.iter().position(|e| {
        e.file == f.file
            && e.line == f.line
            && (e.span.column == 0 || f.column == 0 || e.span.column == f.column)
    })
}

/// Which bytes of `line` (starting at byte `line_start` of its file) to highlight for `at`.
fn highlight(line: &str, line_start: usize, at: &Mark) -> Range<usize> {
    let content_end = line.trim_end().len();
    let first_non_blank = line.len() - line.trim_start().len();
    let mut col = match (at.column as usize).checked_sub(1) {
        Some(c) if c < content_end => c,
        _ => first_non_blank.min(content_end),
    };
    while !line.is_char_boundary(col) {
        col -= 1;
    }
    if col >= content_end {
        return col..col;
    }
    // The span, when it starts where the column says (so the offsets fit this text).
    if let Some(span) = at.span {
        if span.end > span.start && span.start as usize == line_start + col {
            let mut end = (col + (span.end - span.start) as usize).min(content_end);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            if end > col {
                return col..end;
            }
        }
    }
    // A finding about a whole routine, at the start of its definition: its name.
    if let Some(name) = at.function.filter(|n| !n.is_empty()) {
        if col == first_non_blank {
            if let Some(at) = find_word(line, name) {
                return at..at + name.len();
            }
        }
    }
    token(line, col, content_end)
}

/// The byte offset of `word` in `line` as a whole identifier followed by `(`.
fn find_word(line: &str, word: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    line.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = i == 0 || !is_ident_byte(bytes[i - 1]);
        let rest = line[i + word.len()..].trim_start();
        before && rest.starts_with('(')
    })
}

/// The token at `col`: an identifier with its parenthesized arguments when it is a call, a
/// `return` statement up to its `;`, else one character.
fn token(line: &str, col: usize, content_end: usize) -> Range<usize> {
    let bytes = line.as_bytes();
    let mut end = col;
    while end < content_end && is_ident_byte(bytes[end]) {
        end += 1;
    }
    if end == col {
        let len = line[col..].chars().next().map_or(0, char::len_utf8);
        return col..col + len;
    }
    if &line[col..end] == "return" {
        let stop = line[end..content_end]
            .find(';')
            .map_or(content_end, |i| end + i + 1);
        return col..stop;
    }
    let mut next = end;
    while next < content_end && bytes[next].is_ascii_whitespace() {
        next += 1;
    }
    if next < content_end && bytes[next] == b'(' {
        let mut depth = 0usize;
        for (i, &b) in bytes.iter().enumerate().take(content_end).skip(next) {
            match b {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return col..i + 1;
                    }
                }
                _ => {}
            }
        }
        return col..content_end;
    }
    col..end
}

/// Makes `s` fit on one line.
pub(crate) fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r']) {
        s.split(['\n', '\r'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s.to_string()
    }
}

/// `N findings (MR001: a, MR002: b)` or `no findings`.
pub fn summary(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no findings".to_string();
    }
    let mut by_rule = std::collections::BTreeMap::<&str, usize>::new();
    for f in findings {
        *by_rule.entry(f.rule.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = by_rule.iter().map(|(r, n)| format!("{r}: {n}")).collect();
    format!(
        "{} finding{} ({})",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        counts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(column: u32) -> Mark<'static> {
        Mark {
            line: 1,
            column,
            ..Mark::default()
        }
    }

    #[test]
    fn lines_are_split_without_endings() {
        let s = SourceText::new("a\r\nbb\n\nccc\n".to_string());
        assert_eq!(s.line(1), Some((0, "a")));
        assert_eq!(s.line(2), Some((3, "bb")));
        assert_eq!(s.line(3), Some((6, "")));
        assert_eq!(s.line(4), Some((7, "ccc")));
        assert_eq!(s.line(5), None);
        assert_eq!(s.line(0), None);
        let empty = SourceText::new(String::new());
        assert_eq!(empty.line(1), Some((0, "")));
        assert_eq!(empty.line(2), None);
    }

    #[test]
    fn highlights_calls_returns_and_names() {
        let line = "\tif (request_irq(FOO_IRQ, f(x), 0)) {";
        assert_eq!(
            &line[highlight(line, 0, &mark(6))],
            "request_irq(FOO_IRQ, f(x), 0)"
        );
        let line = "\t\treturn -EBUSY;   ";
        assert_eq!(&line[highlight(line, 0, &mark(3))], "return -EBUSY;");
        let line = "\tMOD_INC_USE_COUNT;";
        assert_eq!(&line[highlight(line, 0, &mark(2))], "MOD_INC_USE_COUNT");
        let line = "static int foo_open(struct inode *inode)";
        let at = Mark {
            function: Some("foo_open"),
            ..mark(1)
        };
        assert_eq!(&line[highlight(line, 0, &at)], "foo_open");
        // An unclosed call runs to the end of the line.
        let line = "  x = kmalloc(sizeof(*p),";
        assert_eq!(&line[highlight(line, 0, &mark(7))], "kmalloc(sizeof(*p),");
    }

    #[test]
    fn highlight_uses_a_span_that_fits() {
        let line = "\tlock_kernel(); foo();";
        let fits = Span {
            start: 101,
            end: 115,
            line: 1,
            column: 2,
        };
        let at = Mark {
            span: Some(fits),
            ..mark(2)
        };
        assert_eq!(&line[highlight(line, 100, &at)], "lock_kernel();");
        // Offsets that do not match the column are ignored.
        let at = Mark {
            span: Some(Span { start: 7, ..fits }),
            ..mark(2)
        };
        assert_eq!(&line[highlight(line, 100, &at)], "lock_kernel()");
    }

    #[test]
    fn highlight_survives_odd_columns() {
        let line = "\t\u{e9}t\u{e9} = 1;";
        for col in 0..40 {
            let r = highlight(line, 0, &mark(col));
            assert!(r.start <= r.end && r.end <= line.len(), "{col}: {r:?}");
            let _ = &line[r];
        }
        // Past the end, or unknown: the first non-blank character.
        assert_eq!(highlight("   x;", 0, &mark(99)), 3..4);
        assert_eq!(highlight("   x;", 0, &mark(0)), 3..4);
        assert_eq!(highlight("    ", 0, &mark(2)), 0..0);
        assert_eq!(highlight("", 0, &mark(1)), 0..0);
    }

    #[test]
    fn formats_parse_and_print() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
        }
        assert_eq!("SARIF".parse::<Format>(), Ok(Format::Sarif));
        assert!("xml".parse::<Format>().is_err());
    }
}
