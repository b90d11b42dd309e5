//! Which modules can be unloaded: those with an exit routine in one of their files.
//!
//! The knowledge base names the exit marks (`module_exit`, `module_driver`, `cleanup_module`);
//! a file-scope macro whose definition in the tree expands to one of them (6.1 has about 80
//! `module_*_driver` macros) is an exit mark too. Only the macros files use at file scope are
//! expanded, each at most [`MAX_EXPANSION`] levels deep.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::buildinfo::BuildInfo;
use crate::ctext::is_ident_char;
use crate::facts::FileFacts;
use crate::index::Index;
use crate::kb::Kb;

use super::{module_key, ModuleKey};

/// Macro expansion depth followed when looking for an exit mark.
const MAX_EXPANSION: usize = 8;

/// Every module with an exit routine, and where its first one is (file, line).
fn module_exits(index: &Index, kb: &Kb, build: &BuildInfo) -> HashMap<ModuleKey, (String, u32)> {
    let marks = &kb.data.module;
    let exit_macros = exit_macros(index, &marks.exit_macros);
    let mut exits: HashMap<ModuleKey, (String, u32)> = HashMap::default();
    for f in index.files {
        let by_macro = (f.calls.iter())
            .filter(|c| c.caller.is_none() && exit_macros.contains(c.callee.as_str()))
            .map(|c| c.line);
        let by_function = (f.functions.iter())
            .filter(|g| marks.exit_functions.iter().any(|e| e == g.name.as_str()))
            .map(|g| g.line);
        let Some(line) = by_macro.chain(by_function).min() else {
            continue;
        };
        let at = (f.path.to_string(), line);
        let first =
            (exits.entry(module_key(f, build.origin(&f.path)))).or_insert_with(|| at.clone());
        if at < *first {
            *first = at;
        }
    }
    exits
}

/// The knowledge base's exit macros and every macro used at file scope that expands to one.
fn exit_macros<'a>(index: &'a Index, known: &'a [String]) -> HashSet<&'a str> {
    let known: HashSet<&str> = known.iter().map(String::as_str).collect();
    // The bodies of the macros that file-scope uses name, and of the macros those call.
    let mut bodies: HashMap<&str, Vec<&str>> = HashMap::default();
    let mut pending: HashSet<&str> = (index.files.iter())
        .flat_map(|f| f.calls.iter().filter(|c| c.caller.is_none()))
        .map(|c| c.callee.as_str())
        .filter(|n| !known.contains(n))
        .collect();
    for _ in 0..MAX_EXPANSION {
        if pending.is_empty() {
            break;
        }
        for m in index.files.iter().flat_map(|f| f.macros.iter()) {
            if pending.contains(m.name.as_str()) && m.params.is_some() {
                bodies
                    .entry(m.name.as_str())
                    .or_default()
                    .push(m.body.as_str());
            }
        }
        let looked: HashSet<&str> = std::mem::take(&mut pending);
        for name in &looked {
            bodies.entry(name).or_default();
        }
        pending = (looked.iter())
            .flat_map(|n| bodies[n].iter().flat_map(|b| called_names(b)))
            .filter(|n| !known.contains(n) && !bodies.contains_key(n))
            .collect();
    }
    let mut memo: HashMap<&str, bool> = HashMap::default();
    let names: Vec<&str> = bodies.keys().copied().collect();
    let mut exits: HashSet<&str> = known.clone();
    for name in names {
        if expands_to_exit(name, &bodies, &known, &mut memo, 0) {
            exits.insert(name);
        }
    }
    exits
}

fn expands_to_exit<'a>(
    name: &'a str,
    bodies: &HashMap<&'a str, Vec<&'a str>>,
    known: &HashSet<&str>,
    memo: &mut HashMap<&'a str, bool>,
    depth: usize,
) -> bool {
    if known.contains(name) {
        return true;
    }
    if let Some(&v) = memo.get(name) {
        return v;
    }
    if depth >= MAX_EXPANSION {
        return false;
    }
    // Provisionally no: a macro that names itself does not expand to an exit through itself.
    memo.insert(name, false);
    let found = (bodies.get(name).into_iter().flatten())
        .flat_map(|b| called_names(b))
        .any(|n| expands_to_exit(n, bodies, known, memo, depth + 1));
    memo.insert(name, found);
    found
}

/// The identifiers a macro body calls: each followed by `(`.
fn called_names(body: &str) -> impl Iterator<Item = &str> {
    let bytes = body.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            if is_ident_char(bytes[i] as char) && (i == 0 || !is_ident_char(bytes[i - 1] as char)) {
                let start = i;
                while i < bytes.len() && is_ident_char(bytes[i] as char) {
                    i += 1;
                }
                let rest = body[i..].trim_start();
                if rest.starts_with('(') && !bytes[start].is_ascii_digit() {
                    return Some(&body[start..i]);
                }
            } else {
                i += 1;
            }
        }
        None
    })
}

/// Modules that pin themselves and never let go (`try_module_get(THIS_MODULE)` in probe, "don't
/// allow the module to be unloaded"): they cannot be unloaded once running.
fn pinned_forever(index: &Index, kb: &Kb, build: &BuildInfo) -> HashSet<ModuleKey> {
    let owners = &kb.data.owners;
    let this_module = owners.this_module.as_str();
    let names_self =
        |c: &crate::facts::Call| c.args.first().is_some_and(|a| a.trim() == this_module);
    let mut pins = HashSet::default();
    let mut unpins = HashSet::default();
    for f in index.files {
        let key = || module_key(f, build.origin(&f.path));
        for c in &f.calls {
            if owners.is_self_pin_routine(&c.callee) && names_self(c) {
                pins.insert(key());
            } else if (owners.is_unpin_routine(&c.callee) && names_self(c))
                || owners.is_self_unpin_routine(&c.callee)
            {
                unpins.insert(key());
            }
        }
    }
    pins.retain(|k| !unpins.contains(k));
    pins
}

/// Which modules can be unloaded, and through which exit routine: read once, asked per file
/// by MR101's tables and the self-reference analysis alike.
#[derive(Debug, Default)]
pub struct Unloadable {
    exits: HashMap<ModuleKey, (String, u32)>,
    forever: HashSet<ModuleKey>,
}

impl Unloadable {
    pub fn new(index: &Index, kb: &Kb, build: &BuildInfo) -> Self {
        Unloadable {
            exits: module_exits(index, kb, build),
            forever: pinned_forever(index, kb, build),
        }
    }

    /// The exit routine (file, line) of the module `facts` belongs to, when that module can
    /// be unloaded: module-capable C code of a module with an exit routine that does not pin
    /// itself for good.
    pub fn exit_of(&self, build: &BuildInfo, facts: &FileFacts) -> Option<(String, u32)> {
        let capable = crate::entries::module_capable(build, facts).0;
        let key = module_key(facts, build.origin(&facts.path));
        let unloadable = capable && facts.path.ends_with(".c") && !self.forever.contains(&key);
        self.exits.get(&key).cloned().filter(|_| unloadable)
    }
}
