//! Hostile input (issue 19): nesting that would overflow a recursion, build files that are not
//! regular files, super-linear inputs. Inputs are generated here, not stored as fixtures.

mod support;

use modrace::rules::RuleFilter;
use modrace::sleep::UnknownPolicy;
use support::{Ask, Output, Tree};

/// `check` on the tree: its findings' (file, line) and the scan's warnings.
fn check_tree(tree: &Tree) -> (Vec<(String, u32)>, Vec<modrace::diag::Warning>) {
    let ask = Ask::Check {
        filter: RuleFilter::default(),
        unknown: UnknownPolicy::default(),
        fixes: true,
    };
    match support::pipeline(tree.root(), ask).expect("the tree can be read") {
        (Output::Check(out), warnings) => {
            let found = out
                .report
                .findings
                .iter()
                .map(|f| (f.file.clone(), f.line))
                .collect();
            (found, warnings)
        }
        _ => unreachable!(),
    }
}

/// A module routine after the hostile text, with an MR003 finding on `open`'s line: the rest of
/// the file is still analysed.
const MODULE_TAIL: &str = "\n#include <linux/fs.h>\n\
static int dev_open(struct inode *i, struct file *f)\n{\n\treturn 0;\n}\n\
static struct file_operations dev_fops = { open: dev_open, };\n\
int init_module(void) { return register_chrdev(42, \"dev\", &dev_fops); }\n";

fn deep_file(head: &str) -> (Tree, u32) {
    let tree = Tree::empty();
    let text = format!("{head}\n{MODULE_TAIL}");
    let open_line = text.lines().position(|l| l.contains("dev_open(")).unwrap() as u32 + 1;
    tree.write("drivers/deep.c", &text);
    (tree, open_line)
}

#[test]
fn deep_declarators_are_bounded_with_a_warning() {
    let n = 35_000;
    let heads = [
        format!("int {}p;", "*".repeat(n)),
        format!("int p{};", "[1]".repeat(n)),
        format!("int g(int {}p);", "*".repeat(n)),
        format!("struct s {{ int {}p; }};", "*".repeat(n)),
        format!("static int h(void) {{ int {}p; return 0; }}", "*".repeat(n)),
    ];
    for head in heads {
        let (tree, open_line) = deep_file(&head);
        let (found, warnings) = check_tree(&tree);
        assert!(
            warnings.iter().any(|w| w.path == "drivers/deep.c"
                && w.line == Some(1)
                && w.message.contains("nesting")),
            "{warnings:?}"
        );
        assert!(
            found.contains(&("drivers/deep.c".to_string(), open_line)),
            "{found:?}"
        );
    }
}

#[test]
fn deep_if_expressions_are_bounded_with_a_warning() {
    let n = 20_000;
    let conditions = [
        format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        format!("{}1", "!".repeat(n)),
        format!("{}1", "-".repeat(n)),
        format!("{}1{}", "1?".repeat(n), ":1".repeat(n)),
        format!("{}1", "~".repeat(n)),
    ];
    for cond in conditions {
        let (tree, open_line) = deep_file(&format!("#if {cond}\nint x;\n#endif"));
        let (found, warnings) = check_tree(&tree);
        assert!(
            warnings.iter().any(|w| w.path == "drivers/deep.c"
                && w.line == Some(1)
                && w.message.contains("#if")),
            "{warnings:?}"
        );
        assert!(
            found.contains(&("drivers/deep.c".to_string(), open_line)),
            "{found:?}"
        );
    }
}

/// Runs `f` on another thread and fails the test if it takes longer than a minute (a hang).
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("hung: no answer within a minute")
}

fn entries_warnings(tree: &Tree) -> Vec<modrace::diag::Warning> {
    support::entries(tree).1
}

