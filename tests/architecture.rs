//! The architecture, checked (see ARCHITECTURE.md): data flows one way through layers, no
//! import circles between top-level modules, the knowledge base imports no analysis, and no
//! source file or function grows past what one reader can hold.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom up. A module may import its own layer and the layers below, never one
/// above; within a layer the imports must not form a circle.
const LAYERS: &[(&str, &[&str])] = &[
    ("support", &["diag", "timing", "ctext", "progress"]),
    ("knowledge and bytes", &["kb", "source"]),
    ("front end", &["normalize", "facts"]),
    ("per-file phase", &["scan", "buildinfo", "cache"]),
    ("index", &["index", "stats"]),
    (
        "analyses",
        &[
            "chain", "cfg", "paths", "entries", "sleep", "bkl", "usecount", "owners", "nowork",
        ],
    ),
    ("rules", &["rules"]),
    ("fix and report", &["fix", "report"]),
    ("assembly", &["session"]),
    ("command line", &["cli"]),
];

/// What the knowledge base may import: it is data and its lookups, below every analysis.
const KB_MAY_IMPORT: &[&str] = &["ctext", "diag"];

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 120;

/// Functions allowed past `MAX_FN_LINES`: one `match` over the C statement kinds each, whose
/// arms read best side by side.
const LONG_FN_ALLOWED: &[(&str, &str)] = &[("facts/body.rs", "stmt"), ("cfg.rs", "stmt")];

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`src/sleep/graph.rs` -> `sleep`); the binary's
/// files (`main.rs`, `cli/`) are the command line.
fn top_module(rel: &str) -> String {
    let first = rel.split('/').next().unwrap().trim_end_matches(".rs");
    match first {
        "main" => "cli".to_string(),
        other => other.to_string(),
    }
}

/// The text with comments, string and character literals blanked, so that only code is read.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            out.extend(text[i..end].chars().filter(|&c| c == '\n'));
            i = end;
        } else if b[i] == b'r' && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#\"")) {
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            let end = text[start..]
                .find(&close)
                .map_or(b.len(), |e| start + e + close.len());
            out.extend(text[i..end].chars().filter(|&c| c == '\n'));
            out.push_str("\"\"");
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.extend(text[i..j.min(b.len())].chars().filter(|&c| c == '\n'));
            out.push_str("\"\"");
            i = j + 1;
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A character literal ('x', '\n', '\''); a lifetime has no closing quote.
            let mut j = i + 1;
            if b[j] == b'\\' {
                j += 2;
            } else {
                j += 1;
            }
            while j < b.len() && b[j] != b'\'' {
                j += 1;
            }
            out.push_str("' '");
            i = j + 1;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules a file's code names: `crate::x`, `crate::{x, y}`, and, in the
/// binary, `modrace::x`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in ["crate::", "modrace::"] {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(is_ident) {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for part in group[..end].split(',') {
                    let name: String = part.trim().chars().take_while(|&c| is_ident(c)).collect();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
            } else {
                let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

struct Source {
    rel: String,
    text: String,
}

fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| Source {
            rel: p
                .strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/"),
            text: std::fs::read_to_string(&p).unwrap(),
        })
        .collect()
}

/// Edges between top-level modules, with the files that make each.
fn graph() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut g: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for s in sources() {
        let from = top_module(&s.rel);
        g.entry(from.clone()).or_default();
        for to in imports(&code_only(&s.text)) {
            if to != from && to != "self" && to != "super" {
                g.get_mut(&from)
                    .unwrap()
                    .entry(to)
                    .or_default()
                    .push(s.rel.clone());
            }
        }
    }
    g
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<String> = graph()
        .into_keys()
        .filter(|m| layer_of(m).is_none() && m != "lib")
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules without a layer in tests/architecture.rs and ARCHITECTURE.md: {unplaced:?}"
    );
}

