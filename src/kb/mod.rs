//! The knowledge base: what modrace knows about the kernel that a tree cannot tell it.
//!
//! It is data (`kb/linux-2.4.toml`, embedded in the binary; `--kb FILE` merges a file over it,
//! `--kb-replace FILE` replaces it), so that supporting another kernel era means editing a
//! file, not the analyses.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

mod bkl;
mod builtin;
mod era;
mod layout;
mod merge;
mod module;
mod owners;
mod sleep;
mod use_count;
pub use bkl::{BklKb, CorePin, EntryLock, Lookup, Root, RootCall, ValueTests};
pub use builtin::{
    builtin_names, builtin_text, builtin_text_for, merged_over, merged_over_builtin, BUILTIN,
    DEFAULT_KB,
};
pub use era::{Era, EraChoice, KernelVersion, RuleFamily};
pub use layout::Layout;
pub use module::ModuleMarks;
pub use owners::{ArgOwner, Consumer, DrainedStruct, OwnersKb, PinnedField, SlotLifetime};
pub use sleep::{GfpPriorities, SleepKb, SleepKind, SleepPrimitive};
pub use use_count::{CountDiscipline, UseCount};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeBase {
    #[serde(default)]
    pub era: Era,
    #[serde(default)]
    pub preprocessor: Preprocessor,
    #[serde(default)]
    pub normalize: Normalize,
    #[serde(default)]
    pub registration_patterns: RegistrationPatterns,
    #[serde(default, rename = "registration")]
    pub registrations: Vec<Registration>,
    #[serde(default, rename = "not_registration")]
    pub not_registrations: Vec<String>,
    #[serde(default, rename = "slot")]
    pub slots: Vec<Slot>,
    #[serde(default)]
    pub slot_heuristic: SlotHeuristic,
    #[serde(default, rename = "member")]
    pub members: Vec<Member>,
    #[serde(default)]
    pub use_count: UseCount,
    #[serde(default)]
    pub module: ModuleMarks,
    /// The big kernel lock: primitives, system-call entries, search bounds.
    #[serde(default)]
    pub bkl: BklKb,
    #[serde(default)]
    pub sleep: SleepKb,
    /// Owner fields the core pins, and the routines that keep such tables (2.5 on).
    #[serde(default)]
    pub owners: OwnersKb,
    #[serde(default, rename = "table_macro")]
    pub table_macros: Vec<TableMacro>,
    #[serde(default, rename = "copy_routine")]
    pub copy_routines: Vec<CopyRoutine>,
    #[serde(default)]
    pub resolution: Resolution,
    #[serde(default)]
    pub layout: Layout,
}

/// How names resolve across files, beyond what C says.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// Names each module has its own object for, although a header declares one global
    /// (`__this_module`): a use never reaches another file's object or its stores.
    #[serde(default)]
    pub per_module: Vec<String>,
}

/// A routine that copies one struct into another (`memcpy(dst, src, n)`): a table registered
/// after such a copy holds what the source table holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyRoutine {
    pub name: String,
    /// 0-based index of the destination argument.
    pub dst: usize,
    /// 0-based index of the source argument.
    pub src: usize,
    #[serde(default)]
    pub note: Option<String>,
}

/// A macro that defines an ops table at file scope, such as 2.4's
/// `DECLARE_FSTYPE(var, "name", read_super, flags)`: the index turns a use of it into the
/// variable it expands to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableMacro {
    pub name: String,
    #[serde(rename = "struct")]
    pub struct_name: String,
    /// 0-based index of the argument that names the variable.
    pub var_arg: usize,
    /// Field -> 0-based index of the argument stored into it.
    pub fields: BTreeMap<String, usize>,
    /// Fields the expansion sets to a fixed expression (`fs_flags = "FS_REQUIRES_DEV"`).
    #[serde(default)]
    pub fixed: BTreeMap<String, String>,
    #[serde(default)]
    pub evidence: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A field of one kernel structure that holds (points to, or embeds) another ops table:
