//! Findings already judged: `modrace: ignore` comments in the source (`--show-suppressed`)
//! and baseline files (`--write-baseline`, `--baseline`), through the command line.

mod support;

use std::path::Path;

use serde_json::Value;
use support::Tree;

/// Runs the binary on `root`; (exit code, stdout, stderr).
fn modrace(args: &[&str], root: &Path) -> (i32, String, String) {
    let out = support::modrace_bin()
        .args(args)
        .arg(root)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str], root: &Path) -> Value {
    let mut all = vec!["-q", "check", "--format", "json"];
    all.extend(args);
    let (code, out, err) = modrace(&all, root);
    assert!(code < 2, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

/// (file, line) of each finding of a JSON report's array `key`.
fn places(report: &Value, key: &str) -> Vec<(String, u64)> {
    let rows = report[key].as_array().cloned().unwrap_or_default();
    rows.iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn at(file: &str, line: u64) -> (String, u64) {
    (format!("drivers/char/{file}"), line)
}

#[test]
fn comments_suppress_on_the_line_and_the_routine_and_only_with_a_reason() {
    // The library path applies them too: only the announced findings remain (on a copy
    // without the comments that warn: the harness wants a clean scan).
    let clean = Tree::copy_of("suppress");
    for (file, from, to) in [
        ("three.c", "modrace: ignore MR001", "no suppression"),
        ("four.c", ", MR777", ""),
    ] {
        let path = format!("drivers/char/{file}");
        clean.write(&path, &clean.read(&path).replace(from, to));
    }
    let report = support::assert_expectations(&clean);
    assert_eq!(report.stats.suppressed, 3);

    let tree = Tree::fixture("suppress");

    let (code, text, err) = modrace(&["check", "--show-suppressed"], tree.root());
    assert_eq!(code, 1, "{err}");
    for line in [
        "drivers/char/one.c:9: MR001 [sleep-before-inc] in one_open",
        "(line 8: the buffer is freed by release)",
        "(line 5: checked by hand)",
        "(line 13: a block comment over three lines)",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(
        err.contains("three.c:8: suppression without a reason"),
        "{err}"
    );
    assert!(
        err.contains("four.c:8: suppression names no rule `MR777`"),
        "{err}"
    );
    let (_, quiet_text, quiet_err) = modrace(&["-q", "check"], tree.root());
    assert_eq!(quiet_err, "");
    assert!(!quiet_text.contains("suppressed:"), "{quiet_text}");

    let report = json(&["--show-suppressed"], tree.root());
    assert_eq!(
        places(&report, "findings"),
        [at("four.c", 9), at("three.c", 9)]
    );
    assert_eq!(
        places(&report, "suppressed"),
        [at("five.c", 9), at("one.c", 9), at("two.c", 10)]
    );
    assert_eq!(report["suppressed"][1]["suppressed_at"], 8);
    assert_eq!(report["stats"]["suppressed"], 3);
    assert_eq!(report["stats"]["findings"], 2);
    // Without the flag the JSON has no `suppressed` array, only the count.
    let report = json(&[], tree.root());
    assert!(report.get("suppressed").is_none());
    assert_eq!(report["stats"]["suppressed"], 3);
}

#[test]
fn a_baseline_hides_known_findings_by_key_not_by_line() {
    let tree = Tree::copy_of("suppress");
    let baseline = tree.path("known.json");
    let b = baseline.to_str().unwrap();
    let (code, _, err) = modrace(&["-q", "check", "--write-baseline", b], tree.root());
    assert_eq!(code, 1, "the run itself reports as check does: {err}");
    let written: Value = serde_json::from_str(&tree.read("known.json")).unwrap();
    assert_eq!(written["version"], 1);
    assert_eq!(written["findings"].as_array().unwrap().len(), 2);
    assert!(written["findings"][0].get("line").is_none());

    let (code, out, err) = modrace(&["check", "--baseline", b], tree.root());
    assert_eq!((code, out.as_str()), (0, "no findings\n"), "{err}");
    assert!(err.contains("2 known findings not reported"), "{err}");
    let (_, _, err) = modrace(&["-q", "check", "--baseline", b], tree.root());
    assert_eq!(err, "");
    let report = json(&["--baseline", b], tree.root());
    assert_eq!(report["stats"]["baseline_hidden"], 2);
    assert_eq!(report["stats"]["findings"], 0);

    // Lines move: the findings keep their keys.
    let three = tree.read("drivers/char/three.c");
    tree.write("drivers/char/three.c", &format!("\n\n/* moved */\n{three}"));
    let report = json(&["--baseline", b], tree.root());
    assert_eq!(places(&report, "findings"), []);

    // A file moves to another directory: the path-free key (rule, base name, function,
    // slot) still matches, because the baseline's path is gone.
    let four = tree.read("drivers/char/four.c");
    std::fs::remove_file(tree.path("drivers/char/four.c")).unwrap();
    tree.write("drivers/misc/four.c", &four);
    tree.write("drivers/misc/Makefile", "M_OBJS := four.o\n");
    let report = json(&[], tree.root());
    assert!(places(&report, "findings").contains(&("drivers/misc/four.c".into(), 9)));
    let report = json(&["--baseline", b], tree.root());
    assert_eq!(places(&report, "findings"), []);

    // A new finding is reported; a suppression's reason removed brings its finding back.
    let one = tree.read("drivers/char/one.c");
    tree.write(
        "drivers/char/six.c",
        &one.replace("one", "six").replace(" -- ", " "),
    );
    // Built as a module, as its neighbours are (a C file its Makefile does not name is none).
    let makefile = tree.read("drivers/char/Makefile");
    tree.write(
        "drivers/char/Makefile",
        &makefile.replace("five.o", "five.o six.o"),
    );
    let (code, out, err) = modrace(&["check", "--format", "gcc", "--baseline", b], tree.root());
    assert_eq!(code, 1, "{err}");
    let reported: Vec<&str> = out.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(reported.len(), 1, "{out}");
    assert!(reported[0].starts_with("drivers/char/six.c:9:"), "{out}");
}

#[test]
fn a_baseline_that_cannot_be_read_is_an_error() {
    let tree = Tree::copy_of("suppress");
    let cases = [
        ("missing.json", None, "cannot read baseline"),
        ("text.json", Some("not json"), "not a baseline"),
        ("array.json", Some("[1, 2]"), "not a baseline"),
        (
            "v2.json",
            Some("{\"version\": 2, \"findings\": []}"),
            "baseline version 2; this modrace reads 1",
        ),
        (
            "noversion.json",
            Some("{\"findings\": []}"),
            "no \"version\"",
        ),
        (
            "rule.json",
            Some(
                "{\"version\": 1, \"findings\": [{\"rule\": \"MR999\", \"file\": \"a.c\", \
                 \"function\": \"f\", \"slot\": \"a.b\"}]}",
            ),
            "finding 1: no rule `MR999`",
        ),
        ("binary.json", Some("\u{0}\u{1}\u{ff}"), "not a baseline"),
    ];
    for (name, text, error) in cases {
        if let Some(text) = text {
            tree.write(name, text);
        }
        let path = tree.path(name);
        let (code, out, err) = modrace(
            &["check", "--baseline", path.to_str().unwrap()],
            tree.root(),
        );
        assert_eq!(code, 2, "{name}: {err}");
        assert_eq!(out, "", "{name}");
        assert!(err.contains(error), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let (code, _, err) = modrace(
        &[
            "check",
            "--baseline",
            "a.json",
            "--write-baseline",
            "b.json",
        ],
        tree.root(),
    );
    assert_eq!(code, 2, "{err}");
    // The baseline is never written over a file the run checks.
    let c = tree.path("drivers/char/one.c");
    let (code, _, err) = modrace(
        &["check", "--write-baseline", c.to_str().unwrap()],
        tree.root(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(tree.read("drivers/char/one.c").contains("one_open"));
}

#[test]
fn an_mr101_table_is_suppressed_on_its_definition_line_or_the_line_above() {
    let tree = Tree::copy_of("owners");
    let edit = |file: &str, line: usize, f: &dyn Fn(&str) -> String| {
        let path = format!("drivers/misc/{file}");
        let text = tree.read(&path);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[line - 1] = f(&lines[line - 1]);
        tree.write(&path, &(lines.join("\n") + "\n"));
    };
    let before = json(&[], tree.root());
    let tables = |r: &Value| -> Vec<String> {
        let rows = r["findings"].as_array().unwrap();
        (rows.iter().filter(|f| f["rule"] == "MR101"))
            .map(|f| f["function"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(tables(&before).contains(&"blink_trace_fops".to_string()));
    assert!(tables(&before).contains(&"frob_stats_fops".to_string()));
    // The line above blink_debug.c's table; frob.c's definition line itself.
    edit("blink_debug.c", 12, &|l| {
        format!("/* modrace: ignore MR101 -- debug only, never unloaded */\n{l}")
    });
    edit("frob.c", 8, &|l| {
        format!("{l} // modrace: ignore MR101 -- owned elsewhere")
    });
    let after = json(&["--show-suppressed"], tree.root());
    let mut gone = tables(&before);
    gone.retain(|t| !tables(&after).contains(t));
    assert_eq!(gone, ["blink_trace_fops", "frob_stats_fops"]);
    let suppressed = after["suppressed"].as_array().unwrap();
    assert_eq!(suppressed.len(), 2, "{after}");
    assert_eq!(suppressed[0]["reason"], "debug only, never unloaded");
}
