//! Calls that only run when a parameter is zero or nonzero.
//!
//! `pneigh_lookup(tbl, key, dev, creat)` does `if (!creat) return NULL;` before its
//! `kmalloc(..., GFP_KERNEL)`: a caller passing 0 does not reach the allocation. A call gets the
//! guard of the innermost `if` (or `while`/`for` condition) around it that tests a parameter,
//! or of an earlier `if (test) return ...;` in an enclosing block. Only simple tests count
//! (`p`, `!p`, `p == 0`, `p != NULL`, a conjunct of `&&`). A function that assigns the parameter,
//! or has labels (a `goto` can enter a block past its guard), gets no guards.

use crate::facts::{Body, CmpOp, Event, Expr, Function, StmtId, StmtKind, Value};

/// A necessary condition for reaching a call: parameter `param` is nonzero (or zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guard {
    pub param: u8,
    pub nonzero: bool,
}

/// The guard of each call of the function's file that the function's body makes, by call
/// index: `out[call]`.
pub fn guards(func: &Function, out: &mut [Option<Guard>]) {
    let body = &func.body;
    if body.is_empty() {
        return;
    }
    let mut w = Walker {
        body,
        params: Vec::new(),
        out,
        stack: Vec::new(),
    };
    if body
        .stmts
        .iter()
        .any(|s| matches!(s.kind, StmtKind::Label { .. }))
    {
        return;
    }
    let assigned = assigned(body);
    w.params = func
        .params
        .iter()
        .map(|p| {
            p.name
                .as_deref()
                .filter(|n| !assigned.contains(n))
                .unwrap_or("")
        })
        .collect();
    w.stmt(0, 0);
}

/// Bit k set: parameter k is never assigned in the body (for k < 64).
pub fn stable_params(func: &Function) -> u64 {
    let assigned = assigned(&func.body);
    let mut bits = 0u64;
    for (k, p) in func.params.iter().enumerate().take(64) {
        if p.name.as_deref().is_some_and(|n| !assigned.contains(&n)) {
            bits |= 1 << k;
        }
    }
    bits
}

fn assigned(body: &Body) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in &body.stmts {
        for e in exprs(&s.kind) {
            out.extend(e.assigns.iter().map(|a| a.var.as_str()));
        }
    }
    out
}

fn exprs(kind: &StmtKind) -> Vec<&Expr> {
    match kind {
        StmtKind::Expr(e) | StmtKind::Return(Some(e)) => vec![e],
        StmtKind::If { cond, .. }
        | StmtKind::Switch { cond, .. }
        | StmtKind::While { cond, .. }
        | StmtKind::DoWhile { cond, .. } => vec![cond],
        StmtKind::For {
            init, cond, update, ..
        } => [init, cond, update].into_iter().flatten().collect(),
        _ => Vec::new(),
    }
}

/// How deep statements nest before the walk gives up on guards below.
const MAX_NESTING: usize = 200;

struct Walker<'b, 'o> {
    body: &'b Body,
    params: Vec<&'b str>,
    out: &'o mut [Option<Guard>],
    stack: Vec<Guard>,
}

impl Walker<'_, '_> {
    fn mark(&mut self, e: &Expr) {
        let Some(&g) = self.stack.last() else { return };
        for ev in &e.events {
            if let Event::Call(c) = ev {
                if let Some(slot) = self.out.get_mut(*c as usize) {
                    *slot = Some(g);
                }
            }
        }
    }

    fn param(&self, v: &Value) -> Option<u8> {
        let Value::Var(name) = v else { return None };
        let k = self
            .params
            .iter()
            .position(|p| !p.is_empty() && p == name)?;
        u8::try_from(k).ok()
    }

