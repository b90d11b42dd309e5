//! Unit tests of the parent module.

use super::*;
use crate::facts::Event;
use crate::fix::unified_diff;
use crate::kb::Kb;
use crate::paths::{self, CallOracle, CountEffect, Discipline, FailValue, SlotRules};

/// The use-count names; nothing sleeps (as the fixer's own re-analysis assumes).
struct Names;

impl CallOracle for Names {
    fn may_sleep(&self, _call: u32) -> bool {
        false
    }
    fn call_effect(&self, _call: u32) -> CountEffect {
        CountEffect::None
    }
    fn name_effect(&self, name: &str) -> CountEffect {
        match name {
            "MOD_INC_USE_COUNT" => CountEffect::Increment,
            "MOD_DEC_USE_COUNT" => CountEffect::Decrement,
            _ => CountEffect::None,
        }
    }
}

fn front_end() -> FrontEnd {
    FrontEnd::new(&Kb::builtin().data, &[], &[])
}

/// The statement spans of the increments of the first function of `src`.
fn increments(src: &str) -> Vec<Span> {
    let facts = facts::extract_with("t.c", src.as_bytes(), &front_end(), &BodyPolicy::All);
    facts.functions[0]
        .body
        .stmts
        .iter()
        .filter(|s| {
            matches!(&s.kind, StmtKind::Expr(e)
                if e.events == [Event::Name("MOD_INC_USE_COUNT".into())])
        })
        .map(|s| s.span)
        .collect()
}

/// Fixes the first function of `src` (an int-returning pin slot); the text after the fix
/// and the reason when it is left for a human.
fn fix(src: &str, increment_first: bool) -> (String, Option<String>) {
    let name_end = src.find('(').unwrap();
    let function = src[..name_end].rsplit(' ').next().unwrap().to_string();
    let request = FixRequest {
        function,
        line: 1,
        increment_first,
        old_increments: if increment_first {
            increments(src)
        } else {
            Vec::new()
        },
    };
    let reanalyse = |_: &FileFacts, f: &Function| {
        paths::analyse(
            f,
            &Names,
            SlotRules {
                discipline: Discipline::Pin,
                fail: FailValue::Nonzero,
            },
        )
    };
    let mut text = src.as_bytes().to_vec();
    let result = fix_routine(
        &mut text,
        "t.c",
        &request,
        &front_end(),
        &reanalyse,
        "MOD_INC_USE_COUNT",
        "MOD_DEC_USE_COUNT",
    );
    let text = String::from_utf8(text).unwrap();
    match result {
        FixResult::Fixed => (text, None),
        FixResult::Manual(why) => {
            assert_eq!(text, src, "a manual fix leaves the text alone");
            (text, Some(why))
        }
    }
}

#[test]
fn the_increment_moves_to_the_top_and_failure_returns_get_the_decrement() {
    let src = "int f(void)\n{\n\tint x;\n\n\tif (sleep_wait())\n\t\treturn -EBUSY;\n\tMOD_INC_USE_COUNT;\n\treturn 0;\n}\n";
    let (text, manual) = fix(src, true);
    assert_eq!(manual, None);
    assert_eq!(
        text,
        "int f(void)\n{\n\tint x;\n\n\tMOD_INC_USE_COUNT;\n\tif (sleep_wait()) {\n\t\tMOD_DEC_USE_COUNT;\n\t\treturn -EBUSY;\n\t}\n\treturn 0;\n}\n"
    );
}

#[test]
fn a_decrement_goes_before_a_failure_return_in_a_block() {
    let src = "int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\tif (x) {\n\t\tundo();\n\t\treturn -EBUSY;\n\t}\n\treturn 0;\n}\n";
    let (text, manual) = fix(src, false);
    assert_eq!(manual, None);
    assert_eq!(
        text,
        "int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\tif (x) {\n\t\tundo();\n\t\tMOD_DEC_USE_COUNT;\n\t\treturn -EBUSY;\n\t}\n\treturn 0;\n}\n"
    );
}

