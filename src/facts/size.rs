//! How many bytes the facts of a scan hold, by kind (`MODRACE_TIMINGS=1`): what tells which
//! facts to make smaller. Counted from capacities, as the allocator sees them (its own
//! per-block overhead aside).

use std::mem::size_of;

use super::{
    Assign, Body, Call, Designator, Event, Expr, FileFacts, Function, InitItem, InitList,
    InitValue, StmtKind, Text, Value,
};
use crate::normalize::MacroDef;

/// Heap bytes owned by a value, its own inline size excluded.
pub trait HeapSize {
    fn heap(&self) -> usize;
}

impl HeapSize for String {
    fn heap(&self) -> usize {
        self.capacity()
    }
}

impl HeapSize for Text {
    fn heap(&self) -> usize {
        if self.is_heap_allocated() {
            self.capacity()
        } else {
            0
        }
    }
}

impl<T: HeapSize> HeapSize for Vec<T> {
    fn heap(&self) -> usize {
        self.capacity() * size_of::<T>() + self.iter().map(HeapSize::heap).sum::<usize>()
    }
}

impl<T: HeapSize> HeapSize for Box<[T]> {
    fn heap(&self) -> usize {
        self.len() * size_of::<T>() + self.iter().map(HeapSize::heap).sum::<usize>()
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap(&self) -> usize {
        self.as_ref().map_or(0, HeapSize::heap)
    }
}

impl<T: HeapSize> HeapSize for Box<T> {
    fn heap(&self) -> usize {
        size_of::<T>() + (**self).heap()
    }
}

impl<A: HeapSize, B: HeapSize> HeapSize for (A, B) {
    fn heap(&self) -> usize {
        self.0.heap() + self.1.heap()
    }
}

macro_rules! no_heap {
    ($($t:ty),*) => {$(impl HeapSize for $t { fn heap(&self) -> usize { 0 } })*};
}
no_heap!(u8, u32, bool, super::CallGuard, super::CmpOp, super::Span);

impl HeapSize for super::ComparedParam {
    fn heap(&self) -> usize {
        self.field.as_ref().map_or(0, HeapSize::heap)
    }
}

impl HeapSize for Value {
    fn heap(&self) -> usize {
        match self {
            Value::NegErrno(s) | Value::Var(s) | Value::Field(s) | Value::Element(s) => s.heap(),
            Value::Not(v) => v.heap(),
            Value::Cmp(a, _, b)
            | Value::And(a, b)
            | Value::Or(a, b)
            | Value::BitAnd(a, b)
            | Value::Choice(a, b) => a.heap() + b.heap(),
            _ => 0,
        }
    }
}

impl HeapSize for Event {
    fn heap(&self) -> usize {
        match self {
            Event::Name(s) | Event::Bump { field: s, .. } | Event::Step { field: s, .. } => {
                s.heap()
            }
            Event::Call(_) => 0,
        }
    }
}

impl HeapSize for Assign {
    fn heap(&self) -> usize {
        self.var.heap() + self.value.heap()
    }
}

impl HeapSize for Expr {
    fn heap(&self) -> usize {
        self.events.heap() + self.assigns.heap() + self.value.heap()
    }
}

impl HeapSize for super::Stmt {
    fn heap(&self) -> usize {
        match &self.kind {
            StmtKind::Block(v) => v.heap(),
            StmtKind::Case { body, label, .. } => body.heap() + label.heap(),
            StmtKind::Expr(e)
            | StmtKind::Declare(e)
            | StmtKind::If { cond: e, .. }
            | StmtKind::Switch { cond: e, .. }
            | StmtKind::While { cond: e, .. }
            | StmtKind::DoWhile { cond: e, .. } => e.heap(),
            StmtKind::For {
                init, cond, update, ..
            } => init.heap() + cond.heap() + update.heap(),
            StmtKind::Return(e) => e.heap(),
            StmtKind::Goto(s) | StmtKind::Label { name: s, .. } => s.heap(),
            _ => 0,
        }
    }
}

impl HeapSize for Body {
    fn heap(&self) -> usize {
        self.stmts.heap()
    }
}

impl HeapSize for Designator {
    fn heap(&self) -> usize {
        match self {
            Designator::Field(s) => s.heap(),
            Designator::Index | Designator::Macro => 0,
        }
    }
}

impl HeapSize for InitItem {
    fn heap(&self) -> usize {
        self.designators.heap()
            + match &self.value {
                InitValue::Expr(s) => s.heap(),
                InitValue::List(l) => l.heap(),
            }
    }
}

impl HeapSize for InitList {
    fn heap(&self) -> usize {
        self.items.heap()
    }
}

impl HeapSize for MacroDef {
    fn heap(&self) -> usize {
        self.name.heap() + self.params.heap() + self.body.heap()
    }
}

impl HeapSize for Call {
    fn heap(&self) -> usize {
        self.callee.heap() + self.args.heap()
    }
}

/// Bytes of one kind of fact over a scan: the vectors' own slots and what their items own.
#[derive(Debug, Default)]
pub struct Tally {
    rows: Vec<(&'static str, usize, usize)>,
}

impl Tally {
    fn add(&mut self, kind: &'static str, count: usize, bytes: usize) {
        match self.rows.iter_mut().find(|r| r.0 == kind) {
            Some(r) => {
                r.1 += count;
                r.2 += bytes;
            }
            None => self.rows.push((kind, count, bytes)),
        }
    }

