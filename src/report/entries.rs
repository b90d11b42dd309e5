//! The `entries` command's output: its text, and its JSON rows (the typed entries, spelled
//! out under the keys the JSON has always had).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bkl::BklReport;
use crate::buildinfo::{BuildVerdict, ModuleEvidence, ModuleOrigin};
use crate::entries::{Covered, EntriesReport, Entry, Outcome, Via};
use crate::kb::Takes;

/// One JSON row of `entries`.
#[derive(Serialize)]
pub struct EntryRow<'a> {
    function: &'a str,
    file: &'a str,
    line: u32,
    slot: String,
    registered_via: String,
    registration_file: &'a str,
    registration_line: u32,
    takes: &'static str,
    takes_source: &'static str,
    module_capable: bool,
    module_evidence: &'static str,
    /// The module object the file is built into (`bcma.o`), by which list of which build
    /// file (`obj-$(CONFIG_BCMA) in drivers/bcma/Makefile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    module: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    module_by: Option<String>,
    module_reason: String,
    via_kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    bkl: Option<&'static str>,
    /// Whose pin holds the routine's object, when another routine's does (rule 2 does not
    /// apply to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    covered_by: Option<String>,
}

impl<'a> EntryRow<'a> {
    /// The row of an entry, with the lock verdict of its slot when the analysis ran.
    pub fn new(e: &'a Entry, bkl: Option<&BklReport>) -> Self {
        EntryRow {
            function: &e.function,
            file: &e.file,
            line: e.line,
            slot: e.slot.to_string(),
            registered_via: e.via.to_string(),
            registration_file: &e.registration_file,
            registration_line: e.registration_line,
            takes: e.takes.as_str(),
            takes_source: e.takes_source.as_str(),
            module_capable: e.module_capable,
            module_evidence: e.module_evidence.as_str(),
            module: e.module.as_ref().map(|m| m.module.as_str()),
            module_by: (e.module.as_ref()).map(|m| format!("{} in {}", m.list, m.build_file)),
            module_reason: module_reason(e),
            via_kind: match e.via {
                Via::Call(_) => "call",
                Via::Store(_) => "assignment",
            },
            bkl: bkl.map(|b| b.verdict_of(e).as_str()),
            covered_by: e.covered_by.as_ref().map(cover_reason),
        }
    }
}

/// The JSON rows of a report's entries.
pub fn rows<'a>(report: &'a EntriesReport, bkl: Option<&BklReport>) -> Vec<EntryRow<'a>> {
    report
        .entries
        .iter()
        .map(|e| EntryRow::new(e, bkl))
        .collect()
}

/// Whose pin holds a covered routine's object, in words.
pub fn cover_reason(c: &Covered) -> String {
    match c {
        Covered::Registrar(r) => format!("{r}, which registers it and pins when it succeeds"),
        Covered::Bound { lookup, binder } => format!(
            "{binder}, which binds the device {lookup} finds; the open fails without one"
        ),
        Covered::Library { installer } => format!(
            "the callers of {installer}, which install it and replace it with their own pinning routine"
        ),
        Covered::Table { table } => format!(
            "the modules registering {table}, exported: they hold this one by symbol reference"
        ),
    }
}

/// Why an entry's file is module code or not, in words: the module list and its line, the
/// symbol that guards it and the configuration line that declares it.
pub fn module_reason(e: &Entry) -> String {
    let listing = |o: &ModuleOrigin| {
        let mut text = format!("{} at {}:{}", o.list, o.build_file, o.line);
        if let Some(g) = &o.symbol {
            text.push_str(&format!(", {} ", g.name));
            match &g.declared {
                Some(d) => text.push_str(&format!("{} at {}:{}", d.kind.as_str(), d.file, d.line)),
                None => text.push_str("declared in no configuration file"),
            }
        }
        text
    };
    match &e.module_reason {
        BuildVerdict::Module(o) => listing(o),
        BuildVerdict::Blocked(o) => format!("only {}: cannot be m", listing(o)),
        BuildVerdict::DirBuiltIn(o) => {
            format!("{}, but no Makefile above descends for modules", listing(o))
        }
        BuildVerdict::BuiltIn {
            build_file: Some(f),
        } => format!("built in by {f}"),
        BuildVerdict::BuiltIn { build_file: None } => "built in by a Makefile above".into(),
        BuildVerdict::Unnamed { build_file } => format!("{build_file} does not build it"),
        BuildVerdict::NoMakefile if e.module_evidence == ModuleEvidence::Marker => {
            "no Makefile builds objects beside it; the file's own module markers".into()
        }
        BuildVerdict::NoMakefile => {
            "no Makefile builds objects beside it; no module markers".into()
        }
    }
}

