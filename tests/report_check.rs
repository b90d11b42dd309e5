//! The output formats on findings the real check makes, with real spans: the excerpt must
//! point at the call the analysis found. The may-sleep analysis is stubbed: `kmalloc` with
//! `GFP_KERNEL` sleeps, nothing else does.

mod support;

use modrace::chain::ChainStep;
use modrace::index::Index;
use modrace::report::{self, Format};
use modrace::rules::CheckReport;
use modrace::usecount::SleepOracle;
use serde_json::Value;
use support::Tree;

struct KmallocSleeps;

impl SleepOracle for KmallocSleeps {
    fn call_chain(&self, index: &Index, file: usize, call: usize) -> Option<Vec<ChainStep>> {
        let facts = &index.files[file];
        let c = facts.calls.get(call)?;
        if c.callee != "kmalloc" || !c.args.iter().any(|a| a == "GFP_KERNEL") {
            return None;
        }
        let function = c
            .caller
            .and_then(|i| facts.functions.get(i as usize))
            .map(|f| f.name.to_string())
            .unwrap_or_default();
        Some(vec![ChainStep {
            function,
            file: facts.path.to_string(),
            line: c.line,
            call: format!("kmalloc({})", c.args.join(", ")),
        }])
    }
}

fn tree() -> Tree {
    Tree::fixture("report/tree")
}

fn run() -> CheckReport {
    support::check_with_oracle(&tree(), &KmallocSleeps)
}

#[test]
fn real_findings_render_with_their_excerpts() {
    let report = run();
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == modrace::rules::Code::Mr001)
        .unwrap_or_else(|| panic!("no MR001 in {:#?}", report.findings));
    assert_eq!((f.file.as_str(), f.line), ("drivers/char/foo.c", 10));

    let read = report::read_from_roots(&[tree().root().to_path_buf()]);
    let text = report::render(Format::Text, &report, &read, false);
    assert!(text.contains("error[MR001]: "), "{text}");
    assert!(text.contains("  --> drivers/char/foo.c:10:"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("10 | "))
        .unwrap_or_else(|| panic!("no excerpt of line 10:\n{text}"));
    assert_eq!(lines[at], "10 |         buf = kmalloc(4096, GFP_KERNEL);");
    // The caret sits under the call, after the expanded tab.
    let under = lines[at + 1];
    assert_eq!(under.find('^'), lines[at].find("kmalloc"), "{text}");
    assert!(text.contains("13 |         MOD_INC_USE_COUNT;"), "{text}");
    assert!(text.contains("= chain: foo_open (drivers/char/foo.c:10) -> kmalloc(4096, GFP_KERNEL)"));

    let gcc = report::render(Format::Gcc, &report, &read, false);
    assert!(gcc.starts_with("drivers/char/foo.c:10:"), "{gcc}");
    assert!(gcc.lines().next().unwrap().ends_with(" [MR001]"));

    let json: Value =
        serde_json::from_str(&report::render(Format::Json, &report, &read, false)).unwrap();
    assert_eq!(json["findings"][0]["file"], "drivers/char/foo.c");
    assert_eq!(json["stats"]["findings"], report.findings.len());

    let sarif: Value =
        serde_json::from_str(&report::render(Format::Sarif, &report, &read, false)).unwrap();
    let region = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 10);
    assert_eq!(
        region["snippet"]["text"],
        "\tbuf = kmalloc(4096, GFP_KERNEL);"
    );
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            support::fixtures_dir().join("report/sarif-schema-2.1.0-errata01.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
