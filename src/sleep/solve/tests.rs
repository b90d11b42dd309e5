//! Unit tests of the parent module.

use super::*;
use crate::index::FnRef;
use crate::scan::testing::scan_of as scan;
use crate::scan::Scan;
use crate::sleep::graph::Builder;

const MM_H: (&str, &str) = (
    "include/linux/mm.h",
    "#define __GFP_WAIT 0x01\n#define GFP_ATOMIC 0x20\n#define GFP_KERNEL (__GFP_WAIT | 0x10)\n",
);

/// The solved summaries of a tree, by function name.
struct Solved<'s> {
    index: Index<'s>,
    graph: Graph,
    summaries: Vec<Summary>,
    scc_of: Vec<u32>,
}

impl Solved<'_> {
    fn node(&self, name: &str) -> NodeId {
        for (file, f) in self.index.files.iter().enumerate() {
            if let Some(func) = f.functions.iter().position(|x| x.name == name) {
                return self.graph.fn_node(FnRef { file, func });
            }
        }
        panic!("no function {name}")
    }

    fn summary(&self, name: &str) -> &Summary {
        &self.summaries[self.node(name) as usize]
    }

    /// The depth of the unconditional "sleeps" entry.
    fn sleeps(&self, name: &str) -> Option<u32> {
        self.summary(name).sleeps.map(|w| w.depth)
    }
}

fn solve(scan: &Scan, policy: UnknownPolicy) -> Solved<'_> {
    let kb = Kb::builtin();
    let index = Index::build(scan, &kb);
    let (mut graph, _) = Builder::new(&index, &kb, None).build();
    let masks = MaskTable::new(&index.macros, &kb.data.sleep);
    let consts = crate::sleep::consts::ConstTable::new(index.files);
    let strings = std::mem::take(&mut graph.strings);
    let solver = Solver {
        index: &index,
        kb: &kb,
        graph: &graph,
        masks: &masks,
        consts: &consts,
        policy,
        strings: RefCell::new(strings),
    };
    let (summaries, scc_of, _) = solver.solve();
    drop(solver);
    Solved {
        index,
        graph,
        summaries,
        scc_of,
    }
}

#[test]
fn recursion_is_solved_to_a_fixpoint() {
    let s = scan(&[(
        "kernel/r.c",
        "int flag;\n\
         int pong(int n);\n\
         int ping(int n) { if (flag) return pong(n - 1); return 0; }\n\
         int pong(int n) { if (flag) return ping(n - 1); schedule(); return 0; }\n\
         int walk(int n) { if (flag) walk(n - 1); return ping(n); }\n\
         int even(int n) { return n ? odd(n - 1) : 1; }\n\
         int odd(int n) { return n ? even(n - 1) : 0; }\n\
         int top(void) { return walk(3); }\n\
         int deep(int n) { if (n) { schedule(); return deep(n - 1); } return 0; }\n\
         int shallow(void) { return deep(0); }\n",
    )]);
    let r = solve(&s, UnknownPolicy::NoSleep);
    // ping and pong are one component; pong sleeps directly, ping through pong.
    assert_eq!(
        r.scc_of[r.node("ping") as usize],
        r.scc_of[r.node("pong") as usize]
    );
    assert_ne!(
        r.scc_of[r.node("ping") as usize],
        r.scc_of[r.node("walk") as usize]
    );
    assert_eq!(r.sleeps("pong"), Some(1));
    assert_eq!(r.sleeps("ping"), Some(2));
    // The shortest chain wins: walk -> ping -> pong -> schedule, not through walk again.
    assert_eq!(r.sleeps("walk"), Some(3));
    assert_eq!(r.sleeps("top"), Some(4));
    let why = r.summary("ping").sleeps.unwrap();
    assert_eq!(why.next, Next::Node(r.node("pong"), Entry::Sleeps));
    // A test of a parameter is a guard, even around recursion: `deep` sleeps only when
    // its argument is nonzero, and `shallow` passes zero.
    let g = Guard {
        param: 0,
        nonzero: true,
        bits: u64::MAX,
    };
    assert_eq!(r.sleeps("deep"), None);
    assert_eq!(
        r.summary("deep")
            .guards
            .iter()
            .map(|x| x.0)
            .collect::<Vec<_>>(),
        vec![g]
    );
    assert_eq!(r.sleeps("shallow"), None);
    assert!(r.summary("shallow").guards.is_empty());
    // Recursion without a sleep stays silent.
    assert_eq!(r.sleeps("even"), None);
    assert_eq!(r.sleeps("odd"), None);
}

