//! Rule 1 (MR004 and the `bkl` key) on the fixtures in `tests/fixtures/bkl`.
//!
//! Each call through a slot carries its expected verdict in a comment on its line,
//! `/* bkl: held */`, and `MR004` where a finding is expected. Every call site the analysis
//! finds must be annotated, and every annotation must be found.

mod support;

use std::collections::BTreeMap;

use modrace::bkl::BklReport;
use modrace::chain::chain_text;
use modrace::entries::Entry;
use modrace::facts::FrontEnd;
use modrace::kb::Kb;
use modrace::rules::{self, Code, Finding, RuleFilter};
use support::Tree;

/// The MR004 findings of a lock analysis.
fn mr004(report: &BklReport) -> Vec<Finding> {
    let mut out = Vec::new();
    rules::mr004::check(report, &mut out);
    out
}

fn analyse() -> (BklReport, Vec<Entry>) {
    support::bkl(&Tree::fixture("bkl"))
}

/// (file, line) -> (expected verdict, MR004 expected), from the fixtures' comments.
fn annotations() -> BTreeMap<(String, u32), (String, bool)> {
    support::annotations(&Tree::fixture("bkl"), "bkl: ")
        .into_iter()
        .map(|(file, line, rest)| {
            let verdict = rest.split_whitespace().next().unwrap().to_string();
            ((file, line), (verdict, rest.contains("MR004")))
        })
        .collect()
}

#[test]
fn every_call_site_has_the_annotated_verdict() {
    let (report, _) = analyse();
    let expected = annotations();
    let mut found = BTreeMap::new();
    for slot in &report.slots {
        for site in &slot.call_sites {
            found.insert(
                (site.file.clone(), site.line),
                site.verdict.as_str().to_string(),
            );
        }
    }
    let expected_verdicts: BTreeMap<_, _> = expected
        .iter()
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect();
    assert_eq!(
        found,
        expected_verdicts,
        "{}",
        modrace::report::bkl::render(&report)
    );
}

#[test]
fn mr004_exactly_where_annotated() {
    let (report, _) = analyse();
    let findings = mr004(&report);
    let mut got: Vec<(String, u32)> = findings.iter().map(|f| (f.file.clone(), f.line)).collect();
    got.sort();
    let want: Vec<(String, u32)> = annotations()
        .into_iter()
        .filter(|(_, (_, mr004))| *mr004)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(got, want);
    assert!(findings.iter().all(|f| f.rule == Code::Mr004));
    let ignored = RuleFilter {
        ignore: vec![Code::Mr004],
        ..RuleFilter::default()
    };
    let checked = support::check(&Tree::fixture("bkl"), &ignored);
    assert!(checked.findings.iter().all(|f| f.rule != Code::Mr004));
}

#[test]
fn the_mails_chain_and_the_exposed_module() {
    let (report, _) = analyse();
    let slot = report.slot(&slot("net_proto_family.create")).unwrap();
    // sunos_socket holds the lock around its asmlinkage helper; osf_socket is an entry.
    assert_eq!(slot.verdict.as_str(), "mixed");
    let site = &slot.call_sites[0];
    assert_eq!(
        chain_text(&site.unheld_chain),
        "sys_socket -> sock_create -> net_families[family]->create"
    );
    assert_eq!(
        chain_text(&site.held_chain),
        "sunos_socket -> sunos_socket_helper -> sock_create -> net_families[family]->create"
    );
    let f = mr004(&report)
        .into_iter()
        .find(|f| f.slot.to_string() == "net_proto_family.create")
        .unwrap();
    assert_eq!(
        (f.file.as_str(), f.function.as_str()),
        ("net/socket.c", "sock_create")
    );
    assert!(f.message.contains("inet6_create"), "{}", f.message);
    assert!(f.message.contains("some paths"), "{}", f.message);
    assert_eq!(f.chain.len(), 2);
    assert_eq!(f.chain[0].function, "sys_socket");
    assert_eq!(f.chain[0].call, "sock_create");
}

#[test]
fn held_by_a_caller_and_locally() {
    let (report, _) = analyse();
    let open = &report
        .slot(&slot("file_operations.open"))
        .unwrap()
        .call_sites[0];
    assert_eq!(
        chain_text(&open.held_chain),
        "sys_open -> filp_open -> f->f_op->open"
    );
    let statfs = report.slot(&slot("super_operations.statfs")).unwrap();
    assert_eq!(
        chain_text(&statfs.call_sites[0].held_chain),
        "sys_statfs -> sb->s_op->statfs"
    );
    // Through a local function pointer: `fn = fmt->load_binary; fn(bprm)`.
    let exec = &report
        .slot(&slot("linux_binfmt.load_binary"))
        .unwrap()
        .call_sites[0];
    assert_eq!(exec.callee, "fn");
}

#[test]
fn mixed_paths_have_both_witnesses() {
    let (report, _) = analyse();
    let site = &report.slot(&slot("widget_ops.open")).unwrap().call_sites[0];
    assert_eq!(
        chain_text(&site.held_chain),
        "sys_widget_locked -> widget_open_core -> widgets[unit]->open"
    );
    assert_eq!(
        chain_text(&site.unheld_chain),
        "sys_widget_bare -> widget_open_core -> widgets[unit]->open"
    );
    // Recursion: the recursive call holds the lock, the outer one does not.
    let tree = &report.slot(&slot("tree_ops.open")).unwrap().call_sites[0];
    assert_eq!(
        chain_text(&tree.unheld_chain),
        "sys_walk -> walk -> OPS_OF(n)->open"
    );
    assert_eq!(
        chain_text(&tree.held_chain),
        "walk -> walk -> OPS_OF(n)->open"
    );
}

#[test]
fn entries_get_the_bkl_key() {
    let (report, entries) = analyse();
    let bkl_of = |f: &str| {
        let e = entries
            .iter()
            .find(|e| e.function == f)
            .unwrap_or_else(|| panic!("no entry {f}"));
        report.verdict_of(e).as_str()
    };
    assert_eq!(bkl_of("inet6_create"), "mixed");
    assert_eq!(bkl_of("f_open"), "held");
    assert_eq!(bkl_of("w_open"), "mixed");
    assert_eq!(bkl_of("d_open"), "not-held");
    let rows: Vec<_> = entries
        .iter()
        .map(|e| modrace::report::entries::EntryRow::new(e, Some(&report)))
        .collect();
    let json = serde_json::to_value(&rows).unwrap();
    assert!(json[0]["bkl"].is_string());
}

#[test]
fn slots_the_tree_never_calls_are_unknown() {
    let (report, _) = analyse();
    let tty = report.slot(&slot("tty_driver.open")).unwrap();
    assert!(tty.call_sites.is_empty());
    assert_eq!(tty.verdict.as_str(), "unknown");
    assert!(report.slot(&slot("no_such.slot")).is_none());
    assert!(serde_json::to_string(&report).is_ok());
}

#[test]
fn blanked_attributes_are_kept_as_facts() {
    let kb = Kb::builtin();
    let front_end = FrontEnd::new(&kb.data, &[], &[]);
    let src = b"asmlinkage long sys_x(void)\n{\n\treturn 0;\n}\n\nstatic int __init\nfoo_init(void)\n{\n\treturn 0;\n}\n";
    let facts = modrace::facts::extract("x.c", src, &front_end);
    assert_eq!(facts.functions[0].attributes[..], ["asmlinkage"]);
    assert_eq!(facts.functions[1].attributes[..], ["__init"]);
}

fn slot(text: &str) -> modrace::entries::Slot {
    text.parse().unwrap()
}
