//! `modrace why-sleeps`: a verdict for one name, as text or JSON.

use serde::Serialize;

use super::{ChainStep, Condition, Sleep, UnknownPolicy, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct WhySleeps {
    pub function: String,
    /// True only for a definite "may sleep".
    pub sleeps: bool,
    /// "yes", "no" or "unknown" (a conditional answer, or unknowns under `--unknown unknown`).
    pub verdict: Sleep,
    pub mask: Option<String>,
    pub policy: String,
    pub reason: Option<String>,
    pub unknowns: Vec<String>,
    pub more_unknowns: bool,
    pub conditions: Vec<Condition>,
    pub chain: Vec<ChainStep>,
    /// Where the name is defined (several: one per architecture or per file, joined).
    pub definitions: Vec<Location>,
}

impl WhySleeps {
    pub fn new(
        function: &str,
        mask: Option<&str>,
        verdict: Verdict,
        definitions: Vec<(String, u32)>,
        policy: UnknownPolicy,
    ) -> Self {
        WhySleeps {
            function: function.to_string(),
            sleeps: verdict.sleeps == Sleep::Yes,
            verdict: verdict.sleeps,
            mask: verdict.mask.clone().or(mask.map(str::to_string)),
            policy: policy.as_str().to_string(),
            reason: verdict.reason.clone(),
            unknowns: verdict.unknowns.clone(),
            more_unknowns: verdict.more_unknowns,
            conditions: verdict.conditions.clone(),
            definitions: definitions
                .into_iter()
                .map(|(file, line)| Location { file, line })
                .collect(),
            chain: verdict.chain,
        }
    }

    fn short_chain(&self) -> String {
        Verdict {
            sleeps: self.verdict,
            chain: self.chain.clone(),
            unknowns: Vec::new(),
            more_unknowns: false,
            reason: None,
            mask: self.mask.clone(),
            conditions: Vec::new(),
        }
        .short_chain()
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let defined = match self.definitions.as_slice() {
            [] => String::new(),
            [d] => format!(" ({}:{})", d.file, d.line),
            ds => format!(" ({} definitions, joined)", ds.len()),
        };
        let with = self
            .mask
            .as_deref()
            .map_or(String::new(), |m| format!(" with {m}"));
        match self.verdict {
            Sleep::Yes => {
                out.push_str(&format!("{}{defined} may sleep{with}", self.function));
                if !self.chain.is_empty() {
                    out.push_str(&format!(": {}", self.short_chain()));
                }
                out.push('\n');
            }
            Sleep::Unknown if !self.conditions.is_empty() => {
                let which: Vec<String> = self
                    .conditions
                    .iter()
                    .map(|c| format!("argument {} ({})", c.param + 1, c.name))
                    .collect();
                out.push_str(&format!(
                    "{}{defined} may sleep depending on its mask: it sleeps if {} is a sleeping GFP mask (give one with --mask)\n",
                    self.function,
                    which.join(" or ")
                ));
            }
            Sleep::Unknown => out.push_str(&format!(
                "{}{defined}: unknown{with} (no chain to a sleeping primitive; unknowns below)\n",
                self.function
            )),
            Sleep::No => out.push_str(&format!(
                "{}{defined} does not sleep{with}\n",
                self.function
            )),
        }
        if self.definitions.len() > 1 {
            for d in &self.definitions {
                out.push_str(&format!("  defined at {}:{}\n", d.file, d.line));
            }
        }
        for s in &self.chain {
            if let Some(via) = &s.via {
                out.push_str(&format!("    (through {via})\n"));
            }
            out.push_str(&format!(
                "  {}:{}: {}: {}\n",
                s.file, s.line, s.function, s.call
            ));
        }
        if let Some(r) = self.reason.as_deref().filter(|r| !r.is_empty()) {
            out.push_str(&format!("  {r}\n"));
        }
        if self.verdict == Sleep::Yes && self.policy != "sleeps" && !self.unknowns.is_empty() {
            // The chain does not depend on them.
            out.push_str(&format!(
                "({}{} unknowns reached elsewhere; --format json lists them)\n",
                self.unknowns.len(),
                if self.more_unknowns { "+" } else { "" }
            ));
        } else if !self.unknowns.is_empty() {
            let meaning = match self.policy.as_str() {
                "sleeps" => "counted as sleeping",
                "no-sleep" => "assumed not to sleep",
                _ => "left unknown",
            };
            out.push_str(&format!(
                "unknowns reached ({meaning}, --unknown {}){}:\n",
                self.policy,
                if self.more_unknowns { ", first 32" } else { "" }
            ));
            for u in &self.unknowns {
                out.push_str(&format!("  {u}\n"));
            }
        }
        crate::diag::escape_terminal(&out).into_owned()
    }
}
