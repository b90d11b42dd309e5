//! `history`'s outputs: the text, and the JSON (`schema/history.schema.json`), with releases
//! named by their tags.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::rules::history::{Cause, History, Lifeline, Summary};
use crate::rules::Code;

/// How many deaths the outputs list to check by hand.
pub const DEATH_SAMPLE: usize = 10;

#[derive(Serialize)]
struct Json<'a> {
    summary: Summary,
    releases: &'a [crate::rules::history::Release],
    findings: Vec<JsonFinding<'a>>,
    /// Every k-th death by rule, file, function and slot (indices into `findings`).
    death_sample: Vec<usize>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: Code,
    file: &'a str,
    function: &'a str,
    slot: String,
    module: &'a str,
    line: u32,
    born: &'a str,
    last: &'a str,
    lifespan: usize,
    censored: bool,
    death: Option<JsonDeath<'a>>,
    moves: Vec<JsonMove<'a>>,
    /// The finding of the same key that died before this one was born (index into
    /// `findings`).
    returns: Option<usize>,
}

#[derive(Serialize)]
struct JsonDeath<'a> {
    release: &'a str,
    cause: Cause,
}

#[derive(Serialize)]
struct JsonMove<'a> {
    release: &'a str,
    file: &'a str,
}

fn tag(h: &History, i: usize) -> &str {
    h.releases.get(i).map_or("", |r| r.tag.as_str())
}

/// The JSON document, in the envelope every JSON output shares.
pub fn json(h: &History) -> String {
    let findings = (h.findings.iter())
        .map(|f| JsonFinding {
            rule: f.key.rule,
            file: &f.key.file,
            function: &f.key.function,
            slot: f.key.slot.to_string(),
            module: &f.module,
            line: f.line,
            born: tag(h, f.born),
            last: tag(h, f.last),
            lifespan: f.lifespan,
            censored: f.censored,
            death: f.death.as_ref().map(|d| JsonDeath {
                release: tag(h, d.release),
                cause: d.cause,
            }),
            moves: (f.moves.iter())
                .map(|(r, file)| JsonMove {
                    release: tag(h, *r),
                    file,
                })
                .collect(),
            returns: f.returns,
        })
        .collect();
    let sample = h.death_sample(DEATH_SAMPLE);
    let death_sample = (sample.iter())
        .filter_map(|s| h.findings.iter().position(|f| std::ptr::eq(f, *s)))
        .collect();
    super::json::versioned(&Json {
        summary: h.summary(),
        releases: &h.releases,
        findings,
        death_sample,
    })
}

/// The text: the summary, a table of the releases, the deaths to check, every finding's life.
pub fn text(h: &History) -> String {
    let mut out = String::new();
    let s = h.summary();
    let first = h.releases.first().map_or("", |r| r.tag.as_str());
    let last = h.releases.last().map_or("", |r| r.tag.as_str());
    let _ = writeln!(out, "{} releases, {first} to {last}", s.releases);
    let _ = writeln!(
        out,
        "{} findings: {} in the first release, {} born after it; {} died, {} still there at \
         the end (censored)",
        s.findings,
        s.findings - s.born_after_first,
        s.born_after_first,
        s.died,
        s.censored
    );
    let _ = writeln!(
        out,
        "{} findings came back after they died (born again with the same key)",
        s.returned
    );
    let causes: Vec<String> = (Cause::ALL.iter())
        .map(|c| format!("{} {}", c.as_str(), s.deaths_by_cause.get(c).unwrap_or(&0)))
        .collect();
    let _ = writeln!(out, "deaths by cause: {}", causes.join(", "));
    let median = |m: Option<f64>| m.map_or("-".to_string(), |m| format!("{m}"));
    let _ = writeln!(
        out,
        "median lifespan in releases: {} of the findings that died, {} of all (censored \
         ones counted to the end)",
        median(s.median_lifespan_dead),
        median(s.median_lifespan_all)
    );
    releases_table(h, &mut out);
    let sample = h.death_sample(DEATH_SAMPLE);
    if !sample.is_empty() {
        let _ = writeln!(
            out,
            "\ndeaths to check (every k-th by rule, file, function; git diff LAST DIED -- FILE):"
        );
        for f in sample {
            let _ = writeln!(out, "  {}", life(h, f));
        }
    }
    let _ = writeln!(out, "\nfindings:");
    for f in &h.findings {
        let _ = writeln!(out, "  {}", life(h, f));
    }
    crate::diag::escape_terminal(&out).into_owned()
}

fn releases_table(h: &History, out: &mut String) {
    let rules: Vec<Code> = {
        let mut all: BTreeMap<Code, ()> = BTreeMap::new();
        for r in &h.releases {
            all.extend(r.by_rule.keys().map(|c| (*c, ())));
        }
        all.into_keys().collect()
    };
    let width = h
        .releases
        .iter()
        .map(|r| r.tag.len())
        .max()
        .unwrap_or(3)
        .max(7);
    let _ = write!(
        out,
        "\n{:<width$} {:>6} {:>6} {:>8}",
        "tag", "files", "parsed", "findings"
    );
    for c in &rules {
        let _ = write!(out, " {:>5}", c.as_str());
    }
    let _ = writeln!(out, " {:>4} {:>4}", "born", "died");
    for r in &h.releases {
        let _ = write!(
            out,
            "{:<width$} {:>6} {:>6} {:>8}",
            r.tag, r.files, r.parsed, r.findings
        );
        for c in &rules {
            let _ = write!(out, " {:>5}", r.by_rule.get(c).unwrap_or(&0));
        }
        let _ = writeln!(out, " {:>4} {:>4}", r.born, r.died);
    }
}

/// One finding's life on a line.
fn life(h: &History, f: &Lifeline) -> String {
    let end = match &f.death {
        Some(d) => format!("died in {} ({})", tag(h, d.release), d.cause.as_str()),
        None => "alive at the end".to_string(),
    };
    let mut moves: String = (f.moves.iter())
        .map(|(r, file)| format!(", moved to {file} in {}", tag(h, *r)))
        .collect();
    if let Some(before) = f.returns.and_then(|i| h.findings.get(i)) {
        let died = before.death.as_ref().map_or(0, |d| d.release);
        let _ = write!(moves, ", came back (died in {} before)", tag(h, died));
    }
    format!(
        "{} {}: {} [{}] born {}, last {} ({} release{}), {end}{moves}",
        f.key.rule.as_str(),
        f.key.file,
        f.key.function,
        f.key.slot,
        tag(h, f.born),
        tag(h, f.last),
        f.lifespan,
        if f.lifespan == 1 { "" } else { "s" }
    )
}
