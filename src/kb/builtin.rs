//! The knowledge bases built into modrace, one per era, and `--kb` files merged over them.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result};

use super::{merge, Era, Kb, KernelVersion};

/// The knowledge bases shipped with modrace, one per era, oldest first.
pub const BUILTIN: [&str; 2] = [
    include_str!("../../kb/linux-2.4.toml"),
    include_str!("../../kb/linux-6.toml"),
];

/// The knowledge base of the default era, for trees that do not say their version.
pub const DEFAULT_KB: &str = BUILTIN[0];

/// The `[era]` of each built-in knowledge base with its text, read once: choosing an era
/// reads only these, and only the chosen text is parsed whole.
fn eras() -> &'static [(Era, &'static str)] {
    /// A knowledge base's `[era]` alone; the other sections are skipped.
    #[derive(serde::Deserialize)]
    struct EraSection {
        #[serde(default)]
        era: Era,
    }
    static ERAS: OnceLock<Vec<(Era, &'static str)>> = OnceLock::new();
    ERAS.get_or_init(|| {
        BUILTIN
            .iter()
            .map(|&t| {
                let s: EraSection =
                    toml::from_str(t).expect("the embedded knowledge bases are valid");
                (s.era, t)
            })
            .collect()
    })
}

/// The text of the built-in knowledge base of the era called `name`, if there is one.
pub fn builtin_text(name: &str) -> Option<&'static str> {
    eras().iter().find(|(e, _)| e.name == name).map(|(_, t)| *t)
}

/// The text of the built-in knowledge base whose era covers release `v`.
pub fn builtin_text_for(v: KernelVersion) -> Option<&'static str> {
    eras().iter().find(|(e, _)| e.covers(v)).map(|(_, t)| *t)
}

/// The names of the built-in eras, oldest first.
pub fn builtin_names() -> Vec<String> {
    eras().iter().map(|(e, _)| e.name.clone()).collect()
}

pub(super) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read knowledge base {}", path.display()))
}

/// The TOML text of the built-in knowledge base with `path` merged over it (comments are
/// lost in the merge).
pub fn merged_over_builtin(path: &Path) -> Result<String> {
    merged_over(DEFAULT_KB, path)
}

/// The TOML text of knowledge base `base` with `path` merged over it.
pub fn merged_over(base: &str, path: &Path) -> Result<String> {
    let over: toml::Table = toml::from_str(&read(path)?)
        .with_context(|| format!("invalid knowledge base {}", path.display()))?;
    let mut base: toml::Table =
        toml::from_str(base).context("the embedded knowledge base is valid")?;
    merge::merge(&mut base, over);
    toml::to_string_pretty(&base).context("cannot write the merged knowledge base")
}

impl Kb {
    /// The built-in knowledge base of the default era.
    pub fn builtin() -> Self {
        Self::from_toml(DEFAULT_KB).expect("the embedded knowledge base is valid")
    }

    /// Every built-in knowledge base, oldest era first.
    pub fn builtin_eras() -> Vec<Self> {
        BUILTIN
            .iter()
            .map(|t| Self::from_toml(t).expect("the embedded knowledge bases are valid"))
            .collect()
    }

    /// The built-in knowledge base of the era called `name`.
    pub fn builtin_era(name: &str) -> Option<Self> {
        builtin_text(name)
            .map(|t| Self::from_toml(t).expect("the embedded knowledge bases are valid"))
    }

    /// The built-in knowledge base whose era covers release `v`.
    pub fn builtin_for(v: KernelVersion) -> Option<Self> {
        builtin_text_for(v)
            .map(|t| Self::from_toml(t).expect("the embedded knowledge bases are valid"))
    }
}
