//! The HTML format: one self-contained page, in the manner of scan-build's scan-view.
//!
//! - a head: the tree, the era, modrace's version, the run's counts and the findings per rule;
//! - an index of the findings, sortable by rule, file, routine and slot (click a column's
//!   header, or open the page at `#sort=rule`, `#sort=-file`, ...);
//! - per finding a section: its message and hint, its path step by step ([`super::flow`]:
//!   the evidence, with the may-sleep chain nested under the call it explains), the source of
//!   the routine (or a window around each step elsewhere) with the steps marked on the lines
//!   they name ([`source`]), and the fix `--diff` would make to the routine, when there is one;
//! - the rules the findings break, with their explanation and examples.
//!
//! Every text from the tree (paths, source lines, names, messages) goes through [`esc`]. The
//! page loads nothing: its style and script are inline and its Content-Security-Policy
//! forbids anything else. Nothing in it depends on the time of the run.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use super::Sources;
use crate::fix::FilePatch;
use crate::rules::{CheckReport, Code, Finding, Severity, RULES};

mod assets;
mod finding;
mod source;

/// What the page shows besides the report.
pub(crate) struct Page<'a> {
    /// The tree that was checked.
    pub tree: Option<&'a Path>,
    /// The fixes `--diff` would make.
    pub patches: &'a [FilePatch],
    /// The tree's own path of a path of the report (diff headers stay tree-relative).
    pub tree_path: &'a dyn Fn(&str) -> String,
}

pub(crate) fn render(report: &CheckReport, sources: &Sources, page: &Page) -> String {
    let mut out = String::with_capacity(4096 + report.findings.len() * 8192);
    let title = match page.tree {
        Some(tree) => format!("modrace: {}", tree.display()),
        None => "modrace report".to_string(),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"modrace {}\">\n<title>{}</title>\n\
         <style>{}</style>\n</head>\n<body>\n<h1 id=\"top\">{}</h1>\n",
        assets::CSP,
        env!("CARGO_PKG_VERSION"),
        esc(&title),
        assets::STYLE,
        esc(&title),
    );
    head(&mut out, report, page);
    counts(&mut out, report);
    index(&mut out, report);
    for (n, f) in report.findings.iter().enumerate() {
        finding::section(&mut out, n + 1, f, sources, page);
    }
    rules(&mut out, report);
    let _ = write!(
        out,
        "<script>{}</script>\n</body>\n</html>\n",
        assets::SCRIPT
    );
    out
}

/// The tree, the era, the version and the run's counts.
fn head(out: &mut String, report: &CheckReport, page: &Page) {
    let s = &report.stats;
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(tree) = page.tree {
        rows.push(("tree", code(&tree.display().to_string())));
    }
    if let Some(era) = &report.era {
        let how = match &era.chosen {
            crate::kb::EraChoice::Given => "given with --era".to_string(),
            crate::kb::EraChoice::Makefile { version } => {
                format!("the tree's Makefile says {}", esc(version))
            }
            crate::kb::EraChoice::Assumed => "assumed: no version in a top-level Makefile".into(),
        };
        rows.push(("era", format!("{} ({how})", code(&era.name))));
    }
    rows.push(("modrace", esc(env!("CARGO_PKG_VERSION")).into_owned()));
    rows.push(("files", s.files.to_string()));
    rows.push((
        "routines",
        format!(
            "{} entry routines, {} checked, {} pinned by the core, {} past the analysis' bounds",
            s.entries, s.checked, s.core_pinned, s.incomplete
        ),
    ));
    let mut findings = s.findings.to_string();
    if s.suppressed > 0 {
        let _ = write!(findings, ", {} suppressed by comments", s.suppressed);
    }
    if let Some(hidden) = s.baseline_hidden {
        let _ = write!(findings, ", {hidden} listed in the baseline");
    }
    rows.push(("findings", findings));
    out.push_str("<table class=\"meta\">\n");
    for (name, value) in rows {
        let _ = writeln!(out, "<tr><td>{name}</td><td>{value}</td></tr>");
    }
    out.push_str("</table>\n");
}

