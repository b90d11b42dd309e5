//! The knowledge base's `[sleep]` section: where sleeping starts, and the may-sleep
//! analysis' bounds.

use serde::Deserialize;

/// What the may-sleep analysis needs to know that the tree's own code does not say: where
/// sleeping starts (primitives whose bodies are assembly, inline assembly or too conditional to
/// read), which GFP bit lets an allocation wait, and how far to follow calls through pointers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SleepKb {
    /// The GFP bit that lets an allocation wait for memory. Which masks include it is read
    /// from the tree's own `#define`s.
    pub gfp_wait_bit: String,
    /// Trees older than the wait bit (2.0) pass a priority level instead of a set of bits:
    /// used when the tree defines no wait bit but defines this model's level mask.
    pub gfp_priorities: Option<GfpPriorities>,
    /// The architecture whose definitions win when a name is defined once per architecture
    /// (`request_irq`) and the caller is not itself architecture-specific.
    pub preferred_arch: Option<String>,
    /// A slot (`struct.field`) stored with more functions than this is a generic interface;
    /// a call through it is reported as unknown instead of joining every implementation.
    pub max_slot_targets: usize,
    /// A call through `->field` whose struct cannot be determined is resolved by the field
    /// name when at most this many structs have a function-pointer field of that name.
    pub max_field_structs: usize,
    /// Names (glob patterns) that never sleep; they are not followed.
    pub never: Vec<String>,
    /// Slots (`struct.field`) the kernel calls in interrupt or bottom-half context: their
    /// implementations must not sleep, so a call through them is not followed.
    pub atomic_slots: Vec<String>,
    #[serde(default, rename = "primitive")]
    pub primitives: Vec<SleepPrimitive>,
}

/// Allocation priorities as levels (2.0's `GFP_KERNEL` is 0x03, not a set of bits): a priority
/// waits unless its level (the value under the level mask) is one of the non-waiting ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GfpPriorities {
    /// The macro whose value masks the level out of a priority (`GFP_LEVEL_MASK`).
    pub level_mask: String,
    /// Priorities that never wait (`GFP_ATOMIC`; `GFP_BUFFER` frees no pages).
    pub nowait: Vec<String>,
}

/// A routine that may sleep by itself; the analysis does not look into its body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepPrimitive {
    pub name: String,
    pub kind: SleepKind,
    /// 0-based argument holding a GFP mask: the routine sleeps iff that mask includes the
    /// wait bit. Without it the routine always may sleep.
    #[serde(default)]
    pub mask_arg: Option<usize>,
    #[serde(default)]
    pub evidence: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SleepKind {
    /// Gives up the CPU: schedule, sleep_on, down.
    Blocks,
    /// Touches user memory: a page fault may sleep.
    UserAccess,
    /// Loads a module: waits for modprobe.
    ModuleLoad,
    /// Allocates memory: may wait for memory to be freed.
    Alloc,
}

impl SleepKind {
    pub fn describe(self) -> &'static str {
        match self {
            SleepKind::Blocks => "blocks (gives up the CPU)",
            SleepKind::UserAccess => "touches user memory (a page fault may sleep)",
            SleepKind::ModuleLoad => "loads a module (waits for modprobe)",
            SleepKind::Alloc => "allocates memory (may wait for memory to be freed)",
        }
    }
}
