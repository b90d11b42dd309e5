//! Warnings about the input: things modrace skipped or could not read, never fatal.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, bincode::Encode, bincode::Decode)]
pub struct Warning {
    pub path: String,
    /// The line the warning is about, when it is about one place of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
}

impl Warning {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            line: None,
            message: message.into(),
        }
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
