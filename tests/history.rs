//! `modrace history` on a small git repository made here (with the `git` command line, in the
//! test only; no network): three tagged releases of a fixture tree in which findings are
//! born, fixed, lose their file, stop being modular, and move.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// A top-level Makefile of the 2.3 era, so the release is checked with its knowledge base.
const TOP_MAKEFILE: &str = "VERSION = 2\nPATCHLEVEL = 3\nSUBLEVEL = 99\n";

/// A module's open routine that pins the module late, after a call (a finding: MR005), or with
/// `fixed`, first; registered as a character device.
fn driver(name: &str, fixed: bool) -> String {
    let body = if fixed {
        "\tMOD_INC_USE_COUNT;\n\tif (request_irq(9, NULL, 0, \"x\", NULL)) {\n\
         \t\tMOD_DEC_USE_COUNT;\n\t\treturn -EBUSY;\n\t}\n\treturn 0;\n"
    } else {
        "\tif (request_irq(9, NULL, 0, \"x\", NULL))\n\t\treturn -EBUSY;\n\
         \tMOD_INC_USE_COUNT;\n\treturn 0;\n"
    };
    format!(
        "#include <linux/fs.h>\n\n\
         static int {name}_open(struct inode *inode, struct file *file)\n{{\n{body}}}\n\n\
         static struct file_operations {name}_fops = {{ open: {name}_open }};\n\n\
         static int __init {name}_init(void)\n{{\n\
         \tregister_chrdev(60, \"{name}\", &{name}_fops);\n\treturn 0;\n}}\n\n\
         module_init({name}_init);\n"
    )
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// Replaces the work tree's files by `files` and tags a commit of them `tag`.
fn release(dir: &Path, tag: &str, files: &[(String, String)]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n != ".git") {
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", tag]);
    git(dir, &["tag", tag]);
}

/// The repository: 2.3.1 has alpha, beta, gamma and eps (each with a finding); 2.3.2 fixes
/// alpha and adds delta; 2.3.3 removes beta's file, builds gamma only in, and moves eps to
/// another directory.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let pair = |p: &str, t: &str| (p.to_string(), t.to_string());
    let top = pair("Makefile", TOP_MAKEFILE);
    // A file its directory's Makefile does not name is no module code: every driver is named.
    let modular = pair(
        "drivers/char/Makefile",
        "M_OBJS := alpha.o beta.o gamma.o eps.o delta.o\n",
    );
    let built_in = pair(
        "drivers/char/Makefile",
        "O_OBJS := gamma.o\nM_OBJS := alpha.o delta.o\n",
    );
    let file = |name: &str, fixed: bool| (format!("drivers/char/{name}.c"), driver(name, fixed));
    let v1 = [
        top.clone(),
        modular.clone(),
        file("alpha", false),
        file("beta", false),
        file("gamma", false),
        file("eps", false),
    ];
    let v2 = [
        top.clone(),
        modular,
        file("alpha", true),
        file("beta", false),
        file("gamma", false),
        file("eps", false),
        file("delta", false),
    ];
    let v3 = [
        top,
        built_in,
        file("alpha", true),
        file("gamma", false),
        ("drivers/misc/eps.c".to_string(), driver("eps", false)),
        pair("drivers/misc/Makefile", "M_OBJS := eps.o\n"),
        file("delta", false),
    ];
    for (tag, files) in [("2.3.1", &v1[..]), ("2.3.2", &v2[..]), ("2.3.3", &v3[..])] {
        release(dir.path(), tag, files);
    }
    dir
}

fn history(args: &[&str]) -> std::process::Output {
    support::modrace_bin()
        .arg("-q")
        .arg("history")
        .args(args)
        .output()
        .unwrap()
}

fn json_history(gitdir: &Path, releases: &[&str]) -> Value {
    let mut args = vec![gitdir.to_str().unwrap()];
    args.extend(releases);
    args.extend(["--format", "json"]);
    let out = history(&args);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (function, born, last, cause or "alive") of every finding.
fn lives(v: &Value) -> Vec<(String, String, String, String)> {
    let mut lives: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            let end = match &f["death"] {
                Value::Null => "alive".to_string(),
                d => format!(
                    "{} in {}",
                    d["cause"].as_str().unwrap(),
                    d["release"].as_str().unwrap()
                ),
            };
            (s("function"), s("born"), s("last"), end)
        })
        .collect();
    lives.sort();
    lives
}

