//! Parameter tests that guard calls: `if (!creat) return NULL; ... kmalloc(...)` runs the
//! allocation only when `creat` is nonzero. Computed from the parse tree of every function,
//! whatever the body policy, so that the may-sleep analysis can drop a chain for a caller that
//! passes 0.
//!
//! A call gets the guard of the innermost test of a parameter around it: the condition of an
//! `if` (its then or else branch), `while` or `for`, or an earlier `if (test) return ...;` in an
//! enclosing block. Tests understood: `p`, `!p`, `p == 0`, `p != NULL` (either side), and a
//! conjunct of `&&` (a disjunct of `||` when negated). A function with labels gets no guards (a
//! `goto` can enter a block past its test), and a parameter the body assigns, increments or
//! takes the address of guards nothing.

use serde::Serialize;
use tree_sitter::{Node, TreeCursor};

use super::kinds;

/// A necessary condition for reaching a call: parameter `param` (0-based) is nonzero, or zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CallGuard {
    pub param: u8,
    pub nonzero: bool,
}

/// What one function's body says: the guard of each call (by the call's start position,
/// 1-based line and column) and which parameters it assigns.
#[derive(Debug, Default)]
pub struct Guards {
    pub calls: Vec<((u32, u32), CallGuard)>,
    pub assigned: Vec<u8>,
}

pub fn function_guards(
    body: Node,
    code: &[u8],
    params: &[Option<String>],
    max_depth: usize,
) -> Guards {
    let mut w = Walk {
        code,
        params,
        max_depth,
        cursors: Vec::new(),
        stack: Vec::new(),
        calls: Vec::new(),
        assigned: Vec::new(),
        has_label: false,
    };
    w.walk(body, 0);
    let mut out = Guards::default();
    let mut assigned: Vec<u8> = w
        .assigned
        .iter()
        .filter_map(|n| params.iter().position(|p| p.as_deref() == Some(n.as_str())))
        .filter_map(|k| u8::try_from(k).ok())
        .collect();
    assigned.sort_unstable();
    assigned.dedup();
    if !w.has_label {
        out.calls = w
            .calls
            .into_iter()
            .filter(|(_, g)| !assigned.contains(&g.param))
            .collect();
    }
    out.assigned = assigned;
    out
}

struct Walk<'c, 't> {
    code: &'c [u8],
    params: &'c [Option<String>],
    max_depth: usize,
    cursors: Vec<TreeCursor<'t>>,
    stack: Vec<CallGuard>,
    calls: Vec<((u32, u32), CallGuard)>,
    assigned: Vec<String>,
    has_label: bool,
}

