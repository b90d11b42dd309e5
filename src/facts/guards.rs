//! Parameter tests that guard calls: `if (!creat) return NULL; ... kmalloc(...)` runs the
//! allocation only when `creat` is nonzero. Read off the statement tree of a function, so that
//! the may-sleep analysis can drop a chain for a caller that passes 0.
//!
//! A call gets the guard of the innermost test of a parameter around it: the condition of an
//! `if` (its then or else branch), `while` or `for`, or an earlier `if (test) return ...;` in an
//! enclosing block. Tests understood: `p`, `!p`, `p == 0`, `p != NULL` (either side), a
//! conjunct of `&&` (a disjunct of `||` when negated), and flag-bit tests of a parameter
//! against a constant (`flags & EXTRACT_USER`, `!(flags & 4)`, `(flags & F) == 0`): the
//! constant is kept as written (`FileFacts::guard_bits`) and the may-sleep analysis values it
//! from the tree's `#define`s. A function with labels gets no guards (a
//! `goto` can enter a block past its test), and a parameter the body assigns, increments or
//! takes the address of guards nothing.

use serde::Serialize;

use super::body::{Body, CmpOp, Expr, StmtId, StmtKind, Value};
use super::Event;

/// A necessary condition for reaching a call: parameter `param` (0-based) is nonzero, or zero.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct CallGuard {
    pub param: u8,
    pub nonzero: bool,
    /// A bit test when nonzero: `param & K` is nonzero (or zero), K being the file's
    /// `guard_bits[bits - 1]`. (Not an `Option`: calls are many, and this keeps them small.)
    pub bits: u16,
}

/// The guard of each guarded call of a body, by the call's index in the file's `calls`.
/// `params` are the function's parameter names; `assigned` the indices of those it changes.
/// The constants of bit tests go into `bits` (the file's `guard_bits`), each once.
pub fn body_guards(
    body: &Body,
    params: &[Option<super::Text>],
    assigned: &[u8],
    bits: &mut Vec<super::Text>,
) -> Vec<(u32, CallGuard)> {
    if body.is_empty() || params.is_empty() {
        return Vec::new();
    }
    let mut w = Walk {
        body,
        params,
        stack: Vec::new(),
        calls: Vec::new(),
        has_label: false,
        bits,
    };
    w.stmt(0);
    if w.has_label {
        return Vec::new();
    }
    w.calls.retain(|(_, g)| !assigned.contains(&g.param));
    w.calls
}

struct Walk<'b> {
    body: &'b Body,
    params: &'b [Option<super::Text>],
    stack: Vec<CallGuard>,
    calls: Vec<(u32, CallGuard)>,
    has_label: bool,
    bits: &'b mut Vec<super::Text>,
}

