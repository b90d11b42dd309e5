//! The session's keys of what a run read.

use super::*;

fn session(root: &std::path::Path, cache: &std::path::Path) -> Session {
    let mut s = Session::new(vec![root.to_path_buf()], Kb::builtin(), &[], &[]);
    s.cache = Some(Cache::open(cache, crate::cache::DEFAULT_MAX_BYTES).unwrap());
    s
}

#[test]
fn a_result_carries_the_key_of_what_its_run_read() {
    let tree = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = tree.path().join("a.c");
    std::fs::write(&file, "int f(void) { return 0; }\n").unwrap();
    let s = session(tree.path(), dir.path());
    let key = s.fingerprint(true).unwrap();
    assert!(key.is_some());
    assert_eq!(s.entries().unwrap().inputs, key);
    // Without a fingerprint just before, the scan reads everything itself: same key.
    assert_eq!(s.entries().unwrap().inputs, key);
    // A file that changes between the fingerprint and the scan, to bytes the cache does
    // not know: the result is not the fingerprint's.
    std::fs::write(&file, "int f(void) { return 1; }\n").unwrap();
    let seen = s.fingerprint(true).unwrap();
    std::fs::write(&file, "int f(void) { return 2; }\n").unwrap();
    let out = s.entries().unwrap();
    assert_ne!(out.inputs, seen);
    assert_eq!(out.inputs, s.fingerprint(true).unwrap());
}

#[test]
fn the_trees_release_is_in_the_facts_key() {
    // `#if LINUX_VERSION_CODE ...` depends on the top-level Makefile: the same bytes that
    // mention the release macros must not share facts between two releases; others may.
    let cache = tempfile::tempdir().unwrap();
    let tested = "#if LINUX_VERSION_CODE >= KERNEL_VERSION(2,3,0)\n\
                  int new_one(void) { return 1; }\n#else\nint old_one(void) { return 0; }\n#endif\n";
    let plain = "int plain(void) { return 0; }\n";
    let trees: Vec<_> = (2..=3).map(|_| tempfile::tempdir().unwrap()).collect();
    let run = |patchlevel: usize| {
        let tree = trees[patchlevel - 2].path();
        let makefile = format!("VERSION = 2\nPATCHLEVEL = {patchlevel}\nSUBLEVEL = 0\n");
        std::fs::write(tree.join("Makefile"), makefile).unwrap();
        std::fs::write(tree.join("v.c"), tested).unwrap();
        std::fs::write(tree.join("p.c"), plain).unwrap();
        let s = session(tree, cache.path());
        let key =
            |text: &str| scan::facts_key(&s.front_end, Key::of(text.as_bytes()), text.as_bytes());
        let (scan, _) = s.scan(&BodyPolicy::None).unwrap();
        let names: Vec<String> = (scan.files.iter())
            .flat_map(|f| f.functions.iter().map(|g| g.name.to_string()))
            .collect();
        (s.options, key(tested), key(plain), names)
    };
    let (old, new) = (run(2), run(3));
    assert_eq!(old.0, new.0, "the session-wide key holds no release");
    assert_ne!(old.1, new.1);
    assert_eq!(old.2, new.2);
    // The second tree's scan, with the first one's facts in the cache, sees its own release.
    assert_eq!(old.3, ["plain", "old_one"]);
    assert_eq!(new.3, ["plain", "new_one"]);
}

#[test]
fn a_session_without_a_cache_has_no_keys() {
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(tree.path().join("a.c"), "int x;\n").unwrap();
    let s = Session::new(vec![tree.path().to_path_buf()], Kb::builtin(), &[], &[]);
    assert_eq!(s.fingerprint(true).unwrap(), None);
    assert_eq!(s.entries().unwrap().inputs, None);
}
