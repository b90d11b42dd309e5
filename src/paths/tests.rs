//! Unit tests of the parent module.

use super::*;
use crate::facts::Call;
use crate::scan::testing::lower;

/// A stand-in for the check's oracle, by callee name: `sleep_*` may sleep, `get_mod` and
/// `put_mod` raise and drop the count, `try_get` raises it when it returns true,
/// `other_get` pins another module, `slow_get` and `first_get` pin on some returns (below),
/// `noop` does nothing in this configuration.
struct Fake<'a> {
    calls: &'a [Call],
}

impl Fake<'_> {
    fn callee(&self, call: u32) -> &str {
        &self.calls[call as usize].callee
    }
}

impl CallOracle for Fake<'_> {
    fn may_sleep(&self, call: u32) -> bool {
        self.callee(call).starts_with("sleep_")
    }
    fn call_effect(&self, call: u32) -> CountEffect {
        match self.callee(call) {
            "get_mod" => CountEffect::Increment,
            "put_mod" => CountEffect::Decrement,
            "try_get" => CountEffect::Split(Outcomes::pins_when(true)),
            "other_get" => CountEffect::OtherModule,
            // Pins on its success return only, after something that may sleep; 0 on success.
            "slow_get" => CountEffect::Split(Outcomes {
                results: [0, NEG, ZERO, 0],
                slept: 0b110,
            }),
            // Pins on some of its successes only (the first user), never sleeping.
            "first_get" => CountEffect::Split(Outcomes {
                results: [0, NEG | ZERO, ZERO, 0],
                slept: 0,
            }),
            _ => CountEffect::None,
        }
    }
    fn name_effect(&self, name: &str) -> CountEffect {
        match name {
            "MOD_INC_USE_COUNT" => CountEffect::Increment,
            "MOD_DEC_USE_COUNT" => CountEffect::Decrement,
            _ => CountEffect::None,
        }
    }
    fn is_noop(&self, call: u32) -> bool {
        self.callee(call) == "noop"
    }
}

/// The path report of the first function of `src`.
fn report(src: &str, discipline: Discipline, fail: FailValue) -> PathReport {
    let facts = lower(src);
    let oracle = Fake {
        calls: &facts.calls,
    };
    analyse(&facts.functions[0], &oracle, SlotRules { discipline, fail })
}

/// An int-returning pin slot (`file_operations.open`).
fn pin(src: &str) -> PathReport {
    report(src, Discipline::Pin, FailValue::Nonzero)
}

fn lines(spans: &[(Span, Span)]) -> Vec<(u32, u32)> {
    spans.iter().map(|(a, b)| (a.line, b.line)).collect()
}

fn nothing_wrong(r: &PathReport) {
    assert!(r.sleep_before_inc.is_empty(), "{r:?}");
    assert!(r.late_inc.is_empty(), "{r:?}");
    assert!(r.leaks.is_empty(), "{r:?}");
    assert!(r.maybe_leaks.is_empty(), "{r:?}");
    assert!(r.double_inc.is_empty(), "{r:?}");
    assert!(r.dec_without_inc.is_empty(), "{r:?}");
    assert!(r.dec_on_success.is_empty(), "{r:?}");
    assert!(!r.incomplete, "{r:?}");
}

#[test]
fn increment_first_and_decrement_on_the_failure_path() {
    let r = pin("int f(int x)\n\
         {\n\
         \tMOD_INC_USE_COUNT;\n\
         \tif (sleep_wait(x)) {\n\
         \t\tMOD_DEC_USE_COUNT;\n\
         \t\treturn -EBUSY;\n\
         \t}\n\
         \treturn 0;\n\
         }\n");
    nothing_wrong(&r);
    assert!(r.increments && r.pins_on_success && r.success_reachable);
    // Failure returns with delta 0, success with delta 1: it pins exactly on success.
    assert_eq!(r.failure_counts, 0b010);
    assert_eq!(r.success_counts, 0b100);
    // To a caller: 0 with the count raised, an error without.
    assert_eq!(r.net_effect(), split([0, NEG, ZERO, 0], 0));
}

