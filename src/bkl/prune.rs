//! Calls that the values on a chain rule out.
//!
//! A caller can fix what a string argument is: ia64's `sys32_mount` calls `do_mount(..,
//! type_page, ..)` without the lock only where `is_smb = !strcmp(type_page, SMBFS_NAME)` or
//! `is_ncp = ..` is set, so on that call `type_page` is "smbfs" or "ncpfs". When the callee
//! looks a table up by that argument (`fstype = get_fs_type(type_page)`, the knowledge base's
//! `[bkl] value_tests.lookups`), the tables it can get are those whose key field
//! (`file_system_type.name`) is one of the strings, and a test of a flag field of the result
//! (`fstype->fs_flags & FS_REQUIRES_DEV`) goes the way their initializers say: neither smbfs's
//! nor ncpfs's type is `FS_REQUIRES_DEV`, so `do_mount` does not call `get_sb_bdev` when
//! `sys32_mount` calls it. The result is, per call in a callee, the calls into the callee
//! under which it cannot run; the solver takes the callee's entry depths for that call from
//! its other callers only ([`super::solver`]), and the witness goes through one of those.
//!
//! What counts (anything else claims nothing):
//! - in the caller ([`strings`]), over its CFG: `f = !strcmp(x, L)` or `f = strcmp(x, L) == 0`
//!   makes `f` a flag (`f != 0` means `x` is `L`), `f = 0` (or a copy of a zero) a zero; a test
//!   of flags or of `strcmp(x, L)` itself, through `!`, `&&`, `||` and `== 0`, narrows `x` to
//!   a set of literals on each branch. `L` is a string literal or an object-like macro of the
//!   caller's file that is one. Assigning `x`, or passing `&x` to a call, forgets it.
//! - in the callee: the argument is a parameter the callee never assigns, passed to a lookup
//!   whose result goes to a local assigned nowhere else; every literal names a table of the
//!   tree (else nothing is claimed); a branch on `local->field & NAME` goes the way every such
//!   table's initializer says (absent or `0`: false; an expression naming `NAME`: true;
//!   anything else: both ways), through `!`, `&&`, `||`, `!= 0` and `== 0`.
//!
//! A caller can also fix which table a slot call reaches ([`registered`]): `sock_create(family,
//! ..)` calls `net_families[family]->create(..)`, and the array is filled by a registration
//! routine, `net_families[ops->family] = ops`, so a caller passing a constant (rpc's
//! `sock_create(PF_INET, ..)`) reaches only the tables whose `.family` initializer evaluates to
//! it (object-like macros valued as above, through macros defined as other macros). The call
//! into the slot routine of any other table takes its entry depths from the function's other
//! callers, and the call site itself is judged without the callers under which it reaches no
//! module routine. What counts: every non-NULL element store of the array is `arr[x->F] = x`
//! with `x` a parameter of the storing routine, that routine is never stored in a slot, and
//! every direct call of it passes `&table`; the index is a parameter of the calling function
//! it never assigns, and the caller writes an integer or such a macro. An index written as such
//! a constant at the call itself (`net_families[PF_PACKET]->create`) narrows the call under
//! every caller: its tables are the call's targets, as provenance's are ([`super::flow`]). A
//! table whose `F` does not evaluate counts for every index; a slot initializer that names no
//! function claims nothing.
//!
//! Integer values a caller fixes ([`chain`]) decide a callee's branches. The value of an
//! argument: a constant expression (integers, macros, `+ - | <<`, every definition of the tree
//! counted, another architecture's only when the preferred one has none: [`values`]), a local
//! every assignment gives constants (a `?:` of constants included), or a parameter the caller
//! passes on, narrowed by the caller's own `switch` cases and comparisons where the call is made
//! ([`narrow`]: a dataflow over the caller's CFG, sets of at most 16 values or a range). The
//! callee's `switch` on that parameter and its comparisons of it (`==`, `!=`, `<`, `<=`, `>`,
//! `>=`, through `!`, `&&`, `||`) are decided when every value agrees (a case is taken when a
//! value may equal its label; `default` unless every value surely is some label), and the calls
//! left unreached are cut under that call into the callee (`Pruned`, one level). A field of a
//! parameter (`sock->type`) is known when the caller stores it once before the call, into the
//! object it passes, with no call between handed that object, and the callee stores no such
//! field (past a call of the callee handed the object, its tests of the field are not
//! decided): from a constant, one level; from a parameter of the caller, from the callers of the
//! caller (`Pruned2`: `sock_create` stores `type` into `sock->type` and passes `sock` to
//! `inet_create`; rpc's `xprt_create_socket` passes a datagram or stream type, so the packet
//! branch does not run under that pair of calls), which the solver applies at the call site.
//! Not modelled: values passed on unchanged over more calls, tests of locals, `x++` of a local
//! the facts do not see (a local counts only through its assignments).