#[test]
fn no_import_runs_back_up() {
    let mut wrong = Vec::new();
    for (from, tos) in graph() {
        let Some(lf) = layer_of(&from) else { continue };
        for (to, files) in tos {
            let Some(lt) = layer_of(&to) else { continue };
            if lt > lf {
                wrong.push(format!(
                    "{from} ({}) imports {to} ({}) in {files:?}",
                    LAYERS[lf].0, LAYERS[lt].0
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the flow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_import_circle() {
    let g = graph();
    // Depth-first search; a back edge closes a circle.
    fn visit<'a>(
        m: &'a str,
        g: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(m) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|&s| s == m).unwrap();
                let mut circle: Vec<String> = stack[at..].iter().map(|s| s.to_string()).collect();
                circle.push(m.to_string());
                return Some(circle);
            }
            _ => {}
        }
        state.insert(m, 1);
        stack.push(m);
        for to in g.get(m).into_iter().flat_map(|t| t.keys()) {
            if let Some(c) = visit(to, g, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(m, 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in g.keys() {
        if let Some(circle) = visit(m, &g, &mut state, &mut Vec::new()) {
            panic!("import circle: {}", circle.join(" -> "));
        }
    }
}

#[test]
fn the_knowledge_base_imports_no_analysis() {
    let g = graph();
    let kb: Vec<&String> = g["kb"]
        .keys()
        .filter(|m| !KB_MAY_IMPORT.contains(&m.as_str()))
        .collect();
    assert!(kb.is_empty(), "src/kb imports {kb:?}");
}

#[test]
fn no_source_file_over_the_limit() {
    let long: Vec<String> = sources()
        .iter()
        .map(|s| (s.rel.clone(), s.text.lines().count()))
        .filter(|(_, n)| *n > MAX_FILE_LINES)
        .map(|(f, n)| format!("{f}: {n} lines"))
        .collect();
    assert!(long.is_empty(), "over {MAX_FILE_LINES} lines: {long:?}");
}

/// `fn name` at the start of a line's code, and how many lines its body spans.
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .unwrap_or(t);
        let t = t.strip_prefix("const ").unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        let mut depth = 0i64;
        let mut opened = false;
        for (j, l) in lines.iter().enumerate().skip(i) {
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened && depth == 0 => break,
                    _ => {}
                }
            }
            if !opened && l.trim_end().ends_with(';') {
                break;
            }
            if opened && depth <= 0 {
                out.push((name.clone(), j - i + 1));
                break;
            }
        }
    }
    out
}

#[test]
fn no_function_over_the_limit() {
    let mut long = Vec::new();
    for s in sources() {
        for (name, n) in function_lengths(&code_only(&s.text)) {
            let allowed = LONG_FN_ALLOWED.contains(&(s.rel.as_str(), name.as_str()));
            if n > MAX_FN_LINES && !allowed {
                long.push(format!("{}: fn {name}: {n} lines", s.rel));
            }
        }
    }
    assert!(long.is_empty(), "over {MAX_FN_LINES} lines: {long:?}");
}

#[test]
fn the_checks_themselves_see_what_they_should() {
    let code = code_only(
        "use crate::kb::Kb; // crate::rules\nlet s = \"crate::report\";\nuse crate::{a, b::c};\n",
    );
    let found: Vec<String> = imports(&code).into_iter().collect();
    assert_eq!(found, ["a", "b", "kb"]);
    let lengths = function_lengths("fn f() {\n    x;\n}\nfn g();\npub fn h() { y }\n");
    assert_eq!(lengths, [("f".to_string(), 3), ("h".to_string(), 1)]);
}

/// Literals in `src/` that the knowledge base lists too, each with why the code must name
/// them. Everything else a kernel tree calls by name is read from the knowledge base.
const KB_LITERAL_ALLOWED: &[(&str, &[&str], &str)] = &[
    (
        "ctext.rs",
        &[
            "typeof",
            "__typeof__",
            "__typeof",
            "__asm__",
            "asm",
            "__asm",
            "__volatile__",
            "__attribute__",
            "__alignof__",
        ],
        "GNU C keywords: the language, not the kernel (the KB lists them to blank or skip them)",
    ),
    ("facts/kinds.rs", &["name"], "a tree-sitter-c field name"),
    (
        "main.rs",
        &["linux"],
        "Rust's `target_os` value; the KB lists `linux` as a compiler predefine",
    ),
    (
        "report/sarif.rs",
        &["driver", "name"],
        "SARIF property names",
    ),
    ("scan.rs", &["read"], "the name of a timing phase"),
];

/// Keys whose values are the knowledge base's own vocabulary (`takes = "name"`), not names
/// from a kernel tree.
const KB_FORMAT_KEYS: &[&str] = &["takes", "kind", "count", "rules"];

/// The string literals of a file's non-test code, with their lines. A file's test module comes
/// last (clippy's `items_after_test_module`), so reading stops at `#[cfg(test)] mod`.
fn string_literals(text: &str) -> Vec<(usize, String)> {
    let end = text
        .find("#[cfg(test)]\nmod ")
        .or_else(|| text.find("#[cfg(test)]\npub mod "))
        .unwrap_or(text.len());
    let code = &text[..end];
    let b = code.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        if b[i] == b'\n' {
            line += 1;
            i += 1;
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let stop = code[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            line += code[i..stop].matches('\n').count();
            i = stop;
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            let mut j = i + if b[i + 1] == b'\\' { 3 } else { 2 };
            while j < b.len() && b[j] != b'\'' {
                j += 1;
            }
            i = j + 1;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            let mut value = String::new();
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\\' {
                    j += 1;
                }
                value.push(b[j] as char);
                j += 1;
            }
            out.push((line, value.clone()));
            line += value.matches('\n').count();
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Every string the knowledge base lists as a name (prose fields left out).
fn kb_names() -> BTreeSet<String> {
    const PROSE: &[&str] = &[
        "note",
        "evidence",
        "why",
        "chain",
        "core_call",
        "core_pins",
        "fail_cleanup",
        "bkl",
        "release_on_failure",
        "source",
    ];
    fn walk(v: &toml::Value, key: &str, out: &mut BTreeSet<String>) {
        match v {
            toml::Value::String(s) if !PROSE.contains(&key) && !KB_FORMAT_KEYS.contains(&key) => {
                out.insert(s.clone());
            }
            toml::Value::Array(items) => items.iter().for_each(|x| walk(x, key, out)),
            toml::Value::Table(t) => t.iter().for_each(|(k, x)| walk(x, k, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    let kb_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kb");
    for e in std::fs::read_dir(kb_dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&p).unwrap();
            walk(&text.parse::<toml::Value>().unwrap(), "", &mut out);
        }
    }
    out
}

#[test]
fn kernel_names_live_in_the_knowledge_base() {
    let names = kb_names();
    let mut found = Vec::new();
    for s in sources().iter().filter(|s| !s.rel.ends_with("tests.rs")) {
        for (line, lit) in string_literals(&s.text) {
            let allowed = KB_LITERAL_ALLOWED
                .iter()
                .any(|(file, names, _)| *file == s.rel && names.contains(&lit.as_str()));
            if names.contains(&lit) && !allowed {
                found.push(format!("{}:{line}: \"{lit}\"", s.rel));
            }
        }
    }
    assert!(
        found.is_empty(),
        "kernel names written in src/ instead of read from the knowledge base:\n{}",
        found.join("\n")
    );
}
