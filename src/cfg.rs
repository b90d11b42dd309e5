//! Control-flow graphs of function bodies, built on demand from the statement tree in the facts.
//!
//! Each node does one thing: evaluate an expression, branch on a condition, or return.
//! Branch edges say which way the condition went, so a path analysis can refine what it
//! knows (`if (err) goto fail;` means `err != 0` under `fail:`).

use std::collections::HashMap;

use crate::facts::{Body, Expr, Span, StmtId, StmtKind};

pub type NodeId = usize;

pub const ENTRY: NodeId = 0;
pub const EXIT: NodeId = 1;

#[derive(Debug)]
pub enum Op<'b> {
    Nop,
    /// Evaluate an expression (calls, assignments) and go on.
    Eval(&'b Expr),
    /// Evaluate a condition; the successors are (true, false).
    Branch(&'b Expr),
    /// Evaluate the returned value, if any, and leave the function.
    Return(Option<&'b Expr>),
}

#[derive(Debug)]
pub struct Node<'b> {
    pub op: Op<'b>,
    pub span: Span,
    /// Successors; for a branch, `[when true, when false]`.
    pub succ: Vec<NodeId>,
}

#[derive(Debug)]
pub struct Cfg<'b> {
    pub nodes: Vec<Node<'b>>,
}

struct Builder<'b> {
    body: &'b Body,
    nodes: Vec<Node<'b>>,
    labels: HashMap<&'b str, NodeId>,
    /// Gotos to patch once all labels are known: (node, label).
    gotos: Vec<(NodeId, &'b str)>,
    /// Where `break` and `continue` go.
    break_to: Vec<NodeId>,
    continue_to: Vec<NodeId>,
    /// The node each `case` label starts at.
    case_start: HashMap<StmtId, NodeId>,
}

impl<'b> Cfg<'b> {
    pub fn build(body: &'b Body) -> Cfg<'b> {
        let mut b = Builder {
            body,
            nodes: Vec::new(),
            labels: HashMap::new(),
            gotos: Vec::new(),
            break_to: Vec::new(),
            continue_to: Vec::new(),
            case_start: HashMap::new(),
        };
        b.add(Op::Nop, Span::default());
        b.add(Op::Nop, Span::default());
        if !body.is_empty() {
            // Falling off the end returns nothing.
            let end = b.add(Op::Return(None), Span::default());
            b.nodes[end].succ.push(EXIT);
            let first = b.stmt(0, end);
            b.nodes[ENTRY].succ.push(first);
            if let Some(Some(close)) = body.stmts.first().map(|s| closing_brace(s.span)) {
                b.nodes[end].span = close;
            }
        } else {
            b.nodes[ENTRY].succ.push(EXIT);
        }
        for (node, label) in std::mem::take(&mut b.gotos) {
            // A goto to a label the parser lost goes nowhere we know: treat it as the exit.
            let to = b.labels.get(label).copied().unwrap_or(EXIT);
            b.nodes[node].succ.push(to);
        }
        Cfg { nodes: b.nodes }
    }

    pub fn node(&self, id: NodeId) -> &Node<'b> {
        &self.nodes[id]
    }
}

/// The position of the closing brace of a body: the last byte of its span.
fn closing_brace(span: Span) -> Option<Span> {
    (span.end > span.start).then_some(Span {
        start: span.end - 1,
        end: span.end,
        line: 0,
        column: 0,
    })
}

impl<'b> Builder<'b> {
    fn add(&mut self, op: Op<'b>, span: Span) -> NodeId {
        self.nodes.push(Node {
            op,
            span,
            succ: Vec::new(),
        });
        self.nodes.len() - 1
    }

    fn link(&mut self, from: NodeId, to: NodeId) -> NodeId {
        self.nodes[from].succ.push(to);
        from
    }