pub mod chain;
mod narrow;
pub mod registered;
mod strings;
mod values;

use std::collections::BTreeSet;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::cfg::{Cfg, Op, ENTRY};
use crate::ctext::parse_paren_int;
use crate::facts::{CmpOp, Event, Value};
use crate::index::{FnRef, Index, TableContent, VarRef};
use crate::kb::{Kb, Lookup};
use strings::{plain_name, Strings};

/// (callee, one of its calls) -> the calls into the callee under which that call cannot run.
pub type Pruned = FxHashMap<(FnRef, u32), Vec<(FnRef, u32)>>;

/// A call `(caller, call)` that passes parameter `param` of `callee` one of `lits`.
struct Fixed {
    caller: FnRef,
    call: u32,
    callee: FnRef,
    param: usize,
    lits: BTreeSet<String>,
}

/// Every call of the tree that a caller's string tests rule out for one of its callees.
pub fn find(index: &Index, kb: &Kb) -> Pruned {
    let tests = &kb.data.bkl.value_tests;
    let mut out = Pruned::default();
    if tests.string_equal.is_empty() || tests.lookups.is_empty() {
        return out;
    }
    // Only calls to functions that look something up can be cut.
    let looking: FxHashSet<&str> = (index.files.par_iter())
        .flat_map_iter(|f| {
            (f.calls.iter())
                .filter(|c| !c.indirect && tests.lookups.iter().any(|l| l.name == c.callee))
                .filter_map(|c| c.caller.map(|k| f.functions[k as usize].name.as_str()))
                .collect::<Vec<_>>()
        })
        .collect();
    if looking.is_empty() {
        return out;
    }
    let fixed: Vec<Fixed> = (0..index.files.len())
        .into_par_iter()
        .flat_map_iter(|fi| fixed_in_file(index, fi, &tests.string_equal, &looking))
        .collect();
    let mut named: FxHashMap<&str, FxHashMap<String, Vec<VarRef>>> = FxHashMap::default();
    let consts = Consts::default();
    // Most callees look nothing up: ask each (callee, parameter) once.
    let mut looks: FxHashMap<(FnRef, usize), bool> = FxHashMap::default();
    for f in fixed {
        let looks_up = *looks
            .entry((f.callee, f.param))
            .or_insert_with(|| !lookups_of(index, &tests.lookups, f.callee, f.param).is_empty());
        if !looks_up {
            continue;
        }
        for dead in dead_calls(index, &tests.lookups, &f, &mut named, &consts) {
            let into = out.entry((f.callee, dead)).or_default();
            if !into.contains(&(f.caller, f.call)) {
                into.push((f.caller, f.call));
            }
        }
    }
    out
}

/// The calls of one file's functions that pass a callee's parameter a fixed literal set.
fn fixed_in_file(
    index: &Index,
    fi: usize,
    string_equal: &[String],
    looking: &FxHashSet<&str>,
) -> Vec<Fixed> {
    let file = &index.files[fi];
    let calls_looking = |func: u32| {
        (file.calls.iter()).any(|c| c.caller == Some(func) && looking.contains(c.callee.as_str()))
    };
    let mut callers: Vec<u32> = (file.calls.iter())
        .filter(|c| !c.indirect && string_equal.iter().any(|n| *n == c.callee))
        .filter_map(|c| c.caller)
        .collect();
    callers.dedup();
    callers.retain(|&f| calls_looking(f));
    let strings = Strings::new(file, string_equal);
    let mut out = Vec::new();
    // A literal written as the argument (`do_mount("", dir, "nfs", ..)`).
    for (call, c) in file.calls.iter().enumerate() {
        let (Some(func), false) = (c.caller, c.indirect) else {
            continue;
        };
        if !looking.contains(c.callee.as_str()) {
            continue;
        }
        for (param, arg) in c.args.iter().enumerate() {
            let Some(lit) = strings.literal(arg) else {
                continue;
            };
            let Some(callee) = index.resolve_function(fi, &c.callee) else {
                break;
            };
            out.push(Fixed {
                caller: FnRef {
                    file: fi,
                    func: func as usize,
                },
                call: call as u32,
                callee,
                param,
                lits: BTreeSet::from([lit]),
            });
        }
    }
    for func in callers {
        let caller = FnRef {
            file: fi,
            func: func as usize,
        };
        let function = index.function(caller);
        if function.body.is_empty() {
            continue;
        }
        for (call, vars) in strings.at_calls(&Cfg::build(&function.body)) {
            let c = &file.calls[call as usize];
            let Some(callee) = (!c.indirect)
                .then(|| index.resolve_function(fi, &c.callee))
                .flatten()
            else {
                continue;
            };
            for (param, arg) in c.args.iter().enumerate() {
                let Some(x) = plain_name(arg) else { continue };
                if let Some((_, lits)) = vars.iter().find(|(v, _)| v == x) {
                    out.push(Fixed {
                        caller,
                        call,
                        callee,
                        param,
                        lits: lits.clone(),
                    });
                }
            }
        }
    }
    out
}