    fn vec<T>(&mut self, kind: &'static str, v: &Vec<T>, owned: usize) {
        self.add(kind, v.len(), v.capacity() * size_of::<T>() + owned);
    }

    fn slice<T: HeapSize>(&mut self, kind: &'static str, v: &[T]) {
        self.add(
            kind,
            v.len(),
            std::mem::size_of_val(v) + v.iter().map(T::heap).sum::<usize>(),
        );
    }

    /// Adds one file's facts.
    pub fn file(&mut self, f: &FileFacts) {
        self.add(
            "per-file records",
            1,
            size_of::<FileFacts>() + f.path.heap(),
        );
        self.function_parts(&f.functions);
        self.vec("calls", &f.calls, f.calls.iter().map(|c| c.heap()).sum());
        self.vec("macros", &f.macros, f.macros.iter().map(|m| m.heap()).sum());
        let vars = f
            .variables
            .iter()
            .map(|v| v.name.heap() + v.type_name.heap() + v.init.heap());
        self.vec("variables", &f.variables, vars.sum());
        let structs = f.structs.iter().map(|s| {
            s.name.heap()
                + s.fields.len() * size_of::<super::Field>()
                + s.fields
                    .iter()
                    .map(|x| x.name.heap() + x.ty.heap() + x.struct_type.heap())
                    .sum::<usize>()
        });
        self.vec("structs", &f.structs, structs.sum());
        let typedefs = f
            .typedefs
            .iter()
            .map(|t| t.name.heap() + t.struct_name.heap());
        self.vec("typedefs", &f.typedefs, typedefs.sum());
        let fa = f
            .field_assigns
            .iter()
            .map(|a| a.base.heap() + a.base_type.heap() + a.field.heap() + a.value.heap());
        self.vec("field_assigns", &f.field_assigns, fa.sum());
        let bare = f.bare_names.iter().map(|b| b.name.heap());
        self.vec("bare_names", &f.bare_names, bare.sum());
        let errors = f.errors.iter().map(|e| e.function.heap() + e.cause.heap());
        self.vec("errors", &f.errors, errors.sum());
        let broken = f.broken_functions.iter().map(|b| b.cause.heap());
        self.vec("broken_functions", &f.broken_functions, broken.sum());
        let var_types = f.var_types.iter().map(HeapSize::heap);
        self.vec("var_types", &f.var_types, var_types.sum());
        let loads = f.field_loads.iter().map(|l| l.var.heap() + l.value.heap());
        self.vec("field_loads", &f.field_loads, loads.sum());
    }

    fn function_parts(&mut self, functions: &Vec<Function>) {
        self.vec("functions", functions, 0);
        for f in functions {
            self.add(
                "fn names and types",
                0,
                f.name.heap() + f.return_type.heap(),
            );
            let params: usize = f.params.iter().map(|p| p.name.heap() + p.ty.heap()).sum();
            let inline = f.params.len() * size_of::<super::Param>();
            self.add("fn params", f.params.len(), inline + params);
            self.slice("fn locals", &f.locals);
            self.slice("fn local_types", &f.local_types);
            self.slice("fn attributes", &f.attributes);
            self.slice("fn assigned_params", &f.assigned_params);
            self.slice("fn compared_params", &f.compared_params);
            // A body the cache holds encoded is counted as its bytes, not decoded to be counted.
            match f.body.decoded() {
                Some(b) => self.add("fn bodies (statements)", b.stmts.len(), b.heap()),
                None => self.add("fn bodies (encoded)", 0, f.body.encoded_bytes()),
            }
        }
    }

    /// Prints the table, largest first, when timings are on.
    pub fn report(mut self) {
        self.rows.sort_by_key(|r| std::cmp::Reverse(r.2));
        let total: usize = self.rows.iter().map(|r| r.2).sum();
        eprintln!("facts: {:>8} MB in all", total >> 20);
        for (kind, count, bytes) in self.rows {
            eprintln!("facts:   {kind:<24} {count:>10} {:>8} MB", bytes >> 20);
        }
    }
}
