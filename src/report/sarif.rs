//! The SARIF format: a SARIF 2.1.0 log with one run, as GitHub code scanning reads it.
//!
//! - `tool.driver` carries the metadata of every rule in [`RULES`] (descriptions, help with
//!   the wrong and right examples, default level, tags);
//! - each finding is a result with its location (relative to `%SRCROOT%`, the scanned root),
//!   the routine as a logical location, the evidence as related locations and as a code flow
//!   (the may-sleep chain nested under the call it explains), modrace's own partial
//!   fingerprint ([`FINGERPRINT`]; GitHub computes `primaryLocationLineHash` itself and warns
//!   when a tool's differs), and the fix when `--diff` can make one ([`fixes`]);
//! - rules carry a `helpUri` into `docs/rules.md` and their `precision`; the run has
//!   `automationDetails` (GitHub's category);
//! - columns are Unicode code points (`columnKind`), computed from the source when it can be
//!   read (the analysis counts bytes; kernel sources are ASCII almost everywhere).
//!
//! The fingerprint is FNV-1a (64 bits) of the rule, the file, the routine and the text of the
//! primary line without any whitespace, followed by `:N` for the N-th result with the same
//! hash: it survives code moving up or down and reindentation, and is the same on every
//! platform and Rust version. When the file cannot be read the line text counts as empty.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::flow::{line_mark, step_text};
use super::{Mark, Sources};
use crate::fix::FilePatch;
use crate::rules::CheckReport;
use crate::rules::{Finding, Rule, Severity, RULES};

/// What the log's `$schema` points at: the OASIS Standard schema (errata 01).
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
pub const INFORMATION_URI: &str = "https://github.com/modrace/modrace";
const SRCROOT: &str = "%SRCROOT%";
/// The key of modrace's partial fingerprint: versioned, as SARIF asks, so that a change of
/// the hash's inputs can come under a new key.
pub const FINGERPRINT: &str = "modraceFindingHash/v1";
/// `automationDetails.id`: GitHub code scanning's category for modrace's runs.
pub const AUTOMATION_ID: &str = "modrace/check/";

mod fixes;

pub(crate) fn render(
    report: &CheckReport,
    sources: &Sources,
    src_root: Option<&Path>,
    patches: &[FilePatch],
) -> String {
    let mut out = serde_json::to_string_pretty(&log(report, sources, src_root, patches))
        .unwrap_or_else(|e| json!({ "error": e.to_string() }).to_string());
    out.push('\n');
    out
}

fn log(
    report: &CheckReport,
    sources: &Sources,
    src_root: Option<&Path>,
    patches: &[FilePatch],
) -> Value {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let hash = line_hash(f, sources);
            let n = seen.entry(hash.clone()).or_default();
            *n += 1;
            let mut result = result(f, sources, format!("{hash}:{n}"));
            if let Some(fixes) = fixes::fixes(f, patches, artifact(&f.file)) {
                result["fixes"] = fixes;
            }
            result
        })
        .collect();
    let mut run = Map::new();
    run.insert(
        "tool".into(),
        json!({
            "driver": {
                "name": "modrace",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": INFORMATION_URI,
                "rules": RULES.iter().map(|r| rule(r)).collect::<Vec<_>>(),
            }
        }),
    );
    if let Some(root) = src_root.filter(|r| r.is_absolute()) {
        let mut uri = format!("file://{}", encode_path(&root.to_string_lossy()));
        if !uri.ends_with('/') {
            uri.push('/');
        }
        run.insert(
            "originalUriBaseIds".into(),
            json!({ SRCROOT: { "uri": uri } }),
        );
    }
    run.insert(
        "automationDetails".into(),
        json!({
            "id": AUTOMATION_ID,
            "description": { "text": "modrace check: module unload races" },
        }),
    );
    run.insert("columnKind".into(), json!("unicodeCodePoints"));
    run.insert("results".into(), Value::Array(results));
    run.insert("properties".into(), json!({ "stats": &report.stats }));
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [Value::Object(run)],
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn rule(r: &Rule) -> Value {
    let text = format!(
        "{}\n\nWrong:\n\n{}\n\nRight:\n\n{}\n",
        r.explanation, r.wrong, r.right
    );
    let markdown = format!(
        "{}\n\n**Wrong**\n\n```c\n{}\n```\n\n**Right**\n\n```c\n{}\n```\n",
        r.explanation, r.wrong, r.right
    );
    json!({
        "id": r.code,
        "name": r.name,
        "shortDescription": { "text": r.summary },
        "fullDescription": { "text": r.explanation },
        "help": { "text": text, "markdown": markdown },
        "helpUri": format!(
            "{INFORMATION_URI}/blob/main/{}#{}",
            super::rules_doc::RULES_PAGE,
            super::rules_doc::anchor(r)
        ),
        "defaultConfiguration": { "level": level(r.severity) },
        "properties": {
            "tags": ["correctness", "concurrency", "linux-kernel", "module-unload"],
            "precision": r.precision.as_str(),
        },
    })
}

