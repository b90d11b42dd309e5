//! `modrace stats`: how well the front end parses a tree.

use std::process::ExitCode;

use modrace::session::Session;

use super::{print_warnings, write_stdout, Format};

pub fn run(session: &Session, format: Format, bare: bool, quiet: bool) -> anyhow::Result<ExitCode> {
    let out = session.stats(bare)?;
    print_warnings(&out.warnings, quiet);
    let text = match format {
        Format::Text => out.value.to_text(),
        Format::Json => modrace::report::json::versioned(&out.value),
    };
    write_stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
