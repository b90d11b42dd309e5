//! Fixes for MR001, MR002 and MR003: the rewrite the mail asks for, as text edits that keep
//! the file's own style (its indentation, kernel brace placement).
//!
//! A fix is never trusted on its own construction: each step edits the text, lowers the
//! edited file again and re-runs the path analysis; decrements are added before the failure
//! returns that analysis still reports, and a fix is kept only if the routine ends up with
//! no leak, no unbalanced count and the increment first. Otherwise the finding is left for
//! a human, with the reason.

use crate::facts::FrontEnd;
use crate::facts::{self, Body, BodyPolicy, FileFacts, Function, Span, StmtId, StmtKind};
use crate::paths::PathReport;

/// Rounds of "add the missing decrements, re-analyse" before giving up.
const MAX_ROUNDS: usize = 4;

#[derive(Debug, Clone)]
struct Edit {
    at: usize,
    /// Bytes removed from `at`.
    remove: usize,
    insert: String,
}

/// What to fix in one routine.
#[derive(Debug, Clone, Default)]
pub struct FixRequest {
    pub function: String,
    /// The routine's first line, to tell apart functions of the same name.
    pub line: u32,
    /// Move (MR001) or add (MR003) the increment as the first statement.
    pub increment_first: bool,
    /// The increments to remove when the increment moves (their statement spans).
    pub old_increments: Vec<Span>,
}

#[derive(Debug)]
pub enum FixResult {
    /// The routine's new text is in the file text returned alongside.
    Fixed,
    Manual(String),
}

/// The analysis the fixer re-runs on edited text: the use-count path report of a function
/// (without may-sleep knowledge: after the fix nothing runs before the increment).
pub type Reanalyse<'a> = dyn Fn(&FileFacts, &Function) -> PathReport + 'a;

/// Fixes one routine in `text`; on success `text` holds the fixed file.
pub fn fix_routine(
    text: &mut Vec<u8>,
    path: &str,
    request: &FixRequest,
    front_end: &FrontEnd,
    reanalyse: &Reanalyse,
    increment: &str,
    decrement: &str,
) -> FixResult {
    let original = text.clone();
    let result = fix_inner(
        text, path, request, front_end, reanalyse, increment, decrement,
    );
    if let Err(why) = &result {
        *text = original;
        return FixResult::Manual(why.clone());
    }
    FixResult::Fixed
}

/// Lowers the text and finds the routine again: its facts and its index.
fn lower(
    text: &[u8],
    path: &str,
    request: &FixRequest,
    front_end: &FrontEnd,
) -> Result<(FileFacts, usize), String> {
    let facts = facts::extract_with(path, text, front_end, &BodyPolicy::All);
    // After an edit above it the line moves; the nearest definition is the one.
    let best = facts
        .functions
        .iter()
        .enumerate()
        .filter(|(_, f)| f.name == request.function && !f.body.is_empty())
        .min_by_key(|(_, f)| f.line.abs_diff(request.line))
        .map(|(i, _)| i)
        .ok_or_else(|| format!("`{}` cannot be found again", request.function))?;
    if facts.functions[best].has_error {
        return Err("the routine does not parse cleanly".into());
    }
    Ok((facts, best))
}

fn fix_inner(
    text: &mut Vec<u8>,
    path: &str,
    request: &FixRequest,
    front_end: &FrontEnd,
    reanalyse: &Reanalyse,
    increment: &str,
    decrement: &str,
) -> Result<(), String> {
    if request.increment_first {
        let (facts, f) = lower(text, path, request, front_end)?;
        let edits = increment_first(text, &facts.functions[f].body, request, increment)?;
        apply(text, edits);
    }
    for _ in 0..MAX_ROUNDS {
        let (facts, f) = lower(text, path, request, front_end)?;
        let function = &facts.functions[f];
        let report = reanalyse(&facts, function);
        if request.increment_first {
            if let Some(ret) = report.maybe_leaks.first() {
                return Err(format!(
                    "the return at line {} passes on a value that may be a failure; decide there whether to drop the count",
                    ret.line
                ));
            }
        }
        if report.leaks.is_empty() {
            if !report.double_inc.is_empty()
                || !report.dec_without_inc.is_empty()
                || !report.dec_on_success.is_empty()
            {
                return Err("the use count would still be unbalanced on some path".into());
            }
            if report.incomplete {
                return Err("the routine has too many paths to verify a fix".into());
            }
            return Ok(());
        }
        let mut edits = Vec::new();
        let mut seen = Vec::new();
        for &(_, ret) in &report.leaks {
            if seen.contains(&ret.start) {
                continue;
            }
            seen.push(ret.start);
            edits.extend(decrement_before(text, &function.body, ret, decrement)?);
        }
        apply(text, edits);
    }
    Err("failure returns still keep the count raised after adding decrements".into())
}

