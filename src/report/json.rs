//! The JSON format, and the envelope every JSON output of modrace shares.
//!
//! Every JSON document modrace prints (`check`, `entries`, `entries --sites`, `bkl`, `stats`)
//! is an object whose first key is `"version": VERSION`; its other keys are the command's.
//! `check`'s: `{"version": 1, "findings": [{"rule", "name", "severity", "file", "line",
//! "column", "function", "slot", "message", "evidence": [{"file", "line", "note"}], "chain":
//! [{"function", "file", "line", "call"}], "help"}], "stats": {...}}`, paths relative to the
//! scanned root. The JSON Schemas in `schema/` describe each of them.

use serde::Serialize;

use crate::rules::CheckReport;

/// The version of the JSON outputs. New keys do not change it; a key that changes meaning or
/// disappears does.
pub const VERSION: u32 = 1;

/// `"version": VERSION` followed by the fields of `body`.
#[derive(Serialize)]
struct Versioned<'a, T: Serialize + ?Sized> {
    version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// `body` (a struct: it must serialize as an object) in the envelope, pretty-printed, with a
/// final newline.
pub fn versioned<T: Serialize + ?Sized>(body: &T) -> String {
    // Serializing plain structs of strings and numbers cannot fail; a NaN becomes `null`.
    let mut out = serde_json::to_string_pretty(&Versioned {
        version: VERSION,
        body,
    })
    .unwrap_or_else(|e| {
        serde_json::json!({ "version": VERSION, "error": format!("cannot serialize: {e}") })
            .to_string()
    });
    out.push('\n');
    // Direction overrides from the tree become `\u` escapes, as on every JSON output.
    super::escape::json(out)
}

pub(crate) fn render(report: &CheckReport) -> String {
    versioned(report)
}
