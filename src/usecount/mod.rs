//! Use-count knowledge: what a routine's calls do to its module's use count, and how the core
//! reads a slot's count.
//!
//! The path analysis ([`crate::paths`]) walks one body; this module answers its questions
//! about calls (through [`CallOracle`]): which helpers pin or unpin (summarised by walking
//! their own bodies), which macros are empty, which calls may sleep (through a
//! [`SleepOracle`], which the may-sleep analysis implements). It also reads off the tree where
//! the core pins a module itself (owner fields, `try_inc_mod_count(fmt->module)`), which makes
//! rule 2 moot for a slot.

pub mod bound;
pub mod cover;
pub mod drain;
mod first;
pub mod owner;
pub mod release;
mod returns;
pub mod undo;

pub use owner::CorePins;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::buildinfo::BuildDefines;
use crate::chain::ChainStep;
use crate::ctext::is_word;
use crate::entries::Entry;
use crate::facts::{Call, Event, Function};
use crate::index::{FnRef, Index};
use crate::kb::{CountDiscipline, Kb};
use crate::paths::{
    self, CallOracle, CountEffect, Discipline, FailValue, Outcomes, PathReport, SlotRules,
};

/// Answers "may this call sleep, and why" for the check. The may-sleep analysis implements it.
pub trait SleepOracle: Sync {
    /// The chain from the call `calls[call]` of file `file` down to a sleeping primitive, or
    /// `None` when the call does not sleep (under the analysis' unknown-callee policy).
    fn call_chain(&self, index: &Index, file: usize, call: usize) -> Option<Vec<ChainStep>>;
}

/// The oracle of an era whose rules ask no may-sleep question: nothing sleeps.
pub struct NoSleep;

impl SleepOracle for NoSleep {
    fn call_chain(&self, _: &Index, _: usize, _: usize) -> Option<Vec<ChainStep>> {
        None
    }
}

/// The may-sleep analysis answers for the check; its chains lose the slot they went through.
impl<T: SleepOracle + ?Sized> SleepOracle for &T {
    fn call_chain(&self, index: &Index, file: usize, call: usize) -> Option<Vec<ChainStep>> {
        (**self).call_chain(index, file, call)
    }
}

impl SleepOracle for crate::sleep::SleepAnalysis {
    fn call_chain(&self, index: &Index, file: usize, call: usize) -> Option<Vec<ChainStep>> {
        let verdict = self.call_verdict(index, file, call);
        (verdict.sleeps == crate::sleep::Sleep::Yes).then(|| {
            verdict
                .chain
                .into_iter()
                .map(|s| ChainStep {
                    function: s.function,
                    file: s.file,
                    line: s.line,
                    call: s.call,
                })
                .collect()
        })
    }
}

/// What the core and the tree's helpers do to use counts, computed once per tree (beside the
/// may-sleep analysis, which it does not need).
#[derive(Default)]
pub struct UseCountKnowledge {
    pub helpers: HelperEffects,
    pub pins: CorePins,
    /// Shared with the lock analysis, which reads the same drains.
    pub drains: Arc<drain::Drains>,
}

impl UseCountKnowledge {
    /// `build`: what the configuration and compiler flags define (which branches compile).
    pub fn new(index: &Index, kb: &Kb, build: &BuildDefines, drains: Arc<drain::Drains>) -> Self {
        UseCountKnowledge {
            helpers: HelperEffects::new(index, kb, build),
            pins: CorePins::new(index, kb),
            drains,
        }
    }
}

/// The use-count paths of one entry routine, and how the core reads its count.
pub struct EntryPaths {
    pub paths: PathReport,
    /// The slot's discipline after owner fields and pinned containers are taken into account.
    pub discipline: CountDiscipline,
}

/// Walks the paths of entry routine `fref`, which sits in `entry`'s slot.
pub fn analyse_entry(
    index: &Index,
    kb: &Kb,
    sleep: &dyn SleepOracle,
    known: &UseCountKnowledge,
    entry: &Entry,
    fref: FnRef,
) -> EntryPaths {
    let function = index.function(fref);
    let calls = &index.files[fref.file].calls;
    let discipline = owner::entry_discipline(index, kb, known, entry, fref);
    let oracle = FileOracle::new(index, kb, fref.file, calls, sleep, &known.helpers);
    EntryPaths {
        paths: oracle.walk(function, walk_discipline(discipline)),
        discipline,
    }
}