/// `miscdevice.fops -> file_operations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    #[serde(rename = "struct")]
    pub struct_name: String,
    pub field: String,
    pub target: String,
    #[serde(default)]
    pub embedded: bool,
    #[serde(default)]
    pub evidence: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What a registration routine is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationKind {
    /// A table of function pointers.
    #[default]
    Table,
    /// A function pointer itself.
    Callback,
    /// Matches the name patterns but registers no code (numbers, names): not a registration.
    Exclude,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Preprocessor {
    pub defined: Vec<String>,
    pub undefined: Vec<String>,
    /// The object-like macro that holds the tree's own release as a number
    /// (`LINUX_VERSION_CODE`): `#if` compares it with the top-level Makefile's version.
    pub version_code: Option<String>,
    /// The function-like macros that make such a number of a release (`KERNEL_VERSION(a,b,c)`,
    /// `(a << 16) + (b << 8) + c`), the kernel's and the same formula under other names.
    #[serde(default)]
    pub version_macros: Vec<String>,
    /// Symbols the compiler may define (name patterns): a branch on one is never read as a
    /// branch on a symbol the tree defines nowhere.
    pub predefined: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    #[serde(default)]
    pub attributes: Vec<String>,
    #[serde(default)]
    pub attribute_calls: Vec<String>,
    #[serde(default)]
    pub wrappers: Vec<String>,
}

/// Name patterns that make a called function a registration routine when the knowledge base
/// does not list it: `prefix*`, `*suffix`, `*infix*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationPatterns {
    pub patterns: Vec<String>,
    /// Names that match `patterns` but are accessors, not registrations (`*_get_register*`).
    pub exclude: Vec<String>,
    /// Registration routines are also read from the tree (`entries::derive`) when set: the
    /// share of function-pointer fields a struct needs to count as an ops table rather than
    /// an object that happens to carry a callback.
    #[serde(default)]
    pub derive_min_callback_share: Option<f64>,
}

/// A routine that hands a table of function pointers to the kernel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub name: String,
    /// 0-based index of the argument that carries the table; all arguments when absent.
    pub arg: Option<usize>,
    /// Several arguments carry callbacks.
    #[serde(default)]
    pub args: Option<Vec<usize>>,
    #[serde(default)]
    pub kind: RegistrationKind,
    /// Whether the name matches the registration patterns (informational).
    #[serde(default)]
    pub pattern: Option<bool>,
    /// The struct type the table has.
    #[serde(rename = "struct")]
    pub struct_name: Option<String>,
    /// Other struct types the argument may have (the routine takes a `void *`).
    #[serde(default)]
    pub other_structs: Vec<String>,
    #[serde(default)]
    pub evidence: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What the kernel does with one function-pointer field (`struct.field`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    #[serde(rename = "struct")]
    pub struct_name: String,
    pub field: String,
    /// "name" or "token".
    pub takes: Takes,
    #[serde(default)]
    pub core_call: Option<String>,
    #[serde(default)]
    pub chain: Option<String>,
    #[serde(default)]
    pub bkl: Option<String>,
    /// Whether the core pins the module around the call, and how.
    #[serde(default)]
    pub core_pins: Option<String>,
    /// What the core does when the slot fails.
    #[serde(default)]
    pub fail_cleanup: Option<String>,
    /// How the core reads the use count; by default from `[slot_heuristic]`.
    #[serde(default)]
    pub count: Option<CountDiscipline>,
    /// The core calls the table's release routine when this one fails, so the decrement of
    /// a failed call may live there (tty_open calls the driver's close).
    #[serde(default)]
    pub release_on_failure: Option<String>,
    /// The slot (`struct.field`) of the core's forwarder whose release routine calls this
    /// table's release routine: usb-serial's `serial_close` (a `tty_driver.close`) calls
    /// `type->close`. Its early exits count as the release routine's.
    #[serde(default)]
    pub release_through: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Takes {
    Name,
    Token,
}

impl Takes {
    pub fn as_str(self) -> &'static str {
        match self {
            Takes::Name => "name",
            Takes::Token => "token",
        }
    }
}

/// How a slot the knowledge base does not list is classified: a field whose name matches
/// one of `name_fields` (same pattern syntax as registration patterns) takes a name,
/// every other field takes a token.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlotHeuristic {
    pub name_fields: Vec<String>,
    /// Name-taking fields whose routine brackets its own run with the count (the rest pin).
    pub bracket_fields: Vec<String>,
    /// Kernel objects that exist only while their module is pinned: a table stored into one
    /// of them is reached with the module pinned already.
    pub pinned_containers: Vec<String>,
    /// Fields through which the core pins a table's module itself (2.4's `owner`): a routine
    /// whose table sets one to the module is reached with the module pinned.
    pub owner_fields: Vec<String>,
    /// Macros that set an object's owner field to the module (`SET_MODULE_OWNER(dev)`).
    pub owner_setters: Vec<String>,
}

/// `prefix*`, `*suffix`, `*infix*` or an exact name.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), _) if rest.ends_with('*') => name.contains(&rest[..rest.len() - 1]),
        (Some(suffix), _) => name.ends_with(suffix),
        (None, Some(prefix)) => name.starts_with(prefix),
        (None, None) => name == pattern,
    }
}

/// The knowledge base with lookup tables built once.
#[derive(Debug, Clone)]
pub struct Kb {
    pub data: KnowledgeBase,
    registrations: HashMap<String, usize>,
    not_registrations: HashSet<String>,
    slots: HashMap<(String, String), usize>,
    sleep_primitives: HashMap<String, usize>,
}

