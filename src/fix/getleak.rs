//! The fix of MR103: the put of the kept reference (`module_put(X);`, the knowledge base's
//! unpin routine on the get's own argument) as a line before the failure return, braces added
//! when the return is the whole branch of an `if`. Checked by lowering the patched file again
//! and walking the reference once more: the return must no longer keep it.

use crate::facts::{self, BodyPolicy, FileFacts, FrontEnd, Function, Span, StmtId, StmtKind};

/// What the fix needs to know of the finding.
pub struct PutBefore<'a> {
    pub function: &'a str,
    /// The failure return's line, and the get's line and routine.
    pub return_line: u32,
    pub get_line: u32,
    pub get_routine: &'a str,
    /// The routine that drops the reference, and those that free an object.
    pub put: &'a str,
    pub frees: &'a [String],
}

/// The failure returns of `function` (lowered from a patched text) that still keep the
/// reference on the module expression given, and the puts on paths that never took it.
pub type StillLeaks<'a> = dyn Fn(&FileFacts, &Function, &str) -> Vec<Span> + 'a;

/// Where the return sits: a statement of a block, or the whole `then` branch of the `if`
/// statement given.
enum Place {
    InBlock,
    Branch(StmtId),
}

/// Puts the reference before the return in `text`; on `Err` the text is unchanged and the
/// reason says why a human must do it. Returns the routine's first and last lines.
pub fn put_before_return(
    text: &mut Vec<u8>,
    path: &str,
    fix: &PutBefore,
    front_end: &FrontEnd,
    still_leaks: &StillLeaks,
) -> Result<(u32, u32), String> {
    let before = facts::extract_with(path, text, front_end, &BodyPolicy::All);
    let (fi, function) = (before.functions.iter().enumerate())
        .find(|(_, g)| g.name == fix.function && !g.body.is_empty())
        .ok_or_else(|| format!("`{}` has no body to rewrite", fix.function))?;
    let target = (before.calls.iter())
        .find(|c| {
            c.caller == Some(fi as u32) && c.line == fix.get_line && c.callee == fix.get_routine
        })
        .and_then(|c| c.args.first())
        .map(|a| a.trim().to_string())
        .ok_or_else(|| "the get is not where the finding says".to_string())?;
    let stmts = &function.body.stmts;
    let (ret_id, ret) = (stmts.iter().enumerate())
        .find(|(_, s)| matches!(s.kind, StmtKind::Return(_)) && s.span.line == fix.return_line)
        .map(|(i, s)| (i as StmtId, s.span))
        .ok_or_else(|| "the return is not where the finding says".to_string())?;
    let get_at = (function.body.stmts.iter())
        .filter(|s| s.span.line == fix.get_line)
        .map(|s| s.span.start)
        .min()
        .unwrap_or(0);
    // A return after a label may be reached by paths that never took the reference or that
    // handed it on: the put belongs where the failing path jumps from.
    let joined = stmts.iter().any(|s| {
        matches!(s.kind, StmtKind::Label { .. })
            && s.span.start > get_at
            && s.span.start < ret.start
    });
    if joined {
        return Err("the return follows a label other paths jump to; put the reference where the failing path jumps from".into());
    }
    if let Some(root) = root_of(&target) {
        let between = &text[get_at as usize..ret.start as usize];
        let freed = (before.calls.iter()).any(|c| {
            c.caller == Some(fi as u32)
                && (fix.get_line..=fix.return_line).contains(&c.line)
                && fix.frees.iter().any(|f| *f == *c.callee)
                && c.args.first().is_some_and(|a| a.trim() == root)
        });
        if freed || changes(between, root) {
            return Err(format!("`{root}` is freed or changed before the return; put the reference while it still names the module"));
        }
    }
    let place = place_of(stmts, ret_id)?;
    let ret_line = line_bounds(text, ret.start as usize);
    if !text[ret_line.0..ret.start as usize]
        .iter()
        .all(u8::is_ascii_whitespace)
    {
        return Err("the return does not start its line; put the reference by hand".into());
    }
    let indent = indentation(&text[ret_line.0..]);
    let eol: &[u8] = if text[..ret_line.1].ends_with(b"\r") {
        b"\r\n"
    } else {
        b"\n"
    };
    let put_line = [
        indent.as_slice(),
        format!("{}({target});", fix.put).as_bytes(),
        eol,
    ]
    .concat();
    let original = text.clone();
    match place {
        Place::InBlock => {
            text.splice(ret_line.0..ret_line.0, put_line);
        }
        Place::Branch(if_id) => {
            let if_start = stmts[if_id as usize].span.start as usize;
            let cond_line = line_bounds(text, ret_line.0.saturating_sub(1));
            let cond_text = text[cond_line.0..cond_line.1].trim_ascii_end();
            if cond_line.0 >= ret_line.0 || if_start > cond_line.1 || !cond_text.ends_with(b")") {
                return Err("the `if` does not end its line with its condition; add the braces and the put by hand".into());
            }
            let cond_end = cond_line.0 + cond_text.len();
            let if_indent = indentation(&text[line_bounds(text, if_start).0..]);
            // Bottom up, so each offset still holds when it is used.
            let close = [if_indent.as_slice(), b"}", eol].concat();
            let after_ret = (ret_line.1 + 1).min(text.len());
            if after_ret == ret_line.1 {
                return Err("the return ends the file".into());
            }
            text.splice(after_ret..after_ret, close);
            text.splice(ret_line.0..ret_line.0, put_line);
            text.splice(cond_end..cond_end, b" {".iter().copied());
        }
    }
    let after = facts::extract_with(path, text, front_end, &BodyPolicy::All);
    let kept = (after.functions.iter())
        .find(|g| g.name == fix.function && !g.body.is_empty())
        .map(|g| still_leaks(&after, g, &target));
    // Neither the return kept it nor the new put drops what some path never took.
    let moved = fix.return_line + 1;
    let fixed = kept
        .is_some_and(|spans| (spans.iter()).all(|s| s.line != moved && s.line != fix.return_line));
    if !fixed || after.errors.len() > before.errors.len() {
        *text = original;
        return Err(format!(
            "the patched `{}` did not read back with the reference put before that return",
            fix.function
        ));
    }
    Ok((function.line, function.end_line))
}