fn result(f: &Finding, sources: &Sources, fingerprint: String) -> Value {
    let mut primary = physical(sources, &f.file, Mark::primary(f));
    if let Some(text) = sources
        .get(&f.file)
        .and_then(|s| s.line(f.line).map(|(_, l)| l.to_string()))
    {
        primary["region"]["snippet"] = json!({ "text": text });
    }
    let mut location = json!({ "physicalLocation": primary });
    if !f.function.is_empty() {
        location["logicalLocations"] = json!([{ "name": f.function, "kind": "function" }]);
    }

    let mut result = Map::new();
    result.insert("ruleId".into(), json!(f.rule));
    if let Some(i) = RULES.iter().position(|r| r.code == f.rule) {
        result.insert("ruleIndex".into(), json!(i));
    }
    result.insert("level".into(), json!(level(f.severity)));
    result.insert(
        "message".into(),
        json!({ "text": super::one_line(&f.message) }),
    );
    result.insert("locations".into(), json!([location]));

    // Related locations: the evidence, then the steps of the chain.
    let mut related = Vec::new();
    let mut id = 0;
    for e in &f.evidence {
        id += 1;
        related.push(json!({
            "id": id,
            "physicalLocation": physical(sources, &e.file, Mark::evidence(e)),
            "message": { "text": super::one_line(&e.note) },
        }));
    }
    for step in &f.chain {
        id += 1;
        related.push(json!({
            "id": id,
            "physicalLocation": physical(sources, &step.file, line_mark(step.line)),
            "message": { "text": step_text(step) },
        }));
    }
    if !related.is_empty() {
        result.insert("relatedLocations".into(), Value::Array(related));
    }

    let flow = code_flow(f, sources);
    if !flow.is_empty() {
        result.insert(
            "codeFlows".into(),
            json!([{ "threadFlows": [{ "locations": flow }] }]),
        );
    }
    result.insert(
        "partialFingerprints".into(),
        json!({ FINGERPRINT: fingerprint }),
    );
    let mut properties = json!({ "function": f.function, "slot": f.slot });
    if !f.help.is_empty() {
        properties["help"] = json!(f.help);
    }
    result.insert("properties".into(), properties);
    Value::Object(result)
}

/// The finding's path step by step ([`super::flow`]).
fn code_flow(f: &Finding, sources: &Sources) -> Vec<Value> {
    super::flow::steps(f)
        .into_iter()
        .map(|s| {
            json!({
                "location": {
                    "physicalLocation": physical(sources, s.file, s.mark),
                    "message": { "text": s.text },
                },
                "nestingLevel": s.nesting,
            })
        })
        .collect()
}

/// A `physicalLocation`: the file relative to `%SRCROOT%`, and the line with the columns of
/// what the text format would underline.
fn physical(sources: &Sources, file: &str, mark: Mark) -> Value {
    let mut location = json!({ "artifactLocation": artifact(file) });
    if mark.line == 0 {
        return location;
    }
    let mut region = json!({ "startLine": mark.line });
    match sources.locate(file, &mark) {
        Some(l) => {
            let column = |byte: usize| l.line[..byte].chars().count() + 1;
            region["startColumn"] = json!(column(l.range.start));
            if l.range.end > l.range.start {
                region["endColumn"] = json!(column(l.range.end));
            }
        }
        None if mark.column > 0 => region["startColumn"] = json!(mark.column),
        None => {}
    }
    location["region"] = region;
    location
}

/// An `artifactLocation`: relative to `%SRCROOT%`, or a `file://` URI for an absolute path.
fn artifact(file: &str) -> Value {
    if file.starts_with('/') {
        json!({ "uri": format!("file://{}", encode_path(file)) })
    } else {
        json!({ "uri": encode_path(file), "uriBaseId": SRCROOT })
    }
}

fn line_hash(f: &Finding, sources: &Sources) -> String {
    let text: String = sources
        .get(&f.file)
        .and_then(|s| {
            s.line(f.line)
                .map(|(_, l)| l.chars().filter(|c| !c.is_whitespace()).collect())
        })
        .unwrap_or_default();
    let mut h = Fnv1a::default();
    for part in [f.rule.as_str(), &f.file, &f.function, &text] {
        h.write(part.as_bytes());
        h.write(&[0]);
    }
    format!("{:016x}", h.0)
}

/// FNV-1a, 64 bits: small, and stable across platforms and Rust versions.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A path as a URI path: unreserved characters and `/` as they are, the rest percent-encoded.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        let hash = |s: &str| {
            let mut h = Fnv1a::default();
            h.write(s.as_bytes());
            h.0
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn paths_are_percent_encoded() {
        assert_eq!(encode_path("drivers/char/foo.c"), "drivers/char/foo.c");
        assert_eq!(encode_path("a b/c#d%.c"), "a%20b/c%23d%25.c");
        assert_eq!(encode_path("caf\u{e9}.c"), "caf%C3%A9.c");
    }
}
