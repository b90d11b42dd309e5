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
    // `#if LINUX_VERSION_CODE ...` depends on the top-level Makefile: two trees whose
    // files are the same bytes but whose releases differ must not share facts.
    let key = |version: &str| {
        let tree = tempfile::tempdir().unwrap();
        let makefile = format!("VERSION = 2\nPATCHLEVEL = {version}\nSUBLEVEL = 0\n");
        std::fs::write(tree.path().join("Makefile"), makefile).unwrap();
        let s = Session::new(vec![tree.path().to_path_buf()], Kb::builtin(), &[], &[]);
        s.options
    };
    assert_eq!(key("2"), key("2"));
    assert_ne!(key("2"), key("3"));
}

#[test]
fn a_session_without_a_cache_has_no_keys() {
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(tree.path().join("a.c"), "int x;\n").unwrap();
    let s = Session::new(vec![tree.path().to_path_buf()], Kb::builtin(), &[], &[]);
    assert_eq!(s.fingerprint(true).unwrap(), None);
    assert_eq!(s.entries().unwrap().inputs, None);
}
