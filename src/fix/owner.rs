//! The fix of MR101: the owner added to the table's initializer, as a line in the style of the
//! initializer's first item (its indentation, the alignment of its `=`, the file's line ends),
//! then checked by lowering the patched file again.

use crate::facts::{self, Designator, FrontEnd};

use super::tab_column;

/// Where an owner line went: the table's first line and its initializer's last item line.
pub struct OwnerFixed {
    pub first_line: u32,
    pub last_line: u32,
}

/// Adds `.FIELD = VALUE,` to the initializer of `table` in `text`; on `Err` the text is
/// unchanged and the reason says why a human must do it.
pub fn add_owner(
    text: &mut Vec<u8>,
    path: &str,
    table: &str,
    field: &str,
    value: &str,
    front_end: &FrontEnd,
) -> Result<OwnerFixed, String> {
    let before = facts::extract(path, text, front_end);
    let var = (before.variables.iter())
        .find(|v| v.name == table && v.init.is_some())
        .ok_or_else(|| format!("`{table}` has no initializer to add the owner to"))?;
    let items = &var.init.as_ref().expect("filtered on init").items;
    let first = items
        .first()
        .ok_or_else(|| format!("the initializer of `{table}` is empty"))?;
    if first.line <= var.line {
        return Err(format!(
            "the initializer of `{table}` starts on its declaration's line"
        ));
    }
    let last_line = items.iter().map(|i| i.line).max().unwrap_or(first.line);
    let start =
        line_start(text, first.line).ok_or_else(|| "the file changed under the fix".to_string())?;
    let end = (text[start..].iter().position(|&b| b == b'\n')).map_or(text.len(), |p| start + p);
    let line = &text[start..end];
    let new_line = owner_line(line, field, value)
        .ok_or_else(|| format!("the first item of `{table}` is not a `.field = value` item"))?;
    let original = text.clone();
    text.splice(start..start, new_line);
    let after = facts::extract(path, text, front_end);
    let has_owner = (after.variables.iter())
        .filter(|v| v.name == table)
        .filter_map(|v| v.init.as_ref())
        .flat_map(|i| i.items.iter())
        .any(|i| matches!(i.designators.first(), Some(Designator::Field(f)) if f == field));
    if !has_owner || after.errors.len() > before.errors.len() {
        *text = original;
        return Err(format!(
            "the patched initializer of `{table}` did not read back with its owner"
        ));
    }
    Ok(OwnerFixed {
        first_line: var.line,
        last_line,
    })
}

/// The byte offset where 1-based line `line` starts.
fn line_start(text: &[u8], line: u32) -> Option<usize> {
    if line == 1 {
        return Some(0);
    }
    memchr::memchr_iter(b'\n', text)
        .nth(line as usize - 2)
        .map(|p| p + 1)
}

/// `.FIELD = VALUE,` written as `item` is written: its indentation, the whitespace before and
/// after its `=` (tabs aligned to the same column, spaces padded to it) and its line end.
fn owner_line(item: &[u8], field: &str, value: &str) -> Option<Vec<u8>> {
    let (item, crlf) = match item.strip_suffix(b"\r") {
        Some(rest) => (rest, true),
        None => (item, false),
    };
    let indent_len = item
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    let (indent, rest) = item.split_at(indent_len);
    if rest.first() != Some(&b'.') {
        return None;
    }
    let eq = rest.iter().position(|&b| b == b'=')?;
    let name_end = rest[..eq]
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(0, |p| p + 1);
    let gap = &rest[name_end..eq];
    let after_eq = rest[eq + 1..]
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    let mut out = indent.to_vec();
    out.push(b'.');
    out.extend_from_slice(field.as_bytes());
    // The column the item's `=` sits at, tabs every 8 columns as the kernel writes them.
    let eq_column = tab_column(&item[..indent_len + eq]);
    let mut column = tab_column(&out);
    if gap.contains(&b'\t') {
        while column < eq_column {
            out.push(b'\t');
            column = tab_column(&out);
        }
        if !out.ends_with(b"\t") {
            out.push(b'\t');
        }
    } else if gap.is_empty() {
        // `.open=x`: as written.
    } else {
        out.push(b' ');
        while tab_column(&out) < eq_column {
            out.push(b' ');
        }
    }
    out.push(b'=');
    out.extend_from_slice(&rest[eq + 1..eq + 1 + after_eq]);
    out.extend_from_slice(value.as_bytes());
    out.push(b',');
    out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::owner_line;

    fn line(item: &str) -> String {
        String::from_utf8(owner_line(item.as_bytes(), "owner", "THIS_MODULE").unwrap()).unwrap()
    }

    #[test]
    fn the_owner_line_follows_the_first_items_style() {
        assert_eq!(
            line("\t.open\t\t= foo_open,"),
            "\t.owner\t\t= THIS_MODULE,\n"
        );
        assert_eq!(
            line("\t.unlocked_ioctl\t= foo_ioctl,"),
            "\t.owner\t\t= THIS_MODULE,\n"
        );
        assert_eq!(line("\t.open = foo_open,"), "\t.owner = THIS_MODULE,\n");
        assert_eq!(
            line("    .open    = foo_open,"),
            "    .owner   = THIS_MODULE,\n"
        );
        assert_eq!(line("\t.open=foo_open,"), "\t.owner=THIS_MODULE,\n");
        assert_eq!(line("\t.open = foo_open,\r"), "\t.owner = THIS_MODULE,\r\n");
        assert!(owner_line(b"\topen: foo_open,", "owner", "THIS_MODULE").is_none());
    }
}
