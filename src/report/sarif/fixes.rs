//! SARIF `fixes`: a result whose routine `--diff` rewrites carries the changes made to that
//! routine, as replacements of whole lines of the original text.
//!
//! A patch rewrites every fixable routine of its file; the changes that fall inside the lines
//! of the finding's routine are that finding's fix. Regions are line/column ranges (columns in
//! code points, as the log's `columnKind` says): lines `a..b` replaced by new text are the
//! region from the start of line `a` to the start of line `b`, an insertion is the empty
//! region at the start of the line it goes before.

use serde_json::{json, Value};
use similar::{capture_diff_slices, Algorithm, DiffTag};

use crate::fix::FilePatch;
use crate::rules::Finding;

/// The `fixes` of a result, or `None` when no patch fixes the finding.
pub(super) fn fixes(f: &Finding, patches: &[FilePatch], artifact: Value) -> Option<Value> {
    let patch = patches
        .iter()
        .find(|p| p.file == f.file && p.fixes.contains(&(f.rule, f.line)))?;
    let routine = patch.routines.iter().find(|r| r.function == f.function)?;
    let old = lines(&patch.original);
    let new = lines(&patch.patched);
    let inside = |a: usize, b: usize| {
        let first = routine.first_line.saturating_sub(1) as usize;
        let last = routine.last_line as usize;
        first <= a && b <= last
    };
    let mut replacements = Vec::new();
    let mut pending: Option<(usize, usize, usize, usize)> = None;
    let ops = capture_diff_slices(Algorithm::Myers, &old, &new);
    for op in ops.iter().map(|op| op.as_tag_tuple()) {
        match op {
            (DiffTag::Equal, _, _) => {
                if let Some((a, b, c, d)) = pending.take() {
                    if inside(a, b) {
                        replacements.push(replacement(&old, &new, a..b, c..d));
                    }
                }
            }
            (_, o, n) => {
                pending = Some(match pending {
                    Some((a, _, c, _)) => (a, o.end, c, n.end),
                    None => (o.start, o.end, n.start, n.end),
                });
            }
        }
    }
    if let Some((a, b, c, d)) = pending {
        if inside(a, b) {
            replacements.push(replacement(&old, &new, a..b, c..d));
        }
    }
    if replacements.is_empty() {
        return None;
    }
    let what = if f.help.is_empty() {
        "raise the use count first".to_string()
    } else {
        f.help.clone()
    };
    Some(json!([{
        "description": { "text": format!("`{}`: {what}", f.function) },
        "artifactChanges": [{
            "artifactLocation": artifact,
            "replacements": replacements,
        }],
    }]))
}

/// The lines of a text, each with its line ending.
fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split_inclusive(|&b| b == b'\n').collect()
}

fn replacement(
    old: &[&[u8]],
    new: &[&[u8]],
    gone: std::ops::Range<usize>,
    added: std::ops::Range<usize>,
) -> Value {
    let mut text: String = new[added]
        .iter()
        .map(|l| String::from_utf8_lossy(l))
        .collect();
    let region = if gone.end < old.len() {
        json!({
            "startLine": gone.start + 1,
            "startColumn": 1,
            "endLine": gone.end + 1,
            "endColumn": 1,
        })
    } else {
        // The change reaches the last line: there is no line after it to end at, so the
        // region ends after the last line's text and keeps its line ending.
        let last = old.len().max(1);
        let last_text = old.last().map_or(String::new(), |l| {
            String::from_utf8_lossy(l)
                .trim_end_matches(['\n', '\r'])
                .to_string()
        });
        let start = if gone.start < old.len() {
            json!({ "startLine": gone.start + 1, "startColumn": 1 })
        } else {
            // Appended after the last line: after its text, on a line of its own.
            text.insert(0, '\n');
            json!({ "startLine": last, "startColumn": last_text.chars().count() + 1 })
        };
        if text.ends_with('\n') {
            text.pop();
        }
        let mut region = start;
        region["endLine"] = json!(last);
        region["endColumn"] = json!(last_text.chars().count() + 1);
        region
    };
    json!({
        "deletedRegion": region,
        "insertedContent": { "text": text },
    })
}
