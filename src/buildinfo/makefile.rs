//! One Makefile (or Kbuild file), read once: its assignments with the line each is on and the
//! conditionals around it, its variables (every branch), and its explicit rules for objects.
//!
//! Conditionals are read as the union of their branches, with one exception: a branch that
//! runs only when a symbol is `m` (`ifeq ($(CONFIG_FOO),m)`, the `else` of
//! `ifneq ($(CONFIG_FOO),m)`) builds modules only if the configuration lets that symbol be `m`.

use std::collections::{HashMap, HashSet};

use super::config::Symbols;

/// `NAME = words` (or `:=`, `+=`, `?=`) on `line`, inside branches that need every symbol of
/// `needs_m` to be `m`.
pub(super) struct Assign {
    pub name: String,
    pub value: String,
    pub line: u32,
    pub needs_m: Vec<String>,
}

/// Where a module list names an object: the list, its line, and the symbol that must be `m`
/// for it (the guard of its branch, or `obj-$(CONFIG_X)`'s own), when one must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Listing {
    pub module: String,
    pub list: String,
    pub line: u32,
    pub symbol: Option<String>,
}

/// The module objects of a Makefile, and the objects only module lists under symbols that
/// cannot be `m` name (with the first such listing).
#[derive(Default)]
pub(super) struct Modules {
    pub capable: HashMap<String, Listing>,
    pub blocked: HashMap<String, Listing>,
}

pub(super) struct Makefile {
    assigns: Vec<Assign>,
    vars: HashMap<String, Vec<String>>,
    /// `X.o: a.o b.o` -> ("X.o", "a.o b.o").
    rules: HashMap<String, String>,
}

/// The logical lines of a Makefile (continued lines joined) with the line each starts on.
fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut open = false;
    for (n, line) in text.lines().enumerate() {
        let (body, continues) = match line.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line, false),
        };
        match out.last_mut() {
            Some(last) if open => {
                last.1.push(' ');
                last.1.push_str(body);
            }
            _ => out.push((n as u32 + 1, body.to_string())),
        }
        open = continues;
    }
    out
}

/// A conditional's test of one symbol against `m`: `ifeq ($(CONFIG_X),m)` gives
/// `(CONFIG_X, true)`, `ifneq (...)` `(CONFIG_X, false)`; other tests give `None`.
fn tests_m(word: &str, rest: &str) -> Option<(String, bool)> {
    let equal = match word {
        "ifeq" => true,
        "ifneq" => false,
        _ => return None,
    };
    let rest = rest.trim();
    let (a, b) = match rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) => inner.split_once(',')?,
        // `ifeq "$(CONFIG_X)" "m"`
        None => rest.split_once(char::is_whitespace)?,
    };
    let clean = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
    let (a, b) = (clean(a), clean(b));
    let sym = |s: &str| {
        s.strip_prefix("$(")
            .and_then(|r| r.strip_suffix(')'))
            .map(str::to_string)
    };
    match (sym(&a), sym(&b)) {
        (Some(s), None) if b == "m" => Some((s, equal)),
        (None, Some(s)) if a == "m" => Some((s, equal)),
        _ => None,
    }
}

/// Make variable assignments, all branches of conditionals taken, each with the symbols its
/// branch needs to be `m`.
fn assignments(lines: &[(u32, String)]) -> Vec<Assign> {
    // Per open conditional: the symbol its `then` branch needs to be `m`, the one its `else`
    // branch needs, and whether the `else` has begun.
    let mut stack: Vec<(Option<String>, Option<String>, bool)> = Vec::new();
    let mut out = Vec::new();
    for (n, line) in lines {
        let line = line.split('#').next().unwrap_or("");
        let trimmed = line.trim_start();
        let word = trimmed.split_whitespace().next().unwrap_or("");
        match word {
            "ifeq" | "ifneq" | "ifdef" | "ifndef" => {
                let test = tests_m(word, &trimmed[word.len()..]);
                stack.push(match test {
                    Some((s, true)) => (Some(s), None, false),
                    Some((s, false)) => (None, Some(s), false),
                    None => (None, None, false),
                });
                continue;
            }
            "else" => {
                if let Some(top) = stack.last_mut() {
                    top.2 = true;
                }
                continue;
            }
            "endif" => {
                stack.pop();
                continue;
            }
            _ => {}
        }
        let Some(pos) = line.find('=') else { continue };
        let (lhs, rhs) = line.split_at(pos);
        let lhs = lhs.trim_end_matches([':', '+', '?']).trim();
        if lhs.is_empty() || lhs.contains(' ') {
            continue;
        }
        let needs_m = (stack.iter())
            .filter_map(|(then, other, in_else)| if *in_else { other } else { then }.clone())
            .collect();
        out.push(Assign {
            name: lhs.to_string(),
            value: rhs[1..].trim().to_string(),
            line: *n,
            needs_m,
        });
    }
    out
}

