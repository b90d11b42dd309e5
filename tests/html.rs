//! `check --format html`: one self-contained page, its text escaped, rendered by headless
//! Chromium with no console error and the findings' rows in the DOM; and `--relative-to`.

mod support;

use std::path::{Path, PathBuf};

use support::chromium::{chromium, headless, screenshot, url};
use support::Tree;

/// A tree whose driver sleeps in a helper defined elsewhere (MR001 with a chain into
/// kernel/), with markup and ampersands in a comment, in a string the message quotes, and in
/// the help of a routine.
fn tree() -> Tree {
    Tree::from_text(
        "//- /Makefile
VERSION = 2
PATCHLEVEL = 3
//- /include/linux/mm.h
#define __GFP_WAIT 0x01
#define GFP_KERNEL (__GFP_WAIT)
//- /kernel/irq.c
#include <linux/mm.h>
int grab_irq(int irq, const char *name)
{
\tvoid *p = kmalloc(64, GFP_KERNEL);
\treturn p ? 0 : -ENOMEM;
}
//- /drivers/char/Makefile
obj-m := ring.o
//- /drivers/char/ring.c
#include <linux/fs.h>
/* <script>alert(\"owned\")</script> & <b>bold</b> */
static int ring_open(struct inode *inode, struct file *file)
{
\tif (grab_irq(3, \"<script>&amp;</script>\"))
\t\treturn -EBUSY;
\tMOD_INC_USE_COUNT;
\treturn 0;
}
static int ring2_open(struct inode *inode, struct file *file)
{
\tif (grab_irq(4, \"r&w\"))
\t\treturn -EBUSY;
\tMOD_INC_USE_COUNT;
\treturn 0;
}
static struct file_operations ring_fops = { open: ring_open };
static struct file_operations ring2_fops = { open: ring2_open };
int init_module(void)
{
\tregister_chrdev(12, \"ring2\", &ring2_fops);
\treturn register_chrdev(11, \"ring\", &ring_fops);
}
",
    )
}

fn modrace(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = support::modrace_bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A directory for this test's outputs under the target directory, kept after the run.
fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("html")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn render(tree: &Tree, dir: &Path) -> (PathBuf, String) {
    let file = dir.join("report.html");
    let root = tree.root().to_str().unwrap();
    let (code, _, err) = modrace(&[
        "check",
        root,
        "--format",
        "html",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    let html = std::fs::read_to_string(&file).unwrap();
    (file, html)
}

#[test]
fn the_page_is_self_contained_and_escapes_the_tree_text() {
    let tree = tree();
    let (_, html) = render(&tree, &out_dir("escape"));
    // Our one script, and no markup from the tree.
    assert_eq!(html.matches("<script>").count(), 1, "{html}");
    assert!(!html.contains("<b>bold"), "{html}");
    assert!(!html.contains("alert(\"owned\")"));
    assert!(html.contains(
        "/* &lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; */"
    ));
    // The message quotes the call with its string.
    assert!(html.contains("grab_irq(3, &quot;&lt;script&gt;&amp;amp;&lt;/script&gt;&quot;)"));
    assert!(html.contains("r&amp;w"));
    // Nothing is loaded from anywhere.
    for loads in ["<link", " src=", "url(", "@import", "http://", "https://"] {
        assert!(!html.contains(loads), "{loads}");
    }
    assert!(html.contains("Content-Security-Policy"));
    // Both findings in the index and their sections, with the chain into kernel/irq.c.
    assert_eq!(html.matches("<tr data-n=").count(), 2);
    assert!(html.contains("<section class=\"finding\" id=\"f2\""));
    assert!(html.contains("<div class=\"file\">kernel/irq.c</div>"));
    // The fix, with the tree's paths.
    assert!(html.contains("<span class=\"head\">--- a/drivers/char/ring.c</span>"));
    // Standard output without --output: the same page.
    let root = tree.root().to_str().unwrap();
    let (code, out, _) = modrace(&["check", root, "--format", "html"]);
    assert_eq!(code, 1);
    assert_eq!(String::from_utf8(out).unwrap(), html);
}

#[test]
fn an_unwritable_output_is_a_clear_error() {
    let tree = tree();
    let dir = out_dir("unwritable");
    let file = dir.join("missing/report.html");
    let root = tree.root().to_str().unwrap();
    let (code, _, err) = modrace(&[
        "check",
        root,
        "--format",
        "html",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot write") && err.contains("report.html"),
        "{err}"
    );
    let (code, _, err) = modrace(&[
        "check",
        root,
        "--format",
        "html",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot write"), "{err}");
}

#[test]
fn headless_chromium_renders_the_report_without_console_errors() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = out_dir("chromium");
    let profile = dir.join("profile");
    // The console is read: a page with an error shows up there.
    let bad = dir.join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><p>x</p><script>notDefined();</script>",
    )
    .unwrap();
    let (_, console) = headless(&chromium, &profile, &url(&bad, ""), &["--dump-dom"]);
    assert!(
        console.iter().any(|l| l.contains("notDefined")),
        "the console of a page with an error is not read: {console:?}"
    );

    let tree = tree();
    let (file, _) = render(&tree, &dir);
    // Sorted by routine by the page's own script: ring2_open (the second finding) first.
    let (dom, console) = headless(
        &chromium,
        &profile,
        &url(&file, "#sort=routine"),
        &["--dump-dom"],
    );
    assert!(console.is_empty(), "console: {console:#?}");
    assert!(
        dom.contains("data-sorted=\"routine asc\""),
        "the sort did not run:\n{dom}"
    );
    let rows: Vec<&str> = dom
        .split("<tr data-n=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap())
        .collect();
    assert_eq!(rows, vec!["2", "1"], "{dom}");
    assert!(dom.contains("<td>ring2_open</td>") && dom.contains("<td>ring_open</td>"));
    assert!(!dom.contains("<b>bold</b>"));

    let shot = dir.join("report.png");
    screenshot(&chromium, &profile, &url(&file, ""), &shot, "1280,1600");
}

/// `--relative-to DIR`: every format writes paths from DIR; patches keep the tree's paths.
#[test]
fn relative_to_moves_the_report_paths_and_not_the_patches() {
    let tree = tree();
    let root = tree.root().to_str().unwrap();
    let sub = tree.path("drivers/char");
    let sub = sub.to_str().unwrap();
    let run = |format: &str, extra: &[&str]| {
        let mut args = vec!["check", root, "--format", format, "--relative-to", sub];
        args.extend(extra);
        let (code, out, err) = modrace(&args);
        assert_eq!(code, 1, "{err}");
        String::from_utf8(out).unwrap()
    };
    let gcc = run("gcc", &[]);
    assert!(gcc.starts_with("ring.c:"), "{gcc}");
    assert!(gcc.contains("\n../../kernel/irq.c:"), "{gcc}");
    let text = run("text", &["--color", "never"]);
    assert!(text.contains("--> ring.c:"), "{text}");
    // The files are still read by their tree paths: the excerpts are there.
    assert!(text.contains(" |         MOD_INC_USE_COUNT;"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&run("json", &[])).unwrap();
    assert_eq!(json["findings"][0]["file"], "ring.c");
    let sarif: serde_json::Value = serde_json::from_str(&run("sarif", &[])).unwrap();
    let sarif_run = &sarif["runs"][0];
    let base = sarif_run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    assert!(base.ends_with("/drivers/char/"), "{base}");
    let result = &sarif_run["results"][0];
    let location = &result["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(location["uri"], "ring.c");
    // Outside %SRCROOT%: an absolute URI, not `..`.
    let flow = result["codeFlows"][0]["threadFlows"][0]["locations"].to_string();
    assert!(
        flow.contains("file:///") && flow.contains("/kernel/irq.c"),
        "{flow}"
    );
    assert!(!flow.contains("../"), "{flow}");
    let fix = result["fixes"][0]["artifactChanges"][0]["artifactLocation"]["uri"].clone();
    assert_eq!(fix, "ring.c");
    let html = run("html", &[]);
    assert!(html.contains("<a href=\"#f1\">ring.c:"), "{html}");
    assert!(html.contains("<div class=\"file\">../../kernel/irq.c</div>"));
    assert!(html.contains("kmalloc(64, GFP_KERNEL)</mark>"), "{html}");
    assert!(html.contains("<span class=\"head\">--- a/drivers/char/ring.c</span>"));
    // Patches stay relative to the tree's root, and say so.
    let (_, diff, err) = modrace(&["check", root, "--diff", "--relative-to", sub]);
    let diff = String::from_utf8(diff).unwrap();
    assert!(diff.starts_with("--- a/drivers/char/ring.c\n"), "{diff}");
    assert!(err.contains("does not move the patches' paths"), "{err}");
    // A directory that does not exist is an error.
    let (code, _, err) = modrace(&["check", root, "--relative-to", "/nonexistent/dir"]);
    assert_eq!(code, 2);
    assert!(err.contains("--relative-to /nonexistent/dir"), "{err}");
}
