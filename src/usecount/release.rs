//! The release-after-failed-open convention, checked on the path instead of assumed.
//!
//! Some cores call the table's release routine when an open fails (`tty_open` ->
//! `release_dev` -> the driver's `close`), so a failed open may leave its decrement to that
//! routine. It is only right when the release routine reaches its decrement in the state the
//! failed open left: a close that returns early while `tty->driver_data` is unset, or while
//! `port->active` is clear, leaves the count raised for an open that failed before setting it.
//!
//! The model: walk the release routine's graph and keep each exit reached without a
//! decrement, with the fields tested by the branch that decides it (a local read from a field
//! stands for that field; a call's argument for the fields it was read from). The failed open
//! is covered at an exit when it assigned one of that exit's fields, not to NULL or 0, before
//! its failure return. When the table is reached through a forwarder of the core's (usb-serial's
//! `serial_open` calls `type->open`), the forwarder's release wrapper is walked too, up to its
//! call of the table's routine, and the forwarder's own stores count as the open's.

use std::collections::BTreeSet;

use super::{FileOracle, NeverSleeps, UseCountKnowledge};
use crate::cfg::{Cfg, Op, ENTRY, EXIT};
use crate::entries::Entry;
use crate::facts::{Event, Expr, Function, Span, Value};
use crate::index::{FnRef, Index};
use crate::kb::Kb;
use crate::paths::{CallOracle, CountEffect};

/// Node visits of one release routine's data flow before giving up (and trusting the
/// convention); each node is revisited only when its set of fields grows.
const MAX_VISITS: usize = 100_000;

/// What the core's release routine does for a failed open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseVerdict {
    /// It drops the count in the state this failure return leaves.
    Drops,
    /// It returns without dropping it: `exit` in `routine`, whose path tests only fields the
    /// open had not set (`unset`; empty when the exit is unconditional).
    Leaks {
        routine: String,
        /// The release routine's file, relative to the scanned root.
        file: String,
        exit_line: u32,
        unset: Vec<String>,
    },
    /// Nothing to judge by (no release routine found, too many paths): the convention holds.
    Unknown,
}

/// Fields stored into, each with the line of the store.
type Stores = Vec<(String, u32)>;

/// An exit of a release routine reached without a decrement.
#[derive(Debug, Clone)]
struct Exit {
    routine: String,
    file: String,
    line: u32,
    /// Fields the branches deciding it tested.
    guards: Vec<String>,
    /// Some branch led there: with no field among its tests that the open stores
    /// (`tty_hung_up_p(filp)`), the state of a failed open says nothing about it.
    conditional: bool,
}

/// The release routines of one failed-open entry, walked once for all its failure returns.
pub struct ReleaseCheck {
    exits: Option<Vec<Exit>>,
    /// Fields the open (or its core forwarder, before the forwarding call) assigns, with the
    /// line of each assignment in the open; forwarder stores have line 0 (before any return).
    stores: Stores,
}

impl ReleaseCheck {
    /// `open` sits in `entry`'s slot, whose failure the core cleans up by calling the same
    /// table's `release_field` routine (through `through`, a slot of the core's forwarder,
    /// when the knowledge base names one).
    pub fn new(
        index: &Index,
        kb: &Kb,
        known: &UseCountKnowledge,
        entries: &[Entry],
        entry: &Entry,
        open: FnRef,
    ) -> Self {
        let stores = assigned_fields(index, open, u32::MAX);
        let mut check = ReleaseCheck {
            exits: None,
            stores,
        };
        let Some(slot) = entry.slot.field() else {
            return check;
        };
        let Some(kb_slot) = kb.slot(&slot.strukt, &slot.field) else {
            return check;
        };
        let Some(release_field) = kb_slot.release_on_failure.as_deref() else {
            return check;
        };
        let sibling = entries.iter().find(|e| {
            e.registration_file == entry.registration_file
                && e.registration_line == entry.registration_line
                && e.slot
                    .field()
                    .is_some_and(|s| s.strukt == slot.strukt && s.field == release_field)
        });
        let Some(release) = sibling.and_then(|e| resolve(index, e)) else {
            return check;
        };
        let mut exits = match walk(index, kb, known, release, None) {
            Some(exits) => exits,
            None => return check,
        };
        if let Some(through) = kb_slot.release_through.as_deref() {
            let Some(forwarded) = forwarders(
                index,
                kb,
                known,
                entries,
                through,
                &slot.field,
                release_field,
            ) else {
                return check;
            };
            let (wrapper_exits, forwarder_stores) = forwarded;
            exits.extend(wrapper_exits);
            check.stores.extend(forwarder_stores);
            // The table has its release routine (the sibling): a wrapper's test of that
            // pointer (`if (type->close)`) passes.
            check.stores.push((release_field.to_string(), 0));
        }
        check.exits = Some(exits);
        check
    }

