//! The command line as CI sees it: exit codes, rule names and codes, errors that say what is
//! wrong instead of passing silently.

mod support;

use std::path::Path;

use support::Tree;

/// Runs the binary; (exit code, stdout, stderr).
fn modrace(args: &[&str], root: Option<&Path>) -> (i32, String, String) {
    let mut cmd = support::modrace_bin();
    cmd.args(args).env_remove("NO_COLOR");
    if let Some(root) = root {
        cmd.arg(root);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The rules reported in gcc format.
fn rules_of(gcc: &str) -> Vec<String> {
    let mut rules: Vec<String> = gcc
        .lines()
        .filter(|l| l.contains(": error: ") || l.contains(": warning: "))
        .filter_map(|l| {
            l.rsplit_once('[')
                .map(|(_, r)| r.trim_end_matches(']').to_string())
        })
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

#[test]
fn rule_names_work_where_codes_do() {
    let tree = Tree::fixture("check");
    let root = Some(tree.root());
    let (code, all, _) = modrace(&["check", "--format", "gcc"], root);
    assert_eq!(code, 1);
    assert!(rules_of(&all).len() > 2, "{all}");

    let (code, by_name, _) = modrace(
        &["check", "--format", "gcc", "--select", "sleep-before-inc"],
        root,
    );
    assert_eq!(code, 1);
    assert_eq!(rules_of(&by_name), ["MR001"]);
    let (_, by_code, _) = modrace(&["check", "--format", "gcc", "--select", "mr001"], root);
    assert_eq!(by_name, by_code);

    let (_, mixed, _) = modrace(
        &["check", "--format", "gcc", "--select", "MR001,late-inc"],
        root,
    );
    assert_eq!(rules_of(&mixed), ["MR001", "MR005"]);

    let (_, ignored, _) = modrace(
        &["check", "--format", "gcc", "--ignore", "sleep-before-inc"],
        root,
    );
    assert!(!rules_of(&ignored).contains(&"MR001".to_string()));
    assert_eq!(rules_of(&ignored).len(), rules_of(&all).len() - 1);

    let (code, text, _) = modrace(&["explain", "sleep-before-inc"], None);
    assert_eq!(code, 0);
    assert!(text.starts_with("MR001 sleep-before-inc"), "{text}");
}

#[test]
fn an_unknown_rule_is_an_error_not_an_empty_selection() {
    let tree = Tree::fixture("check");
    for option in ["--select", "--ignore"] {
        let (code, out, err) = modrace(&["check", option, "sleep-before-incc"], Some(tree.root()));
        assert_eq!(code, 2, "{option}");
        assert!(out.is_empty());
        assert!(err.contains("no rule `sleep-before-incc`"), "{err}");
    }
    let (code, _, err) = modrace(&["explain", "MR999"], None);
    assert_eq!(code, 2);
    assert!(err.contains("no rule `MR999`"), "{err}");
}

#[test]
fn a_scan_with_no_c_file_is_an_error() {
    let empty = Tree::empty();
    let (code, out, err) = modrace(&["check"], Some(empty.root()));
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no C files"), "{err}");

    let no_c = Tree::empty();
    no_c.write("Documentation/README", "not C\n");
    no_c.write("drivers/char/Makefile", "M_OBJS := foo.o\n");
    for command in ["check", "entries", "bkl", "stats", "facts"] {
        let (code, _, err) = modrace(&[command], Some(no_c.root()));
        assert_eq!(code, 2, "{command}: {err}");
        assert!(err.contains("no C files"), "{command}: {err}");
    }
}

#[test]
fn fix_exits_1_while_findings_remain_and_diff_like_check() {
    let tree = Tree::copy_of("check");
    let root = Some(tree.root());
    // The tree has findings --fix can fix and findings it cannot (MR004, MR005, manual ones).
    let (code, diff, _) = modrace(&["check", "--diff"], root);
    assert_eq!(code, 1);
    assert!(diff.starts_with("--- a/"), "{diff}");
    let (code, _, err) = modrace(&["check", "--fix"], root);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("remaining"), "{err}");
    let (code, _, _) = modrace(&["check", "--fix"], root);
    assert_eq!(code, 1, "nothing left to fix, findings left");

    // Only fixable findings: --fix makes the tree clean and says so with 0.
    let tree = Tree::from_text(
        "//- /include/linux/mm.h
#define __GFP_WAIT 0x01
#define GFP_KERNEL (__GFP_WAIT)
//- /drivers/char/Makefile
M_OBJS := one.o
//- /drivers/char/one.c
#include <linux/fs.h>
#include <linux/mm.h>
extern void *kmalloc(int size, int flags);
static int one_open(struct inode *inode, struct file *file)
{
\tvoid *p;
\tp = kmalloc(16, GFP_KERNEL);
\tif (!p)
\t\treturn -ENOMEM;
\tMOD_INC_USE_COUNT;
\treturn 0;
}
static struct file_operations one_fops = { open: one_open };
int init_module(void) { return register_chrdev(60, \"one\", &one_fops); }
",
    );
    let root = Some(tree.root());
    let (code, out, _) = modrace(&["check", "--format", "gcc"], root);
    assert_eq!(code, 1, "{out}");
    let (code, _, err) = modrace(&["check", "--fix"], root);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 remaining"), "{err}");
    let (code, out, _) = modrace(&["check"], root);
    assert_eq!(code, 0, "{out}");
    let (code, diff, _) = modrace(&["check", "--diff"], root);
    assert_eq!((code, diff.as_str()), (0, ""));
}

#[test]
fn check_help_names_both_rules_and_the_exit_codes() {
    let (code, help, _) = modrace(&["check", "--help"], None);
    assert_eq!(code, 0);
    assert!(help.contains("MR004"), "{help}");
    assert!(help.contains("codes or names"), "{help}");
    assert!(help.contains("Exit status"), "{help}");
    assert!(!help.contains("comma-separated codes"), "{help}");
}

#[test]
fn outputs_are_the_same_from_run_to_run_and_timings_only_on_request() {
    let tree = Tree::fixture("check");
    let root = Some(tree.root());
    for args in [
        &["check", "--format", "json"][..],
        &["check", "--format", "sarif"],
        &["bkl", "--format", "json"],
        &["bkl"],
        &["stats", "--format", "json"],
        &["stats"],
        &["entries", "--format", "json"],
    ] {
        let (_, first, _) = modrace(args, root);
        let (_, second, _) = modrace(args, root);
        assert_eq!(first, second, "{args:?}");
        assert!(!first.contains("seconds"), "{args:?}: {first}");
    }
    let (_, timed, err) = modrace(&["--timings", "check", "--format", "json"], root);
    let v: serde_json::Value = serde_json::from_str(&timed).unwrap();
    assert!(v["stats"]["seconds"].as_f64().is_some(), "{timed}");
    assert!(err.contains("timing: "), "phases on standard error: {err}");
    let (_, timed, _) = modrace(&["stats", "--timings"], root);
    assert!(timed.contains("seconds: "), "{timed}");
}

#[test]
fn kb_merges_over_the_built_in_one_and_kb_replace_replaces_it() {
    let tree = Tree::from_text(
        "//- /drivers/char/Makefile
M_OBJS := widget.o
//- /drivers/char/widget.c
#include <linux/fs.h>
static int widget_open(struct inode *inode, struct file *file)
{
\twait_for_widget();
\tMOD_INC_USE_COUNT;
\treturn 0;
}
static struct file_operations widget_fops = { open: widget_open };
int init_module(void) { return register_chrdev(61, \"widget\", &widget_fops); }
",
    );
    let extra = Tree::empty();
    extra.write(
        "extra.toml",
        "[[sleep.primitive]]\nname = \"wait_for_widget\"\nkind = \"blocks\"\n",
    );
    extra.write("empty.toml", "# nothing\n");
    extra.write(
        "only.toml",
        "[sleep]\ngfp_wait_bit = \"__GFP_WAIT\"\nmax_slot_targets = 32\nmax_field_structs = 3\n\
         [[sleep.primitive]]\nname = \"wait_for_widget\"\nkind = \"blocks\"\n",
    );
    let kb = |name: &str| extra.path(name).display().to_string();
    let root = Some(tree.root());
    let (code, out, _) = modrace(&["check", "--format", "gcc"], root);
    assert_eq!(
        (code, rules_of(&out)),
        (1, vec!["MR005".to_string()]),
        "{out}"
    );
    // Merged: the built-in registrations and slots stay, the new primitive sleeps.
    let (code, out, err) = modrace(
        &["--kb", &kb("extra.toml"), "check", "--format", "gcc"],
        root,
    );
    assert_eq!(
        (code, rules_of(&out)),
        (1, vec!["MR001".to_string()]),
        "{out}{err}"
    );
    // An empty file merged changes nothing.
    let (_, plain, _) = modrace(&["check", "--format", "json"], root);
    let (_, merged, _) = modrace(
        &["--kb", &kb("empty.toml"), "check", "--format", "json"],
        root,
    );
    assert_eq!(plain, merged);
    // Replaced: only what the file says (and the built-in defaults of what it leaves out).
    let (code, out, _) = modrace(&["--kb-replace", &kb("only.toml"), "kb"], None);
    assert_eq!(code, 0);
    assert!(
        out.contains("0 registration routines, 0 not registrations, 0 slots"),
        "{out}"
    );
    assert!(out.contains("1 sleep primitives"), "{out}");
    let (_, out, _) = modrace(&["--kb", &kb("only.toml"), "kb"], None);
    let (_, builtin, _) = modrace(&["kb"], None);
    let line = |text: &str| text.lines().nth(1).unwrap().to_string();
    assert_eq!(
        line(&out),
        line(&builtin),
        "merged: the same registrations and slots"
    );
    // An empty replacement is refused.
    let (code, _, err) = modrace(&["--kb-replace", &kb("empty.toml"), "check"], root);
    assert_eq!(code, 2);
    assert!(err.contains("is empty"), "{err}");
    // A bad key names the file.
    extra.write("bad.toml", "[[sleep.primitive]]\nnam = \"x\"\n");
    let (code, _, err) = modrace(&["--kb", &kb("bad.toml"), "check"], root);
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml"), "{err}");

    // `kb --print`: the built-in file as shipped, or the merged one.
    let (code, printed, _) = modrace(&["kb", "--print"], None);
    assert_eq!(code, 0);
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("kb/linux-2.4.toml"))
            .unwrap();
    assert_eq!(printed, shipped);
    let (code, printed, _) = modrace(&["--kb", &kb("extra.toml"), "kb", "--print"], None);
    assert_eq!(code, 0);
    assert!(printed.contains("wait_for_widget"));
    assert!(printed.contains("register_chrdev"));
}

#[test]
fn colors_follow_no_color_and_clicolor_force() {
    let tree = Tree::fixture("check");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = support::modrace_bin();
        cmd.arg("check")
            .args(args)
            .arg(tree.root())
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains("\x1b[")
    };
    // Standard output is a pipe here: auto means no color.
    assert!(!run(&[], &[]));
    assert!(run(&[], &[("CLICOLOR_FORCE", "1")]));
    assert!(!run(&[], &[("CLICOLOR_FORCE", "0")]));
    assert!(!run(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]));
    assert!(run(&["--color", "always"], &[("NO_COLOR", "1")]));
    assert!(!run(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
}

#[test]
fn man_pages_and_completions_come_from_the_command_line_definition() {
    let (code, page, _) = modrace(&["man"], None);
    assert_eq!(code, 0);
    assert!(page.contains(".TH modrace 1"), "{page}");
    assert!(page.contains("Exit status"), "{page}");
    let dir = Tree::empty();
    let (code, _, err) = modrace(&["man", "--dir"], Some(dir.root()));
    assert_eq!(code, 0, "{err}");
    let check = std::fs::read_to_string(dir.path("modrace-check.1")).unwrap();
    assert!(check.contains("\\-\\-select"), "{check}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, script, _) = modrace(&["completions", shell], None);
        assert_eq!(code, 0, "{shell}");
        assert!(script.contains("select"), "{shell}");
        assert!(script.contains("why-sleeps"), "{shell}");
    }
    let (code, _, _) = modrace(&["completions", "tcsh"], None);
    assert_eq!(code, 2);
}

/// A tree whose top-level Makefile says `VERSION.PATCHLEVEL` and whose one driver pins its
/// module late, the 2.x way (an MR001 in the use-count era).
fn versioned_tree(version: u32, patchlevel: u32) -> Tree {
    Tree::from_text(&format!(
        "//- /Makefile
VERSION = {version}
PATCHLEVEL = {patchlevel}
SUBLEVEL = 7
//- /include/linux/mm.h
#define __GFP_WAIT 0x01
#define GFP_KERNEL (__GFP_WAIT)
//- /drivers/char/Makefile
obj-m := late.o
//- /drivers/char/late.c
#include <linux/fs.h>
static int late_open(struct inode *inode, struct file *file)
{{
\tvoid *p = kmalloc(64, GFP_KERNEL);
\tif (!p)
\t\treturn -ENOMEM;
\tMOD_INC_USE_COUNT;
\treturn 0;
}}
static struct file_operations late_fops = {{ open: late_open }};
int init_module(void) {{ return register_chrdev(10, \"late\", &late_fops); }}
"
    ))
}

#[test]
fn the_era_comes_from_the_tree_and_decides_the_rules() {
    let old = versioned_tree(2, 3);
    let (code, out, err) = modrace(&["check", "--format", "json"], Some(old.root()));
    assert_eq!(code, 1, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["era"]["name"], "linux-2.4");
    assert_eq!(json["era"]["by"], "makefile");
    assert_eq!(json["era"]["version"], "2.3.7");
    assert_eq!(json["findings"][0]["rule"], "MR001");
    let (_, text, _) = modrace(&["check", "--color", "never"], Some(old.root()));
    assert!(text.contains("era: linux-2.4 (the tree's Makefile says 2.3.7); use-count rules"));

    // A 6.x tree: MOD_INC_USE_COUNT and the lock are gone, so their rules do not run.
    let new = versioned_tree(6, 1);
    let (code, out, err) = modrace(&["check", "--format", "json"], Some(new.root()));
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["era"]["name"], "linux-6");
    assert_eq!(json["era"]["rules"], "module-ref");
    assert_eq!(json["findings"].as_array().unwrap().len(), 0);
    // A subdirectory finds the tree's Makefile above it.
    let (_, out, _) = modrace(
        &["check", "--format", "json"],
        Some(&new.path("drivers/char")),
    );
    assert!(out.contains("\"linux-6\""), "{out}");

    // --era overrides the Makefile; an unknown era is an error naming the known ones.
    let (code, out, _) = modrace(
        &["check", "--era", "linux-2.4", "--format", "json"],
        Some(new.root()),
    );
    assert_eq!(code, 1);
    assert!(out.contains("\"given\""), "{out}");
    let (code, _, err) = modrace(&["check", "--era", "linux-9"], Some(new.root()));
    assert_eq!(code, 2);
    assert!(err.contains("linux-2.4, linux-6"), "{err}");
}

#[test]
fn quiet_diff_counts_the_findings_left_for_a_human_instead_of_listing_them() {
    let tree = Tree::copy_of("check");
    let (_, _, loud) = modrace(&["check", "--diff"], Some(tree.root()));
    let each = loud
        .lines()
        .filter(|l| l.contains(" left for a human: "))
        .count();
    assert!(each > 0, "{loud}");
    let (_, _, quiet) = modrace(&["-q", "check", "--diff"], Some(tree.root()));
    assert!(!quiet.contains(" left for a human: "), "{quiet}");
    assert!(
        quiet.contains(&format!("{each} findings left for a human")),
        "{quiet}"
    );
}

#[test]
fn no_progress_line_when_standard_error_is_not_a_terminal() {
    // The tests' standard error is a pipe: nothing but the run's own lines may appear.
    let tree = Tree::copy_of("check");
    let (_, _, err) = modrace(&["check", "--diff"], Some(tree.root()));
    assert!(!err.contains(" files "), "{err}");
    assert!(!err.contains('\r'), "{err}");
}

/// A tree whose driver sleeps in a helper defined outside the driver's directory.
fn tree_with_a_helper_elsewhere() -> Tree {
    Tree::from_text(
        "//- /Makefile
VERSION = 2
PATCHLEVEL = 3
//- /include/linux/mm.h
#define __GFP_WAIT 0x01
#define GFP_KERNEL (__GFP_WAIT)
//- /kernel/irq.c
#include <linux/mm.h>
int grab_irq(int irq)
{
\tvoid *p = kmalloc(64, GFP_KERNEL);
\treturn p ? 0 : -ENOMEM;
}
//- /drivers/char/Makefile
obj-m := ring.o
//- /drivers/char/ring.c
#include <linux/fs.h>
static int ring_open(struct inode *inode, struct file *file)
{
\tif (grab_irq(3))
\t\treturn -EBUSY;
\tMOD_INC_USE_COUNT;
\treturn 0;
}
static struct file_operations ring_fops = { open: ring_open };
int init_module(void) { return register_chrdev(11, \"ring\", &ring_fops); }
",
    )
}

/// Issue 18: a directory inside a tree is analysed with the whole tree (the helper in
/// kernel/ sleeps: MR001, not MR005) and reported under that directory with paths from the
/// tree's root; `--partial` reads it alone and says the answer may be weaker; `--only`
/// scopes a whole-tree run.
#[test]
fn a_subdirectory_is_checked_with_the_whole_tree() {
    let tree = tree_with_a_helper_elsewhere();
    let sub = tree.path("drivers/char");
    let (code, out, err) = modrace(&["check", "--format", "gcc"], Some(&sub));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("analysed with the whole tree"), "{err}");
    assert_eq!(rules_of(&out), vec!["MR001"], "{out}");
    assert!(out.starts_with("drivers/char/ring.c:"), "{out}");
    let (_, out, err) = modrace(&["check", "--format", "gcc", "--partial"], Some(&sub));
    assert!(err.contains("analysed alone"), "{err}");
    assert_eq!(rules_of(&out), vec!["MR005"], "{out}");
    let (_, out, _) = modrace(
        &["check", "--format", "gcc", "--only", "kernel"],
        Some(tree.root()),
    );
    assert!(out.is_empty(), "{out}");
    let (_, out, _) = modrace(
        &["check", "--format", "gcc", "--only", "drivers/char"],
        Some(tree.root()),
    );
    assert_eq!(rules_of(&out), vec!["MR001"], "{out}");
}
