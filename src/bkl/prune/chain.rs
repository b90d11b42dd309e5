//! Integer values a caller fixes, followed into the branches of the function it calls, one or
//! two calls down (see the parent module's docs).

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use std::cell::RefCell;
use std::rc::Rc;

use super::narrow::{self, Known};
use super::values::{join, Set, Values};
use super::Pruned;
use crate::bkl::callers::Graph;
use crate::cfg::{Cfg, Op, ENTRY};
use crate::facts::{CmpOp, Event, Function, Value};
use crate::index::{FnRef, Index};
use crate::kb::Layout;

/// (function, one of its calls) -> pairs (a call into the function, a call into that call's
/// own function) under which the call cannot run: a value fixed two calls up, stored into an
/// object on the way.
pub type Pruned2 = FxHashMap<(FnRef, u32), Vec<((FnRef, u32), (FnRef, u32))>>;

/// What a function's branches test: its parameter `k`, or a field of it (`sock->type`).
#[derive(Clone, PartialEq, Eq)]
enum Key {
    Param(usize),
    Field(usize, String),
}

/// What a function's tests say of a parameter, per call it makes.
type AtCalls = FxHashMap<u32, Known>;

/// Known values by what a body writes for them (`cmd`, `sock->type`).
type Env = Vec<(String, Set)>;

/// The calls that the integer values callers pass rule out: per call into a function (one
/// level, merged into `pruned`), and per pair of calls (two levels).
pub fn find(
    index: &Index,
    (graph, on_chains): (&Graph, &FxHashSet<FnRef>),
    layout: &Layout,
    preferred: Option<&str>,
    pruned: &mut Pruned,
) -> Pruned2 {
    let values = &Values::new(index, layout, preferred);
    let tested: Vec<(FnRef, Vec<Key>)> = (0..index.files.len())
        .into_par_iter()
        .flat_map_iter(|fi| {
            let file = &index.files[fi];
            (0..file.functions.len()).filter_map(move |k| {
                let f = FnRef { file: fi, func: k };
                if !on_chains.contains(&f) {
                    return None;
                }
                let keys = tested_keys(index.function(f));
                (!keys.is_empty()).then_some((f, keys))
            })
        })
        .collect();
    let mut out = Pruned2::default();
    let c = Chains {
        index,
        values,
        narrowed: Default::default(),
        assigned: Default::default(),
        tests: (tested.iter())
            .flat_map(|(f, keys)| {
                keys.iter().filter_map(move |k| match k {
                    Key::Param(p) => Some((*f, *p)),
                    Key::Field(..) => None,
                })
            })
            .collect(),
    };
    for (g, keys) in tested {
        let cfg = std::cell::OnceCell::new();
        let cfg = || cfg.get_or_init(|| Cfg::build(&index.function(g).body));
        for (m, x) in graph.callers(g) {
            let mut env = Env::new();
            // Fields stored from a parameter of `m`: followed into `m`'s callers.
            let mut deferred: Vec<(String, usize)> = Vec::new();
            for key in &keys {
                c.bind(g, key, (m, x), &mut env, &mut deferred);
            }
            let dead = if env.is_empty() {
                Vec::new()
            } else {
                c.dead_calls(g, cfg(), &env)
            };
            for &d in &dead {
                let into = pruned.entry((g, d)).or_default();
                if !into.contains(&(m, x)) {
                    into.push((m, x));
                }
            }
            if deferred.is_empty() {
                continue;
            }
            for (k, y) in graph.callers(m) {
                let mut env2 = env.clone();
                for (text, p) in &deferred {
                    let arg = &index.files[k.file].calls[y as usize].args;
                    if let Some(s) = arg.get(*p).and_then(|a| c.arg_values(k, a)) {
                        env2.push((text.clone(), s));
                    }
                }
                if env2.len() == env.len() {
                    continue;
                }
                for d in c.dead_calls(g, cfg(), &env2) {
                    if !dead.contains(&d) {
                        out.entry((g, d)).or_default().push(((m, x), (k, y)));
                    }
                }
            }
        }
    }
    out
}

