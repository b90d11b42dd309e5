//! `modrace bkl`: whether the core holds the big kernel lock where it calls each slot.

use std::process::ExitCode;

use modrace::session::Session;

use super::memo::printed;
use super::Format;

pub fn run(session: &Session, format: Format, quiet: bool) -> anyhow::Result<ExitCode> {
    printed(session, true, format!("bkl {format:?}"), quiet, || {
        let out = session.bkl()?;
        let text = match format {
            Format::Text => modrace::report::bkl::render(&out.value),
            Format::Json => modrace::report::json::versioned(&out.value),
        };
        Ok((out.warnings, out.inputs, text))
    })
}