    /// The verdict for the failure return at `ret` of the open.
    pub fn judge(&self, ret: Span) -> ReleaseVerdict {
        let Some(exits) = &self.exits else {
            return ReleaseVerdict::Unknown;
        };
        let set_before = |field: &str| {
            self.stores
                .iter()
                .any(|(f, line)| f == field && *line <= ret.line)
        };
        // An exit decided only by fields the open never stores (`tty->driver.subtype`, a
        // property of the device) does not depend on how far the open got: not judged.
        let stored = |field: &String| self.stores.iter().any(|(f, _)| f == field);
        exits
            .iter()
            .filter(|x| !x.conditional || x.guards.iter().any(stored))
            .find(|x| !x.guards.iter().any(|g| set_before(g)))
            .map_or(ReleaseVerdict::Drops, |x| ReleaseVerdict::Leaks {
                routine: x.routine.clone(),
                file: x.file.clone(),
                exit_line: x.line,
                unset: x.guards.clone(),
            })
    }
}

fn resolve(index: &Index, e: &Entry) -> Option<FnRef> {
    let file = index.file_by_path(&e.file)?;
    index.resolve_function(file, &e.function)
}

/// Fields `f` assigns a value other than NULL or 0, before line `before`, with their lines.
fn assigned_fields(index: &Index, f: FnRef, before: u32) -> Stores {
    index.files[f.file]
        .field_assigns
        .iter()
        .filter(|a| a.caller == Some(f.func as u32) && a.line < before)
        .filter(|a| !is_null(&a.value))
        .map(|a| (a.field.to_string(), a.line))
        .collect()
}

fn is_null(value: &str) -> bool {
    let v: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let v = v.trim_start_matches("(void*)");
    matches!(v, "0" | "NULL" | "0L" | "((void*)0)")
}

/// The core's forwarders of the slot: the routines in slot `through` that call the table's
/// `release_field` routine through a pointer, in files whose routines also forward `field`
/// (`serial_open` calls `type->open`). Their exits before that call, and the fields the
/// forwarder of `field` stores before forwarding.
fn forwarders(
    index: &Index,
    kb: &Kb,
    known: &UseCountKnowledge,
    entries: &[Entry],
    through: &str,
    field: &str,
    release_field: &str,
) -> Option<(Vec<Exit>, Stores)> {
    let (t_struct, t_field) = through.split_once('.')?;
    let in_slot = |e: &&Entry, f: &str| {
        e.slot
            .field()
            .is_some_and(|s| s.strukt == t_struct && s.field == f)
    };
    let mut exits = Vec::new();
    let mut stores = Vec::new();
    let mut found = false;
    for wrapper in entries.iter().filter(|e| in_slot(e, t_field)) {
        let Some(w) = resolve(index, wrapper) else {
            continue;
        };
        let Some(forward_open) = entries
            .iter()
            .filter(|e| e.file == wrapper.file && in_slot(e, field))
            .filter_map(|e| resolve(index, e))
            .find_map(|o| forwarding_call(index, o, field).map(|line| (o, line)))
        else {
            continue;
        };
        if forwarding_call(index, w, release_field).is_none() {
            continue;
        }
        exits.extend(walk(index, kb, known, w, Some(release_field))?);
        // The forwarder's stores happen before the module's open runs: before any return.
        let (o, line) = forward_open;
        stores.extend(
            assigned_fields(index, o, line)
                .into_iter()
                .map(|(f, _)| (f, 0)),
        );
        found = true;
    }
    found.then_some((exits, stores))
}

