//! Function bodies as a small owned statement tree: what the path analyses need (control flow,
//! calls in evaluation order, assignments and tested values) and byte spans for patches.
//!
//! Control-flow graphs are built from this tree when a rule needs them, so facts stay compact
//! and a CFG is only made for the functions that are checked.

use std::num::NonZeroU16;

use serde::Serialize;

use super::kinds::fields;
use super::syntax::Node;
use super::{kids, Lower, Text};

mod lazy;
mod value;
pub use lazy::{codec, LazyBody};
pub use value::{CmpOp, Value};

pub type StmtId = u32;

/// Statements of one function; `stmts[0]` is the outermost block when the body is not empty.
#[derive(Debug, Clone, Default, Serialize, bincode::Encode, bincode::Decode)]
pub struct Body {
    pub stmts: Vec<Stmt>,
}

impl Body {
    pub fn is_empty(&self) -> bool {
        self.stmts.is_empty()
    }

    pub fn stmt(&self, id: StmtId) -> &Stmt {
        &self.stmts[id as usize]
    }

    /// Every expression of the body, in no particular order.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.stmts.iter().flat_map(|s| s.kind.own_exprs())
    }
}

/// Where a statement is in the original file: bytes (normalization keeps offsets) and its
/// first line and column, 1-based.
#[derive(
    Debug, Clone, Copy, Default, Serialize, bincode::Encode, bincode::Decode, PartialEq, Eq,
)]
pub struct Span {
    pub start: u32,
    pub end: u32,
    pub line: u32,
    pub column: u32,
}

