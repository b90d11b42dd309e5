//! SARIF `fixes`: applying every result's replacements to the original files gives exactly
//! what `--diff` gives, and the log with fixes still validates against the official schema.

mod support;

use std::path::Path;

use modrace::report::{self, Format, Options};
use modrace::rules::RuleFilter;
use serde_json::Value;
use support::Tree;

/// Applies SARIF replacements (line/column regions, columns in code points) to a text.
fn apply(text: &str, replacements: &[&Value]) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let offset = |line: u64, column: u64| -> usize {
        let before: usize = lines[..(line - 1) as usize].iter().map(|l| l.len()).sum();
        let within = lines.get((line - 1) as usize).map_or(0, |l| {
            l.char_indices()
                .nth((column - 1) as usize)
                .map_or(l.len(), |(i, _)| i)
        });
        before + within
    };
    let mut edits: Vec<(usize, usize, String)> = replacements
        .iter()
        .map(|r| {
            let d = &r["deletedRegion"];
            let n = |k: &str| d[k].as_u64().unwrap();
            (
                offset(n("startLine"), n("startColumn")),
                offset(n("endLine"), n("endColumn")),
                r["insertedContent"]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (start, end, insert) in edits {
        out.replace_range(start..end, &insert);
    }
    out
}

#[test]
fn sarif_fixes_add_up_to_the_diff() {
    let tree = Tree::copy_of("check");
    let outcome = support::check_outcome(&tree, &RuleFilter::default(), true);
    assert!(outcome.patches.len() >= 2, "several files are fixed");
    let source = report::read_from_roots(&[tree.root().to_path_buf()]);
    let log = report::render_with(
        Format::Sarif,
        &outcome.report,
        &source,
        &Options {
            patches: &outcome.patches,
            ..Options::default()
        },
    );
    let log: Value = serde_json::from_str(&log).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let with_fixes = results.iter().filter(|r| r.get("fixes").is_some()).count();
    let fixed: usize = outcome.patches.iter().map(|p| p.fixes.len()).sum();
    assert_eq!(
        with_fixes, fixed,
        "every fixed finding, and only those, has a fix"
    );
    for patch in &outcome.patches {
        // One fix per routine: findings of one routine share theirs.
        let mut changes: Vec<&Value> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in results {
            let Some(fixes) = r.get("fixes") else {
                continue;
            };
            let change = &fixes[0]["artifactChanges"][0];
            if change["artifactLocation"]["uri"] != patch.file.as_str() {
                continue;
            }
            let function = r["properties"]["function"].as_str().unwrap();
            if seen.insert(function.to_string()) {
                changes.extend(change["replacements"].as_array().unwrap());
            }
        }
        let original = String::from_utf8(patch.original.clone()).unwrap();
        let patched = String::from_utf8(patch.patched.clone()).unwrap();
        assert_eq!(apply(&original, &changes), patched, "{}", patch.file);
    }
    // Still a valid log.
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/report/sarif-schema-2.1.0-errata01.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::options().build(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&log).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_rules_page_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(report::rules_doc::RULES_PAGE);
    let page = report::rules_doc::markdown();
    if std::env::var_os("MODRACE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &page).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == page,
        "{} is out of date: MODRACE_BLESS=1 cargo test --test sarif_fixes",
        path.display()
    );
}