/// `entries --format json`: `{"version": 1, "entries": [rows]}`.
pub fn json(report: &EntriesReport, bkl: Option<&BklReport>) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        entries: Vec<EntryRow<'a>>,
    }
    super::json::versioned(&Body {
        entries: rows(report, bkl),
    })
}

/// `entries --sites --format json`: `{"version": 1, "sites": [registration calls]}`.
pub fn sites_json(report: &EntriesReport) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        sites: &'a [crate::entries::RegistrationSite],
    }
    super::json::versioned(&Body {
        sites: &report.registrations,
    })
}

/// The `entries` text: one line per routine, then the counts.
pub fn render(report: &EntriesReport, bkl: Option<&BklReport>) -> String {
    let mut out = String::new();
    for e in &report.entries {
        out.push_str(&format!(
            "{}:{}: {} slot={} via={} ({}:{}) takes={} module={} ({}){}{}\n",
            e.file,
            e.line,
            e.function,
            e.slot,
            e.via,
            e.registration_file,
            e.registration_line,
            e.takes.as_str(),
            if e.module_capable {
                e.module_evidence.as_str()
            } else {
                "no"
            },
            module_reason(e),
            bkl.map_or(String::new(), |b| format!(
                " bkl={}",
                b.verdict_of(e).as_str()
            )),
            (e.covered_by.as_ref()).map_or(String::new(), |c| format!(
                " covered-by={}",
                cover_reason(c)
            )),
        ));
    }
    out.push_str(&summary(report));
    crate::diag::escape_terminal(&out).into_owned()
}

/// One line per registration call: where, the routine and its arguments, how many routines
/// it led to or why none.
pub fn render_sites(report: &EntriesReport) -> String {
    let mut out = String::new();
    for r in &report.registrations {
        out.push_str(&format!(
            "{}:{}: {}({}) -> {} [{}]\n",
            r.file,
            r.line,
            r.routine,
            r.args.join(", "),
            if r.entries > 0 {
                format!("{} entries", r.entries)
            } else {
                r.outcome.as_str().to_string()
            },
            r.recognised,
        ));
    }
    let mut by_outcome: BTreeMap<Outcome, usize> = BTreeMap::new();
    for r in &report.registrations {
        *by_outcome.entry(r.outcome).or_default() += 1;
    }
    out.push_str(&format!(
        "\n{} registration calls:\n",
        report.registrations.len()
    ));
    for (o, n) in by_outcome {
        out.push_str(&format!("  {n:6}  {}\n", o.as_str()));
    }
    crate::diag::escape_terminal(&out).into_owned()
}

/// Counts per registration routine and per slot, and registration calls that led nowhere.
pub fn summary(report: &EntriesReport) -> String {
    let mut by_via: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_slot: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for e in &report.entries {
        *by_via.entry(e.via.to_string()).or_default() += 1;
        let s = by_slot.entry(e.slot.to_string()).or_default();
        s.0 += 1;
        if e.takes == Takes::Name && e.module_capable {
            s.1 += 1;
        }
    }
    let names = report
        .entries
        .iter()
        .filter(|e| e.takes == Takes::Name)
        .count();
    let name_modules = report
        .entries
        .iter()
        .filter(|e| e.takes == Takes::Name && e.module_capable)
        .count();
    let empty = report
        .registrations
        .iter()
        .filter(|r| r.entries == 0)
        .count();
    let mut out = format!(
        "\n{} entries ({} take a name, {} of them module-capable) from {} registration calls ({} of which led to no routine in the tree)\n",
        report.entries.len(),
        names,
        name_modules,
        report.registrations.len(),
        empty
    );
    let mut reasons: BTreeMap<Outcome, usize> = BTreeMap::new();
    for r in report.registrations.iter().filter(|r| r.entries == 0) {
        *reasons.entry(r.outcome).or_default() += 1;
    }
    if !reasons.is_empty() {
        let list: Vec<String> = reasons
            .iter()
            .map(|(o, n)| format!("{n} {}", o.as_str()))
            .collect();
        out.push_str(&format!(
            "calls that led to no routine, by reason (see --sites): {}\n",
            list.join(", ")
        ));
    }
    let mut via: Vec<_> = by_via.into_iter().collect();
    via.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out.push_str("\nper registration routine:\n");
    for (k, v) in via.iter().take(40) {
        out.push_str(&format!("  {v:6}  {k}\n"));
    }
    let mut slots: Vec<_> = by_slot.into_iter().filter(|(_, (_, n))| *n > 0).collect();
    slots.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0)));
    out.push_str("\nname-taking slots (entries, module-capable):\n");
    for (k, (all, m)) in slots {
        out.push_str(&format!("  {all:6} {m:6}  {k}\n"));
    }
    out
}