/// The parameters (or their fields) that `f`'s branches and switches test against
/// something, when `f` never assigns the parameter (a fact of the lowering: no body decoded).
fn tested_keys(f: &Function) -> Vec<Key> {
    (f.compared_params.iter())
        .map(|c| match &c.field {
            None => Key::Param(c.param.into()),
            Some(field) => Key::Field(c.param.into(), field.to_string()),
        })
        .collect()
}

struct Chains<'c, 'a> {
    index: &'c Index<'a>,
    values: &'c Values<'a>,
    /// Per (function, parameter it passes on), what its own tests say of it at each call.
    narrowed: RefCell<FxHashMap<(FnRef, String), Rc<AtCalls>>>,
    /// The names each function's body assigns, once asked.
    assigned: RefCell<FxHashMap<FnRef, Rc<rustc_hash::FxHashSet<String>>>>,
    /// The parameters each function tests: only those are narrowed where they are passed on.
    tests: rustc_hash::FxHashSet<(FnRef, usize)>,
}

impl Chains<'_, '_> {
    /// What the call `(m, x)` into `g` tells of `key`: its values into `env`, or, for a field
    /// `m` stores from one of its own parameters, that parameter into `deferred`.
    fn bind(
        &self,
        g: FnRef,
        key: &Key,
        (m, x): (FnRef, u32),
        env: &mut Env,
        deferred: &mut Vec<(String, usize)>,
    ) {
        let function = self.index.function(g);
        let call = &self.index.files[m.file].calls[x as usize];
        let (k, field) = match key {
            Key::Param(k) => (*k, None),
            Key::Field(k, f) => (*k, Some(f.as_str())),
        };
        let (Some(pname), Some(arg)) = (function.params[k].name.as_deref(), call.args.get(k))
        else {
            return;
        };
        let Some(field) = field else {
            if let Some(s) = self
                .arg_values(m, arg)
                .or_else(|| self.passed_on(m, x, arg))
            {
                env.push((pname.to_string(), s));
            }
            return;
        };
        // `g` must see the field `m` stored: no store into it in `g` itself (a call handed the
        // object makes the tests after it unknown: [`Self::dead_calls`]).
        let file = &self.index.files[g.file];
        let in_g = (file.field_assigns.iter())
            .any(|a| a.caller == Some(g.func as u32) && a.field == field);
        let Some(value) = (!in_g)
            .then(|| self.stored_before(m, x, arg, field))
            .flatten()
        else {
            return;
        };
        let text = format!("{pname}->{field}");
        let caller = self.index.function(m);
        let p = (caller.params.iter()).position(|p| p.name.as_deref() == Some(value.as_str()));
        match p {
            Some(p) if !caller.assigned_params.contains(&(p as u8)) => deferred.push((text, p)),
            Some(_) => {}
            None => {
                if let Some(s) = self.arg_values(m, &value) {
                    env.push((text, s));
                }
            }
        }
    }

    /// The values `m`'s own tests leave to its parameter `arg`, passed on at its call `x`.
    fn passed_on(&self, m: FnRef, x: u32, arg: &str) -> Option<Set> {
        let arg = arg.trim();
        let function = self.index.function(m);
        let p = (function.params.iter()).position(|p| p.name.as_deref() == Some(arg))?;
        if !self.tests.contains(&(m, p)) {
            return None;
        }
        let key = (m, arg.to_string());
        let known = self.narrowed.borrow().get(&key).cloned();
        let known = known.unwrap_or_else(|| {
            let cfg = Cfg::build(&function.body);
            let k = Rc::new(narrow::at_calls(&cfg, arg, self.values));
            self.narrowed.borrow_mut().insert(key, k.clone());
            k
        });
        known.get(&x).and_then(Known::set).cloned()
    }

