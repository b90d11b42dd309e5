//! Which knowledge base a run uses: the era given with `--era`, else the one whose releases
//! cover the version the tree's top-level Makefile says, else the default era; `--kb` merges
//! a file over it and `--kb-replace` replaces it.

use std::path::PathBuf;

use anyhow::{anyhow, Result};

use modrace::kb::{builtin_names, EraChoice, Kb, KernelVersion, DEFAULT_KB};
use modrace::source::tree_version;

use super::Cli;

/// The options that choose the knowledge base.
#[derive(Clone)]
pub struct KbOptions {
    pub era: Option<String>,
    pub kb: Option<PathBuf>,
    pub kb_replace: Option<PathBuf>,
}

impl From<&Cli> for KbOptions {
    fn from(cli: &Cli) -> Self {
        Self {
            era: cli.era.clone(),
            kb: cli.kb.clone(),
            kb_replace: cli.kb_replace.clone(),
        }
    }
}

/// The built-in knowledge base `--era` names, or the default era's.
pub fn builtin_text(cli: &KbOptions) -> Result<&'static str> {
    match &cli.era {
        Some(name) => modrace::kb::builtin_text(name).ok_or_else(|| {
            anyhow!(
                "no era called `{name}`; the eras are: {}",
                builtin_names().join(", ")
            )
        }),
        None => Ok(DEFAULT_KB),
    }
}

/// The knowledge base for a run over `roots`, and how its era was chosen.
pub fn knowledge_base(cli: &KbOptions, roots: &[PathBuf]) -> Result<(Kb, EraChoice)> {
    let found = roots.first().and_then(|r| tree_version(r)).map(|(v, _)| v);
    knowledge_base_for(cli, found)
}

/// The knowledge base for a tree whose top-level Makefile says `found`.
pub fn knowledge_base_for(
    cli: &KbOptions,
    found: Option<KernelVersion>,
) -> Result<(Kb, EraChoice)> {
    let _t = modrace::timing::Phase::start("kb");
    if let Some(path) = &cli.kb_replace {
        return Ok((Kb::load(path)?, EraChoice::Given));
    }
    let (base, choice) = if cli.era.is_some() {
        (builtin_text(cli)?, EraChoice::Given)
    } else {
        let base = found.and_then(modrace::kb::builtin_text_for);
        match (found, base) {
            (Some(v), Some(base)) => (
                base,
                EraChoice::Makefile {
                    version: v.to_string(),
                },
            ),
            _ => (DEFAULT_KB, EraChoice::Assumed),
        }
    };
    let kb = match &cli.kb {
        Some(path) => Kb::load_over(base, path)?,
        None => Kb::from_toml(base)?,
    };
    Ok((kb, choice))
}
