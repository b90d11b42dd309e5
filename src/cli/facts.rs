//! `modrace facts`: the per-file facts, as JSON (front-end debugging).

use std::process::ExitCode;

use modrace::session::Session;

use super::{json_line, print_warnings, write_stdout};

pub fn run(session: &Session, bodies: bool) -> anyhow::Result<ExitCode> {
    let out = session.facts(bodies)?;
    // Front-end debugging: the skipped files are part of the answer, even with -q.
    print_warnings(&out.warnings, false);
    write_stdout(json_line(&out.value)?.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