fn split(results: [Signs; 4], slept: u8) -> CountEffect {
    CountEffect::Split(Outcomes { results, slept })
}

#[test]
fn sleep_before_the_increment() {
    let src = "int f(int x)\n{\n\tif (sleep_wait(x))\n\t\treturn -EBUSY;\n\tMOD_INC_USE_COUNT;\n\treturn 0;\n}\n";
    let facts = lower(src);
    let r = pin(src);
    assert_eq!(r.sleep_before_inc.len(), 1, "{r:?}");
    let (call, inc) = r.sleep_before_inc[0];
    assert_eq!(facts.calls[call as usize].callee, "sleep_wait");
    assert_eq!(inc.line, 5);
    // A sleep is not also reported as a late increment.
    assert!(r.late_inc.is_empty());
    assert!(r.leaks.is_empty());
}

#[test]
fn a_sleep_after_the_increment_is_fine() {
    let r = pin("int f(void)\n{\n\tMOD_INC_USE_COUNT;\n\tsleep_wait(1);\n\treturn 0;\n}\n");
    nothing_wrong(&r);
}

#[test]
fn failure_return_after_the_increment_leaks() {
    let r = pin(
        "int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\tif (x)\n\t\treturn -EBUSY;\n\treturn 0;\n}\n",
    );
    assert_eq!(lines(&r.leaks), vec![(3, 5)]);
    assert!(r.maybe_leaks.is_empty());
    assert_eq!(r.failure_counts, 0b100);
}

#[test]
fn goto_to_a_cleanup_that_drops_the_count_is_balanced() {
    let r = pin("int f(void)\n\
         {\n\
         \tint err;\n\
         \tMOD_INC_USE_COUNT;\n\
         \terr = work();\n\
         \tif (err)\n\
         \t\tgoto fail;\n\
         \treturn 0;\n\
         fail:\n\
         \tMOD_DEC_USE_COUNT;\n\
         \treturn err;\n\
         }\n");
    nothing_wrong(&r);
}

#[test]
fn decrement_under_the_test_of_the_returned_variable_is_balanced() {
    let r = pin("int f(void)\n\
         {\n\
         \tint err;\n\
         \tMOD_INC_USE_COUNT;\n\
         \terr = work();\n\
         \tif (err)\n\
         \t\tMOD_DEC_USE_COUNT;\n\
         \treturn err;\n\
         }\n");
    nothing_wrong(&r);
    assert!(r.pins_on_success);
}

#[test]
fn returning_an_untested_variable_may_leak() {
    let r = pin(
        "int f(void)\n{\n\tint err;\n\tMOD_INC_USE_COUNT;\n\terr = work();\n\treturn err;\n}\n",
    );
    assert!(r.leaks.is_empty());
    assert_eq!(
        r.maybe_leaks.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![6]
    );
}

#[test]
fn work_before_the_increment_is_late() {
    let r = pin("int f(void)\n{\n\tint n = 0;\n\tnoop();\n\twork();\n\tMOD_INC_USE_COUNT;\n\treturn n;\n}\n");
    // Initialising a local and a no-op call are not work; `work()` is.
    assert_eq!(lines(&r.late_inc), vec![(5, 6)]);
    assert!(r.sleep_before_inc.is_empty());
}

