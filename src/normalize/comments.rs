//! Replacing comments by spaces, so that later passes never see `#` or `}` inside a comment.

use super::blank;
use crate::ctext::literal_end;

/// Returns `src` with every comment byte turned into a space (newlines kept), leaving string and
/// character literals alone. A literal that is not closed on its line ends there: this keeps an
/// apostrophe in `#if 0` prose from swallowing the rest of the file.
pub fn blank_comments(src: &[u8]) -> Vec<u8> {
    let mut out = src.to_vec();
    for_each_comment(src, |at, end, block| {
        if block {
            blank(&mut out, at, end);
        } else {
            out[at..end].fill(b' ');
        }
    });
    out
}

/// Calls `f(start, end, is_block)` with the byte range of every comment of `src`, in order,
/// with the same reading of literals as [`blank_comments`].
pub fn for_each_comment(src: &[u8], mut f: impl FnMut(usize, usize, bool)) {
    let n = src.len();
    let mut i = 0;
    // Only a slash or a quote can change what follows; memchr jumps between them.
    while let Some(k) = memchr::memchr3(b'/', b'"', b'\'', &src[i..]) {
        let at = i + k;
        i = match (src[at], src.get(at + 1)) {
            (b'/', Some(b'*')) => {
                let end = memchr::memmem::find(&src[at + 2..], b"*/").map_or(n, |e| at + e + 4);
                f(at, end, true);
                end
            }
            (b'/', Some(b'/')) => {
                let end = memchr::memchr(b'\n', &src[at..]).map_or(n, |e| at + e);
                f(at, end, false);
                end
            }
            (b'/', _) => at + 1,
            (quote, _) => literal_end(src, at + 1, quote),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_offsets_and_literals() {
        let src = b"a /* x\ny */ b // c\n\"/* no */\" 'x'";
        let out = blank_comments(src);
        assert_eq!(out.len(), src.len());
        assert_eq!(&out, b"a     \n     b     \n\"/* no */\" 'x'");
    }

    #[test]
    fn escapes_unclosed_block_and_line_ends() {
        let out = blank_comments(b"'\\'' /* a */ \"\\\"/*\" x // y\nz /* open\nw");
        assert_eq!(&out, b"'\\''         \"\\\"/*\" x     \nz        \n ");
        assert_eq!(blank_comments(b"a / b /"), b"a / b /");
        assert_eq!(blank_comments(b"\"\\"), b"\"\\");
    }

    #[test]
    fn unclosed_quote_ends_at_line() {
        let out = blank_comments(b"don't\n/* c */x");
        assert_eq!(&out, b"don't\n       x");
    }
}
