//! `check --fix` changes only what it fixes (issue 19): CRLF kept, symbolic links written
//! through, hard links, owner, group and mode kept or refused, a writer racing the fix wins,
//! temporary files cleaned, `--output` never overwrites an input.

mod support;

use std::path::Path;

use modrace::fix::{apply_patch, apply_patch_with, FilePatch, TEMP_PREFIX};
use support::Tree;

const FILE: &str = "drivers/mr001_sleep_first.c";

fn patch_of(tree: &Tree, file: &str) -> FilePatch {
    let outcome = support::check_outcome(tree, &Default::default(), true);
    outcome
        .patches
        .into_iter()
        .find(|p| p.file == file)
        .unwrap_or_else(|| panic!("no patch for {file}"))
}

fn temps_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(TEMP_PREFIX) || n.starts_with(".tmp"))
        .collect()
}

#[test]
fn crlf_files_stay_crlf() {
    for file in [FILE, "drivers/mr002_failure_paths.c"] {
        let tree = Tree::copy_of("check");
        let lf = patch_of(&tree, file);
        let crlf = tree.read(file).replace('\n', "\r\n");
        std::fs::write(tree.path(file), &crlf).unwrap();
        let patch = patch_of(&tree, file);
        assert_eq!(patch.fixes, lf.fixes);
        let lone_lf = patch
            .patched
            .windows(2)
            .filter(|w| w[1] == b'\n' && w[0] != b'\r')
            .count();
        assert_eq!(lone_lf, 0, "{}", String::from_utf8_lossy(&patch.patched));
        let back = String::from_utf8(patch.patched.clone())
            .unwrap()
            .replace("\r\n", "\n");
        assert_eq!(back.as_bytes(), lf.patched, "{file}");
    }
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_is_written_through() {
    let tree = Tree::copy_of("check");
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("real.c");
    std::fs::rename(tree.path(FILE), &target).unwrap();
    std::os::unix::fs::symlink(&target, tree.path(FILE)).unwrap();
    let patch = patch_of(&tree, FILE);
    apply_patch(&patch).unwrap();
    let link = std::fs::symlink_metadata(tree.path(FILE)).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), patch.patched);
    assert!(temps_in(elsewhere.path()).is_empty());
}

#[cfg(unix)]
#[test]
fn hard_links_are_refused_and_mode_and_owner_kept() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tree = Tree::copy_of("check");
    let patch = patch_of(&tree, FILE);
    let other = tree.path("drivers/other_name");
    std::fs::hard_link(tree.path(FILE), &other).unwrap();
    let err = apply_patch(&patch).unwrap_err().to_string();
    assert!(err.contains("hard links"), "{err}");
    assert_eq!(std::fs::read(tree.path(FILE)).unwrap(), patch.original);
    std::fs::remove_file(&other).unwrap();

    let path = tree.path(FILE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let root = std::fs::metadata(&path).unwrap().uid() == 0
        && std::os::unix::fs::chown(&path, Some(4321), Some(4322)).is_ok();
    apply_patch(&patch).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    if root {
        assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
    }
    assert_eq!(std::fs::read(&path).unwrap(), patch.patched);
}

#[test]
fn a_writer_racing_the_fix_wins() {
    let tree = Tree::copy_of("check");
    let patch = patch_of(&tree, FILE);
    let appended = |path: &Path| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(b"/* appended meanwhile */\n").unwrap();
    };
    let err = apply_patch_with(&patch, &appended).unwrap_err().to_string();
    assert!(err.contains("changed while"), "{err}");
    let now = std::fs::read(tree.path(FILE)).unwrap();
    assert!(now.starts_with(&patch.original) && now.ends_with(b"meanwhile */\n"));
    assert!(temps_in(&tree.path("drivers")).is_empty());
}

#[test]
fn stale_temporary_files_are_removed() {
    let tree = Tree::copy_of("check");
    let patch = patch_of(&tree, FILE);
    let stale = tree.path(&format!("drivers/{TEMP_PREFIX}killed"));
    let fresh = tree.path(&format!("drivers/{TEMP_PREFIX}running"));
    std::fs::write(&stale, b"half").unwrap();
    std::fs::write(&fresh, b"half").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    apply_patch(&patch).unwrap();
    assert!(!stale.exists());
    assert!(fresh.exists(), "a running fix's file stays");
}

#[test]
fn output_over_an_input_is_refused() {
    let tree = Tree::copy_of("check");
    let before = std::fs::read(tree.path(FILE)).unwrap();
    for extra in [&["--diff"][..], &[]] {
        let out = support::modrace_bin()
            .arg("check")
            .arg(tree.root())
            .args(extra)
            .arg("--output")
            .arg(tree.path(FILE))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is one of the files checked"), "{err}");
        assert_eq!(std::fs::read(tree.path(FILE)).unwrap(), before);
    }
    // A report beside the sources is fine.
    let out = support::modrace_bin()
        .arg("check")
        .arg(tree.root())
        .arg("--output")
        .arg(tree.path("report.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// SIGTERM or SIGINT while a temporary file exists: the run ends by the signal and leaves no
/// temporary file. The test watches the directory and signals as soon as one appears (a run
/// that ends before it sees one is counted, not failed: the write phase can be that quick).
#[cfg(unix)]
#[test]
fn a_signal_during_the_fix_leaves_no_temporary_file() {
    let mut signalled = 0;
    for (trial, sig) in [libc::SIGTERM, libc::SIGINT, libc::SIGTERM]
        .into_iter()
        .enumerate()
    {
        let tree = Tree::empty();
        let text =
            std::fs::read_to_string(support::fixtures_dir().join("check").join(FILE)).unwrap();
        for i in 0..150 {
            tree.write(&format!("drivers/f{i:03}.c"), &text);
        }
        let mut child = support::modrace_bin()
            .args(["check", "--fix", "-q"])
            .arg(tree.root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let drivers = tree.path("drivers");
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if !temps_in(&drivers).is_empty() {
                // SAFETY: signals the child this test started.
                unsafe { libc::kill(child.id() as libc::pid_t, sig) };
                signalled += 1;
                break child.wait().unwrap();
            }
        };
        let left = temps_in(&drivers);
        assert!(left.is_empty(), "trial {trial}: {status:?} left {left:?}");
    }
    eprintln!("{signalled} of 3 runs signalled with a temporary file present");
}

/// A file the user may not write is refused even when its directory is writable (access(2),
/// not mode bits): run as `nobody` through setpriv, where the test runs as root.
#[cfg(unix)]
#[test]
fn a_file_the_user_may_not_write_is_refused() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tree = Tree::copy_of("check");
    let path = tree.path(FILE);
    let before = std::fs::read(&path).unwrap();
    if std::fs::metadata(&path).unwrap().uid() != 0 {
        eprintln!("skipped: needs root to run modrace as another user");
        return;
    }
    let open = std::fs::Permissions::from_mode(0o777);
    std::fs::set_permissions(tree.root(), open.clone()).unwrap();
    std::fs::set_permissions(tree.path("drivers"), open).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_modrace"))
        .args(["--no-cache", "check", "--fix", "-q"])
        .arg(tree.root())
        .output();
    let Ok(out) = out else {
        eprintln!("skipped: no setpriv");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("mr001_sleep_first.c is not writable by you"),
        "{err}"
    );
    assert!(err.contains("refused (unchanged)"), "{err}");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.uid(), 0);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