/// Re-walks a routine of a patched text (its own calls, no sleep questions: after a fix the
/// increment comes first, so only the count matters).
pub fn reanalyse_patched(
    index: &Index,
    kb: &Kb,
    helpers: &HelperEffects,
    file: usize,
    calls: &[Call],
    function: &Function,
    discipline: CountDiscipline,
) -> PathReport {
    FileOracle::new(index, kb, file, calls, &NeverSleeps, helpers)
        .walk(function, walk_discipline(discipline))
}

/// What the path walk checks for a slot: a bracket slot must drop the count on every return;
/// the others (core-pinned ones never reach the rules' findings) pin on success.
pub fn walk_discipline(d: CountDiscipline) -> Discipline {
    match d {
        CountDiscipline::Bracket => Discipline::Bracket,
        CountDiscipline::Pin | CountDiscipline::Core => Discipline::Pin,
    }
}

/// A pointer-returning routine fails with NULL, the others with a nonzero value.
pub fn fail_value(function: &Function) -> FailValue {
    if function.return_type.contains('*') {
        FailValue::Null
    } else {
        FailValue::Nonzero
    }
}

/// Use-count effects of helper functions (`foo_get()` that always does MOD_INC_USE_COUNT),
/// computed once per helper.
#[derive(Default)]
pub struct HelperEffects {
    /// By helper, the depth it is asked at and the oracle's destructor guard: the effect is
    /// a function of all three (the depth bound cuts deeper walks short), so that threads
    /// asking in any order get the same answers.
    memo: Mutex<HashMap<HelperKey, CountEffect>>,
    /// Helpers that return only constants, by the signs of those (`returns`).
    constant_returns: Mutex<HashMap<FnRef, Option<paths::Signs>>>,
    /// Per file, the names it uses as values (`first::value_names`), read once: asked per
    /// call in a helper's body, whether the callee is only ever called directly.
    value_names: Mutex<HashMap<usize, Arc<rustc_hash::FxHashSet<String>>>>,
    /// Macros that, as the calling file sees them, do nothing or only compute: calls to them
    /// are no work.
    no_work: crate::nowork::NoWork,
    /// Names some file exports: a module's interface to others.
    exported: std::collections::HashSet<String>,
    destructors: undo::DestructorMemo,
}

impl HelperEffects {
    pub fn new(index: &Index, kb: &Kb, build: &BuildDefines) -> Self {
        let exported = index
            .files
            .iter()
            .flat_map(|f| &f.calls)
            .filter(|c| c.caller.is_none() && kb.is_export_macro(&c.callee))
            .filter_map(|c| c.args.first().map(|a| a.trim().to_string()))
            .collect();
        HelperEffects {
            memo: Mutex::default(),
            constant_returns: Mutex::default(),
            value_names: Mutex::default(),
            exported,
            no_work: crate::nowork::NoWork::new(index.files, kb, build),
            destructors: undo::DestructorMemo::default(),
        }
    }
}

type HelperKey = (FnRef, u8, Option<usize>);

/// Helpers calling helpers are followed this deep.
const MAX_HELPER_DEPTH: u8 = 3;

struct FileOracle<'a> {
    index: &'a Index<'a>,
    kb: &'a Kb,
    file: usize,
    /// The calls the body's events refer to: the index's, or those of a patched text whose
    /// re-analysis asks no sleep questions (`fixes`).
    calls: &'a [Call],
    sleep: &'a dyn SleepOracle,
    helpers: &'a HelperEffects,
    depth: u8,
    /// The file whose destructors this walk is finding (`undo`): asked again inside, it has
    /// none (a cycle, not a result).
    guard: Option<usize>,
}

impl<'a> FileOracle<'a> {
    /// An oracle for a body whose calls are numbered as `calls`.
    fn new(
        index: &'a Index<'a>,
        kb: &'a Kb,
        file: usize,
        calls: &'a [Call],
        sleep: &'a dyn SleepOracle,
        helpers: &'a HelperEffects,
    ) -> Self {
        FileOracle {
            index,
            kb,
            file,
            calls,
            sleep,
            helpers,
            depth: 0,
            guard: None,
        }
    }