/// Why a slot takes a name or a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakesSource {
    KnowledgeBase,
    Heuristic,
}

impl TakesSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TakesSource::KnowledgeBase => "kb",
            TakesSource::Heuristic => "heuristic",
        }
    }
}

impl Kb {
    /// The knowledge base in `path` alone (`--kb-replace`). A file with no setting at all is
    /// an error: it would silently turn off everything modrace knows.
    pub fn load(path: &Path) -> Result<Self> {
        let text = builtin::read(path)?;
        let table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("invalid knowledge base {}", path.display()))?;
        if table.is_empty() {
            anyhow::bail!(
                "knowledge base {} is empty: it would replace all of the built-in one \
                 (to add to the built-in knowledge base, use --kb)",
                path.display()
            );
        }
        Self::from_toml(&text).with_context(|| format!("invalid knowledge base {}", path.display()))
    }

    /// The built-in knowledge base with `path` merged over it (`--kb`): see [`merge`].
    pub fn load_over_builtin(path: &Path) -> Result<Self> {
        Self::load_over(DEFAULT_KB, path)
    }

    /// The knowledge base `base` with the file at `path` merged over it (`--kb`).
    pub fn load_over(base: &str, path: &Path) -> Result<Self> {
        let text = merged_over(base, path)?;
        Self::from_toml(&text).with_context(|| {
            format!(
                "invalid knowledge base {} (merged over the built-in one)",
                path.display()
            )
        })
    }

    pub fn from_toml(text: &str) -> Result<Self> {
        let data: KnowledgeBase = toml::from_str(text)?;
        let registrations = data
            .registrations
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        let not_registrations = data.not_registrations.iter().cloned().collect();
        let slots = data
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.struct_name.clone(), s.field.clone()), i))
            .collect();
        let sleep_primitives = data
            .sleep
            .primitives
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        Ok(Self {
            data,
            registrations,
            not_registrations,
            slots,
            sleep_primitives,
        })
    }

    /// The words whose presence makes a whole-tree scan keep a function's statement tree: the
    /// use-count macros, so helpers that pin or unpin can be summarised, and the lock
    /// primitives, so the lock analysis can walk the functions that take or drop the lock.
    pub fn body_words(&self) -> Vec<String> {
        let u = &self.data.use_count;
        let b = &self.data.bkl;
        let o = &self.data.owners;
        u.increment
            .iter()
            .chain(&u.decrement)
            .chain(&u.try_increment)
            .chain(&b.lock)
            .chain(&b.unlock)
            .chain(&b.depth_preserving)
            .chain(&o.pin_routines)
            .chain(&o.self_pin_routines)
            .chain(&o.unpin_routines)
            .chain(&b.core_pin.returns_pinned)
            .chain(&u.drain_waits)
            // The lock analysis reads string tests on a chain (`bkl::prune`).
            .chain(&b.value_tests.string_equal)
            .cloned()
            // The lock analysis asks which locals a function allocated (own objects).
            .chain(self.alloc_routines().map(String::from))
            .collect()
    }

    /// The knowledge-base entry of a registration routine, if it has one.
    pub fn registration(&self, name: &str) -> Option<&Registration> {
        self.registrations
            .get(name)
            .map(|&i| &self.data.registrations[i])
    }

    /// Whether a call to `name` registers code: listed (and not excluded), or matching a
    /// pattern and not excluded.
    pub fn is_registration(&self, name: &str) -> bool {
        if let Some(r) = self.registration(name) {
            return r.kind != RegistrationKind::Exclude;
        }
        if self.not_registrations.contains(name) {
            return false;
        }
        let p = &self.data.registration_patterns;
        p.patterns.iter().any(|g| glob_match(g, name))
            && !p.exclude.iter().any(|g| glob_match(g, name))
    }

    /// Whether a file-scope use of macro `name` exports its argument to other modules.
    pub fn is_export_macro(&self, name: &str) -> bool {
        (self.data.module.export_macros.iter()).any(|g| glob_match(g, name))
    }

    /// The allocation routines among the sleeping primitives (`kmalloc`).
    pub fn alloc_routines(&self) -> impl Iterator<Item = &str> {
        (self.data.sleep.primitives.iter())
            .filter(|p| p.kind == SleepKind::Alloc)
            .map(|p| p.name.as_str())
    }

    /// The sleeping primitive called `name`, if the knowledge base lists one.
    pub fn sleep_primitive(&self, name: &str) -> Option<&SleepPrimitive> {
        self.sleep_primitives
            .get(name)
            .map(|&i| &self.data.sleep.primitives[i])
    }

    /// Whether the knowledge base says `name` never sleeps.
    pub fn never_sleeps(&self, name: &str) -> bool {
        self.data.sleep.never.iter().any(|g| glob_match(g, name))
    }

    /// The table-defining macro called `name`, if the knowledge base lists one.
    pub fn table_macro(&self, name: &str) -> Option<&TableMacro> {
        self.data.table_macros.iter().find(|m| m.name == name)
    }

    /// The ops table a kernel structure's field holds, per the knowledge base.
    pub fn member(&self, struct_name: &str, field: &str) -> Option<&Member> {
        self.data
            .members
            .iter()
            .find(|m| m.struct_name == struct_name && m.field == field)
    }

    /// Whether the knowledge base knows `struct_name` as a kernel structure that holds
    /// module code (a registered type, a slot's struct or a member's struct).
    pub fn is_kernel_struct(&self, struct_name: &str) -> bool {
        self.slots.keys().any(|(s, _)| s == struct_name)
            || self
                .data
                .members
                .iter()
                .any(|m| m.struct_name == struct_name)
            || self
                .data
                .registrations
                .iter()
                .any(|r| r.struct_name.as_deref() == Some(struct_name))
    }

    pub fn slot(&self, struct_name: &str, field: &str) -> Option<&Slot> {
        self.slots
            .get(&(struct_name.to_string(), field.to_string()))
            .map(|&i| &self.data.slots[i])
    }

    /// How the core reads the use count of `struct.field`: the knowledge base first, then
    /// the heuristic's bracket fields; every other slot pins.
    pub fn count_discipline(&self, struct_name: &str, field: &str) -> CountDiscipline {
        if let Some(d) = self.slot(struct_name, field).and_then(|s| s.count) {
            return d;
        }
        let bracket = self
            .data
            .slot_heuristic
            .bracket_fields
            .iter()
            .any(|p| glob_match(p, field));
        if bracket {
            CountDiscipline::Bracket
        } else {
            CountDiscipline::Pin
        }
    }

    /// Name or token for `struct.field`: the knowledge base first, then the heuristic.
    pub fn takes(&self, struct_name: &str, field: &str) -> (Takes, TakesSource) {
        if let Some(slot) = self.slot(struct_name, field) {
            return (slot.takes, TakesSource::KnowledgeBase);
        }
        let by_name = self
            .data
            .slot_heuristic
            .name_fields
            .iter()
            .any(|p| glob_match(p, field));
        let takes = if by_name { Takes::Name } else { Takes::Token };
        (takes, TakesSource::Heuristic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kb_parses() {
        let kb = Kb::builtin();
        assert!(kb.data.normalize.attributes.iter().any(|a| a == "__init"));
        assert_eq!(kb.registration("sock_register").unwrap().arg, Some(0));
        assert_eq!(kb.takes("net_proto_family", "create").0, Takes::Name);
        assert_eq!(kb.takes("file_operations", "read").0, Takes::Token);
        assert!(kb.member("miscdevice", "fops").is_some());
        assert!(kb.is_registration("register_chrdev"));
        assert!(!kb.is_registration("unregister_chrdev"));
        assert!(!kb.is_registration("ac97_get_register"));
        assert_eq!(kb.data.sleep.gfp_wait_bit, "__GFP_WAIT");
        assert_eq!(kb.sleep_primitive("kmalloc").unwrap().mask_arg, Some(1));
        assert_eq!(kb.sleep_primitive("vmalloc").unwrap().mask_arg, None);
        assert!(kb.never_sleeps("printk"));
        assert!(kb.never_sleeps("__builtin_constant_p"));
    }

    #[test]
    fn every_release_has_exactly_one_built_in_era() {
        let eras = Kb::builtin_eras();
        assert!(eras.iter().all(|k| !k.data.era.name.is_empty()));
        for v in [
            "0.99.15", "1.2.13", "2.0.40", "2.3.41", "2.4.0", "2.5.1", "2.6.39", "6.1.0",
        ] {
            let v: KernelVersion = v.parse().unwrap();
            assert_eq!(
                eras.iter().filter(|k| k.data.era.covers(v)).count(),
                1,
                "{v}"
            );
        }
        let v = |s: &str| s.parse::<KernelVersion>().unwrap();
        assert_eq!(
            Kb::builtin_for(v("2.3.41")).unwrap().data.era.name,
            "linux-2.4"
        );
        assert_eq!(
            Kb::builtin_for(v("6.1.0")).unwrap().data.era.name,
            "linux-6"
        );
        assert_eq!(Kb::builtin().data.era.rules, RuleFamily::UseCount);
        assert!(Kb::builtin_era("linux-6").unwrap().data.bkl.lock.is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob_match("register_*", "register_chrdev"));
        assert!(glob_match("*_register*", "misc_register"));
        assert!(glob_match("*_register*", "tty_register_driver"));
        assert!(!glob_match("register_*", "unregister_chrdev"));
        assert!(glob_match("open", "open"));
        assert!(!glob_match("open", "opened"));
    }
}
