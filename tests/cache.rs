//! The fact cache and the whole-run memo, through the binary: a warm run prints what a cold
//! one does, byte for byte; an edit, another knowledge base or a damaged entry is never
//! answered from a stale entry.

mod support;

use std::path::{Path, PathBuf};

use support::Tree;

/// What a run printed: (exit code, stdout, stderr).
type Printed = (i32, Vec<u8>, Vec<u8>);

fn run(cache: Option<&Path>, args: &[&str], root: &Path) -> Printed {
    let mut cmd = support::modrace_bin();
    match cache {
        Some(dir) => cmd.arg("--cache-dir").arg(dir),
        None => cmd.arg("--no-cache"),
    };
    let out = cmd.args(args).arg(root).output().unwrap();
    (out.status.code().unwrap_or(-1), out.stdout, out.stderr)
}

/// Every entry file of a kind (`facts`, `memo`) in a cache directory.
fn entries(cache: &Path, kind: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(fans) = std::fs::read_dir(cache.join("v1").join(kind)) else {
        return out;
    };
    for fan in fans {
        for e in std::fs::read_dir(fan.unwrap().path()).unwrap() {
            out.push(e.unwrap().path());
        }
    }
    out.sort();
    out
}

fn forget_results(cache: &Path) {
    let _ = std::fs::remove_dir_all(cache.join("v1/memo"));
}

const COMMANDS: &[&[&str]] = &[
    &["check", "--format", "json"],
    &["check", "--format", "text", "--color", "always"],
    &["check", "--format", "gcc"],
    &["check", "--format", "sarif"],
    &["entries", "--format", "json"],
    &["bkl", "--format", "json"],
    &["stats", "--format", "json"],
    &["facts", "--bodies"],
];

#[test]
fn warm_runs_print_what_a_cold_run_prints() {
    let tree = Tree::fixture("check");
    let dir = tempfile::tempdir().unwrap();
    let mut uncached = Vec::new();
    for args in COMMANDS {
        let plain = run(None, args, tree.root());
        assert!(!plain.1.is_empty(), "{args:?} printed nothing");
        let cold = run(Some(dir.path()), args, tree.root());
        assert_eq!(cold, plain, "{args:?}: cold");
        let warm = run(Some(dir.path()), args, tree.root());
        assert_eq!(warm, plain, "{args:?}: warm");
        uncached.push(plain);
    }
    assert!(!entries(dir.path(), "facts").is_empty());
    assert!(
        !entries(dir.path(), "memo").is_empty(),
        "check's result is kept"
    );
    // Facts from the cache, the analyses run again.
    forget_results(dir.path());
    for (args, plain) in COMMANDS.iter().zip(&uncached) {
        let facts_only = run(Some(dir.path()), args, tree.root());
        assert_eq!(&facts_only, plain, "{args:?}: warm facts, no stored result");
    }
}

#[test]
fn why_sleeps_answers_from_the_cache_as_without_it() {
    let tree = Tree::fixture("sleep");
    let dir = tempfile::tempdir().unwrap();
    let ask = |cache| {
        let mut cmd = support::modrace_bin();
        match cache {
            Some(d) => cmd.arg("--cache-dir").arg(d),
            None => cmd.arg("--no-cache"),
        };
        let out = cmd
            .args(["why-sleeps", "kmalloc", "--format", "json", "--tree"])
            .arg(tree.root())
            .output()
            .unwrap();
        (out.status.code(), out.stdout, out.stderr)
    };
    let uncached = ask(None);
    assert_eq!(ask(Some(dir.path())), uncached);
    let written = entries(dir.path(), "facts");
    assert!(!written.is_empty());
    assert_eq!(ask(Some(dir.path())), uncached);
    assert_eq!(
        entries(dir.path(), "facts"),
        written,
        "a warm run writes nothing"
    );
}

#[test]
fn an_edited_file_is_parsed_again_and_only_it() {
    let tree = Tree::copy_of("check");
    let dir = tempfile::tempdir().unwrap();
    let args = &["check", "--format", "json"];
    let before = run(Some(dir.path()), args, tree.root());
    let facts_before = entries(dir.path(), "facts").len();
    // Remove the pin of the clean twin: a finding appears.
    let file = "drivers/mr001_try_inc.c";
    let text = tree.read(file);
    let pin_first =
        "\tif (!try_inc_mod_count(THIS_MODULE))\n\t\treturn -ENODEV;\n\tif (request_irq";
    let edited = text.replacen(pin_first, "\tif (request_irq", 1);
    assert_ne!(edited, text, "the fixture pins a module");
    tree.write(file, &edited);
    let after = run(Some(dir.path()), args, tree.root());
    assert_ne!(after.1, before.1, "the edit moves the findings");
    assert_eq!(
        after,
        run(None, args, tree.root()),
        "as a run without a cache"
    );
    assert_eq!(
        entries(dir.path(), "facts").len(),
        facts_before + 1,
        "one file's facts were made anew"
    );
    // Back to the first text: the first entries answer again.
    tree.write(file, &text);
    assert_eq!(run(Some(dir.path()), args, tree.root()), before);
}