/// The words of `words` with `$(VAR)` replaced by every word the Makefile gives VAR, in any
/// branch, and so on through the variables those name. Branches are a union, so this is the
/// literal words of every variable reachable from `words`: one visit per variable, however
/// the variables refer to each other (`X := $(X) a.o`).
fn expand(words: &str, vars: &HashMap<String, Vec<String>>) -> Vec<String> {
    fn split(text: &str, names: &mut Vec<String>, out: &mut Vec<String>) {
        for w in text.split_whitespace() {
            match w.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
                Some(name) => names.push(name.to_string()),
                None => out.push(w.to_string()),
            }
        }
    }
    let mut out = Vec::new();
    let mut names = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    split(words, &mut names, &mut out);
    while let Some(name) = names.pop() {
        let Some((key, values)) = vars.get_key_value(name.as_str()) else {
            continue;
        };
        if !seen.insert(key.as_str()) {
            continue;
        }
        for v in values {
            split(v, &mut names, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

impl Makefile {
    pub(super) fn parse(text: &str) -> Self {
        let lines = logical_lines(text);
        let assigns = assignments(&lines);
        let mut vars: HashMap<String, Vec<String>> = HashMap::new();
        for a in &assigns {
            vars.entry(a.name.clone())
                .or_default()
                .push(a.value.clone());
        }
        Makefile {
            assigns,
            vars,
            rules: link_rules(&lines),
        }
    }

    fn expand(&self, words: &str) -> Vec<String> {
        expand(words, &self.vars)
    }

    /// Every word variable `name` can hold.
    fn words_of(&self, name: &str) -> Vec<String> {
        self.expand(&format!("$({name})"))
    }

    /// The objects that can be built into a module, and those only blocked module lists name.
    pub(super) fn module_objects(&self, symbols: &Symbols) -> Modules {
        let mut out = Modules::default();
        for a in &self.assigns {
            let config = a
                .name
                .strip_prefix("obj-$(")
                .and_then(|r| r.strip_suffix(')'));
            let is_module_list =
                matches!(a.name.as_str(), "M_OBJS" | "MX_OBJS" | "obj-m") || config.is_some();
            if !is_module_list {
                continue;
            }
            // The symbol that blocks the list (cannot be `m`), else the one that lets it.
            let mut guards = config
                .into_iter()
                .chain(a.needs_m.iter().map(String::as_str));
            let blocking = guards.clone().find(|s| !symbols.can_be_m(s));
            // `obj-$(CONFIG_X)` with X never `m` is built-in code, not a blocked module list.
            if blocking.is_some_and(|b| Some(b) == config) {
                continue;
            }
            let symbol = blocking.or_else(|| guards.next()).map(str::to_string);
            let into = if blocking.is_some() {
                &mut out.blocked
            } else {
                &mut out.capable
            };
            for w in self
                .expand(&a.value)
                .into_iter()
                .filter(|w| w.ends_with(".o"))
            {
                into.entry(w.clone()).or_insert_with(|| Listing {
                    module: w,
                    list: a.name.clone(),
                    line: a.line,
                    symbol: symbol.clone(),
                });
            }
        }
        self.add_composite_parts(&mut out.capable);
        out.blocked.retain(|o, _| !out.capable.contains_key(o));
        out
    }

    /// Composite modules: their parts are module-capable too. Besides the variables, a module
    /// can be linked by an explicit rule (`sd_mod.o: sd.o` then `$(LD) -r -o $@ sd.o`).
    fn add_composite_parts(&self, modules: &mut HashMap<String, Listing>) {
        let target = self
            .vars
            .get("O_TARGET")
            .and_then(|v| v.last())
            .map(|v| v.trim().to_string());
        let mut parts = Vec::new();
        let mut tagged = Vec::new();
        let mut direct: Vec<(&String, &Listing)> = modules.iter().collect();
        // One answer however the hash map orders them: the first module by name wins a part.
        direct.sort_by(|a, b| a.0.cmp(b.0));
        for (m, listing) in direct {
            let stem = m.trim_end_matches(".o");
            if Some(m) == target.as_ref() {
                for list in ["O_OBJS", "OX_OBJS", "obj-y"] {
                    parts.extend(self.words_of(list));
                }
            }
            if let Some(deps) = self.rules.get(m.as_str()) {
                parts.extend(self.expand(deps));
            }
            parts.extend(self.words_of(&format!("{stem}-objs")));
            // Kbuild's composites: `foo-y := a.o`, `foo-$(CONFIG_BAR) += b.o`, `foo-m`.
            let composite = format!("{stem}-");
            for a in &self.assigns {
                let Some(rest) = a.name.strip_prefix(&composite) else {
                    continue;
                };
                if matches!(rest, "y" | "m") || rest.starts_with("$(") {
                    parts.extend(self.expand(&a.value));
                }
            }
            parts.extend(self.words_of(&format!("{}_OBJS", stem.to_uppercase())));
            tagged.extend(parts.drain(..).map(|p| (p, listing.clone())));
        }
        for (object, origin) in tagged {
            if object.ends_with(".o") {
                modules.entry(object).or_insert(origin);
            }
        }
    }

    /// Every `.o` word of the assignments and rules, variables expanded.
    pub(super) fn named_objects(&self) -> HashSet<String> {
        let assigned = self.assigns.iter().flat_map(|a| self.expand(&a.value));
        let ruled = self
            .rules
            .iter()
            .flat_map(|(target, deps)| std::iter::once(target.clone()).chain(self.expand(deps)));
        assigned
            .chain(ruled)
            .filter(|w| w.ends_with(".o"))
            .collect()
    }

    /// The subdirectory lists of a 2.2-2.4 Makefile: `SUB_DIRS`, `subdir-y` name directories
    /// built in; `MOD_SUB_DIRS`, `MOD_IN_SUB_DIRS`, `subdir-m`, `mod-subdirs` and
    /// `subdir-$(CONFIG_X)` with a tristate X name those that can hold modules (in a branch
    /// whose guards can all be `m`). `ALL_SUB_DIRS` only lists what `make clean` visits.
    pub(super) fn subdirs(&self, symbols: &Symbols) -> super::Subdirs {
        let mut out = super::Subdirs::default();
        for a in &self.assigns {
            let name = a.name.as_str();
            let config = name
                .strip_prefix("subdir-$(")
                .and_then(|r| r.strip_suffix(')'));
            let guarded = a.needs_m.iter().all(|s| symbols.can_be_m(s));
            let modular = guarded
                && (matches!(
                    name,
                    "MOD_SUB_DIRS" | "MOD_IN_SUB_DIRS" | "subdir-m" | "mod-subdirs"
                ) || config.is_some_and(|c| symbols.can_be_m(c)));
            let listed = modular || config.is_some() || matches!(name, "SUB_DIRS" | "subdir-y");
            if !listed {
                // Kbuild descends through `obj-y += dir/` and `obj-$(CONFIG_X) += dir/`, and
                // builds the directory's modules either way.
                if name == "obj-y" || name == "obj-m" || name.starts_with("obj-$(") {
                    for d in self.expand(&a.value).iter().filter(|w| w.ends_with('/')) {
                        let d = d.trim_end_matches('/').to_string();
                        out.modular.insert(d.clone());
                        out.any.insert(d);
                    }
                }
                continue;
            }
            for d in self.expand(&a.value) {
                let d = d.trim_end_matches('/').to_string();
                if modular {
                    out.modular.insert(d.clone());
                }
                out.any.insert(d);
            }
        }
        out
    }
}

/// Explicit rules whose target is an object: `X.o: a.o b.o` -> ("X.o", "a.o b.o").
fn link_rules(lines: &[(u32, String)]) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    for (_, line) in lines {
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let line = line.split('#').next().unwrap_or("");
        let Some((target, deps)) = line.split_once(':') else {
            continue;
        };
        let target = target.trim();
        if deps.starts_with('=') || !target.ends_with(".o") || target.contains(char::is_whitespace)
        {
            continue;
        }
        let entry = out.entry(target.to_string()).or_default();
        entry.push(' ');
        entry.push_str(deps.trim());
    }
    out
}
