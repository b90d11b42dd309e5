//! File-scope macro calls the parser lost: `module_exit(foo_exit)` written without its `;`
//! (hundreds of 6.1 files end so) makes an error node, and the call is not lowered. A line
//! that starts with `NAME(`, ends with `)`, sits by a parse error at file scope and
//! outside every function is taken as the file-scope call it reads as.

use crate::ctext::{is_ident_byte, is_ident_start_byte, matching_paren, split_args};

use super::{Call, FileFacts, Text, Vocabulary};

/// How many lines after a lost call its parse error may be reported.
const NEAR_ERROR: u32 = 3;

pub(super) fn file_scope_calls(code: &[u8], facts: &mut FileFacts, vocabulary: &Vocabulary) {
    let error_lines: Vec<u32> = (facts.errors.iter())
        .filter(|e| e.function.is_none())
        .map(|e| e.line)
        .collect();
    if error_lines.is_empty() {
        return;
    }
    let mut line = 1u32;
    let mut start = 0usize;
    while start < code.len() {
        let end = memchr::memchr(b'\n', &code[start..]).map_or(code.len(), |p| start + p);
        // The error is where the parser noticed: on the line, the one before, or a few after
        // (`module_exit(x)` then a blank line then `MODULE_AUTHOR(..)` reads as one declaration).
        let near_error = error_lines
            .iter()
            .any(|&e| e + 1 >= line && e <= line + NEAR_ERROR);
        if near_error && !inside_function(facts, line) && !has_call_at(facts, line) {
            if let Some(call) = macro_call(&code[start..end], line) {
                facts.markers.module_init |= vocabulary.is_init_macro(&call.callee);
                facts.calls.push(call);
            }
        }
        start = end + 1;
        line += 1;
    }
}

fn inside_function(facts: &FileFacts, line: u32) -> bool {
    (facts.functions.iter()).any(|f| f.line <= line && line <= f.end_line)
}

fn has_call_at(facts: &FileFacts, line: u32) -> bool {
    facts
        .calls
        .iter()
        .any(|c| c.line == line && c.caller.is_none())
}

/// `NAME(arg, ...)` filling the whole line (trailing blanks aside).
fn macro_call(text: &[u8], line: u32) -> Option<Call> {
    let text = text.trim_ascii_end();
    if !text.first().is_some_and(|&b| is_ident_start_byte(b)) || !text.ends_with(b")") {
        return None;
    }
    let name_end = text.iter().position(|&b| !is_ident_byte(b))?;
    let open = name_end
        + text[name_end..]
            .iter()
            .position(|&b| b != b' ' && b != b'\t')?;
    if text[open] != b'(' || matching_paren(text, open)? != text.len() - 1 {
        return None;
    }
    let inner = std::str::from_utf8(&text[open + 1..text.len() - 1]).ok()?;
    Some(Call {
        caller: None,
        callee: std::str::from_utf8(&text[..name_end]).ok()?.into(),
        indirect: false,
        args: split_args(inner).into_iter().map(Text::from).collect(),
        line,
        column: 1,
        guard: None,
    })
}

#[cfg(test)]
mod tests {
    use super::macro_call;

    #[test]
    fn a_whole_line_macro_call_reads_as_one() {
        let c = macro_call(b"module_exit(exit_o2nm)  ", 14).unwrap();
        assert_eq!(
            (c.callee.as_str(), c.args.len(), c.args[0].as_str()),
            ("module_exit", 1, "exit_o2nm")
        );
        let c = macro_call(b"FOO(a, (b, c))", 1).unwrap();
        let args: Vec<&str> = c.args.iter().map(|a| a.as_str()).collect();
        assert_eq!(args, vec!["a", "(b, c)"]);
        assert!(macro_call(b"int foo(void)", 1).is_none());
        assert!(macro_call(b"foo(a) + bar(b)", 1).is_none());
        assert!(macro_call(b"foo(a);", 1).is_none());
    }
}