    /// The use-count paths of `function`, whose calls this oracle answers for.
    fn walk(&self, function: &Function, discipline: Discipline) -> PathReport {
        let rules = SlotRules {
            discipline,
            fail: fail_value(function),
        };
        paths::analyse(function, self, rules)
    }

    /// Whether helper `f` belongs to the module of this oracle's file, so that its
    /// MOD_INC_USE_COUNT is this module's: the same file, or the same directory when no file
    /// exports it (an exported function is some module's interface to others) and the two
    /// files are not each a module's main file (slhc.c and ppp.c both have an init_module).
    fn same_module(&self, f: FnRef) -> bool {
        if f.file == self.file {
            return true;
        }
        let dir = |file: usize| {
            let path = self.index.files[file].path.as_str();
            path.rsplit_once('/').map_or("", |(d, _)| d)
        };
        let main = |file: usize| {
            let m = &self.index.files[file].markers;
            m.init_module || m.module_init
        };
        dir(f.file) == dir(self.file)
            && !(main(f.file) && main(self.file))
            && !self
                .helpers
                .exported
                .contains(self.index.function(f).name.as_str())
    }

    /// Whether `arg` (`tmpl.module`, `tmpl->module`) is a field that this file sets to its own
    /// module, by assignment (`sd_template.module = &__this_module;`) or in the variable's
    /// initializer (`{ module: THIS_MODULE }`): pinning through it pins this module.
    fn own_module_field(&self, arg: &str) -> bool {
        self.field_holds(arg, &self.kb.data.use_count.own_module)
    }

    /// Whether `arg` is a field this file sets to one of `own` (as written without spaces).
    fn field_holds(&self, arg: &str, own: &[String]) -> bool {
        let Some((base, field)) = arg.split_once("->").or_else(|| arg.split_once('.')) else {
            return false;
        };
        if !is_word(base) || !is_word(field) {
            return false;
        }
        let is_own = |v: &str| own.iter().any(|o| *o == v.replace(' ', ""));
        let facts = &self.index.files[self.file];
        if facts
            .field_assigns
            .iter()
            .any(|a| a.base.replace(' ', "") == base && a.field == field && is_own(&a.value))
        {
            return true;
        }
        let Some(var) = self.index.resolve_variable(self.file, base) else {
            return false;
        };
        let ty = self.index.struct_name(&self.index.variable(var).type_name);
        self.index
            .table_values(var, ty)
            .iter()
            .any(|t| match &t.value {
                crate::index::TableContent::Expr(e) => t.field == field && is_own(e),
                crate::index::TableContent::List(_) => false,
            })
    }

    /// Whether `field` (`a.b->usage_count`) is one through which modules count (its last
    /// member is one of the knowledge base's `count_pointers`).
    fn count_pointer(&self, field: &str) -> bool {
        let last = field.rsplit(['.', '>']).next().unwrap_or(field);
        let counts = &self.kb.data.use_count.count_pointers;
        counts.iter().any(|c| c == last)
    }

    /// `(*tmpl.usage_count)++`: the module's own count when this file points the field at it
    /// (`sd_template.usage_count = &mod_use_count_`), another module's otherwise
    /// (`host->hostt->usage_count`, the host adapter's).
    fn bump(&self, field: &str, up: bool) -> CountEffect {
        if !self.count_pointer(field) {
            CountEffect::None
        } else if !self.field_holds(field, &self.kb.data.use_count.own_count) {
            CountEffect::OtherModule
        } else if up {
            CountEffect::Increment
        } else {
            CountEffect::Decrement
        }
    }

    fn effect_of_name(&self, name: &str) -> Option<CountEffect> {
        let u = &self.kb.data.use_count;
        let has = |list: &[String]| list.iter().any(|n| n == name);
        if has(&u.increment) {
            Some(CountEffect::Increment)
        } else if has(&u.decrement) {
            Some(CountEffect::Decrement)
        } else if has(&u.try_increment) {
            Some(CountEffect::Split(Outcomes::pins_when(true)))
        } else {
            self.own_count_macro(name)
        }
    }