    /// Builds the nodes of a statement that continues at `next`; returns its first node.
    fn stmt(&mut self, id: StmtId, next: NodeId) -> NodeId {
        let stmt = self.body.stmt(id);
        let span = stmt.span;
        match &stmt.kind {
            StmtKind::Block(items) => self.seq(items, next),
            StmtKind::Expr(e) | StmtKind::Declare(e) => {
                let n = self.add(Op::Eval(e), span);
                self.link(n, next)
            }
            StmtKind::Decl | StmtKind::Other => next,
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                let t = self.stmt(*then, next);
                let f = match otherwise {
                    Some(o) => self.stmt(*o, next),
                    None => next,
                };
                let n = self.add(Op::Branch(cond), span);
                self.nodes[n].succ = vec![t, f];
                n
            }
            StmtKind::While { cond, body } => {
                let head = self.add(Op::Branch(cond), span);
                self.break_to.push(next);
                self.continue_to.push(head);
                let first = self.stmt(*body, head);
                self.break_to.pop();
                self.continue_to.pop();
                self.nodes[head].succ = vec![first, next];
                head
            }
            StmtKind::DoWhile { body, cond } => {
                let test = self.add(Op::Branch(cond), span);
                self.break_to.push(next);
                self.continue_to.push(test);
                let first = self.stmt(*body, test);
                self.break_to.pop();
                self.continue_to.pop();
                self.nodes[test].succ = vec![first, next];
                first
            }
            StmtKind::For {
                init,
                cond,
                update,
                body,
            } => {
                let head = match cond {
                    Some(c) => self.add(Op::Branch(c), span),
                    None => self.add(Op::Nop, span),
                };
                let step = match update {
                    Some(u) => {
                        let n = self.add(Op::Eval(u), span);
                        self.link(n, head)
                    }
                    None => head,
                };
                self.break_to.push(next);
                self.continue_to.push(step);
                let first = self.stmt(*body, step);
                self.break_to.pop();
                self.continue_to.pop();
                self.nodes[head].succ = if cond.is_some() {
                    vec![first, next]
                } else {
                    vec![first]
                };
                match init {
                    Some(i) => {
                        let n = self.add(Op::Eval(i), span);
                        self.link(n, head)
                    }
                    None => head,
                }
            }
            StmtKind::Switch { cond, body } => {
                let n = self.add(Op::Eval(cond), span);
                self.break_to.push(next);
                self.stmt(*body, next);
                self.break_to.pop();
                // The cases are entered from the switch node; without a default the switch
                // may also skip them all.
                let mut cases = Vec::new();
                let mut has_default = false;
                self.case_entries(*body, &mut cases, &mut has_default);
                cases.extend((!has_default).then_some(next));
                self.nodes[n].succ = cases;
                n
            }
            StmtKind::Case { body, .. } => {
                // Reached by falling through from the previous case, or from the switch.
                let first = self.seq(body, next);
                let n = self.add(Op::Nop, span);
                self.link(n, first);
                self.case_start.insert(id, n);
                n
            }
            StmtKind::Return(e) => {
                let n = self.add(Op::Return(e.as_ref()), span);
                self.link(n, EXIT)
            }
            StmtKind::Break => match self.break_to.last() {
                Some(&to) => to,
                None => next,
            },
            StmtKind::Continue => match self.continue_to.last() {
                Some(&to) => to,
                None => next,
            },
            StmtKind::Goto(label) => {
                let n = self.add(Op::Nop, span);
                self.gotos.push((n, label.as_str()));
                n
            }
            StmtKind::Label { name, stmt } => {
                let first = match stmt {
                    Some(s) => self.stmt(*s, next),
                    None => next,
                };
                let n = self.add(Op::Nop, span);
                self.link(n, first);
                self.labels.insert(name.as_str(), n);
                n
            }
        }
    }

    /// The entry nodes of the cases of a switch body, not those of nested switches.
    fn case_entries(&self, id: StmtId, out: &mut Vec<NodeId>, has_default: &mut bool) {
        match &self.body.stmt(id).kind {
            StmtKind::Block(items) => {
                for &s in items {
                    self.case_entries(s, out, has_default);
                }
            }
            StmtKind::Case { default, .. } => {
                *has_default |= *default;
                out.extend(self.case_start.get(&id).copied());
            }
            StmtKind::Label { stmt: Some(s), .. } => self.case_entries(*s, out, has_default),
            _ => {}
        }
    }

    /// A sequence of statements; returns the first node. Built back to front so each
    /// statement knows where it continues.
    fn seq(&mut self, items: &[StmtId], next: NodeId) -> NodeId {
        let mut at = next;
        for &s in items.iter().rev() {
            at = self.stmt(s, at);
        }
        at
    }
}