/// The line of `f`'s first call through a pointer to a routine in field `field`.
fn forwarding_call(index: &Index, f: FnRef, field: &str) -> Option<u32> {
    index.files[f.file]
        .calls
        .iter()
        .filter(|c| c.caller == Some(f.func as u32) && c.indirect)
        .find(|c| last_field(&c.callee) == Some(field))
        .map(|c| c.line)
}

/// `field` of `a->b->field` or `a.field` (parentheses around a called pointer allowed).
fn last_field(expr: &str) -> Option<&str> {
    let e = expr
        .trim()
        .trim_start_matches(['(', '*'])
        .trim_end_matches(')');
    let after_arrow = e.rfind("->").map(|i| i + 2);
    let after_dot = e.rfind('.').map(|i| i + 1);
    let field = e[after_arrow.max(after_dot)?..].trim();
    crate::ctext::is_word(field).then_some(field)
}

/// The exits of `f` reached without a decrement (nor, with `stop_at`, a call through that
/// field), each with the fields tested by the last branch on some path to it: that branch
/// decides the exit. A forward data flow: per node the union, over the paths that reach it
/// undropped, of the fields their last branch tested, so an exit counts as covered when any
/// of its deciding branches tested a field the open set (precision first: the finding stands
/// only when the open's stores could have saved no path). `None` when no path drops at all, or
/// past [`MAX_VISITS`].
fn walk(
    index: &Index,
    kb: &Kb,
    known: &UseCountKnowledge,
    f: FnRef,
    stop_at: Option<&str>,
) -> Option<Vec<Exit>> {
    let function = index.function(f);
    let calls = &index.files[f.file].calls;
    let oracle = FileOracle::new(index, kb, f.file, calls, &NeverSleeps, &known.helpers);
    let cfg = Cfg::build(&function.body);
    let fields = VarFields::new(function, calls);
    let drops = |e: &Expr| {
        e.events.iter().any(|ev| match ev {
            Event::Name(n) => oracle.name_effect(n) == CountEffect::Decrement,
            Event::Bump { field, up } => oracle.bump_effect(field, *up) == CountEffect::Decrement,
            Event::Step { .. } => false,
            Event::Call(c) => {
                // A helper that drops on some of its paths (the last port of a board shut
                // down) may be the routine's decrement: precision first, it drops.
                let effect = oracle.call_effect(*c);
                effect == CountEffect::Decrement
                    || effect == CountEffect::DropAll
                    || matches!(effect, CountEffect::Split(o) if o.results[0] != 0)
                    || stop_at.is_some_and(|s| {
                        calls
                            .get(*c as usize)
                            .is_some_and(|c| c.indirect && last_field(&c.callee) == Some(s))
                    })
            }
        })
    };
    // Per node: the fields tested on the way in, and whether a branch led there.
    let mut state: Vec<Option<(BTreeSet<String>, bool)>> = vec![None; cfg.nodes.len()];
    state[ENTRY] = Some((BTreeSet::new(), false));
    let mut work = vec![ENTRY];
    let mut visits = 0usize;
    let mut exits = Vec::new();
    let mut dropped = false;
    while let Some(id) = work.pop() {
        visits += 1;
        if visits > MAX_VISITS {
            return None;
        }
        let node = cfg.node(id);
        let expr = match node.op {
            Op::Eval(e) | Op::Branch(e) | Op::Return(Some(e)) => Some(e),
            _ => None,
        };
        if expr.is_some_and(drops) {
            dropped = true;
            continue;
        }
        let Some((mut guards, mut conditional)) = state[id].clone() else {
            continue;
        };
        if let Op::Branch(e) = node.op {
            // The branch that decides an exit is the last one before it.
            let mut tested = Vec::new();
            fields.of_value(&e.value, &mut tested);
            guards = tested.into_iter().collect();
            conditional = true;
        }
        if matches!(node.op, Op::Return(_)) || id == EXIT {
            continue;
        }
        for &next in &node.succ {
            let changed = match &mut state[next] {
                slot @ None => {
                    *slot = Some((guards.clone(), conditional));
                    true
                }
                Some((g, c)) => {
                    let before = (g.len(), *c);
                    g.extend(guards.iter().cloned());
                    *c |= conditional;
                    before != (g.len(), *c)
                }
            };
            if changed {
                work.push(next);
            }
        }
    }
    // A release routine that drops nothing pairs with no per-open pin (a board's first
    // opener pins, its shutdown drops): the convention says nothing there.
    if !dropped {
        return None;
    }
    for (id, node) in cfg.nodes.iter().enumerate() {
        let (Op::Return(e), Some((guards, conditional))) = (&node.op, &state[id]) else {
            continue;
        };
        if e.is_some_and(drops) {
            continue;
        }
        let line = if node.span.line > 0 {
            node.span.line
        } else {
            function.end_line
        };
        exits.push(Exit {
            routine: function.name.to_string(),
            file: index.files[f.file].path.to_string(),
            line,
            guards: guards.iter().cloned().collect(),
            conditional: *conditional,
        });
    }
    Some(exits)
}

