//! `history --format html`: one self-contained page (no script, no outside resource) with two
//! inline SVG charts, the findings per release by rule and a lifeline per finding, and the
//! summary. Kept apart from `check`'s HTML report until the two share their pieces.

use super::html::esc;
use std::fmt::Write;

use crate::rules::history::{Cause, History, Lifeline};
use crate::rules::Code;

/// Colors of the rules, in code order, and of the causes of death.
const RULE_COLORS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
];

fn cause_color(cause: Option<Cause>) -> &'static str {
    match cause {
        None => "#888888",
        Some(Cause::RoutineChanged) => "#59a14f",
        Some(Cause::FunctionRemoved) => "#f28e2b",
        Some(Cause::FileRemoved) => "#e15759",
        Some(Cause::NotModular) => "#b07aa1",
        Some(Cause::OtherChange) => "#4e79a7",
    }
}

const LEFT: f64 = 50.0;
const WIDTH: f64 = 1100.0;
/// Room right of the plot for the legend ("function-removed" at 11 px).
const LEGEND: f64 = 170.0;

/// The x of release `i` of `n`.
fn x_of(i: usize, n: usize) -> f64 {
    LEFT + WIDTH * i as f64 / n.max(1) as f64
}

/// The page.
pub fn render(h: &History) -> String {
    let s = h.summary();
    let mut out = String::new();
    let first = h.releases.first().map_or("", |r| r.tag.as_str());
    let last = h.releases.last().map_or("", |r| r.tag.as_str());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>modrace history {} to {}</title><style>\
         body{{font-family:sans-serif;margin:2em;color:#222}}\
         svg{{max-width:100%;height:auto}}svg text{{font-size:11px;fill:#333}}td,th{{padding:2px 8px;text-align:left}}\
         </style></head><body>\n<h1>modrace history: {} releases, {} to {}</h1>\n",
        esc(first),
        esc(last),
        s.releases,
        esc(first),
        esc(last)
    );
    let _ = writeln!(
        out,
        "<table><tr><th>findings</th><td>{}</td></tr><tr><th>in the first release</th><td>{}</td></tr>\
         <tr><th>born after it</th><td>{}</td></tr><tr><th>died</th><td>{}</td></tr>\
         <tr><th>still there at the end (censored)</th><td>{}</td></tr>\
         <tr><th>came back after they died</th><td>{}</td></tr></table>",
        s.findings,
        s.findings - s.born_after_first,
        s.born_after_first,
        s.died,
        s.censored,
        s.returned
    );
    let _ = writeln!(out, "<h2>Findings per release, by rule</h2>");
    per_release_chart(h, &mut out);
    let _ = writeln!(out, "<h2>A lifeline per finding</h2>");
    lifelines(h, &mut out);
    out.push_str("</body></html>\n");
    out
}

fn rules_of(h: &History) -> Vec<Code> {
    let mut rules: Vec<Code> = h
        .releases
        .iter()
        .flat_map(|r| r.by_rule.keys().copied())
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

/// The x axis: a tag every so many releases, turned.
fn axis(h: &History, y: f64, out: &mut String) {
    let n = h.releases.len();
    let step = n.div_ceil(20).max(1);
    for (i, r) in h.releases.iter().enumerate().step_by(step) {
        let x = x_of(i, n);
        let _ = write!(
            out,
            "<text transform=\"translate({x:.1},{:.1}) rotate(60)\">{}</text>",
            y + 4.0,
            esc(&r.tag)
        );
    }
}

/// Stacked bars: one per release, a segment per rule.
fn per_release_chart(h: &History, out: &mut String) {
    let n = h.releases.len();
    let rules = rules_of(h);
    let top = h
        .releases
        .iter()
        .map(|r| r.findings)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (height, base) = (300.0, 320.0);
    let bar = (WIDTH / n.max(1) as f64).max(1.0);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"430\" \
         viewBox=\"0 0 {w:.0} 430\" role=\"img\">",
        w = LEFT + WIDTH + LEGEND
    );
    let _ = write!(
        out,
        "<text x=\"4\" y=\"{:.0}\">{}</text><text x=\"4\" y=\"{base}\">0</text>",
        base - height + 4.0,
        top
    );
    for (i, r) in h.releases.iter().enumerate() {
        let mut y = base;
        for (k, c) in rules.iter().enumerate() {
            let count = *r.by_rule.get(c).unwrap_or(&0);
            if count == 0 {
                continue;
            }
            let hgt = height * count as f64 / top;
            y -= hgt;
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{bar:.2}\" height=\"{hgt:.1}\" \
                 fill=\"{}\"><title>{} {}: {count}</title></rect>",
                x_of(i, n),
                RULE_COLORS[k % RULE_COLORS.len()],
                esc(&r.tag),
                c.as_str()
            );
        }
    }
    axis(h, base, out);
    for (k, c) in rules.iter().enumerate() {
        let y = 20.0 + 16.0 * k as f64;
        let _ = write!(
            out,
            "<rect x=\"{:.0}\" y=\"{y:.0}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{:.0}\" y=\"{:.0}\">{}</text>",
            LEFT + WIDTH + 20.0,
            RULE_COLORS[k % RULE_COLORS.len()],
            LEFT + WIDTH + 35.0,
            y + 9.0,
            c.as_str()
        );
    }
    out.push_str("</svg>\n");
}

/// A line per finding from its birth to its last release, colored by how it died (grey: still
/// there at the end), sorted by rule and birth.
fn lifelines(h: &History, out: &mut String) {
    let n = h.releases.len();
    let mut lines: Vec<&Lifeline> = h.findings.iter().collect();
    lines.sort_by_key(|f| (f.key.rule, f.born, f.last));
    // Rows 3 px apart for a history of hundreds of findings, wider for a few (up to 12 px).
    let row = (300.0 / lines.len().max(1) as f64).clamp(3.0, 12.0);
    let base = 20.0 + row * lines.len() as f64;
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" \
         viewBox=\"0 0 {w:.0} {h:.0}\" role=\"img\">",
        w = LEFT + WIDTH + LEGEND,
        h = base + 130.0
    );
    for (k, f) in lines.iter().enumerate() {
        let y = 20.0 + row * k as f64;
        let cause = f.death.as_ref().map(|d| d.cause);
        let end = f
            .death
            .as_ref()
            .map_or("alive at the end".to_string(), |d| {
                format!(
                    "died in {} ({})",
                    h.releases[d.release].tag,
                    d.cause.as_str()
                )
            });
        let _ = write!(
            out,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{}\" \
             stroke-width=\"2\"><title>{} {}: {} [{}], born {}, {}</title></line>",
            x_of(f.born, n),
            x_of(f.last + 1, n),
            cause_color(cause),
            f.key.rule.as_str(),
            esc(&f.key.file),
            esc(&f.key.function),
            esc(&f.key.slot.to_string()),
            esc(&h.releases[f.born].tag),
            esc(&end)
        );
    }
    axis(h, base, out);
    let legend = [None].into_iter().chain(Cause::ALL.into_iter().map(Some));
    for (k, c) in legend.enumerate() {
        let y = 20.0 + 16.0 * k as f64;
        let name = c.map_or("alive at the end", Cause::as_str);
        let _ = write!(
            out,
            "<rect x=\"{:.0}\" y=\"{y:.0}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{:.0}\" y=\"{:.0}\">{name}</text>",
            LEFT + WIDTH + 20.0,
            cause_color(c),
            LEFT + WIDTH + 35.0,
            y + 9.0
        );
    }
    out.push_str("</svg>\n");
}