/// Whether the return is a statement of a block (or a `case`) or the whole `then` branch of
/// an `if`; an `else` branch without braces is left to a human.
fn place_of(stmts: &[facts::Stmt], ret: StmtId) -> Result<Place, String> {
    for (i, s) in stmts.iter().enumerate() {
        match &s.kind {
            StmtKind::If { then, .. } if *then == ret => return Ok(Place::Branch(i as StmtId)),
            StmtKind::If {
                otherwise: Some(o), ..
            } if *o == ret => {
                return Err(
                    "the return is an `else` branch without braces; put the reference by hand"
                        .into(),
                )
            }
            StmtKind::Block(items) | StmtKind::Case { body: items, .. } if items.contains(&ret) => {
                return Ok(Place::InBlock)
            }
            _ => {}
        }
    }
    Err("the return is the body of a loop or a label; put the reference by hand".into())
}

/// The start and end (at its `\n`, or the text's end) of the line holding byte `at`.
fn line_bounds(text: &[u8], at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let start = text[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let end = (text[at..].iter().position(|&b| b == b'\n')).map_or(text.len(), |p| at + p);
    (start, end)
}

/// The leading tabs and spaces of `line`.
fn indentation(line: &[u8]) -> Vec<u8> {
    line.iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .copied()
        .collect()
}

/// The variable a module expression starts from: `dev` in `dev->ops->owner`; none for a name
/// alone (`THIS_MODULE`).
fn root_of(target: &str) -> Option<&str> {
    let t = target.trim_start_matches(['(', '&', '*']);
    let end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(t.len());
    (end > 0 && end < t.len()).then(|| &t[..end])
}

/// Whether `code` assigns `root` (`root = NULL`; not `root->f = ..` nor `==`): after that the
/// module expression may no longer name the module.
fn changes(code: &[u8], root: &str) -> bool {
    let code = String::from_utf8_lossy(code);
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    code.match_indices(root).any(|(at, _)| {
        let after = code[at + root.len()..].trim_start();
        !word(code[..at].chars().next_back())
            && !word(code[at + root.len()..].chars().next())
            && after.starts_with('=')
            && !after.starts_with("==")
    })
}