#[test]
fn a_mask_parameter_makes_the_summary_conditional() {
    let s = scan(&[
        MM_H,
        (
            "net/core/sock.c",
            "#include <linux/mm.h>\n\
             void *sk_alloc(int family, int priority) { return kmalloc(64, priority); }\n\
             void *wrap(int how) { return sk_alloc(1, how); }\n\
             void *k(void) { return wrap(GFP_KERNEL); }\n\
             void *a(void) { return wrap(GFP_ATOMIC); }\n\
             void *v(struct sock *sk) { return sk_alloc(1, sk->allocation); }\n",
        ),
    ]);
    let r = solve(&s, UnknownPolicy::NoSleep);
    let sk = r.summary("sk_alloc");
    assert_eq!(sk.sleeps, None);
    assert_eq!(sk.conds.iter().map(|c| c.0).collect::<Vec<_>>(), vec![1]);
    assert_eq!(sk.entry(Entry::Mask(1)).unwrap().depth, 1);
    // Through a wrapper the condition moves to the wrapper's own parameter.
    let wrap = r.summary("wrap");
    assert_eq!(wrap.conds.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0]);
    assert_eq!(wrap.entry(Entry::Mask(0)).unwrap().depth, 2);
    // Callers decide with their arguments.
    assert_eq!(r.sleeps("k"), Some(3));
    let mask = r.summary("k").sleeps.unwrap().mask;
    assert!(mask.is_some(), "the sleeping mask is named");
    assert_eq!(r.sleeps("a"), None);
    assert!(r.summary("a").conds.is_empty());
    // A mask read from a field is unknown: under the default policy it does not sleep.
    assert_eq!(r.sleeps("v"), None);
    assert!(r.summary("v").conds.is_empty());
    let r = solve(&s, UnknownPolicy::Sleeps);
    assert_eq!(r.sleeps("v"), Some(2));
}

#[test]
fn guards_follow_the_callers_arguments() {
    let s = scan(&[
        MM_H,
        (
            "net/core/neigh.c",
            "#include <linux/mm.h>\n\
             void *lookup(int key, int creat) { if (!creat) return 0; return kmalloc(8, GFP_KERNEL); }\n\
             void *find(int key) { return lookup(key, 0); }\n\
             void *make(int key) { return lookup(key, 1); }\n\
             void *pass(int key, int c) { return lookup(key, c); }\n",
        ),
    ]);
    let r = solve(&s, UnknownPolicy::NoSleep);
    let g = Guard {
        param: 1,
        nonzero: true,
        bits: u64::MAX,
    };
    let lookup = r.summary("lookup");
    assert_eq!(lookup.sleeps, None);
    assert_eq!(
        lookup.guards.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![g]
    );
    assert_eq!(r.sleeps("find"), None);
    assert_eq!(r.sleeps("make"), Some(2));
    let pass = r.summary("pass");
    assert_eq!(pass.sleeps, None);
    assert_eq!(
        pass.guards.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![Guard {
            param: 1,
            nonzero: true,
            bits: u64::MAX
        }]
    );
}

fn no_value(_: &str) -> Option<i64> {
    None
}

#[test]
fn bit_guard_arguments() {
    let user = Guard {
        param: 0,
        nonzero: true,
        bits: 1,
    };
    let args = |a: &str| vec![crate::facts::Text::from(a)];
    let mut value = |t: &str| match t {
        "F_USER" => Some(1),
        "F_SECOND" => Some(2),
        "F_USER | F_SECOND" => Some(3),
        _ => None,
    };
    let mut judge = |a: &str, g| guard_arg(Some(&args(a)), g, &["flags"], 1, &mut value);
    assert_eq!(judge("F_SECOND", user), GuardArg::Fails);
    assert_eq!(judge("0", user), GuardArg::Fails);
    assert_eq!(judge("F_USER | F_SECOND", user), GuardArg::Holds);
    assert_eq!(judge("3", user), GuardArg::Holds);
    // No value: it may hold. The caller's parameter passes the bit test on.
    assert_eq!(judge("F_OTHER", user), GuardArg::Holds);
    assert_eq!(judge("flags", user), GuardArg::Param(0));
    let not_user = Guard {
        nonzero: false,
        ..user
    };
    assert_eq!(judge("F_SECOND", not_user), GuardArg::Holds);
    assert_eq!(judge("F_USER", not_user), GuardArg::Fails);
}

