//! `modrace stats`: how well the front end parses a tree.

use std::process::ExitCode;

use modrace::session::Session;

use super::memo::printed;
use super::{print_warnings, write_stdout, Format};

pub fn run(session: &Session, format: Format, bare: bool, quiet: bool) -> anyhow::Result<ExitCode> {
    let compute = || {
        let out = session.stats(bare)?;
        let text = match format {
            Format::Text => out.value.to_text(),
            Format::Json => modrace::report::json::versioned(&out.value),
        };
        Ok((out.warnings, out.inputs, text))
    };
    if bare {
        // The baseline a cached run is measured against: always parsed.
        let (warnings, _, text) = compute()?;
        print_warnings(&warnings, quiet);
        write_stdout(text.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    printed(session, false, format!("stats {format:?}"), quiet, compute)
}
