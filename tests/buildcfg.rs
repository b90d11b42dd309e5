//! The tree's own build configuration (issue 13, classes 4 and 6), on `tests/fixtures/buildcfg`:
//! a 2.2-era tree whose top-level Makefile gives the release, whose Config.in files say which
//! symbols can be `m`, and whose Makefile has 2.2-style module branches. Every finding is
//! announced by an `expect:` comment, and each class has a clean twin.

mod support;

use modrace::buildinfo::{BuildVerdict, ModuleEvidence, SymbolKind};
use support::Tree;

fn fixtures() -> Tree {
    Tree::fixture("buildcfg")
}

#[test]
fn fixtures_meet_their_inline_expectations() {
    let tree = fixtures();
    support::assert_expectations(&tree);
    assert_eq!(
        support::expectations(&tree).len(),
        15,
        "the fixtures lost their expectations"
    );
}

/// Each `entries` verdict carries its reason: the list and its Makefile line, the symbol and
/// the Config.in line that declares it.
#[test]
fn module_verdicts_carry_their_reason() {
    let (report, _) = support::entries(&fixtures());
    let entry = |function: &str| {
        (report.entries.iter())
            .find(|e| e.function == function)
            .unwrap_or_else(|| panic!("{function} is an entry"))
    };
    let foo = entry("foo_open");
    assert!(foo.module_capable && foo.module_evidence == ModuleEvidence::Makefile);
    let BuildVerdict::Module(origin) = &foo.module_reason else {
        panic!("foo.c is a module: {:?}", foo.module_reason)
    };
    assert_eq!((origin.list.as_str(), origin.line), ("M_OBJS", 11));
    let symbol = origin.symbol.as_ref().unwrap();
    let declared = symbol.declared.as_ref().unwrap();
    assert_eq!(
        (
            symbol.name.as_str(),
            declared.kind,
            declared.file.as_str(),
            declared.line
        ),
        (
            "CONFIG_FOO",
            SymbolKind::Tristate,
            "drivers/char/Config.in",
            4
        )
    );
    let arch = entry("archdev_open");
    assert!(arch.module_capable);
    let bar = entry("bar_open");
    assert!(!bar.module_capable);
    assert!(matches!(&bar.module_reason, BuildVerdict::Blocked(o)
        if o.symbol.as_ref().and_then(|s| s.declared.as_ref()).map(|d| d.kind) == Some(SymbolKind::Bool)));
    let unbuilt = entry("unbuilt_open");
    assert!(!unbuilt.module_capable && unbuilt.module_evidence == ModuleEvidence::None);
    assert!(matches!(
        unbuilt.module_reason,
        BuildVerdict::Unnamed { .. }
    ));
    let text = modrace::report::entries::render(&report, None);
    assert!(
        text.contains("module=no (only M_OBJS at drivers/char/Makefile:20, CONFIG_BAR bool at drivers/char/Config.in:5: cannot be m)"),
        "{text}"
    );
}