#[test]
fn miscounts() {
    let twice =
        pin("int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\tif (x)\n\t\tget_mod();\n\treturn 0;\n}\n");
    assert_eq!(lines(&twice.double_inc), vec![(3, 5)]);
    let dec_first = pin("int f(void)\n{\n\tMOD_DEC_USE_COUNT;\n\treturn -EIO;\n}\n");
    assert_eq!(
        dec_first
            .dec_without_inc
            .iter()
            .map(|s| s.line)
            .collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(dec_first.net_effect(), split([NEG, 0, 0, 0], 0));
    let dec_ok = pin("int f(void)\n{\n\tMOD_INC_USE_COUNT;\n\tput_mod();\n\treturn 0;\n}\n");
    assert_eq!(lines(&dec_ok.dec_on_success), vec![(4, 5)]);
    assert!(!dec_ok.pins_on_success);
}

#[test]
fn bracket_slots_drop_the_count_on_every_return() {
    let src = "int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\tif (x)\n\t\treturn 0;\n\tMOD_DEC_USE_COUNT;\n\treturn 0;\n}\n";
    let r = report(src, Discipline::Bracket, FailValue::Nonzero);
    // Under a pin slot the success return at line 5 is the point; under a bracket it leaks.
    assert_eq!(lines(&r.leaks), vec![(3, 5)]);
    assert!(pin(src).leaks.is_empty());
}

#[test]
fn pointer_slots_fail_with_null() {
    let r = report(
        "void *f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\tif (x)\n\t\treturn NULL;\n\treturn 0;\n}\n",
        Discipline::Pin,
        FailValue::Null,
    );
    // Both returns are null: both fail with the count raised.
    let mut leaks = lines(&r.leaks);
    leaks.sort();
    assert_eq!(leaks, vec![(3, 5), (3, 6)]);
    assert!(!r.success_reachable);
}

#[test]
fn conditional_increments_and_other_modules() {
    let r = pin("int f(void)\n\
         {\n\
         \tif (!try_get())\n\
         \t\treturn -ENODEV;\n\
         \tother_get();\n\
         \treturn 0;\n\
         }\n");
    nothing_wrong(&r);
    assert!(r.increments && r.pins_other_module && r.pins_on_success);
    assert_eq!(r.net_effect(), split([0, NEG, ZERO, 0], 0));
    let leak = pin("int f(int x)\n{\n\tif (!try_get())\n\t\treturn -ENODEV;\n\tif (x)\n\t\treturn -EBUSY;\n\treturn 0;\n}\n");
    assert_eq!(
        leak.leaks.iter().map(|l| l.1.line).collect::<Vec<_>>(),
        vec![6]
    );
}

#[test]
fn too_many_paths_make_the_analysis_incomplete() {
    // Ten returned variables, each assigned on one arm of many conditions: more states
    // than a node keeps, over enough nodes to pass the step bound.
    let mut src = String::from("int f(int c)\n{\n\tint a0, a1, a2, a3, a4, a5, a6, a7, a8, a9;\n");
    for k in 0..2500 {
        src.push_str(&format!("\tif (c) a{} = {};\n", k % 10, k % 3 - 1));
    }
    for v in 0..10 {
        src.push_str(&format!("\tif (c == {v}) return a{v};\n"));
    }
    src.push_str("\treturn 0;\n}\n");
    let r = pin(&src);
    assert!(r.incomplete);
    let small = pin("int f(int c)\n{\n\tint a0;\n\tif (c) a0 = 1;\n\treturn a0;\n}\n");
    assert!(!small.incomplete);
}

#[test]
fn states_per_node_stay_bounded_without_giving_up() {
    // Ten returned variables set on one arm of sixty conditions, around increments,
    // decrements and sleeps: far more variable combinations than a node keeps. Dropping
    // variable knowledge bounds the states of a node, so the walk finishes (the step bound
    // alone makes a walk incomplete).
    let mut src = String::from("int f(int c)\n{\n\tint a0, a1, a2, a3, a4, a5, a6, a7, a8, a9;\n");
    for k in 0..60 {
        src.push_str(&format!("\tif (c) a{} = {};\n", k % 10, k % 3 - 1));
        match k % 15 {
            3 => src.push_str("\tif (c) sleep_wait(c);\n"),
            5 => src.push_str("\tif (c) MOD_INC_USE_COUNT;\n"),
            9 => src.push_str("\tif (c) MOD_DEC_USE_COUNT;\n"),
            12 => src.push_str("\tif (c) work();\n"),
            _ => {}
        }
    }
    for v in 0..10 {
        src.push_str(&format!("\tif (c == {v}) return a{v};\n"));
    }
    src.push_str("\treturn 0;\n}\n");
    let r = pin(&src);
    assert!(!r.incomplete);
    assert!(r.peak_states > MAX_STATES_PER_NODE, "{}", r.peak_states);
    assert!(r.peak_states <= MAX_STATES_PER_NODE + STATES_WITHOUT_VARS);
}

#[test]
fn a_sleep_before_a_conditional_increment_is_a_sleep_before_the_increment() {
    // The mail's open_foo, pinning with `try_inc_mod_count(THIS_MODULE)`: the sleep in
    // `sleep_irq` comes before the only increment.
    let src = "int f(int x)\n\
         {\n\
         \tif (sleep_irq(x))\n\
         \t\treturn -EBUSY;\n\
         \tif (!try_get())\n\
         \t\treturn -ENODEV;\n\
         \treturn 0;\n\
         }\n";
    let facts = lower(src);
    let r = pin(src);
    assert_eq!(r.sleep_before_inc.len(), 1, "{r:?}");
    let (call, inc) = r.sleep_before_inc[0];
    assert_eq!(facts.calls[call as usize].callee, "sleep_irq");
    assert_eq!(inc.line, 5);
    // Work before a conditional increment is late work too.
    let late =
        pin("int f(void)\n{\n\twork();\n\tif (!try_get())\n\t\treturn -ENODEV;\n\treturn 0;\n}\n");
    assert_eq!(lines(&late.late_inc), vec![(3, 4)]);
}

#[test]
fn a_helper_that_sleeps_before_its_own_pin_sleeps_before_the_callers() {
    let src = "int f(void)\n{\n\treturn slow_get();\n}\n";
    let facts = lower(src);
    let r = pin(src);
    assert_eq!(r.sleep_before_inc.len(), 1, "{r:?}");
    assert_eq!(
        facts.calls[r.sleep_before_inc[0].0 as usize].callee,
        "slow_get"
    );
    assert!(r.leaks.is_empty() && r.maybe_leaks.is_empty(), "{r:?}");
    // A pin first makes the helper's sleep harmless (and its pin a second one).
    let first = pin("int f(void)\n{\n\tMOD_INC_USE_COUNT;\n\treturn slow_get();\n}\n");
    assert!(first.sleep_before_inc.is_empty());
    assert_eq!(lines(&first.double_inc), vec![(3, 4)]);
}

#[test]
fn the_result_of_a_split_call_picks_the_paths_it_pinned_on() {
    // Kept in a variable and tested: the failure return holds no pin, the later one does.
    let r = pin("int f(int x)\n\
         {\n\
         \tint err;\n\
         \terr = first_get();\n\
         \tif (err)\n\
         \t\treturn err;\n\
         \tif (x)\n\
         \t\treturn -EINVAL;\n\
         \treturn 0;\n\
         }\n");
    assert_eq!(
        r.leaks.iter().map(|l| l.1.line).collect::<Vec<_>>(),
        vec![8]
    );
    assert!(r.maybe_leaks.is_empty(), "{r:?}");
    assert!(r.increments && r.pins_on_success);
    // Tested in place, compared with zero.
    let cmp = pin("int f(void)\n{\n\tif (slow_get() < 0)\n\t\treturn -EBUSY;\n\treturn 0;\n}\n");
    assert!(
        cmp.leaks.is_empty() && cmp.dec_without_inc.is_empty(),
        "{cmp:?}"
    );
    // Pins on some successes only: to a caller, 0 with or without a pin.
    assert_eq!(
        pin("int f(void)\n{\n\treturn first_get();\n}\n").net_effect(),
        CountEffect::Split(Outcomes {
            results: [0, NEG | ZERO, ZERO, 0],
            slept: 0,
        })
    );
}