#[test]
fn guard_arguments() {
    let g = Guard {
        param: 0,
        nonzero: true,
        bits: u64::MAX,
    };
    let args = |a: &str| vec![crate::facts::Text::from(a)];
    assert_eq!(
        guard_arg(Some(&args("1")), g, &[], 0, &mut no_value),
        GuardArg::Holds
    );
    assert_eq!(
        guard_arg(Some(&args("0")), g, &[], 0, &mut no_value),
        GuardArg::Fails
    );
    assert_eq!(
        guard_arg(Some(&args("(NULL)")), g, &[], 0, &mut no_value),
        GuardArg::Fails
    );
    let zero = Guard {
        param: 0,
        nonzero: false,
        bits: u64::MAX,
    };
    assert_eq!(
        guard_arg(Some(&args("NULL")), zero, &[], 0, &mut no_value),
        GuardArg::Holds
    );
    // The caller's own parameter passes the guard on, if the caller never assigns it.
    assert_eq!(
        guard_arg(Some(&args("c")), g, &["k", "c"], 0b10, &mut no_value),
        GuardArg::Param(1)
    );
    assert_eq!(
        guard_arg(Some(&args("c")), g, &["k", "c"], 0b01, &mut no_value),
        GuardArg::Holds
    );
    assert_eq!(
        guard_arg(Some(&args("x + 1")), g, &["x"], 1, &mut no_value),
        GuardArg::Holds
    );
    // A missing argument may be anything; a member site passes the parameter through.
    assert_eq!(
        guard_arg(Some(&[]), g, &[], 0, &mut no_value),
        GuardArg::Holds
    );
    assert_eq!(
        guard_arg(None, g, &[], 0, &mut no_value),
        GuardArg::Param(0)
    );
}

#[test]
fn tarjan_orders_callees_first() {
    let s = scan(&[(
        "kernel/t.c",
        "int c(void) { return 0; }\n\
         int b(void);\n\
         int a(void) { return b(); }\n\
         int b(void) { c(); return a(); }\n\
         int top(void) { return a(); }\n",
    )]);
    let r = solve(&s, UnknownPolicy::NoSleep);
    let (scc_of, sccs) = tarjan(&r.graph);
    assert_eq!(scc_of, r.scc_of);
    let comp = |n: &str| scc_of[r.node(n) as usize];
    assert_eq!(comp("a"), comp("b"));
    let ab = &sccs[comp("a") as usize];
    assert_eq!(ab.len(), 2);
    // Components come callees first.
    assert!(comp("c") < comp("a"));
    assert!(comp("a") < comp("top"));
}

#[test]
fn summaries_keep_the_shortest_why() {
    let w = |depth| Why {
        depth,
        site: depth,
        next: Next::End,
        mask: None,
    };
    let mut s = Summary::default();
    s.offer_sleeps(w(3));
    s.offer_sleeps(w(2));
    s.offer_sleeps(w(5));
    assert_eq!(s.sleeps, Some(w(2)));
    s.offer_cond(2, w(4));
    s.offer_cond(0, w(6));
    s.offer_cond(2, w(1));
    assert_eq!(s.conds, vec![(0, w(6)), (2, w(1))]);
    assert_eq!(s.entry(Entry::Mask(2)), Some(w(1)));
    assert_eq!(s.entry(Entry::Mask(1)), None);
    let mut u = Unknowns {
        ids: (0..40).rev().chain(0..5).collect(),
        more: false,
    };
    u.normalize();
    assert_eq!(u.ids, (0..MAX_UNKNOWNS as u32).collect::<Vec<_>>());
    assert!(u.more);
}
