//! `modrace entries`: the mail's task list. Every routine a module hands to the kernel
//! through a registration routine (an ops table, directly or as a member of another table)
//! or by storing it into a kernel structure, with the slot it sits in and whether that slot
//! takes a name or a kernel token.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use serde::Serialize;

use crate::buildinfo::{BuildInfo, BuildVerdict, ModuleEvidence, ModuleOrigin};
use crate::facts::Call;
use crate::index::{Index, TableContent, TableValue};
use crate::kb::{Kb, RegistrationKind, Takes, TakesSource};

mod collect;
mod derive;
pub use derive::{Derived, DerivedRegistrations};

/// Nested tables deeper than this are not followed (no kernel table nests more than 3 deep).
const MAX_TABLE_DEPTH: usize = 6;

/// A slot of a kernel structure: `file_operations.open`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    pub strukt: String,
    pub field: String,
}

impl Slot {
    pub fn new(strukt: &str, field: &str) -> Self {
        Self {
            strukt: strukt.to_string(),
            field: field.to_string(),
        }
    }
}

/// `struct.field`, as users write a slot.
impl std::str::FromStr for Slot {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once('.') {
            Some((strukt, field)) if !strukt.is_empty() && !field.is_empty() => {
                Ok(Slot::new(strukt, field))
            }
            _ => Err(format!("`{text}` is not a slot (struct.field)")),
        }
    }
}

/// Serialized as `struct.field`, the form every output has used.
impl serde::Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.strukt, self.field)
    }
}

/// Where a routine sits: a slot of a kernel structure, or an argument of a registration
/// routine that takes the callback itself (`frob_register_handler(arg1)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SlotRef {
    Field(Slot),
    Callback { routine: String, arg: usize },
}

/// Serialized as `struct.field` or `routine(argN)`, the forms every output has used.
impl serde::Serialize for SlotRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl SlotRef {
    /// The slot of a kernel structure, if the routine sits in one.
    pub fn field(&self) -> Option<&Slot> {
        match self {
            SlotRef::Field(s) => Some(s),
            SlotRef::Callback { .. } => None,
        }
    }
}

/// The text [`SlotRef`]'s `Display` writes: `routine(argN)` or `struct.field`.
impl std::str::FromStr for SlotRef {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let callback = text.strip_suffix(')').and_then(|t| t.rsplit_once("(arg"));
        if let Some((routine, arg)) = callback {
            if let (false, Ok(arg)) = (routine.is_empty(), arg.parse()) {
                let routine = routine.to_string();
                return Ok(SlotRef::Callback { routine, arg });
            }
        }
        text.parse().map(SlotRef::Field)
    }
}

impl std::fmt::Display for SlotRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotRef::Field(s) => s.fmt(f),
            SlotRef::Callback { routine, arg } => write!(f, "{routine}(arg{arg})"),
        }
    }
}

/// How a routine reached the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Via {
    /// Through a registration routine.
    Call(String),
    /// Stored into a kernel structure (`sb->s_op = &foo_sops`).
    Store(Slot),
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Call(routine) => f.write_str(routine),
            Via::Store(slot) => write!(f, "{slot}="),
        }
    }
}

/// A routine a module hands to the kernel: one row of the task list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub slot: SlotRef,
    pub via: Via,
    pub registration_file: String,
    pub registration_line: u32,
    pub takes: Takes,
    pub takes_source: TakesSource,
    pub module_capable: bool,
    pub module_evidence: ModuleEvidence,
    /// What the build files say of the file, and why (the list, the symbol, their lines).
    pub module_reason: BuildVerdict,
    /// The module the build makes of the file, when a build file says so.
    pub module: Option<ModuleOrigin>,
    /// Another routine's pin holds the routine's object, so rule 2 does not apply to it
    /// (`usecount::cover` fills it in for `entries`; `check` asks it directly).
    pub covered_by: Option<Covered>,
}

/// Why a routine's object is held by a pin other than the routine's own: the core's discipline
/// applies to it (issue 13), and `entries` says which routine holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Covered {
    /// Every way the core gets the routine goes through this routine, which pins whenever it
    /// succeeds (class 9).
    Registrar(String),
    /// An open that succeeds only with a device `lookup` finds, in a table only routines
    /// covered by `binder`'s pin fill (`usecount::bound`).
    Bound { lookup: String, binder: String },
    /// An exported routine that only `installer`, exported too and called only by other
    /// modules, stores; each caller replaces it with its own routine, which pins its module
    /// (and holds this one by its symbol references).
    Library { installer: String },
    /// A routine only named in `table`, an exported table of its file that other modules
    /// register: each holds this module by its symbol reference while the table is registered
    /// (cdrom's `cdrom_fops`, which the low-level drivers register).
    Table { table: String },
}