    /// A macro of the routine's file that stands for the count macro (vwsnd's
    /// `#ifdef MODULE / #define INC_USE_COUNT MOD_INC_USE_COUNT`): its first definition, which
    /// the module's build takes, is object-like and names one of the use-count macros.
    fn own_count_macro(&self, name: &str) -> Option<CountEffect> {
        if !name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            return None;
        }
        let def = (self.index.files[self.file].macros.iter()).find(|m| m.name == name)?;
        let body = def.body.trim().trim_end_matches(';').trim();
        if def.params.is_some() || body == name {
            return None;
        }
        let u = &self.kb.data.use_count;
        let has = |list: &[String]| list.iter().any(|n| n == body);
        if has(&u.increment) {
            Some(CountEffect::Increment)
        } else if has(&u.decrement) {
            Some(CountEffect::Decrement)
        } else {
            None
        }
    }

    /// Whether a function of this oracle's file touches the use count: directly, or through a
    /// count wrapper of the module (`isdn_tty_startup` pins through `isdn_MOD_INC_USE_COUNT`,
    /// a function whose every return raises the count, and that is only ever called). A helper
    /// that touches the count only on some paths (floppy's `set_dor`, which grabs or releases
    /// by motor bits) is not followed: its caller's walk could not tell those paths apart; nor
    /// is a routine the core also calls (de620's `close`, which a failing init calls only
    /// under a debugging `#ifdef`).
    fn touches_count(&self, function: &Function) -> bool {
        let wrapper = |e: CountEffect| match e {
            CountEffect::Increment | CountEffect::Decrement => true,
            CountEffect::Split(o) => {
                let deltas = o.results.iter().filter(|r| **r != 0).count();
                deltas == 1 && o.results[1] == 0 && o.slept == 0
            }
            _ => false,
        };
        let through_helper = |c: &Call| {
            !c.indirect
                && self.depth < MAX_HELPER_DEPTH
                && (self.index.resolve_function(self.file, &c.callee)).is_some_and(|g| {
                    self.same_module(g) && self.only_called(g) && wrapper(self.helper_effect(g))
                })
        };
        function.body.exprs().any(|e| {
            e.events.iter().any(|ev| match ev {
                Event::Name(n) => self.effect_of_name(n).is_some(),
                Event::Bump { field, .. } => self.count_pointer(field),
                Event::Step { .. } => false,
                Event::Call(c) => self
                    .calls
                    .get(*c as usize)
                    .is_some_and(|c| self.effect_of_name(&c.callee).is_some() || through_helper(c)),
            })
        })
    }

    /// Whether function `g` is only ever called directly in its file.
    fn only_called(&self, g: FnRef) -> bool {
        let known = self
            .helpers
            .value_names
            .lock()
            .unwrap()
            .get(&g.file)
            .cloned();
        let names = known.unwrap_or_else(|| {
            let names = Arc::new(first::value_names(&self.index.files[g.file]));
            (self.helpers.value_names.lock().unwrap()).insert(g.file, names.clone());
            names
        });
        !names.contains(self.index.function(g).name.as_str())
    }

    fn helper_effect(&self, fref: FnRef) -> CountEffect {
        let key = (fref, self.depth, self.guard);
        if let Some(e) = self.helpers.memo.lock().unwrap().get(&key) {
            return *e;
        }
        let function = self.index.function(fref);
        let inner = FileOracle {
            file: fref.file,
            calls: &self.index.files[fref.file].calls,
            depth: self.depth + 1,
            ..*self
        };
        let effect = if self.depth >= MAX_HELPER_DEPTH || !inner.touches_count(function) {
            CountEffect::None
        } else {
            match inner.walk(function, Discipline::Pin).net_effect() {
                // A success that pins nothing: the first user's pin may hold it (`first`).
                CountEffect::Split(o) if o.results[1] & paths::ZERO != 0 => {
                    first::first_user(&inner, fref, function).unwrap_or(CountEffect::Split(o))
                }
                effect => effect,
            }
        };
        self.helpers.memo.lock().unwrap().insert(key, effect);
        effect
    }
}

