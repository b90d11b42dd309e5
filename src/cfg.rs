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
    /// Per `switch` node (an `Eval` of its condition), the label of each successor in order:
    /// the case's constant as written, `None` for `default` and for skipping every case.
    pub switch_labels: HashMap<NodeId, Vec<Option<&'b str>>>,
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
    switch_labels: HashMap<NodeId, Vec<Option<&'b str>>>,
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
            switch_labels: HashMap::new(),
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
        Cfg {
            nodes: b.nodes,
            switch_labels: b.switch_labels,
        }
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
                cases.extend((!has_default).then_some((next, None)));
                self.nodes[n].succ = cases.iter().map(|&(to, _)| to).collect();
                let labels = cases.into_iter().map(|(_, label)| label).collect();
                self.switch_labels.insert(n, labels);
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
    fn case_entries(
        &self,
        id: StmtId,
        out: &mut Vec<(NodeId, Option<&'b str>)>,
        has_default: &mut bool,
    ) {
        let body: &'b Body = self.body;
        match &body.stmt(id).kind {
            StmtKind::Block(items) => {
                for &s in items {
                    self.case_entries(s, out, has_default);
                }
            }
            StmtKind::Case { default, label, .. } => {
                *has_default |= *default;
                let label = label.as_deref();
                out.extend(self.case_start.get(&id).map(|&n| (n, label)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Event, FileFacts};
    use crate::scan::testing::lower;

    /// The node that evaluates (or tests) the call of `callee`.
    fn at(cfg: &Cfg, facts: &FileFacts, callee: &str) -> NodeId {
        let calls = |e: &Expr| {
            e.events
                .iter()
                .any(|ev| matches!(ev, Event::Call(c) if facts.calls[*c as usize].callee == callee))
        };
        cfg.nodes
            .iter()
            .position(|n| match n.op {
                Op::Eval(e) | Op::Branch(e) | Op::Return(Some(e)) => calls(e),
                _ => false,
            })
            .unwrap_or_else(|| panic!("no node calls {callee}"))
    }

    /// Follows single-successor nodes without an expression (`Nop`) from `id`.
    fn skip_nops(cfg: &Cfg, mut id: NodeId) -> NodeId {
        while matches!(cfg.node(id).op, Op::Nop) && cfg.node(id).succ.len() == 1 && id > EXIT {
            id = cfg.node(id).succ[0];
        }
        id
    }

    fn is_return(cfg: &Cfg, id: NodeId) -> bool {
        matches!(cfg.node(id).op, Op::Return(_))
    }

    #[test]
    fn an_empty_body_goes_straight_to_the_exit() {
        let body = crate::facts::Body::default();
        let cfg = Cfg::build(&body);
        assert_eq!(cfg.nodes.len(), 2);
        assert_eq!(cfg.node(ENTRY).succ, vec![EXIT]);
        assert!(cfg.node(EXIT).succ.is_empty());
    }

    #[test]
    fn statements_in_order_and_falling_off_the_end() {
        let src = "void f(void)\n{\n\ta();\n\tb();\n}\n";
        let facts = lower(src);
        let cfg = Cfg::build(&facts.functions[0].body);
        let (a, b) = (at(&cfg, &facts, "a"), at(&cfg, &facts, "b"));
        assert_eq!(cfg.node(ENTRY).succ, vec![a]);
        assert_eq!(cfg.node(a).succ, vec![b]);
        let end = cfg.node(b).succ[0];
        // The implicit return sits on the closing brace and leads to the exit.
        assert!(matches!(cfg.node(end).op, Op::Return(None)));
        assert_eq!(cfg.node(end).succ, vec![EXIT]);
        assert_eq!(cfg.node(end).span.start as usize, src.rfind('}').unwrap());
    }

    #[test]
    fn branches_go_true_then_false() {
        let facts =
            lower("int f(int x)\n{\n\tif (t())\n\t\ty();\n\telse\n\t\tn();\n\treturn z();\n}\n");
        let cfg = Cfg::build(&facts.functions[0].body);
        let test = at(&cfg, &facts, "t");
        assert!(matches!(cfg.node(test).op, Op::Branch(_)));
        let (yes, no, ret) = (
            at(&cfg, &facts, "y"),
            at(&cfg, &facts, "n"),
            at(&cfg, &facts, "z"),
        );
        assert_eq!(cfg.node(test).succ, vec![yes, no]);
        assert_eq!(cfg.node(yes).succ, vec![ret]);
        assert_eq!(cfg.node(no).succ, vec![ret]);
        assert!(is_return(&cfg, ret));
        assert_eq!(cfg.node(ret).succ, vec![EXIT]);
        // Without an else, the false edge goes to the next statement.
        let facts = lower("int f(int x)\n{\n\tif (t())\n\t\ty();\n\treturn z();\n}\n");
        let cfg = Cfg::build(&facts.functions[0].body);
        let (test, yes, ret) = (
            at(&cfg, &facts, "t"),
            at(&cfg, &facts, "y"),
            at(&cfg, &facts, "z"),
        );
        assert_eq!(cfg.node(test).succ, vec![yes, ret]);
    }

    #[test]
    fn loops_break_and_continue() {
        let facts = lower(
            "void f(void)\n{\n\twhile (w()) {\n\t\tif (b())\n\t\t\tbreak;\n\t\tif (c())\n\t\t\tcontinue;\n\t\tbody();\n\t}\n\tafter();\n}\n",
        );
        let cfg = Cfg::build(&facts.functions[0].body);
        let head = at(&cfg, &facts, "w");
        let (b, c, body, after) = (
            at(&cfg, &facts, "b"),
            at(&cfg, &facts, "c"),
            at(&cfg, &facts, "body"),
            at(&cfg, &facts, "after"),
        );
        assert_eq!(cfg.node(head).succ, vec![b, after]);
        // `break` leaves the loop, `continue` goes back to the test, the body loops back.
        assert_eq!(cfg.node(b).succ, vec![after, c]);
        assert_eq!(cfg.node(c).succ, vec![head, body]);
        assert_eq!(cfg.node(body).succ, vec![head]);
    }

    #[test]
    fn for_and_do_while() {
        let facts = lower("void f(void)\n{\n\tint i;\n\tfor (i = init(); cond(); step())\n\t\tbody();\n\tdo\n\t\tonce();\n\twhile (again());\n}\n");
        let cfg = Cfg::build(&facts.functions[0].body);
        let (init, cond, step, body) = (
            at(&cfg, &facts, "init"),
            at(&cfg, &facts, "cond"),
            at(&cfg, &facts, "step"),
            at(&cfg, &facts, "body"),
        );
        let (once, again) = (at(&cfg, &facts, "once"), at(&cfg, &facts, "again"));
        assert_eq!(cfg.node(ENTRY).succ, vec![init]);
        assert_eq!(cfg.node(init).succ, vec![cond]);
        assert_eq!(cfg.node(cond).succ, vec![body, once]);
        assert_eq!(cfg.node(body).succ, vec![step]);
        assert_eq!(cfg.node(step).succ, vec![cond]);
        // The body of a do-while runs before its test, which loops back to it.
        assert_eq!(cfg.node(once).succ, vec![again]);
        assert_eq!(cfg.node(again).succ[0], once);
        assert!(is_return(&cfg, cfg.node(again).succ[1]));
    }

    #[test]
    fn gotos_reach_their_label_or_the_exit() {
        let facts = lower("int f(void)\n{\n\tif (t())\n\t\tgoto out;\n\tif (u())\n\t\tgoto lost;\n\tmid();\nout:\n\treturn done();\n}\n");
        let cfg = Cfg::build(&facts.functions[0].body);
        let (t, u, done) = (
            at(&cfg, &facts, "t"),
            at(&cfg, &facts, "u"),
            at(&cfg, &facts, "done"),
        );
        assert_eq!(skip_nops(&cfg, cfg.node(t).succ[0]), done);
        // A label the function does not have: the exit.
        let lost = cfg.node(u).succ[0];
        assert_eq!(cfg.node(lost).succ, vec![EXIT]);
        assert_eq!(
            skip_nops(&cfg, cfg.node(u).succ[1]),
            at(&cfg, &facts, "mid")
        );
    }

    #[test]
    fn switch_enters_each_case_and_skips_them_without_default() {
        let src = |default: &str| {
            format!(
                "void f(int x)\n{{\n\tswitch (sel()) {{\n\tcase 1:\n\t\tone();\n\tcase 2:\n\t\ttwo();\n\t\tbreak;\n{default}\t}}\n\tafter();\n}}\n"
            )
        };
        let facts = lower(&src(""));
        let cfg = Cfg::build(&facts.functions[0].body);
        let (sel, one, two, after) = (
            at(&cfg, &facts, "sel"),
            at(&cfg, &facts, "one"),
            at(&cfg, &facts, "two"),
            at(&cfg, &facts, "after"),
        );
        let entered: Vec<NodeId> = cfg
            .node(sel)
            .succ
            .iter()
            .map(|&s| skip_nops(&cfg, s))
            .collect();
        assert_eq!(entered, vec![one, two, after]);
        // Case 1 falls through into case 2; break leaves the switch.
        assert_eq!(skip_nops(&cfg, cfg.node(one).succ[0]), two);
        assert_eq!(cfg.node(two).succ, vec![after]);

        let facts = lower(&src("\tdefault:\n\t\tother();\n"));
        let cfg = Cfg::build(&facts.functions[0].body);
        let (sel, other) = (at(&cfg, &facts, "sel"), at(&cfg, &facts, "other"));
        let entered: Vec<NodeId> = cfg
            .node(sel)
            .succ
            .iter()
            .map(|&s| skip_nops(&cfg, s))
            .collect();
        assert_eq!(entered.len(), 3);
        assert_eq!(entered[2], other);
        assert!(!entered.contains(&at(&cfg, &facts, "after")));
    }
}