/// The fields each local of a function was read from: `info = tty->driver_data` makes
/// `info` stand for `driver_data`; `serial = get_serial(port)` for whatever `port` stands for.
struct VarFields<'a> {
    assigns: Vec<(&'a str, &'a Value)>,
    calls: &'a [crate::facts::Call],
}

impl<'a> VarFields<'a> {
    fn new(function: &'a Function, calls: &'a [crate::facts::Call]) -> Self {
        let assigns = function
            .body
            .exprs()
            .flat_map(|e| e.assigns.iter())
            .map(|a| (a.var.as_str(), &a.value))
            .collect();
        VarFields { assigns, calls }
    }

    fn of_value(&self, value: &Value, out: &mut Vec<String>) {
        self.value_fields(value, out, 0);
    }

    fn value_fields(&self, value: &Value, out: &mut Vec<String>, depth: u8) {
        if depth > 4 {
            return;
        }
        match value {
            Value::Field(f) => out.extend(last_field(f).map(str::to_string)),
            Value::Var(v) => self.var_fields(v, out, depth + 1),
            Value::Call(c) => {
                for arg in self
                    .calls
                    .get(*c as usize)
                    .into_iter()
                    .flat_map(|c| &c.args)
                {
                    self.text_fields(arg, out, depth + 1);
                }
            }
            Value::Not(v) => self.value_fields(v, out, depth),
            Value::Cmp(a, _, b) | Value::And(a, b) | Value::Or(a, b) => {
                self.value_fields(a, out, depth);
                self.value_fields(b, out, depth);
            }
            _ => {}
        }
    }

    fn text_fields(&self, text: &str, out: &mut Vec<String>, depth: u8) {
        let t = text.trim().trim_start_matches('&');
        if crate::ctext::is_word(t) {
            self.var_fields(t, out, depth);
        } else if let Some(f) = last_field(t) {
            out.push(f.to_string());
        }
    }

    fn var_fields(&self, var: &str, out: &mut Vec<String>, depth: u8) {
        for (_, value) in self.assigns.iter().filter(|(v, _)| *v == var) {
            self.value_fields(value, out, depth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_field_reads_member_chains() {
        assert_eq!(last_field("serial->type->close"), Some("close"));
        assert_eq!(last_field("(*tty->driver.close)"), Some("close"));
        assert_eq!(last_field("close"), None);
    }

    #[test]
    fn null_stores_are_not_sets() {
        assert!(is_null("NULL"));
        assert!(is_null(" 0 "));
        assert!(is_null("(void *) 0"));
        assert!(!is_null("port"));
        assert!(!is_null("1"));
    }
}
