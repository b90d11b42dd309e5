//! `modrace kb`: the knowledge base in use, summed up or printed whole.

use std::path::Path;
use std::process::ExitCode;

use modrace::kb::{merged_over, Kb};

use super::write_stdout;

pub fn run(
    kb: &Kb,
    base: &str,
    merged: Option<&Path>,
    replaced: Option<&Path>,
    print: bool,
) -> anyhow::Result<ExitCode> {
    let text = if print {
        match (merged, replaced) {
            (Some(path), _) => format!(
                "# The built-in knowledge base with {} merged over it (comments dropped).\n{}",
                path.display(),
                merged_over(base, path)?
            ),
            (None, Some(path)) => std::fs::read_to_string(path)?,
            (None, None) => base.to_string(),
        }
    } else {
        let d = &kb.data;
        let source = match (merged, replaced) {
            (Some(path), _) => format!("built-in, with {} merged over it", path.display()),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => format!("built-in, era {}", kb.data.era.name),
        };
        format!(
            "knowledge base: {source}\n\
             {} registration routines, {} not registrations, {} slots, {} members, \
             {} table macros, {} copy routines\n\
             {} sleep primitives, {} never sleeping, {} atomic slots; {} lock system-call roots\n\
             `modrace kb --print` prints it\n",
            d.registrations.len(),
            d.not_registrations.len(),
            d.slots.len(),
            d.members.len(),
            d.table_macros.len(),
            d.copy_routines.len(),
            d.sleep.primitives.len(),
            d.sleep.never.len(),
            d.sleep.atomic_slots.len(),
            d.bkl.roots.len() + d.bkl.root_calls.len(),
        )
    };
    write_stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