/// The calls of `f.callee` that cannot run when its parameter holds one of `f.lits`.
/// The locals of `callee` assigned once, from a lookup of its parameter `param`.
fn lookups_of<'f, 'k>(
    index: &Index<'f>,
    lookups: &'k [Lookup],
    callee: FnRef,
    param: usize,
) -> Vec<(&'f str, &'k Lookup)> {
    let function = index.function(callee);
    let file = &index.files[callee.file];
    let Some(pname) = function.params.get(param).and_then(|p| p.name.as_deref()) else {
        return Vec::new();
    };
    if function.body.is_empty() || function.assigned_params.contains(&(param as u8)) {
        return Vec::new();
    }
    let mut count: FxHashMap<&str, usize> = FxHashMap::default();
    let mut looked: Vec<(&str, &'k Lookup)> = Vec::new();
    for a in function.body.exprs().flat_map(|e| &e.assigns) {
        *count.entry(a.var.as_str()).or_default() += 1;
        let Value::Call(i) = a.value else { continue };
        let c = &file.calls[i as usize];
        let l = lookups.iter().find(|l| l.name == c.callee && !c.indirect);
        let arg = |l: &Lookup| l.key().and_then(|(_, k)| c.args.get(k));
        if let Some(l) = l.filter(|l| arg(l).and_then(|a| plain_name(a)) == Some(pname)) {
            looked.push((a.var.as_str(), l));
        }
    }
    looked.retain(|(v, _)| count[v] == 1);
    looked
}

fn dead_calls<'k>(
    index: &Index,
    lookups: &'k [Lookup],
    f: &Fixed,
    named: &mut FxHashMap<&'k str, FxHashMap<String, Vec<VarRef>>>,
    consts: &Consts,
) -> Vec<u32> {
    let function = index.function(f.callee);
    let mut env: Vec<(&str, &str, Vec<VarRef>)> = Vec::new();
    for (local, l) in lookups_of(index, lookups, f.callee, f.param) {
        let by_key = named
            .entry(l.name.as_str())
            .or_insert_with(|| tables_by_key(index, l));
        let mut tables = Vec::new();
        for lit in &f.lits {
            match by_key.get(lit) {
                Some(t) => tables.extend(t.iter().copied()),
                // A name no table of the tree has: the lookup fails, or finds what the tree
                // does not show. Claim nothing.
                None => return Vec::new(),
            }
        }
        env.push((local, l.struct_name.as_str(), tables));
    }
    if env.is_empty() {
        return Vec::new();
    }
    let cfg = Cfg::build(&function.body);
    let eval = |v: &Value| {
        Tests {
            index,
            env: &env,
            consts,
        }
        .eval(v, 0)
    };
    let reached = walk(&cfg, &|_| None);
    let pruned = walk(&cfg, &eval);
    let mut dead = Vec::new();
    for (id, node) in cfg.nodes.iter().enumerate() {
        if !reached[id] || pruned[id] {
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

/// The nodes reached from the entry when a branch whose test `eval` knows goes one way.
fn walk(cfg: &Cfg, eval: &dyn Fn(&Value) -> Option<bool>) -> Vec<bool> {
    let mut seen = vec![false; cfg.nodes.len()];
    seen[ENTRY] = true;
    let mut work = vec![ENTRY];
    while let Some(id) = work.pop() {
        let node = cfg.node(id);
        let known = match node.op {
            Op::Branch(e) if node.succ.len() == 2 => eval(&e.value),
            _ => None,
        };
        for (k, &s) in node.succ.iter().enumerate() {
            if known.is_some_and(|t| t != (k == 0)) || seen[s] {
                continue;
            }
            seen[s] = true;
            work.push(s);
        }
    }
    seen
}

/// The tables of the lookup's struct by the string their key field holds.
fn tables_by_key(index: &Index, l: &Lookup) -> FxHashMap<String, Vec<VarRef>> {
    let mut out: FxHashMap<String, Vec<VarRef>> = FxHashMap::default();
    for fi in 0..index.files.len() {
        for var in index.initialized_variables(fi) {
            let v = index.variable(var);
            if index.struct_name(&v.type_name) != l.struct_name || v.is_array {
                continue;
            }
            for t in index.table_values(var, &l.struct_name) {
                let is_key = l.key().is_some_and(|(k, _)| t.field == k);
                if let (true, TableContent::Expr(e)) = (is_key, &t.value) {
                    let e = e.trim();
                    if let Some(s) = e.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                        out.entry(s.to_string()).or_default().push(var);
                    }
                }
            }
        }
    }
    out
}

/// Tests of the flags of looked-up tables.
struct Tests<'e, 'a> {
    index: &'e Index<'a>,
    /// local -> (struct, the tables it can hold).
    env: &'e [(&'e str, &'e str, Vec<VarRef>)],
    consts: &'e Consts,
}

/// The values of object-like macros that are integers, asked by name (`None`: not one, or
/// defined with different values).
#[derive(Default)]
struct Consts(std::cell::RefCell<FxHashMap<String, Option<i64>>>);

impl Consts {
    fn get(&self, index: &Index, name: &str) -> Option<i64> {
        if let Some(v) = self.0.borrow().get(name) {
            return *v;
        }
        // A macro defined from itself is not a number.
        self.0.borrow_mut().insert(name.to_string(), None);
        let mut found: Option<Option<i64>> = None;
        let defs = (index.files.iter())
            .flat_map(|f| &f.macros)
            .filter(|m| m.name == name && m.params.is_none());
        for m in defs {
            // `#define PF_INET AF_INET`: the other macro's value.
            let body = m.body.trim();
            let v = parse_paren_int(body).or_else(|| {
                crate::ctext::is_identifier(body)
                    .then(|| self.get(index, body))
                    .flatten()
            });
            found = match found {
                None => Some(v),
                Some(old) if old == v => Some(old),
                Some(_) => Some(None),
            };
        }
        let v = found.flatten();
        self.0.borrow_mut().insert(name.to_string(), v);
        v
    }

    /// The bits of `a | b | ..` of integers and macros, when all are known.
    fn bits(&self, index: &Index, expr: &str) -> Option<i64> {
        let mut v = 0;
        for t in expr
            .split('|')
            .map(|t| t.trim().trim_matches(|c| c == '(' || c == ')'))
        {
            v |= parse_paren_int(t).or_else(|| self.get(index, t))?;
        }
        Some(v)
    }
}

impl Tests<'_, '_> {
    fn eval(&self, v: &Value, depth: u8) -> Option<bool> {
        if depth > 16 {
            return None;
        }
        let d = depth + 1;
        match v {
            Value::Not(a) => self.eval(a, d).map(|b| !b),
            Value::And(a, b) => match (self.eval(a, d), self.eval(b, d)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Value::Or(a, b) => match (self.eval(a, d), self.eval(b, d)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Value::Cmp(a, op @ (CmpOp::Eq | CmpOp::Ne), b) => match (&**a, &**b) {
                (x, Value::Int(0)) | (Value::Int(0), x) => {
                    self.eval(x, d).map(|t| t == (*op == CmpOp::Ne))
                }
                _ => None,
            },
            Value::BitAnd(a, b) => match (&**a, &**b) {
                (Value::Field(f), Value::Var(m)) | (Value::Var(m), Value::Field(f)) => {
                    self.bit(f, m)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// `base->field & mask`, when every table `base` can be agrees.
    fn bit(&self, field_read: &str, mask: &str) -> Option<bool> {
        let (base, field) = field_read.split_once("->")?;
        let (_, st, tables) = self.env.iter().find(|(l, ..)| *l == base)?;
        let mut answer = None;
        for &t in tables {
            let init = self
                .index
                .table_values(t, st)
                .into_iter()
                .find(|v| v.field == field);
            let this = match init.as_ref().map(|v| &v.value) {
                None => false,
                Some(TableContent::Expr(e)) if e.trim() == "0" => false,
                Some(TableContent::Expr(e)) if names(e, mask) => true,
                // Flags the headers define as numbers (`FS_ODD_RENAME` is 32768).
                Some(TableContent::Expr(e)) => {
                    let m = self.consts.get(self.index, mask)?;
                    self.consts.bits(self.index, e)? & m != 0
                }
                _ => return None,
            };
            if answer.is_some_and(|a| a != this) {
                return None;
            }
            answer = Some(this);
        }
        answer
    }
}

/// Whether the expression names `word` as a whole identifier (`FS_REQUIRES_DEV|FS_X`).
fn names(expr: &str, word: &str) -> bool {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == word)
}
