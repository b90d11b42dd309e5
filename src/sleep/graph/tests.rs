//! Unit tests of the parent module.

use super::*;
use crate::scan::testing::scan_of as scan;
use crate::scan::Scan;

/// The graph of the tree, and a way to name the target of `caller`'s call of `callee`.
struct Built<'s> {
    index: Index<'s>,
    graph: Graph,
}

impl Built<'_> {
    fn target(&self, path: &str, caller: &str, callee: &str) -> Target {
        let fi = self
            .index
            .files
            .iter()
            .position(|f| f.path == path)
            .unwrap();
        let f = &self.index.files[fi];
        let ci = f
            .calls
            .iter()
            .position(|c| {
                c.callee == callee
                    && c.caller
                        .is_some_and(|k| f.functions[k as usize].name == caller)
            })
            .unwrap_or_else(|| panic!("no call of {callee} in {caller}"));
        self.graph.call_targets[fi][ci]
    }

    fn function(&self, path: &str, name: &str) -> Target {
        let file = self
            .index
            .files
            .iter()
            .position(|f| f.path == path)
            .unwrap();
        let func = self.index.files[file]
            .functions
            .iter()
            .position(|f| f.name == name)
            .unwrap();
        Target::Node(self.graph.fn_node(FnRef { file, func }))
    }

    fn unknown_text(&self, t: Target) -> &str {
        match t {
            Target::Unknown(u) => self.graph.strings.get(u),
            other => panic!("not an unknown: {other:?}"),
        }
    }
}

fn build(scan: &Scan) -> Built<'_> {
    let kb = Kb::builtin();
    let index = Index::build(scan, &kb);
    let (graph, _) = Builder::new(&index, &kb, None).build();
    Built { index, graph }
}

#[test]
fn direct_calls_resolve_as_c_sees_them() {
    let s = scan(&[
        (
            "drivers/a.c",
            "static int helper(void) { return 0; }\n\
             int a(int (*fp)(void)) { helper(); shared(); hidden(); nowhere(); fp(); printk(\"x\"); schedule(); return 0; }\n",
        ),
        (
            "kernel/b.c",
            "int shared(void) { return 0; }\nstatic int hidden(void) { return 0; }\nvoid schedule(void) { }\n",
        ),
    ]);
    let b = build(&s);
    assert_eq!(
        b.target("drivers/a.c", "a", "helper"),
        b.function("drivers/a.c", "helper")
    );
    assert_eq!(
        b.target("drivers/a.c", "a", "shared"),
        b.function("kernel/b.c", "shared")
    );
    // Another file's static is not visible; a name defined nowhere is unknown.
    assert!(matches!(
        b.target("drivers/a.c", "a", "hidden"),
        Target::Unknown(_)
    ));
    assert_eq!(
        b.unknown_text(b.target("drivers/a.c", "a", "nowhere")),
        "nowhere"
    );
    assert_eq!(
        b.unknown_text(b.target("drivers/a.c", "a", "fp")),
        "(*fp) (function pointer)"
    );
    // The knowledge base wins over the tree: `never`, and primitives over a definition.
    assert_eq!(b.target("drivers/a.c", "a", "printk"), Target::Never);
    let kb = Kb::builtin();
    let Target::Prim(p) = b.target("drivers/a.c", "a", "schedule") else {
        panic!("schedule is a primitive");
    };
    assert_eq!(kb.data.sleep.primitives[p as usize].name, "schedule");
}

