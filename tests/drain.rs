//! Drained slots: the core counts a table's calls in flight and its unregister waits until
//! none is left, so the module's code cannot go while one runs. Neither rule applies to such a
//! slot: the routine need not pin itself (no MR003), and the call needs no lock (the call
//! site carries a `Drain` protection). The twin without the waiting unregister keeps MR003.

mod support;

use modrace::bkl::Protection;
use modrace::rules::{Code, RuleFilter};
use support::Tree;

fn core(unregister_waits: bool) -> String {
    let wait = if unregister_waits {
        "\tif (reg->use != 0) {\n\t\tschedule();\n\t\tgoto restart;\n\t}\n"
    } else {
        ""
    };
    format!(
        r#"
//- /include/linux/knob.h
struct knob_ops {{
	int pf;
	int use;
	int (*create)(int option, char *buf);
	struct knob_ops *next;
}};
int knob_register(struct knob_ops *reg);
void knob_unregister(struct knob_ops *reg);
void schedule(void);
//- /net/core/knob.c
#include <linux/knob.h>

static struct knob_ops *knobs;

int knob_register(struct knob_ops *reg)
{{
	reg->next = knobs;
	knobs = reg;
	return 0;
}}

void knob_unregister(struct knob_ops *reg)
{{
restart:
{wait}	knobs = reg->next;
}}

int knob_get(int pf, int option, char *buf)
{{
	struct knob_ops *ops;
	int ret;

	for (ops = knobs; ops; ops = ops->next) {{
		if (ops->pf == pf) {{
			ops->use++;
			ret = ops->create(option, buf);
			ops->use--;
			return ret;
		}}
	}}
	return -1;
}}
"#
    )
}

const MODULE: &str = r#"
//- /net/ipv4/knobby.c
#include <linux/knob.h>

static int knobby_get(int option, char *buf) /* expect: MR003 */
{
	return 0;
}

static struct knob_ops knobby_ops = { pf: 2, create: knobby_get };

int init_module(void)
{
	return knob_register(&knobby_ops);
}

void cleanup_module(void)
{
	knob_unregister(&knobby_ops);
}
"#;

fn tree(unregister_waits: bool) -> Tree {
    let text = format!("{}{MODULE}", core(unregister_waits));
    let text = if unregister_waits {
        text.replace(" /* expect: MR003 */", "")
    } else {
        text
    };
    Tree::from_text(&text)
}

#[test]
fn a_drained_slot_needs_no_pin() {
    let only = RuleFilter {
        select: vec![Code::Mr003],
        ignore: vec![],
    };
    support::assert_expectations_with(&tree(true), &only);
    support::assert_expectations_with(&tree(false), &only);
}

#[test]
fn a_drained_call_site_is_protected() {
    let pin = |waits: bool| {
        let (report, _) = support::bkl(&tree(waits));
        report
            .slots
            .iter()
            .flat_map(|s| &s.call_sites)
            .find(|c| c.function == "knob_get")
            .expect("the core's call through knob_ops.create")
            .pin
            .clone()
    };
    assert!(
        matches!(pin(true), Some(Protection::Drain { ref by, .. }) if by == "ops->use++"),
        "{:?}",
        pin(true)
    );
    assert_eq!(pin(false), None);
}
