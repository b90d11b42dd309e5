//! The JSON format: the [`CheckReport`] as it serializes, pretty-printed.
//!
//! `{"findings": [{"rule", "name", "severity", "file", "line", "column", "function", "slot",
//! "message", "evidence": [{"file", "line", "note"}], "chain": [{"function", "file", "line",
//! "call"}], "help"}], "stats": {...}}`, paths relative to the scanned root.

use crate::rules::CheckReport;

pub(crate) fn render(report: &CheckReport) -> String {
    // Serializing plain structs of strings and numbers cannot fail; a NaN in the stats
    // becomes `null`.
    let mut out = serde_json::to_string_pretty(report).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot serialize the report: {e}") }).to_string()
    });
    out.push('\n');
    out
}