#[test]
fn each_architecture_sees_its_own_definition() {
    let s = scan(&[
        (
            "arch/i386/kernel/irq.c",
            "int setup_irq(void) { return 1; }\nint use_i(void) { return setup_irq(); }\n",
        ),
        (
            "arch/alpha/kernel/irq.c",
            "int setup_irq(void) { return 2; }\nint use_a(void) { return setup_irq(); }\n",
        ),
        ("drivers/c.c", "int use_c(void) { return setup_irq(); }\n"),
    ]);
    let b = build(&s);
    let i386 = b.function("arch/i386/kernel/irq.c", "setup_irq");
    let alpha = b.function("arch/alpha/kernel/irq.c", "setup_irq");
    assert_eq!(
        b.target("arch/alpha/kernel/irq.c", "use_a", "setup_irq"),
        alpha
    );
    assert_eq!(
        b.target("arch/i386/kernel/irq.c", "use_i", "setup_irq"),
        i386
    );
    // Generic code sees the preferred architecture's.
    assert_eq!(b.target("drivers/c.c", "use_c", "setup_irq"), i386);
}

#[test]
fn calls_through_a_field_reach_the_slot_and_its_implementations() {
    let s = scan(&[
        (
            "include/linux/knob.h",
            "struct knob_ops {\n\tint (*turn)(int);\n};\n",
        ),
        (
            "drivers/knob.c",
            "#include <linux/knob.h>\n\
             static int left(int x) { return x; }\n\
             static int right(int x) { return -x; }\n\
             static struct knob_ops l_ops = { turn: left };\n\
             static struct knob_ops r_ops = { .turn = right };\n\
             int twist(struct knob_ops *ops) { return ops->turn(1); }\n",
        ),
    ]);
    let b = build(&s);
    let Target::Node(slot) = b.target("drivers/knob.c", "twist", "ops->turn") else {
        panic!("not a node");
    };
    assert!(
        matches!(&b.graph.nodes[slot as usize], NodeKind::Slot { name } if name == "knob_ops.turn"),
        "{:?}",
        b.graph.nodes[slot as usize]
    );
    let mut members: Vec<Target> = b.graph.sites[slot as usize]
        .iter()
        .map(|s| {
            assert!(matches!(s.origin, Origin::Member));
            s.target
        })
        .collect();
    members.sort_by_key(|t| format!("{t:?}"));
    let mut want = vec![
        b.function("drivers/knob.c", "left"),
        b.function("drivers/knob.c", "right"),
    ];
    want.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(members, want);
}

#[test]
fn macros_are_nodes_whose_bodies_are_scanned() {
    let s = scan(&[(
        "drivers/m.c",
        "#define WAIT_READY(q) interruptible_sleep_on(q)\nint m(int *q) { WAIT_READY(q); return 0; }\n",
    )]);
    let b = build(&s);
    let Target::Node(n) = b.target("drivers/m.c", "m", "WAIT_READY") else {
        panic!("not a node");
    };
    assert!(
        matches!(&b.graph.nodes[n as usize], NodeKind::Macro { params, .. } if params == &["q"])
    );
    let sites = &b.graph.sites[n as usize];
    assert_eq!(sites.len(), 1);
    let Origin::Body { idx } = sites[0].origin else {
        panic!("{:?}", sites[0].origin);
    };
    assert_eq!(
        b.graph.macro_sites[idx as usize].callee,
        "interruptible_sleep_on"
    );
    assert!(matches!(sites[0].target, Target::Prim(_)));
}

#[test]
fn rank_by_arch() {
    // Generic definitions are near everyone; an architecture's only its own code, and
    // generic code when it is the preferred one.
    assert!(!rank(None, Some(1), Some(0)));
    assert!(!rank(Some(1), Some(1), Some(0)));
    assert!(rank(Some(2), Some(1), Some(0)));
    assert!(!rank(Some(0), None, Some(0)));
    assert!(rank(Some(1), None, Some(0)));
}

#[test]
fn interner_gives_one_id_per_string() {
    let mut i = Interner::default();
    let a = i.intern("a");
    let b = i.intern("b");
    assert_ne!(a, b);
    assert_eq!(i.intern("a"), a);
    assert_eq!((i.get(a), i.get(b)), ("a", "b"));
    assert_eq!(i.strings.len(), 2);
}