#[test]
fn births_deaths_and_their_causes() {
    let repo = repository();
    let gitdir = repo.path().join(".git");
    let v = json_history(&gitdir, &["2.3.1..2.3.3"]);
    let row = |f: &str, b: &str, l: &str, e: &str| {
        (f.to_string(), b.to_string(), l.to_string(), e.to_string())
    };
    assert_eq!(
        lives(&v),
        vec![
            row("alpha_open", "2.3.1", "2.3.1", "routine-changed in 2.3.2"),
            row("beta_open", "2.3.1", "2.3.2", "file-removed in 2.3.3"),
            row("delta_open", "2.3.2", "2.3.3", "alive"),
            row("eps_open", "2.3.1", "2.3.3", "alive"),
            row("gamma_open", "2.3.1", "2.3.2", "not-modular in 2.3.3"),
        ]
    );
    let eps = (v["findings"].as_array().unwrap().iter())
        .find(|f| f["function"] == "eps_open")
        .unwrap();
    assert_eq!(eps["file"], "drivers/misc/eps.c");
    assert_eq!(eps["moves"][0]["release"], "2.3.3");
    assert_eq!(eps["lifespan"], 3);
    let releases: Vec<(u64, u64, u64)> = (v["releases"].as_array().unwrap().iter())
        .map(|r| {
            (
                r["findings"].as_u64().unwrap(),
                r["born"].as_u64().unwrap(),
                r["died"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(releases, vec![(4, 4, 0), (4, 1, 1), (2, 0, 2)]);
    assert_eq!(v["summary"]["censored"], 2);
    assert_eq!(v["summary"]["died"], 3);
    // The same releases as a list of tags.
    let listed = json_history(&gitdir, &["--tags", "2.3.1,2.3.2,2.3.3"]);
    assert_eq!(lives(&listed), lives(&v));
}

#[test]
fn the_json_validates_against_its_schema() {
    let repo = repository();
    let v = json_history(&repo.path().join(".git"), &["2.3.1..2.3.3"]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/history.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // Strict enough to catch a drift: a key the schema does not know fails.
    let mut drifted = v.clone();
    drifted["findings"][0]["extra"] = Value::Bool(true);
    assert!(!validator.is_valid(&drifted));
}

#[test]
fn the_text_names_each_finding_and_its_death() {
    let repo = repository();
    let gitdir = repo.path().join(".git");
    let out = history(&[gitdir.to_str().unwrap(), "2.3.1..2.3.3"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("3 releases, 2.3.1 to 2.3.3\n"), "{text}");
    assert!(
        text.contains("MR005 drivers/char/alpha.c: alpha_open [file_operations.open] born 2.3.1, last 2.3.1 (1 release), died in 2.3.2 (routine-changed)"),
        "{text}"
    );
    assert!(
        text.contains("moved to drivers/misc/eps.c in 2.3.3"),
        "{text}"
    );
}

/// A bad git directory or tag is an error (exit 2) that says what is wrong, never a panic.
#[test]
fn bad_git_directories_and_tags_are_clear_errors() {
    let repo = repository();
    let gitdir = repo.path().join(".git");
    let empty = tempfile::tempdir().unwrap();
    let corrupt = tempfile::tempdir().unwrap();
    for name in ["HEAD", "config"] {
        std::fs::write(corrupt.path().join(name), "\u{0}garbage\n").unwrap();
    }
    std::fs::create_dir_all(corrupt.path().join("objects")).unwrap();
    std::fs::create_dir_all(corrupt.path().join("refs")).unwrap();
    let missing = empty.path().join("nothing-here");
    let cases: [(&Path, &str, &str); 6] = [
        (&missing, "2.3.1..2.3.3", "no such git directory"),
        (empty.path(), "2.3.1..2.3.3", "not a readable git directory"),
        (corrupt.path(), "2.3.1..2.3.3", "git directory"),
        (&gitdir, "2.3.1..9.9.9", "no tag `9.9.9`"),
        (&gitdir, "2.3.3..2.3.1", "nothing between them"),
        (&gitdir, "2.3.1", "not a range of tags"),
    ];
    for (dir, range, message) in cases {
        let out = history(&[dir.to_str().unwrap(), range]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{dir:?} {range}: {stderr}");
        assert!(stderr.contains(message), "{dir:?} {range}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A blob that cannot be read: the object removed from the database.
    let objects = gitdir.join("objects");
    let out = Command::new("git")
        .arg("-C")
        .arg(repo.path())
        .args(["rev-parse", "2.3.1:drivers/char/alpha.c"])
        .output()
        .unwrap();
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    std::fs::remove_file(objects.join(&id[..2]).join(&id[2..])).unwrap();
    // Uncached: another test's run may have stored the blob's facts.
    let out = support::modrace_bin()
        .args(["-q", "--no-cache", "history"])
        .arg(&gitdir)
        .args(["--tags", "2.3.1", "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["releases"][0]["warnings"], 1, "{v}");
    assert_eq!(v["releases"][0]["findings"], 3, "{v}");
}

/// `history --format html` of 2.3.1..2.3.3 in `gitdir`, written to `page`.
fn write_page(gitdir: &Path, page: &Path) {
    let out = history(&[
        gitdir.to_str().unwrap(),
        "2.3.1..2.3.3",
        "--format",
        "html",
        "--output",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn the_page_is_self_contained_with_a_chart_and_a_lifeline_per_finding() {
    let repo = repository();
    let gitdir = repo.path().join(".git");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("history.html");
    write_page(&gitdir, &page);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 2);
    // Five findings, five lifelines; a bar segment per release and rule (one rule here).
    assert_eq!(html.matches("<line ").count(), 5);
    assert_eq!(html.matches("<rect x").count(), 3 + 1 + 6);
    assert!(html.contains(
        "alpha_open [file_operations.open], born 2.3.1, died in 2.3.2 (routine-changed)"
    ));
    for outside in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(outside), "{outside}");
    }
}

/// The history page as a browser shows it: headless Chromium lays it out without a console
/// message, its two charts are in the rendered document, and a screenshot is left in the test
/// log (the page has no script; what is checked is that it renders as written).
#[test]
fn headless_chromium_renders_the_history_page() {
    let Some(browser) = support::chromium::chromium() else {
        return;
    };
    let repo = repository();
    let gitdir = repo.path().join(".git");
    let dir = std::env::temp_dir().join(format!("modrace-history-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("history.html");
    write_page(&gitdir, &page);
    let profile = dir.join("profile");
    let url = support::chromium::url(&page, "");
    let (dom, console) = support::chromium::headless(&browser, &profile, &url, &["--dump-dom"]);
    assert!(console.is_empty(), "console: {console:#?}");
    assert_eq!(dom.matches("<svg").count(), 2, "{dom}");
    assert_eq!(dom.matches("<line ").count(), 5, "{dom}");
    assert!(
        dom.contains("alpha_open [file_operations.open], born 2.3.1"),
        "{dom}"
    );

    let shot = dir.join("history.png");
    support::chromium::screenshot(&browser, &profile, &url, &shot, "1280,1200");
}

/// A module whose open routine pins the module first only from 2.3.2 on, by a test of the
/// release (`LINUX_VERSION_CODE`), and before that late (a finding: MR005).
const VERSIONED: &str = "#include <linux/fs.h>\n#include <linux/version.h>\n\n\
static int zeta_open(struct inode *inode, struct file *file)\n{\n\
#if LINUX_VERSION_CODE >= KERNEL_VERSION(2,3,2)\n\
\tMOD_INC_USE_COUNT;\n\tif (request_irq(9, NULL, 0, \"x\", NULL)) {\n\
\t\tMOD_DEC_USE_COUNT;\n\t\treturn -EBUSY;\n\t}\n\
#else\n\
\tif (request_irq(9, NULL, 0, \"x\", NULL))\n\t\treturn -EBUSY;\n\tMOD_INC_USE_COUNT;\n\
#endif\n\treturn 0;\n}\n\n\
static struct file_operations zeta_fops = { open: zeta_open };\n\n\
static int __init zeta_init(void)\n{\n\
\tregister_chrdev(61, \"zeta\", &zeta_fops);\n\treturn 0;\n}\n\n\
module_init(zeta_init);\n";

/// Releases 2.3.1, 2.3.2 and 2.3.3 of the same driver files (zeta tests the release, alpha
/// does not); only the top-level Makefile's SUBLEVEL changes.
fn versioned_repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    for sublevel in 1..=3 {
        let files = [
            (
                "Makefile".to_string(),
                format!("VERSION = 2\nPATCHLEVEL = 3\nSUBLEVEL = {sublevel}\n"),
            ),
            (
                "drivers/char/Makefile".to_string(),
                "M_OBJS := alpha.o zeta.o\n".to_string(),
            ),
            ("drivers/char/alpha.c".to_string(), driver("alpha", false)),
            ("drivers/char/zeta.c".to_string(), VERSIONED.to_string()),
        ];
        release(dir.path(), &format!("2.3.{sublevel}"), &files);
    }
    dir
}

/// Unchanged bytes that test the release follow each release's version, as `check` on the
/// release's tree does; only they are parsed again, and a warm cache parses nothing.
#[test]
fn a_file_that_tests_the_release_follows_each_releases_version() {
    let repo = versioned_repository();
    let gitdir = repo.path().join(".git");
    let cache = tempfile::tempdir().unwrap();
    let run = |cached: bool| {
        let mut cmd = support::modrace_bin();
        cmd.arg("-q");
        match cached {
            true => cmd.arg("--cache-dir").arg(cache.path()),
            false => cmd.arg("--no-cache"),
        };
        let out = (cmd.arg("history").arg(&gitdir))
            .args(["2.3.1..2.3.3", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let parsed = |v: &Value| -> Vec<u64> {
        (v["releases"].as_array().unwrap().iter())
            .map(|r| r["parsed"].as_u64().unwrap())
            .collect()
    };
    let row = |f: &str, b: &str, l: &str, e: &str| {
        (f.to_string(), b.to_string(), l.to_string(), e.to_string())
    };
    let expected = vec![
        row("alpha_open", "2.3.1", "2.3.3", "alive"),
        row("zeta_open", "2.3.1", "2.3.1", "other-change in 2.3.2"),
    ];
    let uncached = run(false);
    assert_eq!(lives(&uncached), expected);
    // alpha's facts are the first release's throughout; zeta's are made for each release.
    assert_eq!(parsed(&uncached), vec![2, 1, 1]);
    let cold = run(true);
    assert_eq!(lives(&cold), expected);
    assert_eq!(parsed(&cold), vec![2, 1, 1]);
    let warm = run(true);
    assert_eq!(lives(&warm), expected);
    assert_eq!(parsed(&warm), vec![0, 0, 0]);
}
