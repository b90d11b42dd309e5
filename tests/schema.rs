//! Every JSON output validates against its JSON Schema in `schema/`, on real runs of the
//! binary over the fixture trees, and the schemas are strict enough to catch a drift.

mod support;

use std::path::Path;

use serde_json::Value;
use support::Tree;

fn validator(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(format!("{name}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn output(args: &[&str], root: &Path) -> Value {
    let out = support::modrace_bin()
        .arg("-q")
        .args(args)
        .arg(root)
        .output()
        .unwrap();
    assert!(out.status.code().is_some_and(|c| c < 2), "{args:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn errors(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// (schema, command line) for every JSON output.
const OUTPUTS: [(&str, &[&str]); 7] = [
    ("check", &["check", "--format", "json"]),
    ("check", &["check", "--format", "json", "--show-suppressed"]),
    ("check", &["--timings", "check", "--format", "json"]),
    ("entries", &["entries", "--format", "json"]),
    ("sites", &["entries", "--sites", "--format", "json"]),
    ("bkl", &["--timings", "bkl", "--format", "json"]),
    ("stats", &["--timings", "stats", "--format", "json"]),
];

#[test]
fn real_outputs_validate_against_their_schemas() {
    let trees = [
        Tree::fixture("check"),
        Tree::fixture("bkl"),
        // Suppressed findings, for `--show-suppressed`.
        Tree::fixture("suppress"),
        Tree::from_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tree")),
        // A function the parser cannot read, for `stats`' error rows.
        Tree::from_text(
            "//- /drivers/char/broken.c
static int broken_open(struct inode *inode, struct file *file)
{
\tMOD_INC_USE_COUNT;
\tx = ;
\treturn 0;
}
",
        ),
    ];
    for (schema, args) in OUTPUTS {
        let v = validator(schema);
        let mut nonempty = false;
        for tree in &trees {
            let value = output(args, tree.root());
            assert_eq!(value["version"], 1, "{args:?}");
            let errs = errors(&v, &value);
            assert!(errs.is_empty(), "{args:?} on {:?}: {errs:#?}", tree.root());
            nonempty |= value
                .as_object()
                .unwrap()
                .values()
                .any(|x| x.as_array().is_some_and(|a| !a.is_empty()));
        }
        assert!(nonempty, "{args:?}: some tree gives rows to check");
    }
    // The error rows of `stats`.
    let stats = output(&["stats", "--format", "json"], trees[4].root());
    let causes = stats["top_error_causes"].as_array().unwrap();
    assert!(!causes.is_empty(), "{stats}");
}

#[test]
fn the_schemas_catch_drift() {
    let tree = Tree::fixture("check");
    let check = output(&["check", "--format", "json"], tree.root());
    let v = validator("check");
    assert!(errors(&v, &check).is_empty());
    let mut unversioned = check.clone();
    unversioned.as_object_mut().unwrap().remove("version");
    assert!(!errors(&v, &unversioned).is_empty());
    let mut renamed = check.clone();
    let f = renamed["findings"][0].as_object_mut().unwrap();
    let rule = f.remove("rule").unwrap();
    f.insert("code".into(), rule);
    assert!(!errors(&v, &renamed).is_empty());
    let mut future = check;
    future["version"] = 2.into();
    assert!(!errors(&v, &future).is_empty());
}

#[test]
fn a_written_baseline_validates_and_the_schema_catches_drift() {
    let tree = Tree::fixture("check");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baseline.json");
    let out = support::modrace_bin()
        .args(["-q", "check", "--write-baseline"])
        .arg(&file)
        .arg(tree.root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let baseline: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let v = validator("baseline");
    assert!(errors(&v, &baseline).is_empty(), "{baseline}");
    assert!(!baseline["findings"].as_array().unwrap().is_empty());
    let mut unversioned = baseline.clone();
    unversioned.as_object_mut().unwrap().remove("version");
    assert!(!errors(&v, &unversioned).is_empty());
    let mut with_line = baseline;
    with_line["findings"][0]["line"] = 3.into();
    assert!(!errors(&v, &with_line).is_empty());
}
