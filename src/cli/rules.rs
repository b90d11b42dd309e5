//! `modrace rules` and `modrace explain`.

use std::process::ExitCode;

use modrace::rules::{rule, RULES};

use super::write_stdout;

/// The rules, one line each.
pub fn list() -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    let width = RULES.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in RULES {
        let preview = if r.preview {
            " (preview: only with --select)"
        } else {
            ""
        };
        text.push_str(&format!(
            "{}  {:<width$} {:<8} {}{preview}\n",
            r.code,
            r.name,
            r.severity.as_str(),
            r.summary
        ));
    }
    write_stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// A rule in plain words, with a wrong and a right example.
pub fn explain(code: &str) -> anyhow::Result<ExitCode> {
    let Some(r) = rule(code) else {
        anyhow::bail!("no rule `{code}`; `modrace rules` lists them");
    };
    let text = format!(
        "{} {} ({})\n\n{}\n\nWrong:\n\n{}\n\nRight:\n\n{}\n",
        r.code,
        r.name,
        r.severity.as_str(),
        textwrap(r.explanation, 78),
        indent(r.wrong),
        indent(r.right)
    );
    write_stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Wraps prose at `width` columns.
fn textwrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

fn indent(code: &str) -> String {
    code.lines()
        .map(|l| format!("    {}", l.replace('\t', "    ")))
        .collect::<Vec<_>>()
        .join("\n")
}