impl Walk<'_> {
    fn param(&self, name: &str) -> Option<u8> {
        let k = self
            .params
            .iter()
            .position(|p| p.as_deref() == Some(name))?;
        u8::try_from(k).ok()
    }

    /// The guard that holds where `cond` is true (`positive`) or false.
    fn guard(&mut self, cond: &Value, positive: bool) -> Option<CallGuard> {
        match cond {
            Value::Var(name) => self.param(name).map(|param| CallGuard {
                param,
                nonzero: positive,
                bits: 0,
            }),
            Value::BitAnd(l, r) => self.bit_test(l, r, positive),
            Value::Not(inner) => self.guard(inner, !positive),
            Value::And(l, r) if positive => self.guard(l, true).or_else(|| self.guard(r, true)),
            Value::Or(l, r) if !positive => self.guard(l, false).or_else(|| self.guard(r, false)),
            Value::Cmp(l, op @ (CmpOp::Eq | CmpOp::Ne), r) => {
                let zero = |v: &Value| matches!(v, Value::Int(0) | Value::Null);
                let tested = match (l.as_ref(), r.as_ref()) {
                    (t, z) | (z, t)
                        if zero(z) && matches!(t, Value::Var(_) | Value::BitAnd(..)) =>
                    {
                        t
                    }
                    _ => return None,
                };
                self.guard(tested, (*op == CmpOp::Ne) == positive)
            }
            _ => None,
        }
    }

    /// `p & K` (either side) with `K` a number or a name that is not a parameter.
    fn bit_test(&mut self, l: &Value, r: &Value, positive: bool) -> Option<CallGuard> {
        let constant = |v: &Value| match v {
            Value::Int(k) if *k > 0 => Some(super::Text::from(k.to_string())),
            Value::Var(n) if self.param(n).is_none() => Some(n.clone()),
            _ => None,
        };
        let (param, bits) = match (l, r) {
            (Value::Var(p), k) | (k, Value::Var(p)) if self.param(p).is_some() => {
                (self.param(p)?, constant(k)?)
            }
            _ => return None,
        };
        let at = match self.bits.iter().position(|b| *b == bits) {
            Some(i) => i,
            None => {
                self.bits.push(bits);
                self.bits.len() - 1
            }
        };
        Some(CallGuard {
            param,
            nonzero: positive,
            bits: u16::try_from(at + 1).ok()?,
        })
    }

    /// Whether a statement always leaves the function.
    fn exits(&self, id: StmtId) -> bool {
        match &self.body.stmt(id).kind {
            StmtKind::Return(_) => true,
            StmtKind::Block(ids) => ids.last().is_some_and(|&l| self.exits(l)),
            _ => false,
        }
    }

    fn expr(&mut self, e: Option<&Expr>) {
        let (Some(e), Some(&g)) = (e, self.stack.last()) else {
            return;
        };
        for ev in &e.events {
            if let Event::Call(c) = ev {
                self.calls.push((*c, g));
            }
        }
    }

    fn under(&mut self, g: Option<CallGuard>, id: Option<StmtId>) {
        let Some(id) = id else { return };
        let n = self.stack.len();
        self.stack.extend(g);
        self.stmt(id);
        self.stack.truncate(n);
    }

    fn stmt(&mut self, id: StmtId) {
        let body = self.body;
        match &body.stmt(id).kind {
            StmtKind::Block(ids) => {
                let n = self.stack.len();
                for &s in ids {
                    self.stmt(s);
                    // `if (test) return ...;` guards the rest of the block by the test's negation.
                    if let StmtKind::If {
                        cond,
                        then,
                        otherwise: None,
                    } = &body.stmt(s).kind
                    {
                        if self.exits(*then) {
                            let g = self.guard(&cond.value, false);
                            self.stack.extend(g);
                        }
                    }
                }
                self.stack.truncate(n);
            }
            StmtKind::Expr(e) | StmtKind::Declare(e) => self.expr(Some(e)),
            StmtKind::Return(e) => self.expr(e.as_ref()),
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(Some(cond));
                let yes = self.guard(&cond.value, true);
                let no = self.guard(&cond.value, false);
                self.under(yes, Some(*then));
                self.under(no, *otherwise);
            }
            StmtKind::While { cond, body: b } => {
                self.expr(Some(cond));
                let g = self.guard(&cond.value, true);
                self.under(g, Some(*b));
            }
            StmtKind::For {
                init,
                cond,
                update,
                body: b,
            } => {
                self.expr(init.as_deref());
                self.expr(cond.as_deref());
                let g = cond.as_ref().and_then(|c| self.guard(&c.value, true));
                self.under(g, Some(*b));
                let n = self.stack.len();
                self.stack.extend(g);
                self.expr(update.as_deref());
                self.stack.truncate(n);
            }
            StmtKind::DoWhile { body: b, cond } => {
                self.stmt(*b);
                self.expr(Some(cond));
            }
            StmtKind::Switch { cond, body: b } => {
                self.expr(Some(cond));
                self.stmt(*b);
            }
            StmtKind::Case { body: ids, .. } => {
                for &s in ids {
                    self.stmt(s);
                }
            }
            StmtKind::Label { stmt, .. } => {
                self.has_label = true;
                if let Some(s) = stmt {
                    self.stmt(*s);
                }
            }
            StmtKind::Decl
            | StmtKind::Break
            | StmtKind::Continue
            | StmtKind::Goto(_)
            | StmtKind::Other => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::facts::FrontEnd;
    use crate::facts::{extract_with, BodyPolicy};
    use crate::kb::Kb;

    fn guards_of(src: &str) -> Vec<(String, Option<(u8, bool)>)> {
        let front_end = FrontEnd::new(&Kb::builtin().data, &[], &[]);
        let f = extract_with("t.c", src.as_bytes(), &front_end, &BodyPolicy::All);
        f.calls
            .iter()
            .map(|c| (c.callee.to_string(), c.guard.map(|g| (g.param, g.nonzero))))
            .collect()
    }

    #[test]
    fn bit_tests_of_parameters_guard_calls() {
        let src = "int f(int n, int flags)\n{\n\tif ((flags & F_USER) && x) a();\n\
                   \tif (!(flags & 4)) b();\n\tif ((F_USER & flags) == 0) c();\n\
                   \tif (flags & n) d();\n\tif (flags & ~F_USER) e();\n\treturn 0;\n}\n";
        let front_end = FrontEnd::new(&Kb::builtin().data, &[], &[]);
        let f = extract_with("t.c", src.as_bytes(), &front_end, &BodyPolicy::All);
        let g: Vec<_> = f
            .calls
            .iter()
            .map(|c| {
                let g = c.guard.map(|g| {
                    let bits = (g.bits > 0).then(|| f.guard_bits[g.bits as usize - 1].to_string());
                    (g.param, g.nonzero, bits)
                });
                (c.callee.to_string(), g)
            })
            .collect();
        let bit = |k: &str, nonzero| Some((1, nonzero, Some(k.to_string())));
        assert_eq!(
            g,
            vec![
                ("a".into(), bit("F_USER", true)),
                ("b".into(), bit("4", false)),
                ("c".into(), bit("F_USER", false)),
                // Two parameters, or a constant that is no name or number: no guard.
                ("d".into(), None),
                ("e".into(), None),
            ]
        );
        assert_eq!(f.guard_bits.len(), 2, "each constant once");
    }

    #[test]
    fn tests_of_parameters_guard_calls() {
        let g = guards_of(
            "void *f(int key, int creat, void *p)\n{\n\tif (!creat)\n\t\treturn 0;\n\ta();\n\
             \tif (p == NULL) { b(); } else c();\n\twhile (key && x) d();\n\
             \tif (x || key) e();\n\tif (!(key || x)) g();\n}\n",
        );
        assert_eq!(
            g,
            vec![
                ("a".into(), Some((1, true))),
                ("b".into(), Some((2, false))),
                ("c".into(), Some((2, true))),
                ("d".into(), Some((0, true))),
                ("e".into(), Some((1, true))),
                ("g".into(), Some((0, false))),
            ]
        );
    }

    #[test]
    fn no_guard_when_assigned_or_labelled() {
        let g = guards_of("int f(int n)\n{\n\tn++;\n\tif (n) a();\n\treturn 0;\n}\n");
        assert_eq!(g, vec![("a".into(), None)]);
        let g = guards_of("int f(int n)\n{\n\tif (n) a();\nout:\n\treturn 0;\n}\n");
        assert_eq!(g, vec![("a".into(), None)]);
        let g = guards_of("int f(int n)\n{\n\tint *p = &n;\n\tif (n) a();\n\treturn 0;\n}\n");
        assert_eq!(g, vec![("a".into(), None)]);
        let g = guards_of("int f(int n)\n{\n\tif (n > 2) a();\n\treturn 0;\n}\n");
        assert_eq!(g, vec![("a".into(), None)]);
    }
}
