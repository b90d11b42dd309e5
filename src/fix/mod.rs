//! Fixes for MR001, MR002 and MR003, MR101's owner ([`owner`]), MR103's put before a failure
//! return ([`getleak`]) and MR106's thread exit ([`thread`]): [`routine`] rewrites one routine as the mail asks,
//! [`diff`] renders `--diff`, [`plan`] turns a report's findings and their files' texts into patches, [`apply`] is the
//! one place that writes a source file.

mod apply;
mod diff;
mod getleak;
mod owner;
mod plan;
mod routine;
mod thread;

pub use apply::{apply_patch, apply_patch_with, TEMP_PREFIX};
pub use diff::{quote_path, unified_diff};
pub use plan::{plan, read_sources, FilePatch, FixedRoutine};
pub use routine::{fix_routine, FixRequest, FixResult};

/// The column text ends at, tabs every 8 columns as the kernel writes them (multi-byte
/// characters count per byte: only indentation and ASCII names are measured).
fn tab_column(text: &[u8]) -> usize {
    text.iter().fold(0, |c, &b| match b {
        b'\t' => (c / 8 + 1) * 8,
        _ => c + 1,
    })
}