/// Moves or adds the increment so that it is the first statement after the declarations.
fn increment_first(
    text: &[u8],
    body: &Body,
    request: &FixRequest,
    increment: &str,
) -> Result<Vec<Edit>, String> {
    let Some(StmtKind::Block(items)) = body.stmts.first().map(|s| &s.kind) else {
        return Err("the routine has no body to edit".into());
    };
    let mut first = None;
    for &id in items {
        match &body.stmt(id).kind {
            StmtKind::Decl => {}
            StmtKind::Declare(e) => {
                if !e.events.is_empty() {
                    return Err(
                        "a declaration's initializer calls a function before the increment could go; split the declaration by hand".into(),
                    );
                }
            }
            _ => {
                first = Some(id);
                break;
            }
        }
    }
    let first = first.ok_or("the routine has no statement to put the increment before")?;
    let span = body.stmt(first).span;
    let mut edits = Vec::new();
    for old in &request.old_increments {
        let id = find_stmt(body, *old)
            .ok_or("the increment cannot be found in the routine's statements")?;
        if !items.contains(&id) {
            return Err(
                "the increment sits inside a condition or loop; moving it changes what the routine means".into(),
            );
        }
        if id == first {
            continue;
        }
        edits.push(remove_line_or_stmt(text, body.stmt(id).span));
    }
    if request.old_increments.iter().any(|s| s.start == span.start) {
        return Ok(edits);
    }
    let stmt_line = line_start(text, span.start as usize);
    if !only_space(&text[stmt_line..span.start as usize]) {
        return Err("the first statement shares its line with other code".into());
    }
    let body_start = body.stmts[0].span.start as usize;
    // Under `#ifdef DEBUG` the increment would depend on the switch: it goes above the
    // outermost group that is still open at the first statement.
    let indent = tidy_indent(&String::from_utf8_lossy(
        &text[stmt_line..span.start as usize],
    ));
    let stmt_line = outermost_open_group(text, body_start, stmt_line).unwrap_or(stmt_line);
    for old in &request.old_increments {
        let at = line_start(text, old.start as usize);
        if at > body_start && open_conditionals(&text[body_start..at]) > 0 {
            return Err("the increment sits inside a conditional-compilation block".into());
        }
    }
    // A comment right above the statement describes it: the increment goes above the comment.
    let mut at = stmt_line;
    while at > body_start {
        let prev = line_start(text, at - 1);
        let line = String::from_utf8_lossy(&text[prev..at - 1]);
        let t = line.trim();
        let comment = t.starts_with("/*") || t.starts_with('*') || t.starts_with("//");
        if !comment || prev <= body_start {
            break;
        }
        at = prev;
    }
    edits.push(Edit {
        at,
        remove: 0,
        insert: format!("{indent}{increment};\n"),
    });
    Ok(edits)
}

/// The start of the line of the outermost `#if` group that is open at `end`, if any.
fn outermost_open_group(text: &[u8], from: usize, end: usize) -> Option<usize> {
    let mut depth = 0;
    let mut outermost = None;
    let mut at = from;
    while at < end {
        let le = text[at..end]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(end, |k| at + k);
        let line = String::from_utf8_lossy(&text[at..le]);
        if let Some(rest) = line.trim_start().strip_prefix('#') {
            let word = rest.trim_start();
            if word.starts_with("if") {
                if depth == 0 {
                    outermost = Some(line_start(text, at.max(from)));
                }
                depth += 1;
            } else if word.starts_with("endif") {
                depth -= 1;
                if depth <= 0 {
                    depth = 0;
                    outermost = None;
                }
            }
        }
        at = le + 1;
    }
    outermost
}

