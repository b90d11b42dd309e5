//! `modrace entries`: every routine a module hands to the kernel (the mail's task list).

use std::process::ExitCode;

use modrace::report::entries;
use modrace::session::Session;

use super::memo::printed;
use super::Format;

pub fn run(
    session: &Session,
    format: Format,
    sites: bool,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let salt = format!("entries {format:?} sites={sites}");
    printed(session, true, salt, quiet, || {
        let out = session.entries()?;
        let (report, locking) = out.value;
        let text = match (format, sites) {
            (Format::Text, false) => entries::render(&report, Some(&locking)),
            (Format::Json, false) => entries::json(&report, Some(&locking)),
            (Format::Text, true) => entries::render_sites(&report),
            (Format::Json, true) => entries::sites_json(&report),
        };
        Ok((out.warnings, out.inputs, text))
    })
}