/// The findings per rule.
fn counts(out: &mut String, report: &CheckReport) {
    let mut by_rule: BTreeMap<Code, usize> = BTreeMap::new();
    for f in &report.findings {
        *by_rule.entry(f.rule).or_default() += 1;
    }
    if by_rule.is_empty() {
        out.push_str("<p class=\"none\">No findings.</p>\n");
        return;
    }
    out.push_str(
        "<table class=\"counts\" id=\"counts\">\n<thead><tr><th>rule</th><th>name</th>\
         <th>findings</th><th>what it means</th></tr></thead>\n<tbody>\n",
    );
    for (code, n) in &by_rule {
        let Some(rule) = RULES.iter().find(|r| r.code == *code) else {
            continue;
        };
        let _ = writeln!(
            out,
            "<tr data-rule=\"{c}\"><td>{}</td><td><a href=\"#rule-{c}\">{}</a></td>\
             <td class=\"n\">{n}</td><td>{}</td></tr>",
            badge(*code, rule.severity),
            esc(rule.name),
            backticks(rule.summary),
            c = code.as_str(),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The index: one row per finding, linking to its section.
fn index(out: &mut String, report: &CheckReport) {
    if report.findings.is_empty() {
        return;
    }
    out.push_str(
        "<table class=\"index\" id=\"index\">\n<thead><tr>\
         <th class=\"sort\" data-col=\"n\">#</th>\
         <th class=\"sort\" data-col=\"rule\">rule</th>\
         <th class=\"sort\" data-col=\"file\">file</th>\
         <th class=\"sort\" data-col=\"routine\">routine</th>\
         <th class=\"sort\" data-col=\"slot\">slot</th>\
         <th>message</th></tr></thead>\n<tbody>\n",
    );
    for (i, f) in report.findings.iter().enumerate() {
        let n = i + 1;
        let _ = writeln!(
            out,
            "<tr data-n=\"{n}\" data-rule=\"{rule}\"><td data-key=\"{n:08}\">{n}</td>\
             <td>{badge}</td><td class=\"file\" data-key=\"{file}:{line:08}\">\
             <a href=\"#f{n}\">{file}:{line}</a></td><td>{function}</td><td>{slot}</td>\
             <td class=\"msg\">{message}</td></tr>",
            rule = f.rule.as_str(),
            badge = badge(f.rule, f.severity),
            file = esc(&f.file),
            line = f.line,
            function = esc(&f.function),
            slot = esc(&f.slot.to_string()),
            message = backticks(&super::one_line(&f.message)),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The rules the findings break: summary, explanation, wrong and right.
fn rules(out: &mut String, report: &CheckReport) {
    let used: Vec<_> = RULES
        .iter()
        .filter(|r| report.findings.iter().any(|f| f.rule == r.code))
        .collect();
    if used.is_empty() {
        return;
    }
    out.push_str("<h2>Rules</h2>\n");
    for r in used {
        let _ = writeln!(
            out,
            "<details class=\"rule\" id=\"rule-{c}\"><summary>{} {}: {}</summary>\n\
             <p>{}</p>\n<p>Wrong:</p>\n<pre>{}</pre>\n<p>Right:</p>\n<pre>{}</pre>\n</details>",
            badge(r.code, r.severity),
            esc(r.name),
            backticks(r.summary),
            backticks(r.explanation),
            esc(r.wrong),
            esc(r.right),
            c = r.code.as_str(),
        );
    }
}

fn badge(code: Code, severity: Severity) -> String {
    format!(
        "<span class=\"rule {}\">{}</span>",
        severity.as_str(),
        code.as_str()
    )
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", esc(text))
}

/// `text` escaped, with the `quoted` parts the messages use set as code.
pub(super) fn backticks(text: &str) -> String {
    let escaped = esc(text);
    let parts: Vec<&str> = escaped.split('`').collect();
    if parts.len() < 3 {
        return escaped.into_owned();
    }
    let mut out = String::with_capacity(escaped.len() + parts.len() * 7);
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match (i % 2, last) {
            // A lone backtick at the end is text.
            (1, true) => {
                out.push('`');
                out.push_str(part);
            }
            (1, false) => {
                let _ = write!(out, "<code>{part}</code>");
            }
            _ => out.push_str(part),
        }
    }
    out
}

/// Text for HTML, in an element or a quoted attribute: markup characters as entities, and the
/// characters that hide or reorder text (controls, direction overrides) made visible.
pub(crate) fn esc(text: &str) -> Cow<'_, str> {
    let special = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'') || crate::diag::is_hostile(c);
    if !text.contains(special) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if special(c) => {
                let _ = write!(out, "<span class=\"ctl\">U+{:04X}</span>", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The patch that fixes `f`, when there is one.
fn patch_of<'p>(f: &Finding, patches: &'p [FilePatch]) -> Option<&'p FilePatch> {
    patches
        .iter()
        .find(|p| p.file == f.file && p.fixes.contains(&(f.rule, f.line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_hiding_characters_are_escaped() {
        assert_eq!(
            esc("a < b && c > \"d\" 'e'"),
            "a &lt; b &amp;&amp; c &gt; &quot;d&quot; &#39;e&#39;"
        );
        assert!(matches!(esc("plain text"), Cow::Borrowed(_)));
        assert_eq!(
            esc("x\u{202e}y\x1b"),
            "x<span class=\"ctl\">U+202E</span>y<span class=\"ctl\">U+001B</span>"
        );
        assert_eq!(esc("</script>"), "&lt;/script&gt;");
    }

    #[test]
    fn backticks_become_code_after_escaping() {
        assert_eq!(
            backticks("`a<b` calls `f()` and `"),
            "<code>a&lt;b</code> calls <code>f()</code> and `"
        );
        assert_eq!(backticks("no quotes"), "no quotes");
        assert_eq!(backticks("one ` only"), "one ` only");
    }
}
