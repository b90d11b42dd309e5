//! The baseline file of `check --write-baseline` and `check --baseline`:
//! `{"version": 1, "findings": [{"rule", "file", "function", "slot"}]}` (schema/baseline.schema.json).
//! No line: a finding keeps its key while the code around it moves.

use serde::{Deserialize, Serialize};

use super::json::{versioned, VERSION};
use crate::rules::{rule, Baseline, FindingKey};

#[derive(Serialize)]
struct Body<'a> {
    findings: &'a [FindingKey],
}

#[derive(Deserialize)]
struct File {
    version: Option<u32>,
    findings: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    rule: String,
    file: String,
    function: String,
    slot: String,
}

/// The baseline as its file holds it.
pub fn render(baseline: &Baseline) -> String {
    versioned(&Body {
        findings: &baseline.keys,
    })
}

/// Reads a baseline file's text: an error says what is wrong with it (not JSON, another
/// version, a rule or slot modrace does not know).
pub fn parse(text: &str) -> Result<Baseline, String> {
    let file: File = serde_json::from_str(text).map_err(|e| format!("not a baseline: {e}"))?;
    match file.version {
        Some(VERSION) => {}
        Some(v) => {
            return Err(format!(
                "baseline version {v}; this modrace reads {VERSION}"
            ))
        }
        None => return Err("not a baseline: no \"version\"".into()),
    }
    let keys = file
        .findings
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let at = |e: String| format!("finding {}: {e}", i + 1);
            Ok(FindingKey {
                rule: rule(&r.rule)
                    .ok_or_else(|| at(format!("no rule `{}`", r.rule)))?
                    .code,
                slot: r.slot.parse().map_err(at)?,
                file: r.file,
                function: r.function,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Baseline { keys })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entries::{Slot, SlotRef};
    use crate::rules::Code;

    #[test]
    fn round_trips_and_refuses_what_it_cannot_read() {
        let keys = vec![
            FindingKey {
                rule: Code::Mr005,
                file: "drivers/a.c".into(),
                function: "a_open".into(),
                slot: SlotRef::Field(Slot::new("file_operations", "open")),
            },
            FindingKey {
                rule: Code::Mr103,
                file: "b.c".into(),
                function: "b_probe".into(),
                slot: SlotRef::Callback {
                    routine: "reg".into(),
                    arg: 2,
                },
            },
        ];
        let text = render(&Baseline { keys: keys.clone() });
        assert_eq!(parse(&text).unwrap().keys, keys);
        let errors = [
            ("[]", "not a baseline"),
            ("{\"findings\": []}", "no \"version\""),
            ("{\"version\": 2, \"findings\": []}", "version 2"),
            (
                "{\"version\": 1, \"findings\": [{\"rule\": \"MR999\", \"file\": \"a.c\", \
                 \"function\": \"f\", \"slot\": \"a.b\"}]}",
                "finding 1: no rule `MR999`",
            ),
            (
                "{\"version\": 1, \"findings\": [{\"rule\": \"MR001\", \"file\": \"a.c\", \
                 \"function\": \"f\", \"slot\": \"ab\"}]}",
                "not a slot",
            ),
        ];
        for (text, error) in errors {
            let e = parse(text).unwrap_err();
            assert!(e.contains(error), "{text}: {e}");
        }
    }
}
