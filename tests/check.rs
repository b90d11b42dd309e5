//! `check` on the fixtures in `tests/fixtures/check`: every finding is announced by an
//! `expect: MRnnn` comment on its line, and every such comment is met.

mod support;

use modrace::kb::RuleFamily;
use modrace::rules::RULES;
use modrace::rules::{Code, RuleFilter};
use support::Tree;

fn fixtures() -> Tree {
    Tree::fixture("check")
}

#[test]
fn fixtures_meet_their_inline_expectations() {
    let tree = fixtures();
    support::assert_expectations(&tree);
    assert!(
        support::expectations(&tree).len() >= 15,
        "the fixtures lost their expectations"
    );
}

#[test]
fn mr001_explains_the_sleep_down_to_the_allocator() {
    let tree = fixtures();
    let report = support::check(&tree, &RuleFilter::default());
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == Code::Mr001 && f.function == "open_foo")
        .expect("open_foo is reported");
    assert_eq!(f.slot.to_string(), "file_operations.open");
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
    let text = tree.read("drivers/mr001_sleep_first.c");
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
    let report = support::check(&fixtures(), &only);
    assert!(!report.findings.is_empty());
    assert!(report.findings.iter().all(|f| f.rule == Code::Mr002));
    let without = RuleFilter {
        select: vec![],
        ignore: vec![Code::Mr002, Code::Mr005],
    };
    let report = support::check(&fixtures(), &without);
    assert!(report
        .findings
        .iter()
        .all(|f| f.rule != Code::Mr002 && f.rule != Code::Mr005));
}

/// Each rule's own wrong example is reported by that rule, and its right example is silent.
/// MR007's wrong example stands for a routine of thousands of lines (`mr007_incomplete_analysis`
/// in tests/rules.rs generates one); only its right example is checked here.
#[test]
fn rule_examples_are_wrong_and_right() {
    for rule in RULES.iter().filter(|r| r.code != Code::Mr004) {
        for (example, wrong) in [(rule.wrong, true), (rule.right, false)] {
            if wrong && rule.code == Code::Mr007 {
                continue;
            }
            let tree = Tree::empty();
            let module = if rule.code.family() == RuleFamily::ModuleRef {
                // A 6.x tree: its Makefile's version, the core that pins owners.
                tree.add_fixture("owners/include", "include");
                tree.add_fixture("owners/fs", "fs");
                tree.write("Makefile", "VERSION = 6\nPATCHLEVEL = 1\n");
                format!(
                    "#include <linux/fs.h>\n#include <linux/debugfs.h>\n\
                     static int frob_open(struct inode *i, struct file *f) {{ return 0; }}\n\
                     static int frob_release(struct inode *i, struct file *f) {{ return 0; }}\n\
                     {example}\n\
                     static void frob_exit(void) {{ }}\n\
                     module_init(frob_init);\nmodule_exit(frob_exit);\n"
                )
            } else {
                tree.add_fixture("check/include", "include");
                tree.add_fixture("check/kernel", "kernel");
                format!(
                    "#include <linux/fs.h>\n{example}\n\
                     static struct file_operations foo_fops = {{ open: foo_open }};\n\
                     static int foo_init(void) {{ return register_chrdev(42, \"foo\", &foo_fops); }}\n\
                     module_init(foo_init);\n"
                )
            };
            tree.write("foo.c", &module);
            // A preview rule runs when selected by name; the others with every rule.
            let only = RuleFilter {
                select: if rule.preview {
                    vec![rule.code]
                } else {
                    vec![]
                },
                ignore: vec![],
            };
            let report = support::check(&tree, &only);
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

/// A binary format that leaves pinning to the core: MR003 in a tree whose core does not pin
/// through `linux_binfmt.module` (2.3), nothing in one whose core does (2.4's
/// `try_inc_mod_count(fmt->module)`). The knowledge base names no owner field for it: the
/// tree's own call decides.
#[test]
fn a_core_that_pins_through_a_module_field_is_read_off_the_tree() {
    let with_core = support::check(&Tree::fixture("corepin"), &RuleFilter::default());
    assert!(
        with_core.findings.is_empty(),
        "the core pins, yet: {:#?}",
        with_core.findings
    );
    let tree = Tree::copy_of("corepin");
    tree.remove("core");
    let without_core = support::check(&tree, &RuleFilter::default());
    let rules: Vec<(&str, &str)> = without_core
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.function.as_str()))
        .collect();
    assert_eq!(rules, vec![("MR003", "load_toy_binary")]);
}

/// The harness itself: a string fixture becomes files, and the expectation diff names what is
/// missing and what is unexpected.
#[test]
fn string_fixtures_and_the_expectation_diff() {
    let tree = Tree::from_text(
        "\n//- /drivers/char/a.c\nint a; /* expect: MR003 */\n//- /include/b.h\nint b;\n",
    );
    assert_eq!(tree.c_files(), vec!["drivers/char/a.c", "include/b.h"]);
    assert_eq!(tree.read("include/b.h"), "int b;\n");
    let expected = support::expectations(&tree);
    let want = ("drivers/char/a.c".to_string(), 1, "MR003".to_string());
    assert_eq!(expected.iter().collect::<Vec<_>>(), vec![&want]);
    assert_eq!(support::expectation_diff(&expected, &expected), None);
    let other = [("drivers/char/a.c".to_string(), 2, "MR001".to_string())].into();
    assert_eq!(
        support::expectation_diff(&expected, &other).unwrap(),
        "missing:\n  drivers/char/a.c:1: MR003\nunexpected:\n  drivers/char/a.c:2: MR001\n"
    );
}

/// MR101 on a 6.x tree: tables handed to a routine that pins their owner, in modules that can
/// be unloaded, without an owner. The era comes from the fixture's top-level Makefile.
#[test]
fn owner_fixtures_meet_their_inline_expectations() {
    let tree = Tree::fixture("owners");
    let both = RuleFilter {
        select: vec![Code::Mr101, Code::Mr103],
        ignore: vec![],
    };
    let report = support::assert_expectations_with(&tree, &both);
    // MR103 runs by default, as MR101 does.
    let by_default = support::check(&tree, &RuleFilter::default());
    assert!(by_default.findings.iter().any(|f| f.rule == Code::Mr103));
    assert!(report
        .findings
        .iter()
        .all(|f| f.rule.family() == RuleFamily::ModuleRef));
    assert_eq!(
        support::expectations(&tree).len(),
        10,
        "the fixtures lost expectations"
    );
}
