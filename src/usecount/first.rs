//! The first user's pin (issue 13, class 1): a helper that pins its module when it first sets
//! an object up, and returns early, pinning nothing, when the object is set up already.
//!
//! isdn's tty open calls `isdn_tty_startup(info)`, which returns 0 at once when the port's
//! `ISDN_ASYNC_INITIALIZED` bit is set, and otherwise pins (through `isdn_MOD_INC_USE_COUNT`),
//! initialises the port and sets the bit; `isdn_tty_shutdown` clears the bit where it drops
//! the count. The early return is taken only while an earlier call's pin holds the module, so
//! for its caller every success of the helper leaves the module held: the later opens are
//! covered by the first opener's pin.
//!
//! The model, read off the tree; all of these must hold:
//! - **the guard**: a statement of the helper's outermost block, before any other that calls,
//!   counts or returns, is `if (P->F & B) return 0;` (`P` a parameter, `B` a constant's name);
//! - **the set**: the helper stores into `P->F` a value that sets `B` (`P->F |= B`, or a
//!   plain store naming `B` without a `~`);
//! - **the clears**: every store of the file that may clear `B` in a field named `F` (an
//!   update with `&=` or a plain store, naming `B` after a `~`, or a plain store not naming it
//!   at all, on an object of the same struct when the facts give its type) sits in a function
//!   that drops the count;
//! - **the rest**: walked with the guard taken out, the helper pins on every success and drops
//!   the count on no return.
//!
//! Then the helper's summary is that of the rest. Stores of `F` in other files, and whether
//! the drop and the clear sit on the same path, are not checked (the judged cases keep the
//! bit private to the file and clear it under the drop).

use super::FileOracle;
use crate::ctext::is_word;
use crate::facts::{Body, Event, FileFacts, Function, StmtId, StmtKind, Value};
use crate::index::{referenced_name, FnRef, Index};
use crate::paths::{CallOracle, CountEffect, Discipline, ZERO};
use rustc_hash::FxHashSet as HashSet;

/// The summary of helper `f` (whose walk gave a success that pinned nothing) as a first user's
/// pin, when the model holds; `None` otherwise.
pub(super) fn first_user(
    oracle: &FileOracle,
    f: FnRef,
    function: &Function,
) -> Option<CountEffect> {
    if function.return_type.contains('*') {
        return None;
    }
    let body: &Body = &function.body;
    let Some(StmtKind::Block(top)) = body.stmts.first().map(|s| &s.kind) else {
        return None;
    };
    let (guard, field, bit) = guard(body, top, function)?;
    let (base, field_name) = field.split_once("->")?;
    let facts = &oracle.index.files[f.file];
    let own = |a: &&crate::facts::FieldAssign| a.field == field_name;
    let sets = (facts.field_assigns.iter().filter(own))
        .any(|a| a.caller == Some(f.func as u32) && a.base == base && sets_bit(&a.value, bit));
    if !sets {
        return None;
    }
    let strukt = oracle.index.local_struct(function, base);
    for a in facts.field_assigns.iter().filter(own) {
        let g = &facts.functions[a.caller? as usize];
        let other_struct = match (base_struct(oracle.index, g, &a.base), strukt) {
            (Some(t), Some(s)) => t != s,
            _ => false,
        };
        if other_struct || !may_clear(&a.value, bit) {
            continue;
        }
        if !drops(oracle, g) {
            return None;
        }
    }
    // The rest: the helper without its guard.
    let mut rest = body.clone();
    rest.stmts[guard as usize].kind = StmtKind::Decl;
    let mut without = function.clone();
    without.body = rest.into();
    let effect = oracle.walk(&without, Discipline::Pin).net_effect();
    match effect {
        CountEffect::Split(o) if o.results[1] & ZERO == 0 && o.results[0] == 0 => {
            (o.results[2] != 0).then_some(effect)
        }
        _ => None,
    }
}

/// The struct of a store's base as function `g` sees it: a local's or parameter's
/// (`info`), or a member's of one (`m->tty_modem`).
fn base_struct<'i>(index: &'i Index, g: &'i Function, base: &str) -> Option<&'i str> {
    let Some((root, member)) = base.split_once("->").or_else(|| base.split_once('.')) else {
        return index.local_struct(g, base.trim());
    };
    if !is_word(root.trim()) || !is_word(member.trim()) {
        return None;
    }
    let def = index.struct_def(index.local_struct(g, root.trim())?)?;
    let field = def.fields.iter().find(|f| f.name == member.trim())?;
    field.struct_type.as_deref().map(|t| index.struct_name(t))
}

