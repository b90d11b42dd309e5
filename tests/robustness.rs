//! Bad input gives warnings or clear errors, never a panic.

mod support;

use std::path::{Path, PathBuf};

use support::{Ask, Output};

fn scan(root: &Path) -> anyhow::Result<modrace::scan::Scan> {
    support::scan(root)
}

#[test]
fn binary_and_non_utf8_and_malformed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blob.c"), b"\x7fELF\x00\x00\x01binary").unwrap();
    std::fs::write(
        dir.path().join("latin1.c"),
        b"/* Copyright J\xf6rg */\nstatic int f(void) { return 0; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.c"),
        b"static int g( { ) } } #endif\n#else\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not C").unwrap();
    let s = scan(dir.path()).unwrap();
    assert_eq!(s.files.len(), 2);
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].message.contains("binary"));
    let latin1 = s.files.iter().find(|f| f.path == "latin1.c").unwrap();
    assert_eq!(latin1.functions[0].name, "f");
    assert!(!latin1.functions[0].has_error);
}

#[test]
fn deeply_nested_and_large_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut deep = String::from("int f(void) { return ");
    deep.push_str(&"(".repeat(50_000));
    deep.push('1');
    deep.push_str(&")".repeat(50_000));
    deep.push_str("; }\n");
    std::fs::write(dir.path().join("deep.c"), deep).unwrap();
    let mut large = String::new();
    for i in 0..20_000 {
        large.push_str(&format!(
            "static int f{i}(int a) {{ if (a) return a; return {i}; }}\n"
        ));
    }
    std::fs::write(dir.path().join("large.c"), large).unwrap();
    let s = scan(dir.path()).unwrap();
    assert_eq!(s.files.len(), 2);
    assert!(s
        .warnings
        .iter()
        .any(|w| w.path == "deep.c" && w.message.contains("nesting")));
    let large = s.files.iter().find(|f| f.path == "large.c").unwrap();
    assert_eq!(large.functions.len(), 20_000);
}

#[test]
fn missing_path_is_an_error() {
    let err = scan(Path::new("/nonexistent/modrace/tree")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/modrace/tree"));
}

#[cfg(unix)]
#[test]
fn symlink_loop_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/loop")).unwrap();
    std::fs::write(dir.path().join("sub/a.c"), b"int a;\n").unwrap();
    let s = scan(dir.path()).unwrap();
    assert_eq!(s.files.len(), 1);
    assert!(s.warnings.iter().any(|w| w.message.contains("loop")));
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("secret.c");
    std::fs::write(&p, b"int a;\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    let s = scan(dir.path()).unwrap();
    // root can read anything; either way no panic and no lost file silently.
    assert_eq!(s.files.len() + s.warnings.len(), 1);
}

#[test]
fn may_sleep_analysis_on_odd_code() {
    use modrace::sleep::UnknownPolicy;
    let dir = tempfile::tempdir().unwrap();
    // Self-recursive and mutually recursive macros, a macro calling its own name, unbalanced
    // text in macro bodies, casts that parse as calls, calls through odd expressions,
    // non-ASCII bytes next to identifiers, a mask that is a cycle of macros.
    std::fs::write(
        dir.path().join("odd.h"),
        "#define A(x) B(x)\n#define B(x) A(x)\n#define kfree_s(p) kfree_s(p, 0)\n\
         #define OPEN(x) f((x\n#define M1 M2\n#define M2 M1\n#define G \"a(\" g(\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("odd.c"),
        "int f(int (*p)(void), int x) { A(x); kfree_s(0); OPEN(1); G; (u32)(x); (*p)(); \
         ((struct nope *)0)->fn(); x[3](); (x ? f : f)(p, 1); kmalloc(4, M1); \
         kmalloc(); kmalloc(1, 2, 3, 4); return p(); }\n\
         int \u{e9}t\u{e9}(void) { return f(0, \"\u{e9}(\"); }\n",
    )
    .unwrap();
    for policy in [
        UnknownPolicy::NoSleep,
        UnknownPolicy::Sleeps,
        UnknownPolicy::Report,
    ] {
        let Ok((Output::Sleep(t), _)) = support::pipeline(dir.path(), Ask::Sleep(policy)) else {
            panic!("no may-sleep analysis");
        };
        let (index, sa) = (&t.index, &t.analysis);
        for (fi, f) in index.files.iter().enumerate() {
            for ci in 0..f.calls.len() {
                let _ = sa.call_verdict(index, fi, ci);
            }
        }
        for name in ["f", "A", "B", "kfree_s", "kmalloc", "", "(", "M1"] {
            let _ = sa.function_verdict(index, name, Some("M1"));
            let _ = sa.function_verdict(index, name, Some("(("));
            let _ = sa.function_verdict(index, name, None);
        }
    }
}

/// A reader that stops early (`modrace facts ... | head`) ends the output quietly: no panic
/// message, no panic exit code.
#[test]
fn closed_stdout_is_not_a_panic() {
    use std::process::Stdio;
    let tree = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/tree");
    let mut child = support::modrace_bin()
        .args(["-q", "facts", "--bodies"])
        .arg(&tree)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}