impl CallOracle for FileOracle<'_> {
    fn may_sleep(&self, call: u32) -> bool {
        !self.dead_call(call)
            && (self.sleep)
                .call_chain(self.index, self.file, call as usize)
                .is_some()
    }

    fn call_effect(&self, call: u32) -> CountEffect {
        let Some(c) = self.calls.get(call as usize) else {
            return CountEffect::None;
        };
        if let Some(e) = self.effect_of_name(&c.callee) {
            // `__MOD_INC_USE_COUNT(host->module)` pins another module.
            let own = &self.kb.data.use_count.own_module;
            let arg = c.args.first().map(|a| a.replace(' ', ""));
            return match arg {
                Some(a) if !own.contains(&a) && !self.own_module_field(&a) => {
                    CountEffect::OtherModule
                }
                _ => e,
            };
        }
        if c.indirect {
            return CountEffect::None;
        }
        match self.index.resolve_function(self.file, &c.callee) {
            Some(f) if self.same_module(f) => self.own_release(f, self.helper_effect(f)),
            // `fat_read_super` raising the fat module's count is nothing to msdos's: a call
            // like any other (work, and maybe a sleep).
            _ => CountEffect::None,
        }
    }

    fn holds_own_module(&self, field: &str) -> bool {
        self.own_module_field(field) || self.field_holds(field, &self.kb.data.use_count.own_count)
    }

    fn bump_effect(&self, field: &str, up: bool) -> CountEffect {
        self.bump(field, up)
    }

    fn release_modes(&self, call: u32) -> Option<Vec<crate::facts::Value>> {
        self.release_modes(call)
    }

    fn stores_field(&self, field: &str, (first, last): (u32, u32)) -> bool {
        let update = |v: &str| {
            let v = v.trim();
            v.starts_with("++") || v.starts_with("--") || v.ends_with("++") || v.ends_with("--")
        };
        (self.index.files[self.file].field_assigns.iter()).any(|a| {
            let base = a.base.replace(' ', "");
            (first..=last).contains(&a.line)
                && !update(&a.value)
                && (field.strip_prefix(base.as_str()))
                    .and_then(|r| r.strip_prefix("->").or_else(|| r.strip_prefix('.')))
                    .is_some_and(|f| f == a.field.as_str())
        })
    }

    fn destructor_stores(&self) -> Vec<u32> {
        self.destructors().lines.clone()
    }

    fn frees_object(&self, call: u32) -> bool {
        self.frees(call, &self.destructors())
    }

    fn name_effect(&self, name: &str) -> CountEffect {
        self.effect_of_name(name).unwrap_or(CountEffect::None)
    }

    fn is_noop(&self, call: u32) -> bool {
        self.dead_call(call)
            || self.calls.get(call as usize).is_some_and(|c| {
                !c.indirect
                    && self.index.resolve_function(self.file, &c.callee).is_none()
                    && (self.helpers.no_work).is_noop(self.index.files, self.file, &c.callee)
            })
    }

    fn never_returns(&self, call: u32) -> bool {
        let never = &self.kb.data.use_count.never_return;
        (self.calls.get(call as usize))
            .is_some_and(|c| !c.indirect && never.iter().any(|n| *n == c.callee))
    }

    fn result_signs(&self, call: u32) -> Option<paths::Signs> {
        let c = self.calls.get(call as usize).filter(|c| !c.indirect)?;
        // Only the file's own helpers: a name resolved across files may be another build's
        // stub of a kernel routine (a `kmalloc` that returns NULL).
        let f = self.index.resolve_function(self.file, &c.callee)?;
        (f.file == self.file)
            .then(|| self.constant_returns(f))
            .flatten()
    }
}

impl FileOracle<'_> {
    /// Whether call `call` does nothing that matters: a no-op macro, a primitive that never
    /// sleeps (`printk`), or a macro that only calls such primitives (`dbg`).
    fn is_quiet(&self, call: u32) -> bool {
        self.calls.get(call as usize).is_some_and(|c| {
            let (files, kb) = (self.index.files, self.kb);
            !c.indirect
                && (kb.never_sleeps(&c.callee)
                    || (self.index.resolve_function(self.file, &c.callee).is_none()
                        && (self.helpers.no_work).is_quiet(files, self.file, &c.callee, kb)))
        })
    }
}

/// Used when re-checking a fixed routine: after the fix the increment comes first, so only
/// the use count matters.
struct NeverSleeps;

impl SleepOracle for NeverSleeps {
    fn call_chain(&self, _: &Index, _: usize, _: usize) -> Option<Vec<ChainStep>> {
        None
    }
}
