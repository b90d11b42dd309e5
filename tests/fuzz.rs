//! The fuzzing harness (issue 19): the fixtures' C files, mutated (bytes flipped, cut,
//! duplicated, C's and the kernel's own tokens inserted), run through the whole pipeline —
//! `check` with its fixes, in a 2.x and a 6.x tree — must never panic, and every patch it plans
//! must read back.
//!
//! CI runs a short fixed-seed run (the cases below, proptest's persisted failures replayed
//! first); a long run: `PROPTEST_CASES=20000 cargo test --release --test fuzz`.

mod support;

use proptest::prelude::*;

use modrace::rules::{Code, RuleFilter};
use support::Tree;

/// Tokens that drive the front end into its corners: unbalanced brackets and conditionals,
/// comments and literals left open, line splices, carriage returns, bytes that are not UTF-8,
/// and the words the analyses look for.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b";",
    b",",
    b"#if 0\n",
    b"#ifdef MODULE\n",
    b"#else\n",
    b"#endif\n",
    b"#define X(a) a(\n",
    b"/*",
    b"*/",
    b"//",
    b"\"",
    b"'",
    b"\\\n",
    b"\r",
    b"\n\r",
    b"\0",
    b"\xff\xfe",
    b"\xc3",
    b"MOD_INC_USE_COUNT;",
    b"MOD_DEC_USE_COUNT;",
    b"return -EBUSY;",
    b"return 0;",
    b"goto out;",
    b"out:",
    b"if (x)",
    b"else",
    b"while (1)",
    b"switch (x) {",
    b"case 1:",
    b"kmalloc(1, GFP_KERNEL);",
    b"lock_kernel();",
    b"try_module_get(THIS_MODULE)",
    b"module_put(THIS_MODULE);",
    b".owner = THIS_MODULE,",
    b"module_exit(x)",
    b"= {",
    b"->",
    b"static struct file_operations f = {",
    b"register_chrdev(1, \"x\", &f);",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Cut { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Repeat { at: usize, len: usize, times: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Cut { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<usize>(), 1usize..32, 2usize..40).prop_map(|(at, len, times)| Mutation::Repeat {
            at,
            len,
            times
        }),
    ]
}

fn apply(text: &mut Vec<u8>, m: &Mutation) {
    let pos = |at: usize, text: &Vec<u8>| {
        if text.is_empty() {
            0
        } else {
            at % (text.len() + 1)
        }
    };
    match *m {
        Mutation::Flip { at, byte } if !text.is_empty() => {
            let i = at % text.len();
            text[i] = byte;
        }
        Mutation::Flip { .. } => {}
        Mutation::Cut { at, len } => {
            let i = pos(at, text);
            let end = (i + len).min(text.len());
            text.drain(i..end);
        }
        Mutation::Insert { at, token } => {
            let i = pos(at, text);
            text.splice(i..i, TOKENS[token].iter().copied());
        }
        Mutation::Repeat { at, len, times } => {
            let i = pos(at, text);
            let end = (i + len).min(text.len());
            let piece = text[i..end].to_vec();
            for _ in 0..times {
                text.splice(end..end, piece.iter().copied());
            }
        }
    }
}

/// Every `.c` and `.h` file of the fixtures: the seeds.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(support::fixtures_dir()).sort_by_file_name() {
        let entry = entry.expect("the fixtures can be listed");
        let path = entry.path();
        let is_c = path.extension().is_some_and(|e| e == "c" || e == "h");
        if entry.file_type().is_file() && is_c {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read(path).expect("a fixture can be read")));
        }
    }
    out
}

/// `check` with fixes on a tree holding the mutant, every rule of the tree's era selected; each
/// planned patch must lower again.
fn check_survives(tree: &Tree) {
    let every = RuleFilter {
        select: vec![
            Code::Mr001,
            Code::Mr002,
            Code::Mr003,
            Code::Mr004,
            Code::Mr005,
        ]
        .into_iter()
        .chain([Code::Mr006, Code::Mr007, Code::Mr101, Code::Mr103])
        .chain([Code::Mr105, Code::Mr106])
        .collect(),
        ignore: vec![],
    };
    let ask = support::Ask::Check {
        filter: every,
        unknown: Default::default(),
        fixes: true,
    };
    let (output, _warnings) = support::pipeline(tree.root(), ask).expect("the tree can be read");
    let support::Output::Check(outcome) = output else {
        unreachable!("a check answers with a check")
    };
    let kb = modrace::kb::Kb::builtin();
    let front_end = modrace::facts::FrontEnd::new(&kb.data, &[], &[]);
    for patch in &outcome.patches {
        modrace::facts::extract(&patch.file, &patch.patched, &front_end);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        // Mutants are cheap; a failing case is shrunk to a small list of mutations.
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_fixtures_never_crash_the_pipeline(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..12),
        modern in any::<bool>(),
    ) {
        let seeds = seeds();
        let (name, text) = &seeds[seed.index(seeds.len())];
        let mut text = text.clone();
        for m in &mutations {
            apply(&mut text, m);
        }
        let tree = Tree::empty();
        if modern {
            tree.add_fixture("owners/include", "include");
            tree.add_fixture("owners/fs", "fs");
            tree.write("Makefile", "VERSION = 6\nPATCHLEVEL = 1\n");
        } else {
            tree.add_fixture("check/include", "include");
            tree.add_fixture("check/kernel", "kernel");
        }
        let dir = if name.ends_with(".h") { "include/linux" } else { "drivers/misc" };
        let path = tree.path(&format!("{dir}/fuzzed-{name}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        check_survives(&tree);
    }
}