#[test]
fn another_knowledge_base_never_reads_the_entries_of_the_first() {
    let tree = Tree::fixture("check");
    let dir = tempfile::tempdir().unwrap();
    let args = &["check", "--format", "json"];
    run(Some(dir.path()), args, tree.root());
    let first = entries(dir.path(), "facts");
    // A knowledge base that differs from the built-in one by a symbol no file uses.
    let kb = tempfile::NamedTempFile::new().unwrap();
    let text = "[preprocessor]\nundefined = [\"MODRACE_TEST_NOTHING\"]\n";
    std::fs::write(kb.path(), text).unwrap();
    let kb_arg = kb.path().to_str().unwrap();
    let mut with_kb = vec!["--kb", kb_arg];
    with_kb.extend_from_slice(args);
    let other = run(Some(dir.path()), &with_kb, tree.root());
    assert_eq!(other, run(None, &with_kb, tree.root()));
    let both = entries(dir.path(), "facts");
    assert_eq!(
        both.len(),
        2 * first.len(),
        "every file parsed again under the other KB"
    );
    // -D changes the facts' key too.
    let mut with_define = vec!["-D", "MODULE"];
    with_define.extend_from_slice(args);
    run(Some(dir.path()), &with_define, tree.root());
    assert_eq!(entries(dir.path(), "facts").len(), 3 * first.len());
}

#[test]
fn damaged_entries_are_rebuilt_and_the_output_stays_right() {
    let tree = Tree::fixture("check");
    let dir = tempfile::tempdir().unwrap();
    let args = &["check", "--format", "json"];
    let cold = run(Some(dir.path()), args, tree.root());
    let facts = entries(dir.path(), "facts");
    let good: Vec<Vec<u8>> = facts.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // Truncate half the entries, flip a byte in the others, and damage the stored result.
    for (i, path) in facts.iter().enumerate() {
        let mut bytes = good[i].clone();
        if i % 2 == 0 {
            bytes.truncate(bytes.len() / 2);
        } else {
            let last = bytes.len() - 1;
            bytes[last] ^= 0x5a;
        }
        std::fs::write(path, bytes).unwrap();
    }
    for memo in entries(dir.path(), "memo") {
        std::fs::write(&memo, b"modrace\x01 not an entry").unwrap();
    }
    assert_eq!(run(Some(dir.path()), args, tree.root()), cold);
    let rebuilt: Vec<Vec<u8>> = facts.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(rebuilt, good, "every damaged entry was written anew");
    assert_eq!(run(Some(dir.path()), args, tree.root()), cold);
}

#[test]
fn a_cache_directory_that_cannot_be_made_is_an_error_when_named() {
    let tree = Tree::fixture("check");
    let file = tempfile::NamedTempFile::new().unwrap();
    let (code, _, err) = run(Some(file.path()), &["check"], tree.root());
    assert_eq!(code, 2);
    assert!(
        String::from_utf8_lossy(&err).contains("cache directory"),
        "{}",
        String::from_utf8_lossy(&err)
    );
}

#[test]
fn runs_at_the_same_time_share_a_cache_directory() {
    let tree = Tree::fixture("check");
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--cache-dir",
        dir.path().to_str().unwrap(),
        "check",
        "--format",
        "json",
    ];
    let expected = run(None, &["check", "--format", "json"], tree.root());
    // Four cold runs at once write the same entries; each reads whole entries or none.
    let children: Vec<_> = (0..4)
        .map(|_| spawn(support::modrace_bin(), &args, tree.root()))
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let printed = (out.status.code().unwrap_or(-1), out.stdout, out.stderr);
        assert_eq!(printed, expected);
    }
    assert_eq!(
        run(
            Some(dir.path()),
            &["check", "--format", "json"],
            tree.root()
        ),
        expected
    );
    let stray: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "temporary files left: {stray:?}");
}

/// Starts `cmd ARGS ROOT` with its output captured, for runs at the same time.
fn spawn(mut cmd: std::process::Command, args: &[&str], root: &Path) -> std::process::Child {
    cmd.args(args)
        .arg(root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The analyses share memos across threads: what one thread finds must not depend on what
/// another asked first (a cycle guard once sat in a shared memo, and a destructor's decrement
/// came and went from run to run). Each run's answers equal a single-threaded run's.
#[test]
fn findings_do_not_depend_on_thread_timing() {
    let tree = Tree::fixture("check");
    let args = ["--no-cache", "check", "--format", "json"];
    let one = support::modrace_bin()
        .env("RAYON_NUM_THREADS", "1")
        .args(args)
        .arg(tree.root())
        .output()
        .unwrap();
    let children: Vec<_> = (0..12)
        .map(|_| {
            let mut cmd = support::modrace_bin();
            cmd.env("RAYON_NUM_THREADS", "8");
            spawn(cmd, &args, tree.root())
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&one.stdout)
        );
    }
}