#[cfg(unix)]
#[test]
fn build_files_that_are_not_regular_files_are_skipped_with_a_warning() {
    let tree = Tree::from_text(&format!("//- /drivers/char/dev.c\n{MODULE_TAIL}"));
    std::fs::create_dir_all(tree.path("fifo")).unwrap();
    std::fs::create_dir_all(tree.path("zero")).unwrap();
    for fifo in ["fifo/Makefile", "fifo/Config.in", "zero/Kconfig"] {
        let c = std::ffi::CString::new(tree.path(fifo).into_os_string().into_encoded_bytes());
        assert_eq!(unsafe { libc::mkfifo(c.unwrap().as_ptr(), 0o644) }, 0);
    }
    std::os::unix::fs::symlink("/dev/zero", tree.path("zero/Makefile")).unwrap();
    // A sparse file over the size limit.
    let big = std::fs::File::create(tree.path("drivers/Makefile")).unwrap();
    big.set_len(modrace::source::MAX_FILE_BYTES + 1).unwrap();
    let warnings = within_a_minute(move || {
        let w = entries_warnings(&tree);
        drop(tree);
        w
    });
    let said = |path: &str, what: &str| {
        warnings
            .iter()
            .any(|w| w.path == path && w.message.contains(what))
    };
    for path in [
        "fifo/Makefile",
        "fifo/Config.in",
        "zero/Makefile",
        "zero/Kconfig",
    ] {
        assert!(said(path, "not a regular file"), "{path}: {warnings:?}");
    }
    assert!(said("drivers/Makefile", "limit"), "{warnings:?}");
}

#[test]
fn non_utf8_build_files_are_read() {
    let tree = Tree::from_text(&format!("//- /drivers/char/dev.c\n{MODULE_TAIL}"));
    std::fs::write(
        tree.path("drivers/char/Makefile"),
        b"# J\xf6rg's drivers\nM_OBJS := dev.o\n",
    )
    .unwrap();
    let (report, warnings) = support::entries(&tree);
    assert!(warnings.is_empty(), "{warnings:?}");
    let open = report
        .entries
        .iter()
        .find(|e| e.function == "dev_open")
        .unwrap();
    assert_eq!(
        open.module_evidence,
        modrace::buildinfo::ModuleEvidence::Makefile
    );
}

/// A function that registers the same local table many times: its routines are listed once.
/// Each registration used to read every store into the table again (8,000 registrations: 160 s
/// and 20 GB; the rows alone grow with the square).
#[test]
fn repeated_registrations_of_a_local_table_are_read_once() {
    let n = 300;
    let mut text = String::from(
        "#include <linux/fs.h>\nstatic int o(struct inode *i, struct file *f) { return 0; }\n\
         struct card { struct file_operations iface; };\n\
         int init_module(struct card *card) {\n\tstruct file_operations l;\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "\tl.open = o; register_chrdev({i}, \"x\", &l);\n\
             \tcard->iface.open = o; register_chrdev({i}, \"y\", &card->iface);\n"
        ));
    }
    text.push_str("\treturn 0;\n}\n");
    let tree = Tree::empty();
    tree.write("drivers/many.c", &text);
    let (report, _) = support::entries(&tree);
    assert_eq!(report.entries.len(), 2, "{:?}", report.entries.len());
    let same = report
        .registrations
        .iter()
        .filter(|r| r.outcome == modrace::entries::Outcome::SameLocalTable)
        .count();
    assert_eq!(same, 2 * (n - 1));
}

