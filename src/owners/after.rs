//! What a routine runs after one of its calls: whether every path returns at once (the call's
//! statement is followed only by `break`s, labels, statements that call nothing (`ret = 0;`)
//! and a `return` of a value that calls nothing), or more of the routine's code runs.
//!
//! Read on the statement tree, not a control-flow graph: the next statement of a block, the
//! end of an `if` or a `switch`, a `break` to the end of its `switch`, a `goto` to its label.
//! A loop around the call runs its condition again: more code. Each path is followed at most
//! [`MAX_STEPS`] statements; past that the answer is "not known".

use crate::facts::{Body, Event, Expr, Span, StmtId, StmtKind};

/// Statements followed from the call before giving up.
const MAX_STEPS: usize = 256;

/// What runs after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Every path returns with nothing else to compute.
    Returns,
    /// More of the routine's code runs: the first such statement.
    Code(Span),
}

/// What runs after call `call` of the routine whose body is `body`; `None` when the call is
/// not in the body or the walk gave up.
pub fn after_call(body: &Body, call: u32) -> Option<After> {
    if body.is_empty() {
        return None;
    }
    let parents = parents(body);
    let (at, expr) = (body.stmts.iter().enumerate()).find_map(|(i, s)| {
        s.kind
            .own_exprs()
            .find(|e| e.events.contains(&Event::Call(call)))
            .map(|e| (i as StmtId, e))
    })?;
    let stmt = body.stmt(at);
    // More calls later in the same expression, or a test whose branches follow.
    let pos = expr.events.iter().position(|e| *e == Event::Call(call))?;
    let later_calls = (expr.events[pos + 1..].iter()).any(|e| matches!(e, Event::Call(_)));
    match &stmt.kind {
        _ if later_calls => Some(After::Code(stmt.span)),
        StmtKind::Expr(_) | StmtKind::Declare(_) => Walk::new(body, &parents).next(at),
        StmtKind::Return(_) => Some(After::Returns),
        _ => Some(After::Code(stmt.span)),
    }
}

fn calls(e: &Expr) -> bool {
    e.events.iter().any(|e| matches!(e, Event::Call(_)))
}

fn parents(body: &Body) -> Vec<Option<StmtId>> {
    let mut parents = vec![None; body.stmts.len()];
    for (i, s) in body.stmts.iter().enumerate() {
        for c in s.kind.children() {
            if let Some(p) = parents.get_mut(c as usize) {
                *p = Some(i as StmtId);
            }
        }
    }
    parents
}

struct Walk<'a> {
    body: &'a Body,
    parents: &'a [Option<StmtId>],
    steps: usize,
}

impl<'a> Walk<'a> {
    fn new(body: &'a Body, parents: &'a [Option<StmtId>]) -> Self {
        Walk {
            body,
            parents,
            steps: 0,
        }
    }

    fn parent(&self, s: StmtId) -> Option<StmtId> {
        self.parents.get(s as usize).copied().flatten()
    }

    /// What runs once statement `s` is done.
    fn next(&mut self, mut s: StmtId) -> Option<After> {
        loop {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return None;
            }
            let Some(p) = self.parent(s) else {
                // The end of the routine's body.
                return Some(After::Returns);
            };
            let parent = self.body.stmt(p);
            match &parent.kind {
                StmtKind::Block(list) | StmtKind::Case { body: list, .. } => {
                    if let Some(&n) = list.iter().skip_while(|&&c| c != s).nth(1) {
                        return self.enter(n);
                    }
                }
                // The loop tests its condition again.
                StmtKind::While { .. } | StmtKind::DoWhile { .. } | StmtKind::For { .. } => {
                    return Some(After::Code(parent.span));
                }
                _ => {}
            }
            s = p;
        }
    }

    /// What runs when statement `s` is the next to run.
    fn enter(&mut self, s: StmtId) -> Option<After> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return None;
        }
        let stmt = self.body.stmt(s);
        match &stmt.kind {
            StmtKind::Return(None) => Some(After::Returns),
            StmtKind::Return(Some(e)) => Some(if calls(e) {
                After::Code(stmt.span)
            } else {
                After::Returns
            }),
            StmtKind::Block(list) | StmtKind::Case { body: list, .. } => match list.first() {
                Some(&first) => self.enter(first),
                None => self.next(s),
            },
            StmtKind::Label {
                stmt: Some(inner), ..
            } => self.enter(*inner),
            StmtKind::Label { stmt: None, .. } | StmtKind::Decl | StmtKind::Other => self.next(s),
            // A statement that calls nothing (`ret = 0;`) only readies the return.
            StmtKind::Expr(e) | StmtKind::Declare(e) if !calls(e) => self.next(s),
            StmtKind::Break => {
                let mut up = self.parent(s);
                while let Some(a) = up {
                    match self.body.stmt(a).kind {
                        StmtKind::Switch { .. }
                        | StmtKind::While { .. }
                        | StmtKind::DoWhile { .. }
                        | StmtKind::For { .. } => return self.next(a),
                        _ => up = self.parent(a),
                    }
                }
                None
            }
            StmtKind::Goto(name) => {
                let label = self.body.stmts.iter().position(
                    |t| matches!(&t.kind, StmtKind::Label { name: n, .. } if n == name),
                )?;
                self.enter(label as StmtId)
            }
            _ => Some(After::Code(stmt.span)),
        }
    }
}

/// A put followed at once by a return: `put(..); return X;` as two statements of one block,
/// the put a statement of its own and the return calling nothing. The spans of both, for a
/// fix that ends a thread in one step instead.
pub fn put_then_return(body: &Body, call: u32) -> Option<(Span, Span)> {
    let parents = parents(body);
    let at = body
        .stmts
        .iter()
        .position(|s| matches!(&s.kind, StmtKind::Expr(e) if e.events == [Event::Call(call)]))?
        as StmtId;
    let StmtKind::Block(list) = &body.stmt(parents.get(at as usize).copied().flatten()?).kind
    else {
        return None;
    };
    let &next = list.iter().skip_while(|&&c| c != at).nth(1)?;
    let ret = body.stmt(next);
    match &ret.kind {
        StmtKind::Return(e) if !e.as_ref().is_some_and(calls) => {
            Some((body.stmt(at).span, ret.span))
        }
        _ => None,
    }
}
