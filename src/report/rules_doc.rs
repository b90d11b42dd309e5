//! `docs/rules.md`: every rule with its explanation and examples, the page SARIF's `helpUri`
//! points at. A test keeps the committed file equal to [`markdown`].

use crate::rules::{Rule, RULES};

/// Where the rules page is published, relative to the repository.
pub const RULES_PAGE: &str = "docs/rules.md";

/// The page's anchor of a rule: GitHub's slug of its heading `MR001 sleep-before-inc`.
pub fn anchor(r: &Rule) -> String {
    format!("{}-{}", r.code.as_str().to_ascii_lowercase(), r.name)
}

/// The rules page.
pub fn markdown() -> String {
    let mut out = String::from(
        "# modrace rules\n\n\
         Generated from the rules' definitions (`src/rules/`); `cargo test` fails when this \
         file is out of date, `MODRACE_BLESS=1 cargo test --test sarif_fixes` rewrites it.\n\n\
         | code | name | severity | precision | what is wrong |\n|---|---|---|---|---|\n",
    );
    for r in RULES {
        out.push_str(&format!(
            "| [{}](#{}) | {} | {} | {} | {} |\n",
            r.code,
            anchor(r),
            r.name,
            r.severity.as_str(),
            r.precision.as_str(),
            r.summary
        ));
    }
    for r in RULES {
        out.push_str(&format!(
            "\n## {} {}\n\n{}, precision {}{}: {}.\n\n{}\n\n**Wrong**\n\n```c\n{}\n```\n\n**Right**\n\n```c\n{}\n```\n",
            r.code,
            r.name,
            r.severity.as_str(),
            r.precision.as_str(),
            if r.preview { ", preview (runs only with `--select`)" } else { "" },
            r.summary,
            r.explanation,
            r.wrong,
            r.right
        ));
    }
    out
}