/// How many `#if`/`#ifdef`/`#ifndef` groups are still open at the end of `text`.
fn open_conditionals(text: &[u8]) -> i32 {
    let mut depth = 0;
    for line in text.split(|&c| c == b'\n') {
        let t = String::from_utf8_lossy(line);
        let t = t.trim_start();
        let Some(rest) = t.strip_prefix('#') else {
            continue;
        };
        let word = rest.trim_start();
        if word.starts_with("if") {
            depth += 1;
        } else if word.starts_with("endif") {
            depth -= 1;
        }
    }
    depth
}

/// Adds the decrement before a return, bracing a lone `if (...) return ...;` as kernel style
/// does.
fn decrement_before(
    text: &[u8],
    body: &Body,
    ret: Span,
    decrement: &str,
) -> Result<Vec<Edit>, String> {
    let id = find_stmt(body, ret).ok_or("the failure return cannot be found")?;
    let start = ret.start as usize;
    let end = ret.end as usize;
    let ls = line_start(text, start);
    let own_line = only_space(&text[ls..start]);
    let indent = tidy_indent(&String::from_utf8_lossy(&text[ls..start]));
    let Some(parent) = braceless_parent(body, id) else {
        return Ok(vec![if own_line {
            Edit {
                at: ls,
                remove: 0,
                insert: format!("{indent}{decrement};\n"),
            }
        } else {
            Edit {
                at: start,
                remove: 0,
                insert: format!("{decrement}; "),
            }
        }]);
    };
    // `if (x)\n\treturn -E;` or `if (x) return -E;`: the return becomes a block.
    let before = last_code_byte(text, start).ok_or("nothing precedes the return")?;
    // A comment after the return stays on its line, inside the new block.
    let line_end = text[end..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(text.len(), |k| end + k);
    let rest = String::from_utf8_lossy(&text[end..line_end]);
    let rest = rest.trim();
    let end = if rest.starts_with("/*") && rest.ends_with("*/") {
        line_end
    } else {
        end
    };
    // The closing brace lines up with the `if` (or loop) itself, not with a continuation line
    // of its condition.
    let parent_ls = line_start(text, parent.start as usize);
    let parent_indent: String = tidy_indent(
        &text[parent_ls..]
            .iter()
            .take_while(|c| **c == b' ' || **c == b'\t')
            .map(|&c| c as char)
            .collect::<String>(),
    );
    if own_line {
        // Whitespace the condition's line ends with would trail the new brace.
        let trailing = text[before + 1..]
            .iter()
            .take_while(|c| **c == b' ' || **c == b'\t')
            .count();
        let at_eol = matches!(text.get(before + 1 + trailing), Some(b'\n' | b'\r') | None);
        Ok(vec![
            Edit {
                at: before + 1,
                remove: if at_eol { trailing } else { 0 },
                insert: " {".into(),
            },
            Edit {
                at: ls,
                remove: 0,
                insert: format!("{indent}{decrement};\n"),
            },
            Edit {
                at: end,
                remove: 0,
                insert: format!("\n{parent_indent}}}"),
            },
        ])
    } else {
        let unit = if parent_indent.is_empty() || parent_indent.contains('\t') {
            "\t"
        } else {
            "    "
        };
        let inner = tidy_indent(&format!("{parent_indent}{unit}"));
        Ok(vec![
            Edit {
                at: before + 1,
                remove: start - (before + 1),
                insert: format!(" {{\n{inner}{decrement};\n{inner}"),
            },
            Edit {
                at: end,
                remove: 0,
                insert: format!("\n{parent_indent}}}"),
            },
        ])
    }
}

/// The `if`, `else` or loop whose whole body the statement is (no braces).
fn braceless_parent(body: &Body, id: StmtId) -> Option<Span> {
    body.stmts
        .iter()
        .find(|s| match &s.kind {
            StmtKind::If {
                then, otherwise, ..
            } => *then == id || *otherwise == Some(id),
            StmtKind::While { body, .. }
            | StmtKind::DoWhile { body, .. }
            | StmtKind::For { body, .. } => *body == id,
            _ => false,
        })
        .map(|s| s.span)
}

fn find_stmt(body: &Body, span: Span) -> Option<StmtId> {
    body.stmts
        .iter()
        .position(|s| s.span.start == span.start && s.span.end == span.end)
        .map(|i| i as StmtId)
}

/// Removes a statement; its whole line when it is alone on it.
fn remove_line_or_stmt(text: &[u8], span: Span) -> Edit {
    let (start, end) = (span.start as usize, span.end as usize);
    let ls = line_start(text, start);
    let le = text[end..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(text.len(), |k| end + k);
    if only_space(&text[ls..start]) && only_space(&text[end..le]) {
        let mut remove_to = (le + 1).min(text.len());
        // Between two blank lines, one of them goes too: no double blank line is left.
        let blank_before = ls > 0 && {
            let prev = line_start(text, ls - 1);
            only_space(&text[prev..ls - 1])
        };
        let next_end = text[remove_to..]
            .iter()
            .position(|&c| c == b'\n')
            .map(|k| remove_to + k);
        if let Some(ne) = next_end {
            if blank_before && only_space(&text[remove_to..ne]) {
                remove_to = ne + 1;
            }
        }
        Edit {
            at: ls,
            remove: remove_to - ls,
            insert: String::new(),
        }
    } else {
        Edit {
            at: start,
            remove: end - start,
            insert: String::new(),
        }
    }
}

/// The last byte before `at` that is code: not white space, not inside a `/* */` comment.
fn last_code_byte(text: &[u8], at: usize) -> Option<usize> {
    let mut end = at;
    loop {
        let k = text[..end].iter().rposition(|c| !c.is_ascii_whitespace())?;
        if k >= 1 && &text[k - 1..=k] == b"*/" {
            let open = memchr::memmem::rfind(&text[..k - 1], b"/*")?;
            end = open;
            continue;
        }
        return Some(k);
    }
}

fn line_start(text: &[u8], at: usize) -> usize {
    text[..at.min(text.len())]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |k| k + 1)
}

fn only_space(bytes: &[u8]) -> bool {
    bytes.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r'))
}

/// Applies edits from the end of the file backwards so earlier offsets stay valid. Inserted
/// lines end as the file's lines do: a CRLF file stays CRLF.
fn apply(text: &mut Vec<u8>, mut edits: Vec<Edit>) {
    let crlf = is_crlf(text);
    edits.sort_by_key(|e| std::cmp::Reverse(e.at));
    for mut e in edits {
        // Never between the CR and the LF of a line end: the insert goes before both.
        if e.remove == 0 && e.at > 0 && text[e.at - 1] == b'\r' && text.get(e.at) == Some(&b'\n') {
            e.at -= 1;
        }
        let end = (e.at + e.remove).min(text.len());
        let mut insert = Vec::with_capacity(e.insert.len());
        for &c in e.insert.as_bytes() {
            if crlf && c == b'\n' && insert.last() != Some(&b'\r') {
                insert.push(b'\r');
            }
            insert.push(c);
        }
        text.splice(e.at..end, insert);
    }
}

/// Most of the file's lines end in CRLF.
fn is_crlf(text: &[u8]) -> bool {
    let lf = memchr::memchr_iter(b'\n', text).count();
    let crlf = memchr::memmem::find_iter(text, b"\r\n").count();
    crlf > 0 && crlf * 2 > lf
}

#[cfg(test)]
mod tests;

/// An inserted line's indentation: the one it copies, except that spaces before a tab (which
/// `git am` and checkpatch flag) become the tabs and spaces of the same column.
fn tidy_indent(indent: &str) -> String {
    let space_before_tab = indent
        .find(' ')
        .is_some_and(|sp| indent[sp..].contains('\t'));
    if !space_before_tab {
        return indent.to_string();
    }
    let column = super::tab_column(indent.as_bytes());
    format!("{}{}", "\t".repeat(column / 8), " ".repeat(column % 8))
}

#[cfg(test)]
mod indent_tests {
    use super::tidy_indent;

    #[test]
    fn spaces_before_a_tab_become_the_same_column() {
        assert_eq!(tidy_indent("  \t"), "\t");
        assert_eq!(tidy_indent("\t    \t"), "\t\t");
        assert_eq!(tidy_indent("   \t  "), "\t  ");
        assert_eq!(tidy_indent("\t\t"), "\t\t");
        assert_eq!(tidy_indent("    "), "    ");
    }
}
