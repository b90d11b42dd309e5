//! The knowledge base's `[owners]` section (2.5 on): how the core pins the module behind a
//! table through the table's owner field, and which routines keep a table that the core later
//! pins that way.
//!
//! Which structures are pinned, and through which field, is read from the tree's own core
//! (`try_module_get(ops->owner)` with `ops` declared `struct X *`); `pinned` seeds the pins
//! the tree makes where that reading cannot see them (inside a macro's body).

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OwnersKb {
    /// Routines that pin the module their argument names and fail when it is going away
    /// (`try_module_get`): `pin(E->F)` says the core pins `E`'s structure through `F`.
    pub pin_routines: Vec<String>,
    /// Routines that pin the module their argument names without failing (`__module_get`) and
    /// those that may fail: with the module's own name, a pin a module may never drop.
    pub self_pin_routines: Vec<String>,
    /// Routines that drop a pin on the module their first argument names (`module_put`).
    pub unpin_routines: Vec<String>,
    /// Routines that drop a pin on the calling module itself (`module_put_and_kthread_exit`).
    pub self_unpin_routines: Vec<String>,
    /// Routines that make an error pointer (`ERR_PTR`): a routine that returns one fails so,
    /// and its NULL may be a success.
    pub error_pointer_routines: Vec<String>,
    /// What a module writes for its own module (`THIS_MODULE`): the value a fix assigns.
    pub this_module: String,
    /// Routines that start a kernel thread running the routine of their first argument.
    pub thread_starters: Vec<String>,
    /// Routines that stop a kernel thread and wait for its function to return.
    pub thread_stoppers: Vec<String>,
    /// Pins the reading of the tree cannot see.
    pub pinned: Vec<PinnedField>,
    /// Slots the core calls with no pin and no drain on unregister: a routine there that pins
    /// its own module does so too late.
    pub unguarded: Vec<PinnedField>,
    /// Structures whose unregister waits for the calls in flight: their routines run while
    /// the module cannot go away.
    pub drained: Vec<DrainedStruct>,
    /// Routines that keep a table and later call into it after pinning its owner.
    #[serde(rename = "consumer")]
    pub consumers: Vec<Consumer>,
    /// How often the core calls a structure's slots (MR104): a reference taken in a slot of
    /// one class must be dropped in a slot of the same class.
    #[serde(rename = "lifetime")]
    pub lifetimes: Vec<SlotLifetime>,
}

/// Slots of a structure the core calls equally often (`open` and `close` of a tty: once per
/// open call; `install` and `cleanup`: once per tty object).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotLifetime {
    #[serde(rename = "struct")]
    pub struct_name: String,
    /// How often, in words (`once per open call`).
    pub class: String,
    pub slots: Vec<String>,
    /// Where the core calls them so, for the finding's explanation.
    pub evidence: String,
}

/// A structure whose owner field the core pins: `struct.field`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedField {
    #[serde(rename = "struct")]
    pub struct_name: String,
    pub field: String,
    /// Where the tree pins it, for the finding's explanation (`fops_get` in `fs/open.c`).
    pub evidence: String,
}

/// A structure whose unregister waits for the calls into it that are in flight.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainedStruct {
    #[serde(rename = "struct")]
    pub struct_name: String,
    /// How the unregister drains, for the reader of the knowledge base.
    pub evidence: String,
}

/// A routine that keeps the table it is given (directly, or as a member of the structure it
/// is given) and pins the table's owner before each call into it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    pub name: String,
    /// 0-based index of the argument that is the table, or the structure holding it.
    pub arg: usize,
    /// The argument's member that holds the table (`fops` of a `struct miscdevice`).
    #[serde(default)]
    pub member: Option<String>,
    /// The table's structure.
    #[serde(rename = "struct")]
    pub struct_name: String,
    /// Another argument whose owner protects the table too (`cdev_init(cdev, fops)`: opening
    /// pins `cdev->owner` before `fops`); setting it in the calling routine is enough.
    #[serde(default)]
    pub or_owner_of: Option<ArgOwner>,
    #[serde(default)]
    pub evidence: Option<String>,
}

/// An argument's owner field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgOwner {
    pub arg: usize,
    pub field: String,
}

impl OwnersKb {
    /// The lifetime class of a structure's slot, if the knowledge base knows it.
    pub fn lifetime(&self, strukt: &str, field: &str) -> Option<&SlotLifetime> {
        (self.lifetimes.iter())
            .find(|l| l.struct_name == strukt && l.slots.iter().any(|s| s == field))
    }

    pub fn has_lifetimes(&self, strukt: &str) -> bool {
        self.lifetimes.iter().any(|l| l.struct_name == strukt)
    }

    pub fn consumer(&self, name: &str) -> Option<&Consumer> {
        self.consumers.iter().find(|c| c.name == name)
    }

    pub fn is_pin_routine(&self, name: &str) -> bool {
        named(&self.pin_routines, name)
    }

    pub fn is_self_pin_routine(&self, name: &str) -> bool {
        named(&self.self_pin_routines, name)
    }

    /// A routine that takes a module reference: a pin routine or a self-pin one.
    pub fn takes_reference(&self, name: &str) -> bool {
        self.is_pin_routine(name) || self.is_self_pin_routine(name)
    }

    pub fn is_unpin_routine(&self, name: &str) -> bool {
        named(&self.unpin_routines, name)
    }

    pub fn is_self_unpin_routine(&self, name: &str) -> bool {
        named(&self.self_unpin_routines, name)
    }

    pub fn is_thread_starter(&self, name: &str) -> bool {
        named(&self.thread_starters, name)
    }

    pub fn is_thread_stopper(&self, name: &str) -> bool {
        named(&self.thread_stoppers, name)
    }

    /// The unguarded slot `strukt.field`, if the knowledge base names it.
    pub fn unguarded(&self, strukt: &str, field: &str) -> Option<&PinnedField> {
        (self.unguarded.iter()).find(|u| u.struct_name == strukt && u.field == field)
    }

    pub fn is_drained(&self, strukt: &str) -> bool {
        self.drained.iter().any(|d| d.struct_name == strukt)
    }

    pub fn is_error_pointer_routine(&self, name: &str) -> bool {
        named(&self.error_pointer_routines, name)
    }
}

fn named(list: &[String], name: &str) -> bool {
    list.iter().any(|r| r == name)
}