/// Runs the binary; returns (exit code, stdout, stderr).
fn run_modrace(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = support::modrace_bin().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Control characters and direction overrides from the input never reach the terminal raw:
/// not from file names, call text or source lines, in any text output or warning.
#[cfg(unix)]
#[test]
fn hostile_text_is_escaped_on_the_terminal() {
    let tree = Tree::from_text(
        "//- /include/linux/mm.h\n#define __GFP_WAIT 0x01\n#define GFP_KERNEL (__GFP_WAIT)\n\
         void *kmalloc(unsigned int size, int flags);\n",
    );
    let name = "drivers/char/t\u{1b}]0;pwned\u{7}\u{202e}x.c";
    tree.write(
        name,
        "#include <linux/fs.h>\n#include <linux/mm.h>\n\
         static int t_open(struct inode *i, struct file *f)\n{\n\
         \tvoid *p = kmalloc(4, GFP_KERNEL); /* \u{1b}[2J \u{202e} */\n\
         \tif (f == \"\u{1b}[2J\")\n\t\treturn -1;\n\treturn 0;\n}\n\
         static struct file_operations t_fops = { open: t_open };\n\
         int init_module(void) { return register_chrdev(1, \"t\", &t_fops); }\n",
    );
    std::fs::write(tree.path("drivers/char/b\u{1b}[31m.c"), b"\x00\x01binary").unwrap();
    let root = tree.root().as_os_str();
    let hostile = |s: &str| s.chars().any(modrace::diag::is_hostile);
    let sgr = regex::Regex::new("\u{1b}\\[[0-9;]*m").unwrap();
    let runs: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec!["check".as_ref(), root],
        vec!["check".as_ref(), root, "--format".as_ref(), "gcc".as_ref()],
        vec!["check".as_ref(), root, "--format".as_ref(), "json".as_ref()],
        vec![
            "check".as_ref(),
            root,
            "--format".as_ref(),
            "sarif".as_ref(),
        ],
        vec![
            "check".as_ref(),
            root,
            "--color".as_ref(),
            "always".as_ref(),
        ],
        vec!["entries".as_ref(), root],
        vec!["entries".as_ref(), root, "--sites".as_ref()],
        vec![
            "entries".as_ref(),
            root,
            "--format".as_ref(),
            "json".as_ref(),
        ],
        vec!["bkl".as_ref(), root],
        vec!["stats".as_ref(), root],
        vec![
            "why-sleeps".as_ref(),
            "t_open".as_ref(),
            "--tree".as_ref(),
            root,
        ],
    ];
    for args in runs {
        let (code, stdout, stderr) = run_modrace(&args);
        assert!(matches!(code, Some(0 | 1)), "{args:?}: {code:?} {stderr}");
        let color = args.iter().any(|a| *a == "always");
        // With colors on, only modrace's own SGR sequences may appear.
        let plain = if color {
            sgr.replace_all(&stdout, "").into_owned()
        } else {
            stdout.clone()
        };
        assert!(!hostile(&plain), "{args:?} stdout: {stdout:?}");
        assert!(!hostile(&stderr), "{args:?} stderr: {stderr:?}");
        assert!(
            stderr.contains("\\u{1b}[31m.c"),
            "{args:?} stderr: {stderr:?}"
        );
    }
    let (_, text, _) = run_modrace(&["check".as_ref(), root]);
    assert!(
        text.contains("t\\u{1b}]0;pwned\\u{7}\\u{202e}x.c"),
        "{text}"
    );
}

/// A directory reached again through a symbolic link (and a file linked beside its target) is
/// visited once: every finding once, no warning about a loop.
#[cfg(unix)]
#[test]
fn symlinked_directories_are_visited_once() {
    let tree = Tree::empty();
    tree.write("drivers/char/dev.c", MODULE_TAIL);
    let (alone, _) = check_tree(&tree);
    assert_eq!(alone.len(), 1, "{alone:?}");
    std::os::unix::fs::symlink("char", tree.path("drivers/char2")).unwrap();
    std::os::unix::fs::symlink("drivers", tree.path("zz")).unwrap();
    std::os::unix::fs::symlink("dev.c", tree.path("drivers/char/same.c")).unwrap();
    let (found, warnings) = check_tree(&tree);
    assert_eq!(found, alone, "{warnings:?}");
    let files = modrace::source::discover(&[tree.root().to_path_buf()]).unwrap();
    let names: Vec<&str> = files.files.iter().map(|f| f.display.as_str()).collect();
    assert_eq!(names, ["drivers/char/dev.c"]);
    // Two roots naming the same directory: its files once.
    let twice = [tree.path("drivers"), tree.path("zz")];
    assert_eq!(modrace::source::discover(&twice).unwrap().files.len(), 1);
}
