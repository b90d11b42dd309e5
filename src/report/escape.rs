//! Hostile text kept off the terminal: every string of a finding that came from the input
//! (file names, routine names, call text, source lines) is escaped before the text and gcc
//! formats draw it, with the one escaping function ([`escape_terminal`]). JSON escapes control
//! characters itself; the direction overrides it leaves are escaped here as `\u202e`.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::diag::{escape_terminal, is_hostile};
use crate::entries::SlotRef;
use crate::rules::{CheckReport, Finding};

/// `text` for a terminal: see [`escape_terminal`].
pub fn terminal(text: &str) -> Cow<'_, str> {
    escape_terminal(text)
}

fn owned(text: &str) -> String {
    escape_terminal(text).into_owned()
}

/// The report with every input-derived string escaped, and the original file path of each
/// escaped one (to read the file's excerpts). Borrowed when nothing needs escaping.
pub(crate) fn report(report: &CheckReport) -> (Cow<'_, CheckReport>, HashMap<String, String>) {
    let dirty = |f: &Finding| {
        let slot = f.slot.to_string();
        let mut texts = [&f.file, &f.function, &slot, &f.message, &f.help]
            .into_iter()
            .chain(f.evidence.iter().flat_map(|e| [&e.file, &e.note]))
            .chain(f.chain.iter().flat_map(|c| [&c.file, &c.function, &c.call]));
        texts.any(|t| matches!(escape_terminal(t), Cow::Owned(_)))
    };
    let mut paths = HashMap::new();
    if !report.findings.iter().any(dirty) {
        return (Cow::Borrowed(report), paths);
    }
    let mut out = report.clone();
    let mut path = |p: &mut String| {
        let escaped = owned(p);
        if escaped != *p {
            paths.insert(escaped.clone(), std::mem::replace(p, escaped));
        }
    };
    for f in &mut out.findings {
        path(&mut f.file);
        for e in &mut f.evidence {
            path(&mut e.file);
            e.note = owned(&e.note);
        }
        for c in &mut f.chain {
            path(&mut c.file);
            c.function = owned(&c.function);
            c.call = owned(&c.call);
        }
        f.function = owned(&f.function);
        match &mut f.slot {
            SlotRef::Field(s) => {
                s.strukt = owned(&s.strukt);
                s.field = owned(&s.field);
            }
            SlotRef::Callback { routine, .. } => *routine = owned(routine),
        }
        f.message = owned(&f.message);
        f.help = owned(&f.help);
    }
    (Cow::Owned(out), paths)
}

/// JSON text with the direction overrides and isolates written as `\u` escapes (they can only
/// stand inside strings, where the escape means the same character).
pub fn json(text: String) -> String {
    if !text.chars().any(|c| is_hostile(c) && !c.is_control()) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hostile(c) && !c.is_control() {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}
