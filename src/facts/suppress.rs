//! Suppression comments: `/* modrace: ignore MR005 -- reason */` or
//! `// modrace: ignore MR005,MR001 -- reason`.
//!
//! The normalizer blanks comments before the parse, so they are read here, off the raw bytes,
//! as a per-file fact. What they suppress (the line, the routine) is the rule engine's
//! business (`rules::triage`); the codes stay as written until it reads them.

use serde::Serialize;

use crate::normalize::comments::for_each_comment;

/// The word that starts a suppression comment; a file without it costs one memmem.
const MARK: &[u8] = b"modrace:";

/// One `modrace:` comment of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, bincode::Encode, bincode::Decode)]
pub struct Suppression {
    /// The comment's first line.
    pub line: u32,
    /// The comment's last line (a block comment may span several).
    pub end_line: u32,
    /// The rule codes after `ignore`, as written (`MR005`); empty when the comment names none
    /// or is not an `ignore`.
    pub codes: Vec<String>,
    /// The text after `--`, whitespace collapsed; `None` when there is none (the comment then
    /// suppresses nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The suppression comments of `src`, in order.
pub fn suppressions(src: &[u8]) -> Vec<Suppression> {
    let mut out = Vec::new();
    if memchr::memmem::find(src, MARK).is_none() {
        return out;
    }
    // Lines are counted incrementally: comments come in order.
    let (mut line, mut counted) = (1u32, 0usize);
    let mut line_of = |at: usize| {
        line += memchr::memchr_iter(b'\n', &src[counted..at]).count() as u32;
        counted = at;
        line
    };
    for_each_comment(src, |start, end, block| {
        let text = &src[start..end];
        if memchr::memmem::find(text, MARK).is_none() {
            return;
        }
        let body = if block {
            text.get(2..text.len().saturating_sub(2))
                .unwrap_or_default()
        } else {
            &text[2..]
        };
        if let Some(s) = parse(&String::from_utf8_lossy(body)) {
            let first = line_of(start);
            let last = line_of(end);
            out.push(Suppression {
                line: first,
                end_line: last,
                ..s
            });
        }
    });
    out
}

/// Reads a comment's text (without its `/*` `*/` or `//`): `None` unless it starts with
/// `modrace:`.
fn parse(body: &str) -> Option<Suppression> {
    // Continuation lines of a block comment start with `*`.
    let words: Vec<&str> = body
        .lines()
        .map(|l| l.trim_start().trim_start_matches('*'))
        .flat_map(str::split_whitespace)
        .collect();
    let text = words.join(" ");
    let rest = text.strip_prefix("modrace:")?.trim_start();
    let (head, reason) = match rest.split_once("--") {
        Some((head, reason)) => (head, Some(reason.trim()).filter(|r| !r.is_empty())),
        None => (rest, None),
    };
    let codes = match head.trim().strip_prefix("ignore") {
        Some(list) if list.is_empty() || list.starts_with(' ') => list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Some(Suppression {
        line: 0,
        end_line: 0,
        codes,
        reason: reason.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_block_and_line_comments_with_their_lines() {
        let src = b"int a;\n/* modrace: ignore MR005 -- the core pins it */\nx();\n\
                    // modrace: ignore MR005, MR001 -- two\n/*\n * modrace: ignore MR101\n \
                    * -- split\n * over lines\n */\n";
        let s = suppressions(src);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].line, s[0].end_line), (2, 2));
        assert_eq!(s[0].codes, ["MR005"]);
        assert_eq!(s[0].reason.as_deref(), Some("the core pins it"));
        assert_eq!((s[1].line, s[1].codes.len()), (4, 2));
        assert_eq!((s[2].line, s[2].end_line), (5, 9));
        assert_eq!(s[2].reason.as_deref(), Some("split over lines"));
    }

    #[test]
    fn a_missing_reason_or_rule_is_kept_for_a_warning() {
        let s = suppressions(b"// modrace: ignore MR005\n// modrace: ignoring -- x\n");
        assert_eq!(s[0].reason, None);
        assert!(s[1].codes.is_empty());
        assert!(suppressions(b"char *s = \"modrace: ignore MR005 -- x\";").is_empty());
        assert!(suppressions(b"/* not modrace: at the start */").is_empty());
    }
}