    /// The guard that holds when `v` is true (`positive`) or false.
    fn guard(&self, v: &Value, positive: bool) -> Option<Guard> {
        let zero = |x: &Value| matches!(x, Value::Int(0) | Value::Null);
        match v {
            Value::Var(_) => self.param(v).map(|param| Guard {
                param,
                nonzero: positive,
            }),
            Value::Not(x) => self.guard(x, !positive),
            Value::Cmp(a, op @ (CmpOp::Eq | CmpOp::Ne), b) => {
                let param = match (self.param(a), self.param(b)) {
                    (Some(k), None) if zero(b) => k,
                    (None, Some(k)) if zero(a) => k,
                    _ => return None,
                };
                Some(Guard {
                    param,
                    nonzero: (*op == CmpOp::Ne) == positive,
                })
            }
            Value::And(a, b) if positive => self.guard(a, true).or_else(|| self.guard(b, true)),
            Value::Or(a, b) if !positive => self.guard(a, false).or_else(|| self.guard(b, false)),
            _ => None,
        }
    }

    fn with(&mut self, g: Option<Guard>, id: StmtId, depth: usize) {
        let n = self.stack.len();
        self.stack.extend(g);
        self.stmt(id, depth + 1);
        self.stack.truncate(n);
    }

    /// Whether a statement always leaves the function.
    fn exits(&self, id: StmtId) -> bool {
        match self.body.stmts.get(id as usize).map(|s| &s.kind) {
            Some(StmtKind::Return(_)) => true,
            Some(StmtKind::Block(ids)) => ids.last().is_some_and(|&l| self.exits(l)),
            _ => false,
        }
    }

    fn stmt(&mut self, id: StmtId, depth: usize) {
        if depth > MAX_NESTING {
            return;
        }
        let body = self.body;
        let Some(stmt) = body.stmts.get(id as usize) else {
            return;
        };
        match &stmt.kind {
            StmtKind::Block(ids) => {
                let n = self.stack.len();
                for &c in ids {
                    self.stmt(c, depth + 1);
                    // After `if (test) return ...;` the rest of the block runs only when !test.
                    if let Some(StmtKind::If {
                        cond,
                        then,
                        otherwise: None,
                    }) = body.stmts.get(c as usize).map(|s| &s.kind)
                    {
                        if self.exits(*then) {
                            let g = self.guard(&cond.value, false);
                            self.stack.extend(g);
                        }
                    }
                }
                self.stack.truncate(n);
            }
            StmtKind::Expr(e) | StmtKind::Return(Some(e)) => self.mark(e),
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.mark(cond);
                let g = self.guard(&cond.value, true);
                self.with(g, *then, depth);
                if let Some(o) = otherwise {
                    let g = self.guard(&cond.value, false);
                    self.with(g, *o, depth);
                }
            }
            StmtKind::Switch { cond, body } => {
                self.mark(cond);
                self.stmt(*body, depth + 1);
            }
            StmtKind::Case { body, .. } => {
                for &c in body {
                    self.stmt(c, depth + 1);
                }
            }
            StmtKind::While { cond, body } => {
                self.mark(cond);
                let g = self.guard(&cond.value, true);
                self.with(g, *body, depth);
            }
            StmtKind::DoWhile { body, cond } => {
                self.stmt(*body, depth + 1);
                self.mark(cond);
            }
            StmtKind::For {
                init,
                cond,
                update,
                body,
            } => {
                if let Some(e) = init {
                    self.mark(e);
                }
                let g = cond.as_ref().and_then(|c| {
                    self.mark(c);
                    self.guard(&c.value, true)
                });
                self.with(g, *body, depth);
                if let Some(e) = update {
                    self.mark_under(g, e);
                }
            }
            StmtKind::Label { stmt: Some(s), .. } => self.stmt(*s, depth + 1),
            _ => {}
        }
    }

    fn mark_under(&mut self, g: Option<Guard>, e: &Expr) {
        let n = self.stack.len();
        self.stack.extend(g);
        self.mark(e);
        self.stack.truncate(n);
    }
}
