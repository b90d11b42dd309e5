//! `modrace why-sleeps`: whether a function may sleep, and the chain down to what sleeps.

use std::process::ExitCode;

use modrace::session::{Session, SleepQuestion};
use modrace::sleep::UnknownPolicy;

use super::{json_line, print_warnings, write_stdout, Format};

pub fn run(
    session: &Session,
    function: &str,
    mask: Option<&str>,
    unknown: UnknownPolicy,
    file: Option<&str>,
    format: Format,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let out = session.why_sleeps(&SleepQuestion {
        function,
        mask,
        unknown,
        file,
    })?;
    print_warnings(&out.warnings, quiet);
    let text = match format {
        Format::Text => out.value.to_text(),
        Format::Json => json_line(&out.value)?,
    };
    write_stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
