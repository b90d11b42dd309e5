//! The fix of MR106 in a kernel thread: `module_put(THIS_MODULE); return X;` becomes
//! `module_put_and_kthread_exit(X);` (the knowledge base's self-unpin routine), which drops the
//! reference and ends the thread without returning into the module. Checked by lowering the
//! patched file again.

use crate::facts::{self, BodyPolicy, FrontEnd};
use crate::owners::put_then_return;

/// What the fix needs to know of the finding.
pub struct PutAndExit<'a> {
    pub function: &'a str,
    /// The put's line and routine, and the module's own name.
    pub line: u32,
    pub put: &'a str,
    pub this_module: &'a str,
    /// The routine that puts and exits.
    pub exit_routine: &'a str,
}

/// Rewrites the put and its return in `text`; on `Err` the text is unchanged and the reason
/// says why a human must do it. Returns the routine's first and last lines.
pub fn put_and_exit(
    text: &mut Vec<u8>,
    path: &str,
    fix: &PutAndExit,
    front_end: &FrontEnd,
) -> Result<(u32, u32), String> {
    let before = facts::extract_with(path, text, front_end, &BodyPolicy::All);
    let (fi, function) = (before.functions.iter().enumerate())
        .find(|(_, g)| g.name == fix.function && !g.body.is_empty())
        .ok_or_else(|| format!("`{}` has no body to rewrite", fix.function))?;
    let lines = (function.line, function.end_line);
    let call = (before.calls.iter().enumerate())
        .find(|(_, c)| {
            c.caller == Some(fi as u32)
                && c.line == fix.line
                && c.callee == fix.put
                && c.args.first().is_some_and(|a| a.trim() == fix.this_module)
        })
        .map(|(i, _)| i as u32)
        .ok_or_else(|| "the put is not where the finding says".to_string())?;
    let (put, ret) = put_then_return(&function.body, call).ok_or_else(|| {
        "the put is not a statement followed at once by a return; end the thread by hand"
            .to_string()
    })?;
    let (put_start, put_end) = (put.start as usize, put.end as usize);
    let (ret_start, ret_end) = (ret.start as usize, ret.end as usize);
    // Space and comments may stand between; a preprocessor line may not.
    let between = text.get(put_end..ret_start).unwrap_or_default();
    if between.contains(&b'#') {
        return Err("a preprocessor line stands between the put and the return".into());
    }
    let returned = std::str::from_utf8(text.get(ret_start..ret_end).unwrap_or_default())
        .ok()
        .and_then(|r| r.trim().strip_prefix("return"))
        .and_then(|r| r.trim().strip_suffix(';'))
        .map(|r| r.trim().to_string())
        .ok_or_else(|| "the return does not read as `return ...;`".to_string())?;
    let value = if returned.is_empty() {
        "0".to_string()
    } else {
        returned
    };
    let original = text.clone();
    // The return goes first (it is below the put), with its line when nothing else is on it.
    let line_start = text[..ret_start]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let line_end =
        (text[ret_end..].iter().position(|&b| b == b'\n')).map_or(text.len(), |p| ret_end + p);
    let alone = text[line_start..ret_start]
        .iter()
        .all(u8::is_ascii_whitespace)
        && text[ret_end..line_end].iter().all(u8::is_ascii_whitespace)
        && line_start > put_end;
    let removed = if alone && line_end < text.len() {
        line_start..line_end + 1
    } else {
        ret_start..ret_end
    };
    text.splice(removed, std::iter::empty());
    let replacement = format!("{}({value});", fix.exit_routine);
    text.splice(put_start..put_end, replacement.into_bytes());
    let after = facts::extract_with(path, text, front_end, &BodyPolicy::All);
    let exits = (after.calls.iter()).any(|c| c.line == fix.line && c.callee == fix.exit_routine);
    let put_left = (after.calls.iter()).any(|c| c.line == fix.line && c.callee == fix.put);
    if !exits || put_left || after.errors.len() > before.errors.len() {
        *text = original;
        return Err(format!(
            "the patched `{}` did not read back with {}",
            fix.function, fix.exit_routine
        ));
    }
    Ok(lines)
}