#[test]
fn a_lone_if_return_on_one_line_gets_braces() {
    let src = "int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\tif (x) return -EBUSY; /* busy */\n\treturn 0;\n}\n";
    let (text, manual) = fix(src, false);
    assert_eq!(manual, None);
    assert_eq!(
        text,
        "int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\tif (x) {\n\t\tMOD_DEC_USE_COUNT;\n\t\treturn -EBUSY; /* busy */\n\t}\n\treturn 0;\n}\n"
    );
}

/// No whitespace error in what the patch adds: the condition's trailing blanks do not follow
/// the new brace, and a block inside a line indented with a tab and spaces is indented to the
/// next tab stop with tabs only (no space before a tab).
#[test]
fn new_braces_add_no_whitespace_errors() {
    let src = "int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\tif (x) \n\t\treturn -EBUSY;\n\t    if (x > 1) return -EIO;\n\treturn 0;\n}\n";
    let (text, manual) = fix(src, false);
    assert_eq!(manual, None);
    assert_eq!(
        text,
        "int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\tif (x) {\n\t\tMOD_DEC_USE_COUNT;\n\t\treturn -EBUSY;\n\t}\n\t    if (x > 1) {\n\t\tMOD_DEC_USE_COUNT;\n\t\treturn -EIO;\n\t    }\n\treturn 0;\n}\n"
    );
}

#[test]
fn a_missing_increment_is_added_above_the_comment_of_the_first_statement() {
    let src = "int f(int x)\n{\n\t/* busy? */\n\tif (x)\n\t\treturn -EBUSY;\n\treturn 0;\n}\n";
    let (text, manual) = fix(src, true);
    assert_eq!(manual, None);
    assert_eq!(
        text,
        "int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n\t/* busy? */\n\tif (x) {\n\t\tMOD_DEC_USE_COUNT;\n\t\treturn -EBUSY;\n\t}\n\treturn 0;\n}\n"
    );
}

#[test]
fn the_increment_goes_above_a_conditional_group() {
    let src = "int f(int x)\n{\n#ifdef DEBUG\n\tprintk(\"f\");\n#endif\n\tMOD_INC_USE_COUNT;\n\treturn 0;\n}\n";
    let (text, manual) = fix(src, true);
    assert_eq!(manual, None);
    assert_eq!(
        text,
        "int f(int x)\n{\n\tMOD_INC_USE_COUNT;\n#ifdef DEBUG\n\tprintk(\"f\");\n#endif\n\treturn 0;\n}\n"
    );
}

#[test]
fn manual_cases_leave_the_text_alone() {
    let cases = [
        (
            "int f(void)\n{\n\tint err = setup();\n\n\tMOD_INC_USE_COUNT;\n\treturn err;\n}\n",
            "a declaration's initializer calls a function",
        ),
        (
            "int f(int x)\n{\n\tif (x)\n\t\tMOD_INC_USE_COUNT;\n\treturn 0;\n}\n",
            "the increment sits inside a condition or loop",
        ),
        (
            "int f(void)\n{\n\tint err;\n\n\terr = setup();\n\tMOD_INC_USE_COUNT;\n\treturn err;\n}\n",
            "the return at line 7 passes on a value that may be a failure",
        ),
        (
            "int f(void)\n{\n\tint err;\n}\n",
            "the routine has no statement to put the increment before",
        ),
    ];
    for (src, why) in cases {
        let (_, manual) = fix(src, true);
        let manual = manual.unwrap_or_else(|| panic!("fixed: {src}"));
        assert!(manual.starts_with(why), "{manual}\n{src}");
    }
}

#[test]
fn unified_diff_has_git_headers() {
    let diff = unified_diff("drivers/a.c", b"a\nb\n", b"a\nc\n");
    let diff = String::from_utf8(diff).unwrap();
    assert!(diff.starts_with("--- a/drivers/a.c\n+++ b/drivers/a.c\n@@ -1,2 +1,2 @@\n"));
    assert!(diff.ends_with(" a\n-b\n+c\n"), "{diff}");
}