    /// The one value `m` stores into `obj->field` (`obj` a plain name of `m`, as passed to the
    /// call `x`), before the call and with no other call between that is handed `obj`.
    fn stored_before(&self, m: FnRef, x: u32, obj: &str, field: &str) -> Option<String> {
        let obj: String = obj.chars().filter(|c| !c.is_whitespace()).collect();
        if !crate::ctext::is_identifier(&obj) {
            return None;
        }
        let file = &self.index.files[m.file];
        let line = file.calls[x as usize].line;
        let mut stores = (file.field_assigns.iter())
            .filter(|a| a.caller == Some(m.func as u32) && a.field == field)
            .filter(|a| {
                a.base
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .eq(obj.chars())
            });
        let store = stores.next()?;
        if stores.next().is_some() || store.line > line {
            return None;
        }
        // `obj` itself reassigned after the store names another object.
        let function = self.index.function(m);
        let moved = (function.body.exprs())
            .any(|e| e.line >= store.line && e.assigns.iter().any(|a| a.var == obj));
        let handed = (file.calls.iter().enumerate()).any(|(i, c)| {
            c.caller == Some(m.func as u32)
                && i as u32 != x
                && c.line >= store.line
                && c.line <= line
                && c.args.iter().any(|a| mentions(a, &obj))
        });
        (!moved && !handed).then(|| store.value.trim().to_string())
    }

    /// The values an argument written in `from` can have: a constant expression, or a local
    /// that every assignment gives constants (`type = udp ? SOCK_DGRAM : SOCK_STREAM`), whose
    /// address is never taken.
    fn arg_values(&self, from: FnRef, arg: &str) -> Option<Set> {
        let arg = arg.trim();
        let local = |n: &str| self.is_local(from, n);
        let names = arg.split(|c: char| !crate::ctext::is_ident_char(c));
        if crate::ctext::is_identifier(arg) && local(arg) {
            return self.local_values(from, arg);
        }
        if names
            .clone()
            .any(|n| crate::ctext::is_identifier(n) && local(n))
        {
            return None;
        }
        self.values.of(arg)
    }

    /// Whether `name` in `f` is a parameter or a local: the facts list parameters, and a
    /// name the body assigns that is no global of the file is a local.
    fn is_local(&self, f: FnRef, name: &str) -> bool {
        if self.index.is_local(f.file, f.func as u32, name) {
            return true;
        }
        let known = self.assigned.borrow().get(&f).cloned();
        let assigned = known.unwrap_or_else(|| {
            let names: rustc_hash::FxHashSet<String> = (self.index.function(f).body.exprs())
                .flat_map(|e| e.assigns.iter().map(|a| a.var.to_string()))
                .collect();
            let names = Rc::new(names);
            self.assigned.borrow_mut().insert(f, names.clone());
            names
        });
        assigned.contains(name) && self.index.resolve_variable(f.file, name).is_none()
    }

    fn local_values(&self, from: FnRef, name: &str) -> Option<Set> {
        let function = self.index.function(from);
        let global = self.index.resolve_variable(from.file, name).is_some();
        if global || (function.params.iter()).any(|p| p.name.as_deref() == Some(name)) {
            return None;
        }
        let mut out: Option<Set> = None;
        for a in function.body.exprs().flat_map(|e| &e.assigns) {
            if a.var == name {
                let v = self.value_set(from, &a.value, 0)?;
                out = Some(join(out.unwrap_or_default(), v)?);
            }
        }
        // Its address handed to a call: the callee may store anything.
        let file = &self.index.files[from.file];
        let address = format!("&{name}");
        let taken = (file.calls.iter())
            .filter(|c| c.caller == Some(from.func as u32))
            .any(|c| c.args.iter().any(|a| mentions(a, &address)));
        out.filter(|_| !taken)
    }

