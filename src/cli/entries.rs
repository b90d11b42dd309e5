//! `modrace entries`: every routine a module hands to the kernel (the mail's task list).

use std::process::ExitCode;

use modrace::report::entries;
use modrace::session::Session;

use super::{print_warnings, write_stdout, Format};

pub fn run(
    session: &Session,
    format: Format,
    sites: bool,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let out = session.entries()?;
    print_warnings(&out.warnings, quiet);
    let (report, locking) = out.value;
    let text = match (format, sites) {
        (Format::Text, false) => entries::render(&report, Some(&locking)),
        (Format::Json, false) => entries::json(&report, Some(&locking)),
        (Format::Text, true) => entries::render_sites(&report),
        (Format::Json, true) => entries::sites_json(&report),
    };
    write_stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
