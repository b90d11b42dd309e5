//! What an expression written in a table or an argument refers to: a name, an access path,
//! a member.

use crate::ctext::{is_ident_char, is_identifier};

/// The name an expression refers to, with `&`, casts and parentheses stripped:
/// `&foo_fops` -> `foo_fops`, `(struct x *) &tbl[i]` -> `tbl`.
pub fn referenced_name(expr: &str) -> Option<&str> {
    let mut e = expr.trim();
    loop {
        let before = e;
        e = e.trim_start_matches('&').trim();
        if e.starts_with('(') {
            // A cast `(type) x` or parentheses `(x)`.
            if let Some(close) = matching_close(e) {
                let inner = &e[1..close];
                let rest = e[close + 1..].trim();
                e = if rest.is_empty() { inner.trim() } else { rest };
            }
        }
        if e == before {
            break;
        }
    }
    let end = e.find(|c: char| !is_ident_char(c)).unwrap_or(e.len());
    let name = &e[..end];
    let ok = !name.is_empty()
        && !name.as_bytes()[0].is_ascii_digit()
        && only_subscripts(e[end..].trim());
    ok.then_some(name)
}

/// The object an address-of expression names by an access path: `&card->interface` ->
/// `card->interface`, `&(spp->dev)` -> `spp->dev`. Only names, `->`, `.` and subscripts.
pub fn access_path(expr: &str) -> Option<&str> {
    let mut e = expr.trim();
    loop {
        let before = e;
        e = e.trim_start_matches('&').trim();
        if e.starts_with('(') {
            if let Some(close) = matching_close(e) {
                let rest = e[close + 1..].trim();
                e = if rest.is_empty() {
                    e[1..close].trim()
                } else {
                    rest
                };
            }
        }
        if e == before {
            break;
        }
    }
    let ok = e.contains("->") || e.contains('.');
    let chars_ok = e
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_->.[] ".contains(c));
    let starts_ok = e.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    (ok && chars_ok && starts_ok).then_some(e)
}

/// The last member of an access path: `q->vdev` -> `vdev`; `None` for a plain name.
pub(super) fn last_member(path: &str) -> Option<&str> {
    let at = path.rfind(['.', '>'])?;
    Some(path[at + 1..].trim())
}

/// The table and member an expression reads: `drm_proc_list[i].f` -> (`drm_proc_list`, `f`),
/// `ops.open` -> (`ops`, `open`). Only a plain name, subscripts and one `.member`.
pub fn referenced_member(expr: &str) -> Option<(&str, &str)> {
    let e = expr.trim();
    let dot = e.rfind('.')?;
    let member = e[dot + 1..].trim();
    if !is_identifier(member) || e[..dot].contains("->") || e[..dot].contains('.') {
        return None;
    }
    Some((referenced_name(&e[..dot])?, member))
}

/// Whether `rest` is nothing or only subscripts (`[i][j]`): an element of the named array,
/// not a member of one (`[i].dev`).
fn only_subscripts(mut rest: &str) -> bool {
    while let Some(r) = rest.strip_prefix('[') {
        let mut depth = 1;
        let Some(close) = r.char_indices().find_map(|(i, c)| {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(i)
        }) else {
            return false;
        };
        rest = r[close + 1..].trim_start();
    }
    rest.is_empty()
}

fn matching_close(e: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in e.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_names() {
        assert_eq!(referenced_name("&foo_fops"), Some("foo_fops"));
        assert_eq!(referenced_name("foo_open"), Some("foo_open"));
        assert_eq!(referenced_name("(struct x *) &tbl[i]"), Some("tbl"));
        assert_eq!(referenced_name("(&x)"), Some("x"));
        assert_eq!(referenced_name("NULL"), Some("NULL"));
        assert_eq!(referenced_name("0"), None);
        assert_eq!(referenced_name("a + b"), None);
        assert_eq!(referenced_name("dev->fops"), None);
        assert_eq!(referenced_name("&tbl[i][j + 1]"), Some("tbl"));
        assert_eq!(referenced_name("&ether_devs[i].dev"), None);
        assert_eq!(
            referenced_member("drm_proc_list[i].f"),
            Some(("drm_proc_list", "f"))
        );
        assert_eq!(referenced_member("ops.open"), Some(("ops", "open")));
        assert_eq!(referenced_member("a->b.c"), None);
        assert_eq!(referenced_member("x.y.z"), None);
        assert_eq!(referenced_member("1.5"), None);
        assert_eq!(access_path("&card->interface"), Some("card->interface"));
        assert_eq!(access_path("&(spp->dev)"), Some("spp->dev"));
        assert_eq!(access_path("&fb_info.gen.info"), Some("fb_info.gen.info"));
        assert_eq!(access_path("moddevs + z"), None);
        assert_eq!(access_path("foo"), None);
        assert_eq!(last_member("q->vdev"), Some("vdev"));
        assert_eq!(last_member("a.b.c"), Some("c"));
        assert_eq!(last_member("x"), None);
    }
}