impl Span {
    /// A position known only by its line and column (no byte range).
    pub fn at(line: u32, column: u32) -> Self {
        Span {
            line,
            column,
            ..Span::default()
        }
    }
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub enum StmtKind {
    Block(Vec<StmtId>),
    /// An expression statement.
    Expr(Expr),
    /// A declaration with initializers, as one expression.
    Declare(Expr),
    /// A declaration without anything to evaluate.
    Decl,
    If {
        cond: Expr,
        then: StmtId,
        otherwise: Option<StmtId>,
    },
    Switch {
        cond: Expr,
        body: StmtId,
    },
    /// A `case`/`default` label and the statements up to the next label.
    Case {
        default: bool,
        /// The label's constant as written (`SIOCSDONGLE`), `None` for `default`.
        #[bincode(with_serde)]
        label: Option<Text>,
        body: Vec<StmtId>,
    },
    While {
        cond: Expr,
        body: StmtId,
    },
    DoWhile {
        body: StmtId,
        cond: Expr,
    },
    /// Boxed parts keep every statement small: most statements are not loops.
    For {
        init: Option<Box<Expr>>,
        cond: Option<Box<Expr>>,
        update: Option<Box<Expr>>,
        body: StmtId,
    },
    Return(Option<Expr>),
    Break,
    Continue,
    Goto(#[bincode(with_serde)] Text),
    Label {
        #[bincode(with_serde)]
        name: Text,
        stmt: Option<StmtId>,
    },
    /// Empty statements, inline assembly, and parts the parser could not read.
    Other,
}

impl StmtKind {
    /// The expressions this statement evaluates itself (not those of the statements in it),
    /// in the order written; no allocation (the path analyses ask this of every statement).
    pub fn own_exprs(&self) -> impl Iterator<Item = &Expr> {
        let (a, b, c): (Option<&Expr>, Option<&Expr>, Option<&Expr>) = match self {
            StmtKind::Expr(e)
            | StmtKind::Declare(e)
            | StmtKind::If { cond: e, .. }
            | StmtKind::Switch { cond: e, .. }
            | StmtKind::While { cond: e, .. }
            | StmtKind::DoWhile { cond: e, .. } => (Some(e), None, None),
            StmtKind::Return(e) => (e.as_ref(), None, None),
            StmtKind::For {
                init, cond, update, ..
            } => (init.as_deref(), cond.as_deref(), update.as_deref()),
            _ => (None, None, None),
        };
        a.into_iter().chain(b).chain(c)
    }

    /// The statements this one contains directly.
    pub fn children(&self) -> Vec<StmtId> {
        match self {
            StmtKind::Block(list) | StmtKind::Case { body: list, .. } => list.clone(),
            StmtKind::If {
                then, otherwise, ..
            } => std::iter::once(*then).chain(*otherwise).collect(),
            StmtKind::Switch { body, .. }
            | StmtKind::While { body, .. }
            | StmtKind::DoWhile { body, .. }
            | StmtKind::For { body, .. } => vec![*body],
            StmtKind::Label { stmt, .. } => stmt.iter().copied().collect(),
            _ => Vec::new(),
        }
    }
}

/// An expression as the analyses see it.
#[derive(Debug, Clone, Default, Serialize, bincode::Encode, bincode::Decode)]
pub struct Expr {
    /// Calls (as indices into the file's `calls`) and bare macro names, in evaluation order.
    pub events: Vec<Event>,
    /// `var = value` for plain variables, including those inside conditions
    /// (`if ((err = f()) < 0)`), in evaluation order.
    pub assigns: Vec<Assign>,
    /// What the expression computes, as far as the analyses care.
    pub value: Value,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode, PartialEq, Eq)]
pub enum Event {
    Call(u32),
    /// A bare identifier used as a statement: `MOD_INC_USE_COUNT;`.
    Name(#[bincode(with_serde)] Text),
    /// `++` or `--` of what a field points to (`(*sd_template.usage_count)++`, 2.0's count
    /// through a template): the field as written without spaces, and whether it goes up.
    Bump {
        #[bincode(with_serde)]
        field: Text,
        up: bool,
    },
    /// `++` or `--` of a field itself (`port->gs.count++`): the field as written without
    /// spaces, and whether it goes up.
    Step {
        #[bincode(with_serde)]
        field: Text,
        up: bool,
    },
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct Assign {
    #[bincode(with_serde)]
    pub var: Text,
    pub value: Value,
}

impl<'t> Lower<'_, 't> {
    /// Lowers a statement and its children; returns its id in the current body.
    pub(super) fn stmt(&mut self, node: Node<'t>, depth: usize) -> StmtId {
        let id = self.body.stmts.len() as StmtId;
        self.body.stmts.push(Stmt {
            kind: StmtKind::Other,
            span: span(node),
        });
        if depth > super::MAX_DEPTH {
            self.facts.too_deep.get_or_insert(node.line());
            return id;
        }
        let kind = match node.kind_str() {
            "compound_statement" => StmtKind::Block(self.stmt_list(node, depth)),
            "expression_statement" => match node.named_child(0) {
                Some(e) if e.kind_str() != "comment" => {
                    // Its identifiers are bare names for the facts too.
                    self.in_bare = true;
                    let mut expr = self.expr(e, depth);
                    let mut names = Vec::new();
                    bare_names(e, self, &mut names);
                    names.append(&mut expr.events);
                    expr.events = names;
                    StmtKind::Expr(expr)
                }
                _ => StmtKind::Other,
            },
            "declaration" => self.declaration_stmt(node, depth),
            "if_statement" => {
                let cond = self.cond(node, depth);
                let then = node
                    .field(fields().consequence)
                    .map(|s| self.stmt(s, depth + 1))
                    .unwrap_or_else(|| self.empty(node));
                let otherwise = node
                    .field(fields().alternative)
                    .and_then(|e| kids(e).next())
                    .map(|s| self.stmt(s, depth + 1));
                StmtKind::If {
                    cond,
                    then,
                    otherwise,
                }
            }
            "switch_statement" => {
                let cond = self.cond(node, depth);
                let body = self.child_stmt(node, fields().body, depth);
                StmtKind::Switch { cond, body }
            }
            "case_statement" => {
                let value = node.field(fields().value);
                if let Some(v) = value {
                    self.visit(v, depth + 1);
                }
                let body = kids(node)
                    .filter(|c| Some(*c) != value)
                    .map(|c| self.stmt(c, depth + 1))
                    .collect();
                StmtKind::Case {
                    default: value.is_none(),
                    label: value.map(|v| self.text(v)),
                    body,
                }
            }
            "while_statement" => {
                let cond = self.cond(node, depth);
                let body = self.child_stmt(node, fields().body, depth);
                StmtKind::While { cond, body }
            }
            "do_statement" => {
                let body = self.child_stmt(node, fields().body, depth);
                let cond = self.cond(node, depth);
                StmtKind::DoWhile { body, cond }
            }
            "for_statement" => {
                let init = node.field(fields().initializer).map(|i| {
                    if i.kind_str() == "declaration" {
                        match self.declaration_stmt(i, depth) {
                            StmtKind::Declare(e) => e,
                            _ => Expr::default(),
                        }
                    } else {
                        self.expr(i, depth)
                    }
                });
                let cond = node
                    .field(fields().condition)
                    .map(|c| Box::new(self.expr(c, depth)));
                let update = node
                    .field(fields().update)
                    .map(|u| Box::new(self.expr(u, depth)));
                let body = self.child_stmt(node, fields().body, depth);
                StmtKind::For {
                    init: init.map(Box::new),
                    cond,
                    update,
                    body,
                }
            }
            "return_statement" => StmtKind::Return(kids(node).next().map(|e| self.expr(e, depth))),
            "break_statement" => StmtKind::Break,
            "continue_statement" => StmtKind::Continue,
            "goto_statement" => match node.field(fields().label) {
                Some(l) => StmtKind::Goto(self.ident(l)),
                None => StmtKind::Other,
            },
            "labeled_statement" => {
                let name = node
                    .field(fields().label)
                    .map(|l| self.ident(l))
                    .unwrap_or_default();
                let stmt = kids(node)
                    .find(|c| c.kind_str() != "statement_identifier")
                    .map(|s| self.stmt(s, depth + 1));
                StmtKind::Label { name, stmt }
            }
            "attributed_statement" => match node
                .named_children()
                .filter(|c| c.kind_str() != "attribute_declaration")
                .last()
            {
                Some(s) => {
                    let inner = self.stmt(s, depth + 1);
                    StmtKind::Block(vec![inner])
                }
                None => StmtKind::Other,
            },
            // Errors, inline assembly, stray preprocessor lines: keep the calls they hold so
            // no sleeping call disappears from the path.
            _ => {
                let e = self.expr(node, depth);
                if e.events.is_empty() {
                    StmtKind::Other
                } else {
                    StmtKind::Expr(Expr {
                        value: Value::Unknown,
                        ..e
                    })
                }
            }
        };
        self.body.stmts[id as usize].kind = kind;
        id
    }

    fn stmt_list(&mut self, node: Node<'t>, depth: usize) -> Vec<StmtId> {
        kids(node).map(|c| self.stmt(c, depth + 1)).collect()
    }

    fn child_stmt(&mut self, node: Node<'t>, field: NonZeroU16, depth: usize) -> StmtId {
        match node.field(field) {
            Some(s) => self.stmt(s, depth + 1),
            None => self.empty(node),
        }
    }

    fn empty(&mut self, node: Node<'t>) -> StmtId {
        let id = self.body.stmts.len() as StmtId;
        self.body.stmts.push(Stmt {
            kind: StmtKind::Other,
            span: span(node),
        });
        id
    }

    /// The condition of an if/switch/while/do statement.
    fn cond(&mut self, node: Node<'t>, depth: usize) -> Expr {
        match node.field(fields().condition) {
            Some(c) => self.expr(c, depth),
            None => Expr::default(),
        }
    }

    /// Lowers an expression: records its calls (through the generic walk, so every call of
    /// the file is in `calls` exactly once) and works out its value.
    pub(super) fn expr(&mut self, node: Node<'t>, depth: usize) -> Expr {
        let first_event = self.events.len();
        let first_call = self.facts.calls.len();
        self.events_on = true;
        self.visit(node, depth + 1);
        self.events_on = false;
        let events = self.events.split_off(first_event);
        let mut assigns = Vec::new();
        let value = self.value(node, first_call, &mut assigns, 0);
        Expr {
            events,
            assigns,
            value,
            line: node.line(),
        }
    }

    /// A declaration inside a body: its initializers as one expression.
    fn declaration_stmt(&mut self, node: Node<'t>, depth: usize) -> StmtKind {
        let first_event = self.events.len();
        let first_call = self.facts.calls.len();
        self.events_on = true;
        self.declaration(node, depth);
        self.events_on = false;
        let mut expr = Expr {
            events: self.events.split_off(first_event),
            line: node.line(),
            ..Expr::default()
        };
        for d in node.named_children() {
            if d.kind_str() != "init_declarator" {
                continue;
            }
            let (Some(decl), Some(v)) = (d.field(fields().declarator), d.field(fields().value))
            else {
                continue;
            };
            if v.kind_str() == "initializer_list" {
                continue;
            }
            if let Some(name) = super::declarator_name(decl) {
                if name.kind_str() == "identifier" {
                    let value = self.value(v, first_call, &mut expr.assigns, 0);
                    expr.assigns.push(Assign {
                        var: self.text(name),
                        value,
                    });
                }
            }
        }
        if expr.events.is_empty() && expr.assigns.is_empty() {
            StmtKind::Decl
        } else {
            StmtKind::Declare(expr)
        }
    }
}

/// Bare identifiers used as statements, in order: `MOD_INC_USE_COUNT;` or
/// `MOD_INC_USE_COUNT, x = 1;`.
fn bare_names(node: Node<'_>, lower: &Lower<'_, '_>, out: &mut Vec<Event>) {
    match node.kind_str() {
        "identifier" => out.push(Event::Name(lower.text(node))),
        "comma_expression" => {
            for side in [fields().left, fields().right] {
                if let Some(n) = node.field(side) {
                    bare_names(n, lower, out);
                }
            }
        }
        _ => {}
    }
}

fn span(node: Node<'_>) -> Span {
    Span {
        start: node.start_byte() as u32,
        end: node.end_byte() as u32,
        line: node.line(),
        column: node.column(),
    }
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct FieldLoad {
    pub caller: u32,
    #[bincode(with_serde)]
    pub var: Text,
    /// The field expression as written: `fmt->load_binary`.
    #[bincode(with_serde)]
    pub value: Text,
}

/// `array[index] = value` in a function, `array` a plain name; the texts as written.
#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct ElementStore {
    pub caller: u32,
    #[bincode(with_serde)]
    pub array: Text,
    #[bincode(with_serde)]
    pub index: Text,
    #[bincode(with_serde)]
    pub value: Text,
    pub line: u32,
}
