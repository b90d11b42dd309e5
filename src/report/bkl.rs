//! The `bkl` command's text form.

use crate::bkl::{BklReport, MatchedBy};
use crate::chain::chain_text;

/// The `bkl` command's text: per slot its verdict and call sites, then the counts.
pub fn render(report: &BklReport) -> String {
    let mut out = String::new();
    // Slots of the knowledge base that this tree neither fills nor calls say nothing.
    for s in report
        .slots
        .iter()
        .filter(|s| !(s.call_sites.is_empty() && s.exposed.is_empty()))
    {
        out.push_str(&format!(
            "{} ({}): {}{} — {} call site(s), {} routine(s), {} module-capable\n",
            s.slot,
            s.takes.as_str(),
            s.verdict.as_str(),
            s.kb_bkl
                .as_deref()
                .map_or(String::new(), |k| format!(" [kb: {k}]")),
            s.call_sites.len(),
            s.exposed.len(),
            s.exposed.iter().filter(|e| e.module_capable).count(),
        ));
        for c in &s.call_sites {
            out.push_str(&format!(
                "  {}:{}: {} in {}: {}{}{}\n",
                c.file,
                c.line,
                c.callee,
                c.function,
                c.verdict.as_str(),
                if c.matched_by == MatchedBy::Type {
                    ""
                } else {
                    " (matched by field name)"
                },
                if s.is_unlocked_module_call(c) {
                    " [MR004]"
                } else {
                    ""
                },
            ));
            let protection = c.pin.as_ref().or(c.protection.as_ref());
            out.push_str(&format!(
                "      protection: {}\n",
                protection.map_or("none".to_string(), |p| p.to_string())
            ));
            if !c.held_chain.is_empty() {
                out.push_str(&format!("      held:     {}\n", chain_text(&c.held_chain)));
            }
            if let Some(r) = &c.reaches {
                let names: Vec<&str> = r.iter().map(|(_, f)| f.as_str()).take(8).collect();
                out.push_str(&format!(
                    "      reaches:  {} routine(s) its tables hold: {}{}\n",
                    r.len(),
                    names.join(", "),
                    if r.len() > 8 { ", ..." } else { "" }
                ));
            }
            if let Some(why) = &c.every_routine {
                out.push_str(&format!("      reaches:  {why}\n"));
            }
            if !c.unheld_chain.is_empty() {
                out.push_str(&format!(
                    "      not held: {}\n",
                    chain_text(&c.unheld_chain)
                ));
            }
            if let Some(u) = &c.unknown {
                out.push_str(&format!("      unknown:  {u}\n"));
            }
        }
    }
    let st = &report.stats;
    out.push_str(&format!(
        "\n{} slots ({} name-taking): name-taking {:?}; all {:?}\n\
         {} call sites of name-taking slots {:?}, {} with paths not followed, {} matched by field name\n\
         {} indirect calls, {} untyped; {} functions searched, {} cut; kb agrees on {}/{}{}\n\
         {} MR004 findings\n",
        st.slots,
        st.name_slots,
        st.name_slots_by_verdict,
        st.slots_by_verdict,
        st.call_sites,
        st.call_sites_by_verdict,
        st.call_sites_incomplete,
        st.call_sites_by_field_name,
        st.indirect_calls,
        st.indirect_untyped,
        st.functions_searched,
        st.functions_cut,
        st.kb_agree,
        st.kb_compared,
        st.seconds.map(|s| format!("; {s:.3} s")).unwrap_or_default(),
        report.slots.iter().map(|s| s.unlocked_module_calls().count()).sum::<usize>(),
    ));
    crate::diag::escape_terminal(&out).into_owned()
}
