//! `modrace why-sleeps`: whether a function may sleep, and the chain down to what sleeps.

use std::process::ExitCode;

use modrace::session::{Session, SleepQuestion};
use modrace::sleep::UnknownPolicy;

use super::memo::printed;
use super::{json_line, Format};

pub fn run(
    session: &Session,
    function: &str,
    mask: Option<&str>,
    unknown: UnknownPolicy,
    file: Option<&str>,
    format: Format,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let salt = format!("why-sleeps {function:?} {mask:?} {unknown:?} {file:?} {format:?}");
    printed(session, false, salt, quiet, || {
        let out = session.why_sleeps(&SleepQuestion {
            function,
            mask,
            unknown,
            file,
        })?;
        let text = match format {
            Format::Text => out.value.to_text(),
            Format::Json => json_line(&out.value)?,
        };
        Ok((out.warnings, out.inputs, text))
    })
}