/// A registration call, how many entries it led to and, when none, why.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationSite {
    pub routine: String,
    pub file: String,
    pub line: u32,
    pub args: Vec<String>,
    pub entries: usize,
    pub outcome: Outcome,
    pub recognised: Recognised,
}

/// How a routine was known to register: the knowledge base lists it, its name matches the
/// knowledge base's patterns, or the tree shows that it keeps its table (`derive`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Recognised {
    Listed,
    Pattern,
    Derived(Derived),
}

impl std::fmt::Display for Recognised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recognised::Listed => f.write_str("listed"),
            Recognised::Pattern => f.write_str("name pattern"),
            Recognised::Derived(d) => write!(
                f,
                "derived: keeps argument {} (struct {}) in {} at {}:{}",
                d.arg + 1,
                d.strukt,
                d.global,
                d.file,
                d.line
            ),
        }
    }
}

/// What became of a registration call: it led to routines, or the reason it led to none.
/// For a call with several candidate arguments, the first of these that applies to one of them.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It led to at least one routine.
    Entries,
    /// A table in the tree, but nothing in it is a routine defined in the tree (all `NULL`,
    /// routines from elsewhere, or filled at run time through a pointer).
    EmptyTable,
    /// The name resolves to a variable of another struct type than the routine takes.
    TypeMismatch,
    /// A struct-typed local whose fields the function assigns, none to a routine of the tree.
    LocalTable,
    /// A struct-typed local (or access path) this function already handed to the same
    /// routine: its routines are listed once, with the first registration.
    SameLocalTable,
    /// A parameter of the calling function: the table comes from its caller.
    Parameter,
    /// A local variable of the calling function, filled elsewhere (through a pointer).
    Local,
    /// A name this file declares nowhere the facts see (no file-scope declaration, no header
    /// it can include) while another file defines a global of that name: a file `#include`d
    /// into others (`scsi_module.c`), or a local variable, which the facts do not list.
    NotVisible,
    /// A function handed to a routine that takes a table.
    FunctionForTable,
    /// `NULL` or `0`.
    Null,
    /// A name the tree defines as no table or function: a local variable or a pointer (the
    /// facts list neither), a macro, or something defined outside the tree.
    UnknownName,
    /// Not a plain name: `dev->fops`, `&x[i].y`, a call, a literal.
    Expression,
    /// The call has fewer arguments than the knowledge base expects.
    MissingArgument,
    /// A routine only the name patterns know, called without arguments.
    NoArguments,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Entries => "entries",
            Outcome::EmptyTable => "empty-table",
            Outcome::TypeMismatch => "type-mismatch",
            Outcome::LocalTable => "local-table",
            Outcome::SameLocalTable => "same-local-table",
            Outcome::Parameter => "parameter",
            Outcome::Local => "local",
            Outcome::NotVisible => "not-visible",
            Outcome::FunctionForTable => "function-for-table",
            Outcome::Null => "null",
            Outcome::UnknownName => "unknown-name",
            Outcome::Expression => "expression",
            Outcome::MissingArgument => "missing-argument",
            Outcome::NoArguments => "no-arguments",
        }
    }
}

#[derive(Debug, Default)]
pub struct EntriesReport {
    pub entries: Vec<Entry>,
    pub registrations: Vec<RegistrationSite>,
}

/// Where a routine was handed over: the registration call or the store, and its place.
struct Origin {
    via: Via,
    file: usize,
    line: u32,
}

struct Collector<'a> {
    index: &'a Index<'a>,
    kb: &'a Kb,
    build: &'a BuildInfo,
    entries: Vec<Entry>,
    /// Field assignments to locals that a registration in the same function hands over: they
    /// are reported through that registration, not as stores into a kernel structure.
    consumed: HashSet<(usize, usize)>,
    /// Local tables and access paths already read, and what reading them gave: a function
    /// that hands the same one to the same routine many times has its routines listed once
    /// (with the first call), not once per call, which is quadratic work and output.
    local_tables: HashMap<TableRead, Outcome>,
    /// Registration routines read from the tree (`derive`).
    derived: &'a DerivedRegistrations,
}