/// The guard statement, the field it tests (`info->flags`) and the bit (see the module docs).
fn guard<'b>(
    body: &'b Body,
    top: &[StmtId],
    function: &Function,
) -> Option<(StmtId, &'b str, &'b str)> {
    for &id in top {
        match &body.stmt(id).kind {
            StmtKind::Decl => continue,
            StmtKind::If {
                cond,
                then,
                otherwise: None,
            } if cond.events.is_empty() && returns_zero(body, *then) => {
                let Value::BitAnd(a, b) = &cond.value else {
                    return None;
                };
                let ((Value::Field(field), Value::Var(bit))
                | (Value::Var(bit), Value::Field(field))) = (&**a, &**b)
                else {
                    return None;
                };
                let (base, _) = field.split_once("->")?;
                let param = function
                    .params
                    .iter()
                    .any(|p| p.name.as_deref() == Some(base));
                return (param && is_word(bit)).then_some((id, field.as_str(), bit.as_str()));
            }
            _ => return None,
        }
    }
    None
}

/// Whether statement `id` is `return 0;`, alone or as a block's only statement.
fn returns_zero(body: &Body, id: StmtId) -> bool {
    match &body.stmt(id).kind {
        StmtKind::Return(Some(e)) => e.events.is_empty() && matches!(e.value, Value::Int(0)),
        StmtKind::Block(list) => list.len() == 1 && returns_zero(body, list[0]),
        _ => false,
    }
}

/// The words of a stored value, each with whether a `~` comes before it.
fn words(value: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut negated = false;
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '~'))
        .filter(|w| !w.is_empty())
        .map(move |w| {
            negated |= w.starts_with('~');
            (w.trim_start_matches('~'), negated)
        })
}

/// The operator of a compound update as written (`x->flags |= B`), `None` for a plain value.
fn compound(value: &str) -> Option<&'static str> {
    const OPS: [&str; 10] = ["<<=", ">>=", "|=", "&=", "^=", "+=", "-=", "*=", "/=", "%="];
    OPS.into_iter().find(|op| value.contains(op))
}

/// Whether a store's value (a plain value, or a compound update as written) sets `bit`.
fn sets_bit(value: &str, bit: &str) -> bool {
    matches!(compound(value), None | Some("|=")) && words(value).any(|(w, neg)| w == bit && !neg)
}

/// Whether a store's value may clear `bit`: a plain store that does not set it, a mask that
/// takes it out (`&= ~B`, or a mask with no `~` at all), or any other update of the field.
fn may_clear(value: &str, bit: &str) -> bool {
    match compound(value) {
        None => !sets_bit(value, bit),
        Some("|=") => false,
        Some("&=") => {
            words(value).all(|(_, neg)| !neg) || words(value).any(|(w, neg)| w == bit && neg)
        }
        Some(_) => true,
    }
}

/// Whether `g` drops the module's count on some path: a decrement, or a helper that drops it.
fn drops(oracle: &FileOracle, g: &Function) -> bool {
    g.body
        .exprs()
        .flat_map(|e| e.events.iter())
        .any(|ev| match ev {
            Event::Name(n) => oracle.name_effect(n) == CountEffect::Decrement,
            Event::Call(c) => match oracle.call_effect(*c) {
                CountEffect::Decrement | CountEffect::DropAll => true,
                CountEffect::Split(o) => o.results[0] != 0,
                _ => false,
            },
            Event::Bump { field, up } => oracle.bump(field, *up) == CountEffect::Decrement,
            Event::Step { .. } => false,
        })
}

/// The names a file uses as values: stored into a field, passed as an argument, or written in
/// a variable's initializer. A function named there may be called through that value (by the
/// core too), so it is no count wrapper; one named nowhere there is only ever called directly.
pub(super) fn value_names(facts: &FileFacts) -> HashSet<String> {
    let stored = facts.field_assigns.iter().map(|a| a.value.as_str());
    let passed = facts
        .calls
        .iter()
        .flat_map(|c| c.args.iter().map(|a| a.as_str()));
    let initial = (facts.variables.iter().filter_map(|v| v.init.as_ref())).flat_map(|l| l.exprs());
    (stored.chain(passed).chain(initial))
        .filter_map(referenced_name)
        .map(str::to_string)
        .collect()
}
