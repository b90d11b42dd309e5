//! Per-file facts: what one file says, lowered from its parse tree into small owned values.
//!
//! tree-sitter's tree is copied into a flat array ([`syntax`]) and dropped before the lowering;
//! the array is reused for the next file. Whole-tree phases read facts only.

use rustc_hash::FxHashMap;
use std::cell::RefCell;

use serde::Serialize;
use tree_sitter::Parser;

use crate::normalize::{CondRegion, MacroDef, Normalized};

mod body;
mod compared;
mod decls;
mod guards;
mod kinds;
mod lower;
mod macros;
mod recover;
pub mod size;
mod suppress;
mod syntax;
mod vocabulary;
pub use body::{codec, ElementStore, FieldLoad, LazyBody};
pub use body::{Assign, Body, CmpOp, Event, Expr, Span, Stmt, StmtId, StmtKind, Value};
pub use compared::ComparedParam;
pub use guards::CallGuard;
use kinds::{fields, kinds, NodeExt};
pub use macros::MacroPolicy;
pub use suppress::Suppression;
use syntax::{Node, SyntaxTree};
pub use vocabulary::{FrontEnd, Vocabulary};

/// The text of a fact: a name, a type, an expression as written. Most are short, and a
/// short one is stored inline, without an allocation of its own: millions of them are most
/// of a large tree's facts.
pub type Text = compact_str::CompactString;

/// How deep the lowering walks. Deeper nesting is not C a person wrote; the file gets a warning
/// and the part below this depth is not lowered.
pub const MAX_DEPTH: usize = 600;

#[derive(Debug, Clone, Default, Serialize, bincode::Encode, bincode::Decode)]
pub struct FileFacts {
    #[bincode(with_serde)]
    pub path: Text,
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
    /// The first line where the nesting went past [`MAX_DEPTH`] (the part below it is not
    /// lowered), or where an `#if` expression went past the evaluator's bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_deep: Option<u32>,
    /// The first `#if` whose expression nests too deep to evaluate: it counts as unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_deep_condition: Option<u32>,
    /// File-scope variables (and extern declarations) of a struct or typedef type, pointers
    /// and arrays included: (name, type name). Lets an analysis type `net_families[i]->create`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[bincode(with_serde)]
    pub var_types: Vec<(Text, Text)>,
    /// `var = base->field` (or a declaration initialized so) in a function: a later call
    /// `var(...)` goes through that field (`fn = fmt->load_binary; fn(bprm, regs)`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub field_loads: Vec<FieldLoad>,
    /// `array[index] = value` in a function (`net_families[ops->family] = ops`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub element_stores: Vec<ElementStore>,
    /// `modrace: ignore` comments, read off the raw bytes (the normalizer blanks comments).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressions: Vec<Suppression>,
    /// (macro, symbol, body): the file defines the macro in a branch taken because the symbol
    /// is unknown (`#ifdef DEBUG`) and again, with this body, in a later branch of the same
    /// group; where nothing defines the symbol, that later definition is the build's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[bincode(with_serde)]
    pub alt_macros: Vec<(Text, Text, Text)>,
    /// Branches the normalizer took only because their one symbol is unknown (`#ifdef
    /// DEBUG`): `nowork` reads them against the tree's definitions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cond_regions: Vec<CondRegion>,
    /// Names `#define`d in branches not taken: defined in some other build.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[bincode(with_serde)]
    pub inactive_defines: Vec<Text>,
    /// The constants of flag-bit guards (`if (flags & EXTRACT_USER)`), as written: a macro
    /// name or a number; `CallGuard::bits` indexes it. The tree's `#define`s value them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[bincode(with_serde)]
    pub guard_bits: Vec<Text>,
    /// The file mentions a release macro: its facts hold for the release they were made for.
    #[serde(skip)]
    pub mentions_version: bool,
}

