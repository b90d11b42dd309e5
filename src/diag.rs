//! Warnings about the input: things modrace skipped or could not read, never fatal.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, bincode::Encode, bincode::Decode)]
pub struct Warning {
    pub path: String,
    /// The line the warning is about, when it is about one place of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
    /// What kind of trouble, for grouping many of one kind into one line.
    #[serde(skip)]
    pub kind: WarningKind,
}

/// Warnings a tree can have many of, told apart so that they can be said once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum WarningKind {
    #[default]
    Other,
    /// A file skipped because it is larger than the limit (generated register headers).
    TooLarge { bytes: u64, limit: u64 },
}

/// More warnings of one kind than this are said in one line.
const GROUP_OVER: usize = 3;

impl Warning {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            line: None,
            message: message.into(),
            kind: WarningKind::Other,
        }
    }

    pub fn with_kind(self, kind: WarningKind) -> Self {
        Self { kind, ..self }
    }

    /// A warning about one line of a file.
    pub fn at(path: impl Into<String>, line: u32, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            ..Self::new(path, message)
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (path, message) = (escape_terminal(&self.path), escape_terminal(&self.message));
        match self.line {
            Some(line) => write!(f, "warning: {path}:{line}: {message}"),
            None => write!(f, "warning: {path}: {message}"),
        }
    }
}

/// The warnings as lines for standard error: one each, except that files skipped for size,
/// when there are more than a few, are one line naming the first of them (6.1 has 11
/// generated register headers over the limit).
pub fn grouped_lines(warnings: &[Warning]) -> Vec<String> {
    let too_large: Vec<&Warning> = (warnings.iter())
        .filter(|w| matches!(w.kind, WarningKind::TooLarge { .. }))
        .collect();
    let group = too_large.len() > GROUP_OVER;
    let mut lines: Vec<String> = (warnings.iter())
        .filter(|w| !group || !matches!(w.kind, WarningKind::TooLarge { .. }))
        .map(|w| w.to_string())
        .collect();
    if let (true, Some(first)) = (group, too_large.first()) {
        let WarningKind::TooLarge { limit, .. } = first.kind else {
            unreachable!("filtered on the kind")
        };
        let named: Vec<String> = (too_large.iter().take(GROUP_OVER))
            .map(|w| match w.kind {
                WarningKind::TooLarge { bytes, .. } => {
                    format!("{} ({bytes} bytes)", escape_terminal(&w.path))
                }
                WarningKind::Other => unreachable!("filtered on the kind"),
            })
            .collect();
        lines.push(format!(
            "warning: {} files skipped, each over the {limit} byte limit: {} and {} more",
            too_large.len(),
            named.join(", "),
            too_large.len() - GROUP_OVER
        ));
    }
    lines
}

/// Text from the input made safe for a terminal, as rustc does it: control characters (an
/// escape sequence that clears the screen or sets the window title) and the Unicode
/// direction overrides and isolates (which reorder what the reader sees) become `\u{1b}`.
/// Line feeds, tabs, form feeds and the carriage return of a CRLF line end stay. Text that
/// needs no change is borrowed.
pub fn escape_terminal(text: &str) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write;
    let needs = |(i, c): (usize, char)| {
        is_hostile(c) && !(c == '\r' && text.as_bytes().get(i + 1) == Some(&b'\n'))
    };
    if !text.char_indices().any(needs) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, c) in text.char_indices() {
        if needs((i, c)) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A character [`escape_terminal`] escapes (the carriage return aside, decided by context).
pub fn is_hostile(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\t' | '\x0c'))
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_files_skipped_for_size_are_one_line() {
        let big = |i: u64| {
            Warning::new(format!("h{i}.h"), "skipped").with_kind(WarningKind::TooLarge {
                bytes: 9 + i,
                limit: 8,
            })
        };
        let few: Vec<Warning> = (0..3).map(big).collect();
        assert_eq!(grouped_lines(&few).len(), 3);
        let mut many: Vec<Warning> = (0..5).map(big).collect();
        many.push(Warning::new("a.c", "unreadable"));
        let lines = grouped_lines(&many);
        assert_eq!(
            lines,
            vec![
                "warning: a.c: unreadable".to_string(),
                "warning: 5 files skipped, each over the 8 byte limit: h0.h (9 bytes), h1.h (10 bytes), h2.h (11 bytes) and 2 more".to_string(),
            ]
        );
    }

    #[test]
    fn escapes_controls_and_bidi_like_rustc() {
        assert_eq!(escape_terminal("plain\tline\r\n"), "plain\tline\r\n");
        assert!(matches!(
            escape_terminal("ok"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(escape_terminal("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape_terminal("x\ry"), "x\\u{d}y");
        assert_eq!(
            escape_terminal("\u{202e}abc\u{7f}\u{9b}"),
            "\\u{202e}abc\\u{7f}\\u{9b}"
        );
        let w = Warning::at("a\x1b]0;title\x07.c", 3, "bad \u{2067}");
        assert_eq!(
            w.to_string(),
            "warning: a\\u{1b}]0;title\\u{7}.c:3: bad \\u{2067}"
        );
    }
}