    /// The values of a lowered value made of constants.
    fn value_set(&self, from: FnRef, v: &Value, depth: u8) -> Option<Set> {
        if depth > 8 {
            return None;
        }
        match v {
            Value::Int(k) => Some(vec![*k]),
            Value::Var(n) if !self.is_local(from, n) => self.values.of(n),
            Value::NegErrno(n) => self.values.of(&format!("-({n})")),
            Value::Choice(a, b) => join(
                self.value_set(from, a, depth + 1)?,
                self.value_set(from, b, depth + 1)?,
            ),
            _ => None,
        }
    }

    /// The calls of `g` that no path runs when `env` holds.
    fn dead_calls(&self, g: FnRef, cfg: &Cfg, env: &Env) -> Vec<u32> {
        // A field is known only until a call is handed its object (which may change it):
        // past such a call, only the parameters' values are.
        let calls = &self.index.files[g.file].calls;
        let objects: Vec<&str> = (env.iter())
            .filter_map(|(k, _)| k.split_once("->").map(|(o, _)| o))
            .collect();
        let hands = |id: usize| {
            match cfg.node(id).op {
            Op::Eval(e) | Op::Branch(e) | Op::Return(Some(e)) => e.events.iter().any(|ev| {
                matches!(ev, Event::Call(c)
                    if calls[*c as usize].args.iter().any(|a| objects.iter().any(|o| mentions(a, o))))
            }),
            _ => false,
        }
        };
        let mut after = vec![false; cfg.nodes.len()];
        let mut work: Vec<usize> = (0..cfg.nodes.len())
            .filter(|&id| !objects.is_empty() && hands(id))
            .collect();
        for &id in &work {
            after[id] = true;
        }
        while let Some(id) = work.pop() {
            for &s in &cfg.node(id).succ {
                if !after[s] {
                    after[s] = true;
                    work.push(s);
                }
            }
        }
        let plain: Env = (env.iter())
            .filter(|(k, _)| !k.contains("->"))
            .cloned()
            .collect();
        let test = Test {
            chains: self,
            g,
            env,
        };
        let test_plain = Test {
            chains: self,
            g,
            env: &plain,
        };
        let reached = walk(cfg, &|_, _| true);
        let left = walk(cfg, &|id, k| {
            let t = if after[id] { &test_plain } else { &test };
            t.edge(cfg, id, k)
        });
        let mut dead = Vec::new();
        for (id, node) in cfg.nodes.iter().enumerate() {
            if !reached[id] || left[id] {
                continue;
            }
            if let Op::Eval(e) | Op::Branch(e) | Op::Return(Some(e)) = node.op {
                dead.extend(e.events.iter().filter_map(|ev| match ev {
                    Event::Call(c) => Some(*c),
                    _ => None,
                }));
            }
        }
        dead
    }
}

/// Whether `text` names `word` (which may start with `&`) as a whole.
fn mentions(text: &str, word: &str) -> bool {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    t.match_indices(word).any(|(i, _)| {
        let after = t[i + word.len()..].chars().next();
        let before = t[..i].chars().next_back();
        !after.is_some_and(crate::ctext::is_ident_char)
            && !before.is_some_and(crate::ctext::is_ident_char)
    })
}

/// The nodes reached from the entry through the edges `edge` (node, successor index) allows.
fn walk(cfg: &Cfg, edge: &dyn Fn(usize, usize) -> bool) -> Vec<bool> {
    let mut seen = vec![false; cfg.nodes.len()];
    seen[ENTRY] = true;
    let mut work = vec![ENTRY];
    while let Some(id) = work.pop() {
        for (k, &s) in cfg.node(id).succ.iter().enumerate() {
            if !seen[s] && edge(id, k) {
                seen[s] = true;
                work.push(s);
            }
        }
    }
    seen
}

/// Branches and switches decided by known values.
struct Test<'t, 'c, 'a> {
    chains: &'t Chains<'c, 'a>,
    g: FnRef,
    env: &'t Env,
}