impl<'t> Walk<'_, 't> {
    fn text(&self, node: Node) -> &str {
        std::str::from_utf8(&self.code[node.start_byte()..node.end_byte()]).unwrap_or("")
    }

    fn param(&self, node: Node) -> Option<u8> {
        if node.kind_id() != kinds().identifier {
            return None;
        }
        let name = self.text(node);
        let k = self
            .params
            .iter()
            .position(|p| p.as_deref() == Some(name))?;
        u8::try_from(k).ok()
    }

    /// The guard that holds where `cond` is true (`positive`) or false.
    fn guard(&self, cond: Node, positive: bool) -> Option<CallGuard> {
        let k = kinds();
        match cond.kind_id() {
            id if id == k.parenthesized_expression => {
                let inner = cond.named_child(0)?;
                self.guard(inner, positive)
            }
            id if id == k.identifier => self.param(cond).map(|param| CallGuard {
                param,
                nonzero: positive,
            }),
            id if id == k.unary_expression => {
                let op = cond.child_by_field_name("operator")?;
                if self.text(op) != "!" {
                    return None;
                }
                self.guard(cond.child_by_field_name("argument")?, !positive)
            }
            id if id == k.binary_expression => {
                let op = self.text(cond.child_by_field_name("operator")?);
                let left = cond.child_by_field_name("left")?;
                let right = cond.child_by_field_name("right")?;
                match op {
                    "&&" if positive => self.guard(left, true).or_else(|| self.guard(right, true)),
                    "||" if !positive => {
                        self.guard(left, false).or_else(|| self.guard(right, false))
                    }
                    "==" | "!=" => {
                        let zero = |n: Node| {
                            matches!(self.text(n), "0" | "NULL" | "0L" | "0UL")
                                || n.kind_id() == k.null
                        };
                        let param = match (self.param(left), self.param(right)) {
                            (Some(k), None) if zero(right) => k,
                            (None, Some(k)) if zero(left) => k,
                            _ => return None,
                        };
                        Some(CallGuard {
                            param,
                            nonzero: (op == "!=") == positive,
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Whether a statement always leaves the function.
    fn exits(&self, node: Node) -> bool {
        let k = kinds();
        match node.kind_id() {
            id if id == k.return_statement => true,
            id if id == k.compound_statement => {
                let mut last = None;
                let mut c = node.walk();
                for ch in node.named_children(&mut c) {
                    if ch.kind_id() != k.comment {
                        last = Some(ch);
                    }
                }
                last.is_some_and(|l| self.exits(l))
            }
            _ => false,
        }
    }

    fn under(&mut self, g: Option<CallGuard>, node: Option<Node<'t>>, depth: usize) {
        let Some(node) = node else { return };
        let n = self.stack.len();
        self.stack.extend(g);
        self.walk(node, depth + 1);
        self.stack.truncate(n);
    }

    fn walk(&mut self, node: Node<'t>, depth: usize) {
        if depth > self.max_depth {
            return;
        }
        let k = kinds();
        match node.kind_id() {
            id if id == k.if_statement => {
                let cond = node.child_by_field_name("condition");
                if let Some(c) = cond {
                    self.walk(c, depth + 1);
                }
                let yes = cond.and_then(|c| self.guard(c, true));
                let no = cond.and_then(|c| self.guard(c, false));
                self.under(yes, node.child_by_field_name("consequence"), depth);
                self.under(no, node.child_by_field_name("alternative"), depth);
                return;
            }
            id if id == k.while_statement || id == k.for_statement => {
                let cond = node.child_by_field_name("condition");
                if let Some(init) = node.child_by_field_name("initializer") {
                    self.walk(init, depth + 1);
                }
                if let Some(c) = cond {
                    self.walk(c, depth + 1);
                }
                let g = cond.and_then(|c| self.guard(c, true));
                self.under(g, node.child_by_field_name("body"), depth);
                self.under(g, node.child_by_field_name("update"), depth);
                return;
            }
            id if id == k.compound_statement => {
                let n = self.stack.len();
                self.children(node, depth, true);
                self.stack.truncate(n);
                return;
            }
            id if id == k.call_expression => {
                if let Some(&g) = self.stack.last() {
                    let p = node.start_position();
                    self.calls
                        .push(((p.row as u32 + 1, p.column as u32 + 1), g));
                }
            }
            id if id == k.labeled_statement => self.has_label = true,
            id if id == k.assignment_expression => {
                if let Some(l) = node.child_by_field_name("left") {
                    self.note_assigned(l);
                }
            }
            id if id == k.update_expression => {
                if let Some(a) = node.child_by_field_name("argument") {
                    self.note_assigned(a);
                }
            }
            id if id == k.pointer_expression => {
                let takes_address = node
                    .child_by_field_name("operator")
                    .is_some_and(|o| self.text(o) == "&");
                if let (true, Some(a)) = (takes_address, node.child_by_field_name("argument")) {
                    self.note_assigned(a);
                }
            }
            _ => {}
        }
        self.children(node, depth, false);
    }

    fn note_assigned(&mut self, node: Node) {
        let mut n = node;
        while n.kind_id() == kinds().parenthesized_expression {
            match n.named_child(0) {
                Some(inner) => n = inner,
                None => return,
            }
        }
        if n.kind_id() == kinds().identifier {
            let name = self.text(n).to_string();
            self.assigned.push(name);
        }
    }

    /// Walks the named children; in a block, `if (test) return ...;` guards the statements after it.
    fn children(&mut self, node: Node<'t>, depth: usize, block: bool) {
        let mut cursor = match self.cursors.pop() {
            Some(mut c) => {
                c.reset(node);
                c
            }
            None => node.walk(),
        };
        if cursor.goto_first_child() {
            loop {
                let child = cursor.node();
                if child.is_named() {
                    self.walk(child, depth + 1);
                    if block && child.kind_id() == kinds().if_statement {
                        let early_return = child.child_by_field_name("alternative").is_none()
                            && child
                                .child_by_field_name("consequence")
                                .is_some_and(|c| self.exits(c));
                        if early_return {
                            let g = child
                                .child_by_field_name("condition")
                                .and_then(|c| self.guard(c, false));
                            self.stack.extend(g);
                        }
                    }
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        self.cursors.push(cursor);
    }
}

#[cfg(test)]
mod tests {
    use crate::facts::extract;
    use crate::kb::Kb;
    use crate::normalize::Normalizer;

    fn guards_of(src: &str) -> Vec<(String, Option<(u8, bool)>)> {
        let normalizer = Normalizer::new(&Kb::builtin().data, &[], &[]);
        let f = extract("t.c", src.as_bytes(), &normalizer);
        f.calls
            .iter()
            .map(|c| (c.callee.clone(), c.guard.map(|g| (g.param, g.nonzero))))
            .collect()
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
