//! `check --diff`: a unified diff that `git apply` and `patch -p1` take back byte for byte.
//!
//! Lines end at LF and nothing else, as patch tools read them: a CR (CRLF, `\n\r`, a lone CR)
//! is part of a line's bytes, so every file keeps its own line ends. Lines are written as
//! bytes, never re-encoded (a Latin-1 byte stays that byte). A name git would quote is
//! quoted as git does (C-style, inside double quotes, `a/` and `b/` included).

use similar::{Algorithm, DiffOp, DiffTag};

/// Lines of context around each change, as `diff -u` and `git diff` use.
const CONTEXT: usize = 3;

/// A unified diff of one file, with `a/` and `b/` paths as `git diff` writes them.
pub fn unified_diff(path: &str, old: &[u8], new: &[u8]) -> Vec<u8> {
    let old_lines = split_lines(old);
    let new_lines = split_lines(new);
    let ops = similar::capture_diff_slices(Algorithm::Myers, &old_lines, &new_lines);
    let groups = similar::group_diff_ops(ops, CONTEXT);
    let mut out = Vec::new();
    if groups.is_empty() {
        return out;
    }
    out.extend_from_slice(b"--- ");
    out.extend(quote_path(&format!("a/{path}")));
    out.extend_from_slice(b"\n+++ ");
    out.extend(quote_path(&format!("b/{path}")));
    out.push(b'\n');
    for group in &groups {
        write_hunk(&mut out, group, &old_lines, &new_lines);
    }
    out
}

/// The lines of `text`, each with its LF; the last one without when the file has none.
fn split_lines(text: &[u8]) -> Vec<&[u8]> {
    text.split_inclusive(|&c| c == b'\n').collect()
}

fn write_hunk(out: &mut Vec<u8>, group: &[DiffOp], old: &[&[u8]], new: &[&[u8]]) {
    let (Some(first), Some(last)) = (group.first(), group.last()) else {
        return;
    };
    let old_range = first.old_range().start..last.old_range().end;
    let new_range = first.new_range().start..last.new_range().end;
    out.extend(
        format!(
            "@@ -{} +{} @@",
            hunk_range(old_range.start, old_range.len()),
            hunk_range(new_range.start, new_range.len())
        )
        .bytes(),
    );
    if let Some(heading) = function_heading(&old[..old_range.start]) {
        out.push(b' ');
        out.extend_from_slice(heading);
    }
    out.push(b'\n');
    for op in group {
        let (tag, old_r, new_r) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => old[old_r].iter().for_each(|l| write_line(out, b' ', l)),
            DiffTag::Delete => old[old_r].iter().for_each(|l| write_line(out, b'-', l)),
            DiffTag::Insert => new[new_r].iter().for_each(|l| write_line(out, b'+', l)),
            DiffTag::Replace => {
                old[old_r].iter().for_each(|l| write_line(out, b'-', l));
                new[new_r].iter().for_each(|l| write_line(out, b'+', l));
            }
        }
    }
}

/// The heading `diff -p` and `git diff` put after a hunk's `@@`: the last line before the
/// hunk that starts with a letter, `_` or `$` (a function's or a table's first line in
/// kernel style), cut at 80 bytes and at its line end.
fn function_heading<'l>(before: &[&'l [u8]]) -> Option<&'l [u8]> {
    let line = before.iter().rev().find(|l| {
        l.first()
            .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_' || c == b'$')
    })?;
    let end = (line.iter())
        .position(|&c| c == b'\n' || c == b'\r')
        .unwrap_or(line.len())
        .min(80);
    let heading = line[..end].trim_ascii_end();
    (!heading.is_empty()).then_some(heading)
}

/// `start,len` as diff writes it: an empty range names the line before it.
fn hunk_range(start: usize, len: usize) -> String {
    if len == 0 {
        format!("{start},0")
    } else {
        format!("{},{len}", start + 1)
    }
}

fn write_line(out: &mut Vec<u8>, prefix: u8, line: &[u8]) {
    out.push(prefix);
    out.extend_from_slice(line);
    if line.last() != Some(&b'\n') {
        out.extend_from_slice(b"\n\\ No newline at end of file\n");
    }
}

/// A path as git writes it in a header: as it is, or C-quoted when it holds a double quote,
/// a backslash, a control character or a non-ASCII byte (git's default `core.quotePath`).
pub fn quote_path(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let needs = |c: u8| c == b'"' || c == b'\\' || !(0x20..0x7f).contains(&c);
    if !bytes.iter().any(|&c| needs(c)) {
        return bytes.to_vec();
    }
    let mut out = vec![b'"'];
    for &c in bytes {
        let escape: &[u8] = match c {
            0x07 => b"\\a",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0b => b"\\v",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            c if needs(c) => {
                out.extend(format!("\\{c:03o}").bytes());
                continue;
            }
            _ => {
                out.push(c);
                continue;
            }
        };
        out.extend_from_slice(escape);
    }
    out.push(b'"');
    out
}
