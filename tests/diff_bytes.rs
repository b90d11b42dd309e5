//! `check --diff` is byte-exact: non-UTF-8 bytes, the file's own line ends (CRLF, `\n\r`,
//! no newline at the end) and file names git would quote survive `git apply` unchanged.

use modrace::fix::unified_diff;

/// Applies `diff` with `git apply` to a copy of `old` named `name` in a temporary directory
/// and returns the file afterwards; `None` where git is not installed.
fn git_apply(name: &str, old: &[u8], diff: &[u8]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, old).unwrap();
    std::fs::write(dir.path().join("fix.patch"), diff).unwrap();
    let out = std::process::Command::new("git")
        .args(["apply", "-p1", "fix.patch"])
        .current_dir(dir.path())
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "git apply rejected:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(diff)
    );
    Some(std::fs::read(&file).unwrap())
}

fn round_trip(name: &str, old: &[u8], new: &[u8]) -> Vec<u8> {
    let diff = unified_diff(name, old, new);
    if let Some(applied) = git_apply(name, old, &diff) {
        assert_eq!(
            applied,
            new,
            "{}",
            String::from_utf8_lossy(&diff).escape_debug()
        );
    }
    diff
}

#[test]
fn latin1_bytes_come_out_as_they_are() {
    let old = b"/* (c) J\xf6rg */\nint a;\nint b;\n";
    let new = b"/* (c) J\xf6rg */\nint a;\nint c;\n";
    let diff = round_trip("drivers/l.c", old, new);
    assert!(diff.windows(2).any(|w| w == b"J\xf6"));
    assert!(!diff.windows(3).any(|w| w == "\u{fffd}".as_bytes()));
    // A changed line with the byte itself.
    let new = b"/* (c) J\xf6rg S */\nint a;\nint b;\n";
    let diff = round_trip("drivers/l.c", old, new);
    assert!(diff.windows(4).any(|w| w == b"-/* "));
}

#[test]
fn crlf_and_lf_cr_files_keep_their_line_ends() {
    let old = b"int a;\r\nint b;\r\nint c;\r\n";
    let new = b"int a;\r\nint x;\r\nint b;\r\nint c;\r\n";
    let diff = round_trip("drivers/crlf.c", old, new);
    assert!(diff.windows(9).any(|w| w == b"+int x;\r\n"));
    let old = b"int a;\n\rint b;\n\rint c;\n\r";
    let new = b"int a;\n\rint x;\n\rint b;\n\rint c;\n\r";
    round_trip("drivers/lfcr.c", old, new);
    let old = b"int a;\nint b;";
    let new = b"int a;\nint c;";
    let diff = round_trip("drivers/noeol.c", old, new);
    assert!(String::from_utf8_lossy(&diff).contains("\\ No newline at end of file\n"));
}

#[test]
fn names_with_tab_cr_newline_are_quoted_as_git_does() {
    let diff = unified_diff("drivers/a\tb\r\nc\"\\.c", b"a\n", b"b\n");
    let text = String::from_utf8(diff).unwrap();
    assert!(
        text.starts_with(
            "--- \"a/drivers/a\\tb\\r\\nc\\\"\\\\.c\"\n+++ \"b/drivers/a\\tb\\r\\nc\\\"\\\\.c\"\n"
        ),
        "{text}"
    );
    round_trip("drivers/a\tb.c", b"a\n", b"b\n");
    if cfg!(unix) {
        round_trip("drivers/a\nb.c", b"a\n", b"b\n");
    }
}