impl Test<'_, '_, '_> {
    fn edge(&self, cfg: &Cfg, id: usize, k: usize) -> bool {
        let node = cfg.node(id);
        match node.op {
            Op::Branch(e) if node.succ.len() == 2 => {
                self.truth(&e.value, 0).is_none_or(|t| t == (k == 0))
            }
            Op::Eval(e) => match (cfg.switch_labels.get(&id), self.known(&e.value)) {
                (Some(labels), Some(s)) => self.case_taken(labels, k, s),
                _ => true,
            },
            _ => true,
        }
    }

    /// Whether successor `k` of a switch on a value in `s` can be taken: a case whose label
    /// shares a value with `s`; a default (or the way past every case) unless every value
    /// of `s` is surely some case's.
    fn case_taken(&self, labels: &[Option<&str>], k: usize, s: &Set) -> bool {
        let values = self.chains.values;
        match labels.get(k) {
            Some(Some(l)) => values.of(l).is_none_or(|v| v.iter().any(|x| s.contains(x))),
            Some(None) => {
                let sure: Option<Vec<Set>> =
                    labels.iter().flatten().map(|l| values.of(l)).collect();
                let Some(sure) = sure else { return true };
                !s.iter().all(|x| sure.iter().any(|v| v == &vec![*x]))
            }
            None => true,
        }
    }

    fn known(&self, v: &Value) -> Option<&Set> {
        let text = match v {
            Value::Var(n) => n.as_str(),
            Value::Field(t) => t.as_str(),
            _ => return None,
        };
        self.env.iter().find(|(k, _)| k == text).map(|(_, s)| s)
    }

    fn constant(&self, v: &Value) -> Option<Set> {
        match v {
            Value::Int(k) => Some(vec![*k]),
            Value::Var(n) if !self.chains.is_local(self.g, n) => self.chains.values.of(n),
            _ => None,
        }
    }

    fn truth(&self, v: &Value, depth: u8) -> Option<bool> {
        if depth > 16 {
            return None;
        }
        let d = depth + 1;
        match v {
            Value::Not(a) => self.truth(a, d).map(|b| !b),
            Value::And(a, b) => match (self.truth(a, d), self.truth(b, d)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Value::Or(a, b) => match (self.truth(a, d), self.truth(b, d)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Value::Cmp(a, op @ (CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge), b) => {
                let (s, op, c) = match (self.known(a), self.known(b)) {
                    (Some(s), None) => (s, *op, self.constant(b)?),
                    (None, Some(s)) => (s, narrow::flip(*op), self.constant(a)?),
                    _ => return None,
                };
                let [c] = c[..] else { return None };
                let holds = |x: &i64| match op {
                    CmpOp::Lt => *x < c,
                    CmpOp::Le => *x <= c,
                    CmpOp::Gt => *x > c,
                    _ => *x >= c,
                };
                match (s.iter().all(holds), s.iter().any(holds)) {
                    (true, _) => Some(true),
                    (_, false) => Some(false),
                    _ => None,
                }
            }
            Value::Cmp(a, op @ (CmpOp::Eq | CmpOp::Ne), b) => {
                let (s, c) = match (self.known(a), self.known(b)) {
                    (Some(s), None) => (s, self.constant(b)?),
                    (None, Some(s)) => (s, self.constant(a)?),
                    _ => return None,
                };
                let equal = if s.iter().all(|x| !c.contains(x)) {
                    false
                } else if s.len() == 1 && s == &c {
                    true
                } else {
                    return None;
                };
                Some(equal == (*op == CmpOp::Eq))
            }
            Value::Var(_) | Value::Field(_) => {
                let s = self.known(v)?;
                if !s.contains(&0) {
                    Some(true)
                } else {
                    (s == &vec![0]).then_some(false)
                }
            }
            _ => None,
        }
    }
}
