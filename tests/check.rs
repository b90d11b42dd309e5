//! `check` on the fixtures in `tests/fixtures/check`: every finding is announced by an
//! `expect: MRnnn` comment on its line, and every such comment is met.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use modrace::kb::Kb;
use modrace::rules::{CheckReport, Code, RuleFilter, RULES};
use modrace::session::Session;
use modrace::sleep::UnknownPolicy;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check")
}

fn run(root: &Path, filter: &RuleFilter) -> CheckReport {
    let out = Session::new(vec![root.to_path_buf()], Kb::builtin(), &[], &[])
        .check(filter, UnknownPolicy::default(), false)
        .expect("the fixture tree can be checked");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    out.value.report
}

type Expectation = (String, u32, String);

/// `expect: MR001, MR005` in a comment: those findings on that line.
fn expectations(root: &Path) -> BTreeSet<Expectation> {
    let mut out = BTreeSet::new();
    for entry in walk(root) {
        let text = std::fs::read_to_string(&entry).unwrap();
        let rel = entry
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for (i, line) in text.lines().enumerate() {
            if let Some((_, codes)) = line.split_once("expect: ") {
                for code in codes.split(|c: char| c == ',' || c.is_whitespace()) {
                    if code.starts_with("MR") {
                        out.insert((rel.clone(), i as u32 + 1, code.to_string()));
                    }
                }
            }
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "c") {
            out.push(p);
        }
    }
    out
}

fn found(report: &CheckReport) -> BTreeSet<Expectation> {
    report
        .findings
        .iter()
        .map(|f| (f.file.clone(), f.line, f.rule.to_string()))
        .collect()
}

#[test]
fn fixtures_meet_their_inline_expectations() {
    let root = fixtures();
    let report = run(&root, &RuleFilter::default());
    let expected = expectations(&root);
    let got = found(&report);
    let missing: Vec<_> = expected.difference(&got).collect();
    let unexpected: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "missing: {missing:#?}\nunexpected: {unexpected:#?}\nall: {:#?}",
        report.findings
    );
    assert!(expected.len() >= 15, "the fixtures lost their expectations");
}

#[test]
fn mr001_explains_the_sleep_down_to_the_allocator() {
    let report = run(&fixtures(), &RuleFilter::default());
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == Code::Mr001 && f.function == "open_foo")
        .expect("open_foo is reported");
    assert_eq!(f.slot, "file_operations.open");
    let first = f.chain.first().expect("a chain");
    assert!(first.call.starts_with("request_irq"), "{:?}", f.chain);
    let last = f.chain.last().unwrap();
    assert!(
        last.call.starts_with("kmalloc") && last.call.contains("GFP_KERNEL"),
        "{:?}",
        f.chain
    );
    assert_eq!(last.file, "kernel/irq.c");
    // The increment is part of the evidence.
    let text = std::fs::read_to_string(fixtures().join("drivers/mr001_sleep_first.c")).unwrap();
    let open_foo = text.find("static int open_foo(").unwrap();
    let inc = open_foo + text[open_foo..].find("MOD_INC_USE_COUNT;").unwrap();
    let inc_line = text[..inc].matches('\n').count() as u32 + 1;
    assert!(f.evidence.iter().any(|e| e.line == inc_line), "{inc_line}");
}

#[test]
fn select_and_ignore_filter_by_code() {
    let only = RuleFilter {
        select: vec![Code::Mr002],
        ignore: vec![],
    };
    let report = run(&fixtures(), &only);
    assert!(!report.findings.is_empty());
    assert!(report.findings.iter().all(|f| f.rule == Code::Mr002));
    let without = RuleFilter {
        select: vec![],
        ignore: vec![Code::Mr002, Code::Mr005],
    };
    let report = run(&fixtures(), &without);
    assert!(report
        .findings
        .iter()
        .all(|f| f.rule != Code::Mr002 && f.rule != Code::Mr005));
}

/// Each rule's own wrong example is reported by that rule, and its right example is silent.
#[test]
fn rule_examples_are_wrong_and_right() {
    for rule in RULES.iter().filter(|r| r.code != Code::Mr004) {
        for (example, wrong) in [(rule.wrong, true), (rule.right, false)] {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(&fixtures().join("include"), &dir.path().join("include"));
            copy_dir(&fixtures().join("kernel"), &dir.path().join("kernel"));
            let module = format!(
                "#include <linux/fs.h>\n{example}\n\
                 static struct file_operations foo_fops = {{ open: foo_open }};\n\
                 static int foo_init(void) {{ return register_chrdev(42, \"foo\", &foo_fops); }}\n\
                 module_init(foo_init);\n"
            );
            std::fs::write(dir.path().join("foo.c"), module).unwrap();
            let report = run(dir.path(), &RuleFilter::default());
            let codes: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
            if wrong {
                assert!(
                    codes.contains(&rule.code.as_str()),
                    "{}'s wrong example gives {codes:?}",
                    rule.code
                );
            } else {
                assert!(
                    codes.is_empty(),
                    "{}'s right example gives {codes:?}",
                    rule.code
                );
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A binary format that leaves pinning to the core: MR003 in a tree whose core does not pin
/// through `linux_binfmt.module` (2.3), nothing in one whose core does (2.4's
/// `try_inc_mod_count(fmt->module)`). The knowledge base names no owner field for it: the
/// tree's own call decides.
#[test]
fn a_core_that_pins_through_a_module_field_is_read_off_the_tree() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corepin");
    let with_core = run(&fixture, &RuleFilter::default());
    assert!(
        with_core.findings.is_empty(),
        "the core pins, yet: {:#?}",
        with_core.findings
    );
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture, dir.path());
    std::fs::remove_dir_all(dir.path().join("core")).unwrap();
    let without_core = run(dir.path(), &RuleFilter::default());
    let rules: Vec<(&str, &str)> = without_core
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.function.as_str()))
        .collect();
    assert_eq!(rules, vec![("MR003", "load_toy_binary")]);
}
