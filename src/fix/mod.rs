//! Fixes for MR001, MR002 and MR003: [`routine`] rewrites one routine as the mail asks,
//! [`plan`] turns a report's findings and their files' texts into patches, [`apply`] is the
//! one place that writes a source file.

mod apply;
mod plan;
mod routine;

pub use apply::apply_patch;
pub use plan::{plan, FilePatch, FixedRoutine};
pub use routine::{fix_routine, unified_diff, FixRequest, FixResult};
