//! `modrace bkl`: whether the core holds the big kernel lock where it calls each slot.

use std::process::ExitCode;

use modrace::session::Session;

use super::{print_warnings, write_stdout, Format};

pub fn run(session: &Session, format: Format, quiet: bool) -> anyhow::Result<ExitCode> {
    let out = session.bkl()?;
    print_warnings(&out.warnings, quiet);
    let text = match format {
        Format::Text => modrace::report::bkl::render(&out.value),
        Format::Json => modrace::report::json::versioned(&out.value),
    };
    write_stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
