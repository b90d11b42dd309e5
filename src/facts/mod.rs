//! Per-file facts: what one file says, lowered from its parse tree into small owned values.
//!
//! tree-sitter's tree is copied into a flat array ([`syntax`]) and dropped before the lowering;
//! the array is reused for the next file. Whole-tree phases read facts only.

use rustc_hash::FxHashMap;
use std::cell::RefCell;

use serde::Serialize;
use tree_sitter::Parser;

use crate::ctext::{is_ident_byte, is_ident_char};
use crate::normalize::{MacroDef, Normalized, Normalizer};

mod body;
mod guards;
mod kinds;
mod syntax;
pub use body::{Assign, Body, CmpOp, Event, Expr, Span, Stmt, StmtId, StmtKind, Value};
pub use guards::CallGuard;
use kinds::{fields, kinds, NodeExt};
use syntax::{Node, SyntaxTree};

/// How deep the lowering walks. Deeper nesting is not C a person wrote; the file gets a warning
/// and the part below this depth is not lowered.
pub const MAX_DEPTH: usize = 600;

#[derive(Debug, Clone, Serialize)]
pub struct FileFacts {
    pub path: String,
    /// Where the file is on disk, to read it again (source excerpts, full bodies, patches).
    #[serde(skip)]
    pub disk_path: std::path::PathBuf,
    pub bytes: usize,
    pub functions: Vec<Function>,
    pub structs: Vec<StructDef>,
    pub typedefs: Vec<Typedef>,
    pub variables: Vec<Variable>,
    pub calls: Vec<Call>,
    pub field_assigns: Vec<FieldAssign>,
    /// Identifiers used as whole statements (`LOCKIT;`, `MOD_INC_USE_COUNT;`): macros that
    /// act like calls. Recorded for every function, with or without its statement tree.
    pub bare_names: Vec<BareName>,
    pub macros: Vec<MacroDef>,
    pub errors: Vec<ParseError>,
    pub markers: ModuleMarkers,
    /// Top-level error regions that hold what looks like a function body.
    pub broken_functions: Vec<BrokenFunction>,
    pub too_deep: bool,
    /// File-scope variables (and extern declarations) of a struct or typedef type, pointers
    /// and arrays included: (name, type name). Lets an analysis type `net_families[i]->create`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub var_types: Vec<(String, String)>,
    /// `var = base->field` (or a declaration initialized so) in a function: a later call
    /// `var(...)` goes through that field (`fn = fmt->load_binary; fn(bprm, regs)`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub field_loads: Vec<FieldLoad>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldLoad {
    pub caller: u32,
    pub var: String,
    /// The field expression as written: `fmt->load_binary`.
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Function {
    pub name: String,
    pub is_static: bool,
    pub return_type: String,
    pub params: Vec<Param>,
    pub line: u32,
    pub end_line: u32,
    pub has_error: bool,
    /// The body names MOD_INC_USE_COUNT (or its THIS_MODULE form).
    pub uses_mod_inc: bool,
    /// Names of parameters and local variables: they shadow file-scope names.
    pub locals: Vec<String>,
    /// Parameters and locals of a struct or typedef type: (name, type name), sorted by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub local_types: Vec<(String, String)>,
    /// Parameters (0-based) the body assigns, increments or takes the address of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assigned_params: Vec<u8>,
    /// Attribute-like macros the normalizer blanked in the function's head: `asmlinkage`
    /// (entered from assembly: a system call or trap), `__init`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    #[serde(skip_serializing_if = "Body::is_empty")]
    pub body: Body,
}

#[derive(Debug, Clone, Serialize)]
pub struct Param {
    pub name: Option<String>,
    pub ty: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub ty: String,
    pub is_fn_ptr: bool,
    /// The struct the field holds (by value) or points to.
    pub struct_type: Option<String>,
    pub is_pointer: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Typedef {
    pub name: String,
    /// The struct or union it names, when it names one.
    pub struct_name: Option<String>,
}

/// A variable at file scope (or a `static` one inside a function) whose type is a struct or a
/// typedef name.
#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    pub name: String,
    pub is_static: bool,
    /// `struct X` gives `X`; a typedef name is kept as it is, the index resolves it.
    pub type_name: String,
    pub is_array: bool,
    pub line: u32,
    pub init: Option<InitList>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InitList {
    pub items: Vec<InitItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InitItem {
    /// `.a.b = x` gives two fields; `[3] = x` an index; empty for a positional item.
    pub designators: Vec<Designator>,
    pub value: InitValue,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize)]
pub enum Designator {
    Field(String),
    Index,
}

#[derive(Debug, Clone, Serialize)]
pub enum InitValue {
    Expr(String),
    List(InitList),
}

#[derive(Debug, Clone, Serialize)]
pub struct Call {
    /// Index into `functions`, or `None` at file scope.
    pub caller: Option<u32>,
    /// The called name for a direct call, the callee expression otherwise.
    pub callee: String,
    pub indirect: bool,
    pub args: Vec<String>,
    pub line: u32,
    pub column: u32,
    /// A test of a parameter of the caller that the call runs under (`if (!creat) return;`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<CallGuard>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BareName {
    /// Index into `functions`.
    pub caller: u32,
    pub name: String,
    pub line: u32,
}

/// `base.field = value` or `base->field = value` in a function body.
#[derive(Debug, Clone, Serialize)]
pub struct FieldAssign {
    pub caller: Option<u32>,
    pub base: String,
    /// The struct type of `base` when the function declares it.
    pub base_type: Option<String>,
    pub field: String,
    pub value: String,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParseError {
    pub line: u32,
    pub column: u32,
    pub function: Option<String>,
    pub cause: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BrokenFunction {
    pub line: u32,
    pub uses_mod_inc: bool,
    pub cause: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ModuleMarkers {
    pub ifdef_module: bool,
    pub init_module: bool,
    pub module_init: bool,
}

impl ModuleMarkers {
    pub fn any(&self) -> bool {
        self.ifdef_module || self.init_module || self.module_init
    }
}

/// Where the scan's CPU goes (`MODRACE_TIMINGS=1`).
pub static NORMALIZE: crate::timing::Tally = crate::timing::Tally::new("normalize");
pub static PARSE: crate::timing::Tally = crate::timing::Tally::new("parse");
pub static LOWER: crate::timing::Tally = crate::timing::Tally::new("lower");
pub static FREE_TREE: crate::timing::Tally = crate::timing::Tally::new("free tree");
pub static FLATTEN: crate::timing::Tally = crate::timing::Tally::new("flatten");

thread_local! {
    /// The storage of this thread's last flat tree, for the next file.
    static SPARE_TREE: RefCell<SyntaxTree> = RefCell::new(SyntaxTree::default());
    static PARSER: RefCell<Parser> = RefCell::new({
        let mut p = Parser::new();
        p.set_language(&tree_sitter_c::LANGUAGE.into())
            .expect("tree-sitter-c matches the tree-sitter version");
        p
    });
}

/// Parses bytes with this thread's parser. Used by `stats` for the bare-parse baseline too.
pub fn parse(bytes: &[u8]) -> Option<tree_sitter::Tree> {
    PARSER.with(|p| p.borrow_mut().parse(bytes, None))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// Parses the file as it is, without normalization, and lowers only what `stats` counts:
/// the baseline a bare tree-sitter-c parse gives.
pub fn extract_bare(path: &str, src: &[u8]) -> FileFacts {
    let row = |node: tree_sitter::Node| node.start_position().row as u32 + 1;
    let mut facts = extract_empty(path, src);
    if let Some(tree) = parse(src) {
        let mut stack = vec![tree.root_node()];
        while let Some(node) = stack.pop() {
            match node.kind_str() {
                "function_definition" => {
                    facts.functions.push(Function {
                        name: String::new(),
                        is_static: false,
                        return_type: String::new(),
                        params: Vec::new(),
                        line: row(node),
                        end_line: row(node),
                        has_error: node.has_error(),
                        uses_mod_inc: false,
                        locals: Vec::new(),
                        local_types: Vec::new(),
                        assigned_params: Vec::new(),
                        attributes: Vec::new(),
                        body: Body::default(),
                    });
                    // The bare parse counts functions; what is inside them does not matter.
                    continue;
                }
                "ERROR" if node.parent().is_some_and(|p| p.parent().is_none()) => {
                    let body = &src[node.start_byte()..node.end_byte()];
                    if body.contains(&b'{') && body.contains(&b'(') {
                        facts.broken_functions.push(BrokenFunction {
                            line: row(node),
                            uses_mod_inc: false,
                            cause: "bare parse".into(),
                        });
                    }
                }
                _ => {}
            }
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
    }
    facts
}

fn extract_empty(path: &str, src: &[u8]) -> FileFacts {
    FileFacts {
        path: path.to_string(),
        disk_path: Default::default(),
        bytes: src.len(),
        functions: Vec::new(),
        structs: Vec::new(),
        typedefs: Vec::new(),
        variables: Vec::new(),
        calls: Vec::new(),
        field_assigns: Vec::new(),
        bare_names: Vec::new(),
        macros: Vec::new(),
        errors: Vec::new(),
        markers: ModuleMarkers::default(),
        broken_functions: Vec::new(),
        too_deep: false,
        var_types: Vec::new(),
        field_loads: Vec::new(),
    }
}

/// Which function bodies to lower into statement trees. Bodies are most of the facts' size:
/// `entries` and `bkl` keep only the functions that name a use-count or lock primitive;
/// `check` and `why-sleeps` keep them all (paths of entry routines, guards of calls).
#[derive(Debug, Default)]
pub enum BodyPolicy {
    #[default]
    None,
    All,
    /// Functions whose text contains one of these words (use-count or lock macros).
    Mentioning(Vec<memchr::memmem::Finder<'static>>),
}

impl BodyPolicy {
    pub fn mentioning<S: AsRef<str>>(words: &[S]) -> BodyPolicy {
        BodyPolicy::Mentioning(
            words
                .iter()
                .map(|w| memchr::memmem::Finder::new(w.as_ref().as_bytes()).into_owned())
                .collect(),
        )
    }

    fn wants(&self, text: &[u8]) -> bool {
        match self {
            BodyPolicy::None => false,
            BodyPolicy::All => true,
            BodyPolicy::Mentioning(words) => words.iter().any(|w| w.find(text).is_some()),
        }
    }
}

/// Normalizes, parses and lowers one file, without statement trees.
pub fn extract(path: &str, src: &[u8], normalizer: &Normalizer) -> FileFacts {
    extract_with(path, src, normalizer, &BodyPolicy::None)
}

/// Normalizes, parses and lowers one file, with the statement trees the policy asks for.
pub fn extract_with(
    path: &str,
    src: &[u8],
    normalizer: &Normalizer,
    bodies: &BodyPolicy,
) -> FileFacts {
    let normalized = NORMALIZE.time(|| normalizer.normalize(src));
    let mut facts = extract_empty(path, src);
    facts.markers.ifdef_module =
        contains(src, b"#ifdef MODULE") || contains(src, b"defined(MODULE)");
    if let Some(tree) = PARSE.time(|| parse(&normalized.parse_input)) {
        let spare = SPARE_TREE.with(|t| t.take());
        let syntax = FLATTEN.time(|| SyntaxTree::build(&tree, spare));
        FREE_TREE.time(|| drop(tree));
        if let Some(root) = syntax.root() {
            let mut lower = Lower {
                tree: std::marker::PhantomData,
                src,
                n: &normalized,
                facts: &mut facts,
                current: None,
                locals: FxHashMap::default(),
                local_names: Vec::new(),
                body: Body::default(),
                events: Vec::new(),
                events_on: false,
                bodies,
                fn_ptr_locals: Vec::new(),
                in_bare: false,
                assigned_names: Vec::new(),
            };
            LOWER.time(|| lower.visit(root, 0));
        }
        SPARE_TREE.with(|t| t.replace(syntax));
    }
    facts.macros = normalized.macros;
    facts
}

struct Lower<'a, 't> {
    /// The tree the visited nodes belong to.
    tree: std::marker::PhantomData<&'t SyntaxTree>,
    src: &'a [u8],
    n: &'a Normalized,
    facts: &'a mut FileFacts,
    current: Option<u32>,
    /// Local variables and parameters of the current function with a struct type.
    locals: FxHashMap<String, String>,
    /// All parameter and local names of the current function.
    local_names: Vec<String>,
    /// The statement tree of the current function.
    body: Body,
    /// Calls and bare names seen while an expression of a body is lowered.
    events: Vec<Event>,
    events_on: bool,
    bodies: &'a BodyPolicy,
    /// Locals of the current function declared as function pointers.
    fn_ptr_locals: Vec<String>,
    /// Whether the node about to be visited stands as a whole statement.
    in_bare: bool,
    /// Plain variables the current function assigns, increments or takes the address of.
    assigned_names: Vec<String>,
}

/// The named children of a node, comments left out.
fn kids<'t>(node: Node<'t>) -> impl Iterator<Item = Node<'t>> + use<'t> {
    node.named_children()
        .filter(|c| c.kind_id() != kinds().comment)
}

impl<'t> Lower<'_, 't> {
    /// Text of a node from the comment-free code, whitespace collapsed.
    fn text(&self, node: Node) -> String {
        let bytes = &self.n.code[node.start_byte()..node.end_byte()];
        // Most texts are one printable ASCII word (names, numbers): nothing to collapse.
        if bytes.iter().all(u8::is_ascii_graphic) {
            if let Ok(word) = std::str::from_utf8(bytes) {
                return word.to_owned();
            }
        }
        let s = String::from_utf8_lossy(bytes);
        let mut out = String::with_capacity(s.len());
        for word in s.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        out
    }

    /// An identifier as written in the original file. Needed where a rewrite shortened it
    /// (end-of-block labels).
    fn ident(&self, node: Node) -> String {
        let start = node.start_byte();
        let end = self.src[start..]
            .iter()
            .position(|c| !is_ident_byte(*c))
            .map_or(self.src.len(), |k| start + k);
        String::from_utf8_lossy(&self.src[start..end.max(node.end_byte())]).into_owned()
    }

    fn visit(&mut self, node: Node<'t>, depth: usize) {
        // Set by the parent just before this call; every other caller leaves it false.
        let bare = std::mem::take(&mut self.in_bare);
        if depth > MAX_DEPTH {
            self.facts.too_deep = true;
            return;
        }
        let k = kinds();
        let id = node.kind_id();
        if id == k.identifier {
            if let Some(f) = self.current {
                if bare {
                    self.facts.bare_names.push(BareName {
                        caller: f,
                        name: self.text(node),
                        line: node.line(),
                    });
                }
                let t = &self.n.code[node.start_byte()..node.end_byte()];
                if t == b"MOD_INC_USE_COUNT" || t == b"__MOD_INC_USE_COUNT" {
                    self.facts.functions[f as usize].uses_mod_inc = true;
                }
            }
        } else if id == k.call_expression {
            let index = self.call(node);
            self.visit_children(node, depth, false);
            // Arguments are evaluated before the call itself.
            if let (true, Some(i)) = (self.events_on, index) {
                self.events.push(Event::Call(i));
            }
        } else if id == k.assignment_expression {
            self.assignment(node);
            self.note_assigned(node.field(fields().left));
            self.visit_children(node, depth, false);
        } else if id == k.update_expression {
            self.note_assigned(node.field(fields().argument));
            self.visit_children(node, depth, false);
        } else if id == k.pointer_expression {
            let takes_address = node
                .field(fields().operator)
                .is_some_and(|o| self.n.code.get(o.start_byte()) == Some(&b'&'));
            if takes_address {
                self.note_assigned(node.field(fields().argument));
            }
            self.visit_children(node, depth, false);
        } else if id == k.expression_statement {
            self.visit_children(node, depth, true);
        } else if id == k.comma_expression {
            self.visit_children(node, depth, bare);
        } else if id == k.function_definition {
            self.function(node, depth);
        } else if id == k.declaration {
            self.declaration(node, depth);
        } else if id == k.type_definition {
            self.typedef(node);
            self.visit_children(node, depth, false);
        } else if id == k.struct_specifier || id == k.union_specifier {
            self.struct_def(node);
            self.visit_children(node, depth, false);
        } else {
            if node.is_error() || node.is_missing() {
                self.error(node);
            }
            self.visit_children(node, depth, false);
        }
    }

    /// Records a plain variable (through parentheses) that an expression changes or exposes.
    fn note_assigned(&mut self, node: Option<Node>) {
        let Some(mut n) = node else { return };
        if self.current.is_none() {
            return;
        }
        let k = kinds();
        while n.kind_id() == k.parenthesized_expression {
            match n.named_child(0) {
                Some(inner) => n = inner,
                None => return,
            }
        }
        if n.kind_id() == k.identifier {
            let name = self.text(n);
            self.assigned_names.push(name);
        }
    }

    /// Visits the children; `bare` says they stand as whole statements (the expression of an
    /// expression statement, or a part of a comma expression that is one).
    fn visit_children(&mut self, node: Node<'t>, depth: usize, bare: bool) {
        for child in node.children() {
            // Punctuation and keywords hold nothing, unless the parser made them up.
            if child.is_named() || child.is_missing() {
                self.in_bare = bare;
                self.visit(child, depth + 1);
            }
        }
        self.in_bare = false;
    }

    fn error(&mut self, node: Node) {
        let cause = if node.is_missing() {
            format!("missing `{}`", node.kind_str())
        } else {
            let code = &self.n.parse_input[node.start_byte()..node.end_byte()];
            let s = String::from_utf8_lossy(code);
            let first: String = s
                .split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .take(40)
                .collect();
            let ident: String = first.chars().take_while(|c| is_ident_char(*c)).collect();
            let parent = node.parent().map_or("?", |p| p.kind_str());
            if ident.len() > 1 {
                format!("`{ident}` in {parent}")
            } else {
                format!("`{first}` in {parent}")
            }
        };
        let function = self
            .current
            .map(|f| self.facts.functions[f as usize].name.clone());
        if function.is_none() && !node.is_missing() {
            let body = &self.n.parse_input[node.start_byte()..node.end_byte()];
            if body.contains(&b'{') && body.contains(&b'(') {
                self.facts.broken_functions.push(BrokenFunction {
                    line: node.line(),
                    uses_mod_inc: contains(body, b"MOD_INC_USE_COUNT"),
                    cause: cause.clone(),
                });
            }
        }
        self.facts.errors.push(ParseError {
            line: node.line(),
            column: node.column(),
            function,
            cause,
        });
    }

    fn is_static(&self, node: Node<'t>) -> bool {
        kids(node).any(|c| {
            c.kind_str() == "storage_class_specifier"
                && &self.n.code[c.start_byte()..c.end_byte()] == b"static"
        })
    }

    /// The struct name or typedef name of a type node.
    fn type_name(&self, ty: Node) -> Option<String> {
        match ty.kind_str() {
            "struct_specifier" | "union_specifier" => ty.field(fields().name).map(|n| self.text(n)),
            "type_identifier" => Some(self.text(ty)),
            _ => None,
        }
    }

    fn function(&mut self, node: Node<'t>, depth: usize) {
        let Some(decl) = node.field(fields().declarator) else {
            return self.visit_children(node, depth, false);
        };
        let ret_base = node
            .field(fields().type_)
            .map(|t| self.text(t))
            .unwrap_or_else(|| "int".into());
        let mut stars = String::new();
        let mut d = decl;
        while d.kind_str() == "pointer_declarator" || d.kind_str() == "parenthesized_declarator" {
            if d.kind_str() == "pointer_declarator" {
                stars.push('*');
            }
            match d.field(fields().declarator).or_else(|| d.named_child(0)) {
                Some(inner) => d = inner,
                None => break,
            }
        }
        if d.kind_str() != "function_declarator" {
            return self.visit_children(node, depth, false);
        }
        let name = d
            .field(fields().declarator)
            .and_then(|n| declarator_name(n))
            .map(|n| self.text(n))
            .unwrap_or_default();
        // A function inside a function (or inside an error region of one) is lowered on its
        // own; the outer one resumes afterwards.
        let outer = (
            self.current,
            std::mem::take(&mut self.body),
            std::mem::take(&mut self.locals),
            std::mem::take(&mut self.local_names),
            self.events_on,
            std::mem::take(&mut self.assigned_names),
        );
        self.events_on = false;
        self.fn_ptr_locals.clear();
        let mut params = Vec::new();
        if let Some(list) = d.field(fields().parameters) {
            for p in list.named_children() {
                if p.kind_str() != "parameter_declaration" {
                    continue;
                }
                let (pname, ty) = self.declared(p);
                if let (Some(n), Some(t)) = (
                    &pname,
                    p.field(fields().type_).and_then(|t| self.type_name(t)),
                ) {
                    self.locals.insert(n.clone(), t);
                }
                if let Some(n) = &pname {
                    self.local_names.push(n.clone());
                }
                params.push(Param { name: pname, ty });
            }
        }
        if name == "init_module" {
            self.facts.markers.init_module = true;
        }
        let index = self.facts.functions.len() as u32;
        self.facts.functions.push(Function {
            name: name.clone(),
            is_static: self.is_static(node),
            return_type: format!(
                "{ret_base}{}{stars}",
                if stars.is_empty() { "" } else { " " }
            ),
            params,
            line: node.line(),
            end_line: node.end_line(),
            has_error: node.has_error(),
            uses_mod_inc: false,
            locals: Vec::new(),
            local_types: Vec::new(),
            assigned_params: Vec::new(),
            attributes: self.blanked_words(node.start_byte(), d.start_byte()),
            body: Body::default(),
        });
        self.current = Some(index);
        if let Some(body) = node.field(fields().body) {
            if self
                .bodies
                .wants(&self.n.code[body.start_byte()..body.end_byte()])
            {
                self.body.stmts.clear();
                self.stmt(body, depth + 1);
                // Moved out at its exact size; the scratch vector keeps its capacity for the
                // next function. A tree's bodies are most of what `check` holds in memory.
                let stmts = self.body.stmts.drain(..).collect();
                self.facts.functions[index as usize].body = Body { stmts };
            } else {
                self.visit(body, depth + 1);
            }
        }
        self.call_guards(index);
        let mut locals = std::mem::take(&mut self.local_names);
        locals.sort();
        locals.dedup();
        self.facts.functions[index as usize].locals = locals;
        let mut local_types: Vec<_> = std::mem::take(&mut self.locals).into_iter().collect();
        local_types.sort();
        self.facts.functions[index as usize].local_types = local_types;
        (
            self.current,
            self.body,
            self.locals,
            self.local_names,
            self.events_on,
            self.assigned_names,
        ) = outer;
    }

    /// Identifiers the rewrite step blanked between `from` (moved back over the blanks before
    /// it) and `to`: the attribute macros of a declaration's head.
    fn blanked_words(&self, from: usize, to: usize) -> Vec<String> {
        let (p, c) = (&self.n.parse_input, &self.n.code);
        let blank = |i: usize| p[i].is_ascii_whitespace();
        let word = |i: usize| is_ident_byte(c[i]);
        let mut i = from;
        while i > 0 && blank(i - 1) {
            i -= 1;
        }
        let mut out = Vec::new();
        while i < to.min(p.len()) {
            if blank(i) && word(i) && (i == 0 || !word(i - 1)) {
                let start = i;
                while i < to && blank(i) && word(i) {
                    i += 1;
                }
                out.push(String::from_utf8_lossy(&c[start..i]).into_owned());
            } else {
                i += 1;
            }
        }
        out
    }

    /// The parameters the function assigns, and the guards of its calls by parameter tests
    /// (read off its statement tree, when it has one).
    fn call_guards(&mut self, index: u32) {
        let f = &self.facts.functions[index as usize];
        if f.params.is_empty() {
            return;
        }
        let params: Vec<Option<String>> = f.params.iter().map(|p| p.name.clone()).collect();
        let mut assigned: Vec<u8> = self
            .assigned_names
            .iter()
            .filter_map(|n| params.iter().position(|p| p.as_deref() == Some(n.as_str())))
            .filter_map(|k| u8::try_from(k).ok())
            .collect();
        assigned.sort_unstable();
        assigned.dedup();
        for (call, guard) in guards::body_guards(&f.body, &params, &assigned) {
            if let Some(c) = self.facts.calls.get_mut(call as usize) {
                c.guard = Some(guard);
            }
        }
        self.facts.functions[index as usize].assigned_params = assigned;
    }

    /// Name and full type text of a parameter or field declaration.
    fn declared(&self, node: Node) -> (Option<String>, String) {
        let base = node
            .field(fields().type_)
            .map(|t| self.text(t))
            .unwrap_or_default();
        match node.field(fields().declarator) {
            Some(d) => {
                let name = declarator_name(d).map(|n| self.text(n));
                let full = self.text(d);
                let suffix = match &name {
                    Some(n) => full.replacen(n.as_str(), "", 1),
                    None => full,
                };
                (name, format!("{base} {}", suffix.trim()).trim().to_string())
            }
            None => (None, base),
        }
    }

    fn declaration(&mut self, node: Node<'t>, depth: usize) {
        let ty = node.field(fields().type_);
        let type_name = ty.and_then(|t| self.type_name(t));
        let is_static = self.is_static(node);
        // File-scope variables, and statics in functions, can be tables.
        let keeps_tables = self.current.is_none() || is_static;
        for d in node.named_children() {
            let (decl, value) = match d.kind_str() {
                "init_declarator" => (d.field(fields().declarator), d.field(fields().value)),
                "identifier" | "array_declarator" | "pointer_declarator" => (Some(d), None),
                _ => continue,
            };
            let Some(decl) = decl else { continue };
            let Some(name) = declarator_name(decl).map(|n| self.text(n)) else {
                continue;
            };
            if self.current.is_some() && subtree_has(decl, "function_declarator") {
                self.fn_ptr_locals.push(name.clone());
                if let Some(v) = value {
                    self.field_load(&name, v);
                }
            }
            let Some(type_name) = &type_name else {
                continue;
            };
            if self.current.is_some() {
                self.locals.insert(name.clone(), type_name.clone());
            } else if !subtree_has(decl, "function_declarator") {
                self.facts.var_types.push((name.clone(), type_name.clone()));
            }
            if !keeps_tables || decl.kind_str() == "pointer_declarator" {
                continue;
            }
            let init = value
                .filter(|v| v.kind_str() == "initializer_list")
                .map(|v| self.init_list(v));
            self.facts.variables.push(Variable {
                name,
                is_static,
                type_name: type_name.clone(),
                is_array: decl.kind_str() == "array_declarator",
                line: d.line(),
                init,
            });
        }
        self.visit_children(node, depth, false);
    }

    fn init_list(&self, node: Node) -> InitList {
        let mut items = Vec::new();
        for child in node.named_children() {
            let (designators, value) = match child.kind_str() {
                "initializer_pair" => {
                    let mut designators = Vec::new();
                    for d in child.children_by_field(fields().designator) {
                        match d.kind_str() {
                            "field_designator" => {
                                if let Some(f) = d.named_child(0) {
                                    designators.push(Designator::Field(self.text(f)));
                                }
                            }
                            // GNU `field: value`
                            "field_identifier" => designators.push(Designator::Field(self.text(d))),
                            _ => designators.push(Designator::Index),
                        }
                    }
                    match child.field(fields().value) {
                        Some(v) => (designators, v),
                        None => continue,
                    }
                }
                "comment" => continue,
                _ => (Vec::new(), child),
            };
            let value = if value.kind_str() == "initializer_list" {
                InitValue::List(self.init_list(value))
            } else {
                InitValue::Expr(self.text(value))
            };
            items.push(InitItem {
                designators,
                value,
                line: child.line(),
            });
        }
        InitList { items }
    }

    fn typedef(&mut self, node: Node) {
        let ty = node
            .field(fields().type_)
            .filter(|t| matches!(t.kind_str(), "struct_specifier" | "union_specifier"));
        let mut struct_name = ty
            .and_then(|t| t.field(fields().name))
            .map(|n| self.text(n));
        for d in node.children_by_field(fields().declarator) {
            let Some(n) = declarator_name(d) else {
                continue;
            };
            let name = self.text(n);
            // `typedef struct { ... } isdn_if;`: the struct is known by the typedef's name.
            if let (Some(t), None, "type_identifier") = (ty, &struct_name, d.kind_str()) {
                if t.field(fields().body).is_some() {
                    self.struct_body(t, name.clone());
                    struct_name = Some(name.clone());
                }
            }
            self.facts.typedefs.push(Typedef {
                name,
                struct_name: struct_name.clone(),
            });
        }
    }

    fn struct_def(&mut self, node: Node) {
        if let Some(name) = node.field(fields().name) {
            let name = self.text(name);
            self.struct_body(node, name);
        }
    }

    fn struct_body(&mut self, node: Node, name: String) {
        let Some(body) = node.field(fields().body) else {
            return;
        };
        let mut members = Vec::new();
        for f in body.named_children() {
            if f.kind_str() != "field_declaration" {
                continue;
            }
            let ty = f.field(fields().type_);
            let struct_type = ty.and_then(|t| match t.kind_str() {
                "struct_specifier" | "union_specifier" | "type_identifier" => self.type_name(t),
                _ => None,
            });
            for d in f.children_by_field(fields().declarator) {
                let Some(fname) = declarator_name(d) else {
                    continue;
                };
                let is_fn_ptr = subtree_has(d, "function_declarator");
                let full = self.text(d);
                let fname = self.text(fname);
                let base = ty.map(|t| self.text(t)).unwrap_or_default();
                members.push(Field {
                    ty: format!("{base} {}", full.replacen(fname.as_str(), "", 1).trim())
                        .trim()
                        .to_string(),
                    name: fname,
                    is_fn_ptr,
                    struct_type: if is_fn_ptr { None } else { struct_type.clone() },
                    is_pointer: d.kind_str() == "pointer_declarator",
                });
            }
        }
        self.facts.structs.push(StructDef {
            name,
            fields: members,
            line: node.line(),
        });
    }

    fn call(&mut self, node: Node<'t>) -> Option<u32> {
        let function = node.field(fields().function)?;
        let indirect = function.kind_str() != "identifier";
        let callee = self.text(function);
        let args = node
            .field(fields().arguments)
            .map(|a| kids(a).map(|c| self.text(c)).collect())
            .unwrap_or_default();
        if self.current.is_none() && callee == "module_init" {
            self.facts.markers.module_init = true;
        }
        self.facts.calls.push(Call {
            caller: self.current,
            callee,
            indirect,
            args,
            line: node.line(),
            column: node.column(),
            guard: None,
        });
        Some(self.facts.calls.len() as u32 - 1)
    }

    fn assignment(&mut self, node: Node) {
        let (Some(left), Some(right)) = (node.field(fields().left), node.field(fields().right))
        else {
            return;
        };
        if left.kind_str() == "identifier" {
            let var = self.text(left);
            if self.fn_ptr_locals.contains(&var) {
                self.field_load(&var, right);
            }
            return;
        }
        if left.kind_str() != "field_expression" {
            return;
        }
        let (Some(base), Some(field)) = (left.field(fields().argument), left.field(fields().field))
        else {
            return;
        };
        let base_text = self.text(base);
        let base_type = if base.kind_str() == "identifier" {
            self.locals.get(&base_text).cloned()
        } else {
            None
        };
        self.facts.field_assigns.push(FieldAssign {
            caller: self.current,
            base: base_text,
            base_type,
            field: self.ident(field),
            value: self.text(right),
            line: node.line(),
        });
    }
}

impl Lower<'_, '_> {
    fn field_load(&mut self, var: &str, value: Node) {
        if let (Some(caller), "field_expression") = (self.current, value.kind_str()) {
            self.facts.field_loads.push(FieldLoad {
                caller,
                var: var.to_string(),
                value: self.text(value),
            });
        }
    }
}

/// The identifier a declarator declares.
fn declarator_name(node: Node) -> Option<Node> {
    match node.kind_str() {
        "identifier" | "field_identifier" | "type_identifier" => Some(node),
        _ => {
            let inner = node
                .field(fields().declarator)
                .or_else(|| node.named_child(0))?;
            declarator_name(inner)
        }
    }
}

fn subtree_has(node: Node, kind: &str) -> bool {
    if node.kind_str() == kind {
        return true;
    }
    node.named_children().any(|c| subtree_has(c, kind))
}

impl FileFacts {
    pub fn exports(&self) -> impl Iterator<Item = &Call> {
        self.calls
            .iter()
            .filter(|c| c.caller.is_none() && c.callee.starts_with("EXPORT_SYMBOL"))
    }
}