#[derive(Debug, Clone, Default, Serialize, bincode::Encode, bincode::Decode)]
pub struct Function {
    #[bincode(with_serde)]
    pub name: Text,
    pub is_static: bool,
    #[bincode(with_serde)]
    pub return_type: Text,
    pub params: Box<[Param]>,
    pub line: u32,
    pub end_line: u32,
    pub has_error: bool,
    /// The body names MOD_INC_USE_COUNT (or its THIS_MODULE form).
    pub uses_mod_inc: bool,
    /// Names of parameters and local variables: they shadow file-scope names.
    #[bincode(with_serde)]
    pub locals: Box<[Text]>,
    /// Parameters and locals of a struct or typedef type: (name, type name), sorted by name.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[bincode(with_serde)]
    pub local_types: Box<[(Text, Text)]>,
    /// Parameters (0-based) the body assigns, increments or takes the address of.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub assigned_params: Box<[u8]>,
    /// Parameters (or their fields) its branches and switches compare with a number or a name.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub compared_params: Box<[ComparedParam]>,
    /// Attribute-like macros the normalizer blanked in the function's head: `asmlinkage`
    /// (entered from assembly: a system call or trap), `__init`.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[bincode(with_serde)]
    pub attributes: Box<[Text]>,
    /// The architecture whose `#ifdef` the definition sits under (`CONFIG_ARCH_S390`), when
    /// the preprocessor could not decide it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(skip_serializing_if = "LazyBody::is_empty")]
    pub body: LazyBody,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct Param {
    #[bincode(with_serde)]
    pub name: Option<Text>,
    #[bincode(with_serde)]
    pub ty: Text,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct StructDef {
    #[bincode(with_serde)]
    pub name: Text,
    pub fields: Box<[Field]>,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct Field {
    #[bincode(with_serde)]
    pub name: Text,
    #[bincode(with_serde)]
    pub ty: Text,
    pub is_fn_ptr: bool,
    /// The struct the field holds (by value) or points to.
    #[bincode(with_serde)]
    pub struct_type: Option<Text>,
    pub is_pointer: bool,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct Typedef {
    #[bincode(with_serde)]
    pub name: Text,
    /// The struct or union it names, when it names one.
    #[bincode(with_serde)]
    pub struct_name: Option<Text>,
}

/// A variable at file scope (or a `static` one inside a function) whose type is a struct or a
/// typedef name.
#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct Variable {
    #[bincode(with_serde)]
    pub name: Text,
    pub is_static: bool,
    /// `struct X` gives `X`; a typedef name is kept as it is, the index resolves it.
    #[bincode(with_serde)]
    pub type_name: Text,
    pub is_array: bool,
    pub line: u32,
    pub init: Option<InitList>,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct InitList {
    pub items: Box<[InitItem]>,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct InitItem {
    /// `.a.b = x` gives two fields; `[3] = x` an index; empty for a positional item.
    pub designators: Box<[Designator]>,
    pub value: InitValue,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub enum Designator {
    Field(#[bincode(with_serde)] Text),
    Index,
    /// Not an item: a bare macro name in the list, which expands to items of its own
    /// (`OWNER_THIS_MODULE` for `owner: THIS_MODULE,`); the value is the name.
    Macro,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub enum InitValue {
    Expr(#[bincode(with_serde)] Text),
    List(InitList),
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct Call {
    /// Index into `functions`, or `None` at file scope.
    pub caller: Option<u32>,
    /// The called name for a direct call, the callee expression otherwise.
    #[bincode(with_serde)]
    pub callee: Text,
    pub indirect: bool,
    #[bincode(with_serde)]
    pub args: Box<[Text]>,
    pub line: u32,
    pub column: u32,
    /// A test of a parameter of the caller that the call runs under (`if (!creat) return;`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<CallGuard>,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct BareName {
    /// Index into `functions`.
    pub caller: u32,
    #[bincode(with_serde)]
    pub name: Text,
    pub line: u32,
}

/// `base.field = value` or `base->field = value` in a function body (`base->field++` too, with
/// the update as its value).
#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct FieldAssign {
    pub caller: Option<u32>,
    #[bincode(with_serde)]
    pub base: Text,
    /// The struct type of `base` when the function declares it.
    #[bincode(with_serde)]
    pub base_type: Option<Text>,
    #[bincode(with_serde)]
    pub field: Text,
    #[bincode(with_serde)]
    pub value: Text,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct ParseError {
    pub line: u32,
    pub column: u32,
    #[bincode(with_serde)]
    pub function: Option<Text>,
    pub cause: String,
}

#[derive(Debug, Clone, Serialize, bincode::Encode, bincode::Decode)]
pub struct BrokenFunction {
    pub line: u32,
    pub uses_mod_inc: bool,
    pub cause: String,
}

#[derive(Debug, Clone, Default, Serialize, bincode::Encode, bincode::Decode)]
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
                        line: row(node),
                        end_line: row(node),
                        has_error: node.has_error(),
                        ..Function::default()
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
        path: path.into(),
        bytes: src.len(),
        ..FileFacts::default()
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
        BodyPolicy::Mentioning(finders(words))
    }

    fn wants(&self, text: &[u8]) -> bool {
        match self {
            BodyPolicy::None => false,
            BodyPolicy::All => true,
            BodyPolicy::Mentioning(words) => words.iter().any(|w| w.find(text).is_some()),
        }
    }
}

/// A substring searcher for each word: what the bodies and macros a policy keeps must name.
fn finders<S: AsRef<str>>(words: &[S]) -> Vec<memchr::memmem::Finder<'static>> {
    (words.iter())
        .map(|w| memchr::memmem::Finder::new(w.as_ref().as_bytes()).into_owned())
        .collect()
}

/// Normalizes, parses and lowers one file, without statement trees.
pub fn extract(path: &str, src: &[u8], front_end: &FrontEnd) -> FileFacts {
    extract_with(path, src, front_end, &BodyPolicy::None)
}

/// Normalizes, parses and lowers one file, with the statement trees the policy asks for.
pub fn extract_with(
    path: &str,
    src: &[u8],
    front_end: &FrontEnd,
    bodies: &BodyPolicy,
) -> FileFacts {
    extract_keeping(path, src, front_end, bodies, &MacroPolicy::All)
}

/// [`extract_with`], keeping the file's `#define`s the policy asks for.
pub fn extract_keeping(
    path: &str,
    src: &[u8],
    front_end: &FrontEnd,
    bodies: &BodyPolicy,
    macros: &MacroPolicy,
) -> FileFacts {
    let normalized = NORMALIZE.time(|| front_end.normalizer.normalize(src));
    let mut facts = extract_empty(path, src);
    facts.markers.ifdef_module = front_end.vocabulary.tests_module_symbol(src);
    facts.suppressions = suppress::suppressions(src);
    facts.mentions_version = front_end.normalizer.mentions_version(src);
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
                vocabulary: &front_end.vocabulary,
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
    recover::file_scope_calls(&normalized.parse_input, &mut facts, &front_end.vocabulary);
    macros::conditionals(&normalized, macros, &mut facts);
    facts.macros = macros.keep(normalized.macros);
    facts.too_deep_condition = normalized.too_deep_condition;
    for f in &mut facts.functions {
        f.arch = (normalized.arch_regions.iter())
            .find(|r| r.from <= f.line && f.line <= r.to)
            .map(|r| r.arch.clone());
    }
    facts.shrink();
    facts
}

/// A list at its exact size. Moved to a new block of that size rather than shrunk in place:
/// shrinking splits the allocator's block, and millions of split-off remainders slowed every
/// later allocation of the scan (glibc's `_int_malloc` and `malloc_consolidate`, +5% CPU).
pub(crate) fn exact<T>(mut v: Vec<T>) -> Box<[T]> {
    if v.len() == v.capacity() {
        return v.into_boxed_slice();
    }
    v.drain(..).collect()
}

/// [`exact`] for a vector that stays a vector.
fn fit<T>(v: &mut Vec<T>) {
    if v.len() < v.capacity() {
        let mut new = Vec::with_capacity(v.len());
        new.append(v);
        *v = new;
    }
}

impl FileFacts {
    /// Gives back the spare capacity of the growing vectors: a tree's facts are kept for the
    /// whole run, and a vector grown by doubling is a quarter empty on average.
    fn shrink(&mut self) {
        fit(&mut self.functions);
        fit(&mut self.structs);
        fit(&mut self.typedefs);
        fit(&mut self.variables);
        fit(&mut self.calls);
        fit(&mut self.field_assigns);
        fit(&mut self.bare_names);
        fit(&mut self.macros);
        fit(&mut self.errors);
        fit(&mut self.broken_functions);
        fit(&mut self.var_types);
        fit(&mut self.field_loads);
        fit(&mut self.element_stores);
    }
}

/// The lowering visitor of one file; its methods are in `lower.rs` and `decls.rs`.
struct Lower<'a, 't> {
    /// The tree the visited nodes belong to.
    tree: std::marker::PhantomData<&'t SyntaxTree>,
    src: &'a [u8],
    n: &'a Normalized,
    facts: &'a mut FileFacts,
    vocabulary: &'a Vocabulary,
    current: Option<u32>,
    /// Local variables and parameters of the current function with a struct type.
    locals: FxHashMap<Text, Text>,
    /// All parameter and local names of the current function.
    local_names: Vec<Text>,
    /// The statement tree of the current function.
    body: Body,
    /// Calls and bare names seen while an expression of a body is lowered.
    events: Vec<Event>,
    events_on: bool,
    bodies: &'a BodyPolicy,
    /// Locals of the current function declared as function pointers.
    fn_ptr_locals: Vec<Text>,
    /// Whether the node about to be visited stands as a whole statement.
    in_bare: bool,
    /// Plain variables the current function assigns, increments or takes the address of.
    assigned_names: Vec<Text>,
}

/// The named children of a node, comments left out.
fn kids<'t>(node: Node<'t>) -> impl Iterator<Item = Node<'t>> + use<'t> {
    node.named_children()
        .filter(|c| c.kind_id() != kinds().comment)
}

/// The identifier a declarator declares. A loop, not a recursion: a declarator can be nested
/// as deep as the input likes (`int ****...p`).
fn declarator_name(node: Node) -> Option<Node> {
    let mut node = node;
    loop {
        match node.kind_str() {
            "identifier" | "field_identifier" | "type_identifier" => return Some(node),
            _ => {
                node = node
                    .field(fields().declarator)
                    .or_else(|| node.named_child(0))?;
            }
        }
    }
}

/// Whether the subtree of `node` holds a node of `kind` (with an explicit stack: no bound on
/// the depth).
fn subtree_has(node: Node, kind: &str) -> bool {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if n.kind_str() == kind {
            return true;
        }
        stack.extend(n.named_children());
    }
    false
}