impl Collector<'_> {
    /// What a registration call hands over: its kind (table, callback, excluded), the
    /// arguments to read, and the structs a table must be. A routine only the name patterns
    /// make a registration: a variable argument is a table, a function argument a callback.
    /// A derived one keeps one table argument of a known struct.
    fn shape(&self, call: &Call) -> (Option<RegistrationKind>, Vec<usize>, Vec<String>) {
        let reg = self.kb.registration(&call.callee);
        let derived = (reg.is_none())
            .then(|| self.derived.get(&call.callee))
            .flatten();
        let kind = match derived {
            Some(_) => Some(RegistrationKind::Table),
            None => reg.map(|r| r.kind),
        };
        let args: Vec<usize> = match (reg, derived) {
            (_, Some(d)) => vec![d.arg],
            (Some(r), _) if r.args.is_some() => r.args.clone().unwrap_or_default(),
            (Some(r), _) if r.arg.is_some() => r.arg.into_iter().collect(),
            _ => (0..call.args.len()).collect(),
        };
        let takes: Vec<String> = reg
            .filter(|_| kind == Some(RegistrationKind::Table))
            .into_iter()
            .flat_map(|r| r.struct_name.iter().chain(&r.other_structs))
            .filter(|s| !s.starts_with("fnptr:"))
            .map(|s| self.index.struct_name(s).to_string())
            .chain(derived.map(|d| d.strukt.clone()))
            .collect();
        (kind, args, takes)
    }
}

/// A read of a local table or an access path: file, function, name or path, the structs the
/// registration routine takes, and the registration routine.
type TableRead = (usize, u32, String, Vec<String>, Via);

pub fn compute(index: &Index, kb: &Kb, build: &BuildInfo) -> EntriesReport {
    let _t = crate::timing::Phase::start("entries");
    let derived = derive::registrations(index, kb);
    let mut c = Collector {
        derived: &derived,
        index,
        kb,
        build,
        entries: Vec::new(),
        consumed: HashSet::default(),
        local_tables: HashMap::default(),
    };
    let mut registrations = Vec::new();
    for (fi, f) in index.files.iter().enumerate() {
        for call in f.calls.iter().filter(|c| !c.indirect) {
            let recognised = if kb.is_registration(&call.callee) {
                match kb.registration(&call.callee) {
                    Some(_) => Recognised::Listed,
                    None => Recognised::Pattern,
                }
            } else {
                match derived.get(&call.callee) {
                    Some(d) => Recognised::Derived(d.clone()),
                    None => continue,
                }
            };
            let before = c.entries.len();
            let outcome = c.registration(fi, call);
            registrations.push(RegistrationSite {
                routine: call.callee.to_string(),
                file: f.path.to_string(),
                line: call.line,
                args: call.args.iter().map(|a| a.to_string()).collect(),
                entries: c.entries.len() - before,
                outcome,
                recognised,
            });
        }
    }
    for (fi, f) in index.files.iter().enumerate() {
        for (ai, a) in f.field_assigns.iter().enumerate() {
            let Some(base_type) = &a.base_type else {
                continue;
            };
            let st = index.struct_name(base_type).to_string();
            if !kb.is_kernel_struct(&st) || c.consumed.contains(&(fi, ai)) {
                continue;
            }
            let via = Origin {
                via: Via::Store(Slot {
                    strukt: st.clone(),
                    field: a.field.to_string(),
                }),
                file: fi,
                line: a.line,
            };
            let value = TableValue {
                field: a.field.to_string(),
                value: TableContent::Expr(a.value.to_string()),
                file: fi,
                line: a.line,
                scope: a.caller,
            };
            c.value(&value, &st, &via, &mut HashSet::default(), 0);
        }
    }
    let mut entries = c.entries;
    // The order of the rows as their text reads (the slot and the route sort as written).
    entries.sort_by_cached_key(|e| {
        (
            e.function.clone(),
            e.file.clone(),
            e.line,
            e.slot.to_string(),
            e.via.to_string(),
            e.registration_file.clone(),
            e.registration_line,
        )
    });
    entries.dedup();
    EntriesReport {
        entries,
        registrations,
    }
}

/// Whether a file is module code, how that was found, and why: the Makefile's word when it
/// names the file's object (a module list under symbols that can all be `m`, or built in);
/// a C file its directory's Makefile does not name is built by nothing (`none`); a file with
/// no Makefile beside it (a header, a loose tree) is module code when it has the markers
/// (`#ifdef MODULE`, `init_module`, `module_init`).
pub fn module_capable(
    build: &BuildInfo,
    file: &crate::facts::FileFacts,
) -> (bool, ModuleEvidence, BuildVerdict) {
    let verdict = if file.path.ends_with(".c") {
        build.verdict(&file.path)
    } else {
        BuildVerdict::NoMakefile
    };
    // A Makefile that names the object only as built in wins over the file's markers:
    // 2.4 uses `module_init` in built-in code too (af_inet.c, where CONFIG_INET is a bool).
    let evidence = match verdict.made_module() {
        Some(made_module) => (made_module, ModuleEvidence::Makefile),
        None if matches!(verdict, BuildVerdict::Unnamed { .. }) => (false, ModuleEvidence::None),
        None if file.markers.any() => (true, ModuleEvidence::Marker),
        None => (false, ModuleEvidence::None),
    };
    (evidence.0, evidence.1, verdict)
}
