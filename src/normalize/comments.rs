//! Replacing comments by spaces, so that later passes never see `#` or `}` inside a comment.

/// Returns `src` with every comment byte turned into a space (newlines kept), leaving string and
/// character literals alone. A literal that is not closed on its line ends there: this keeps an
/// apostrophe in `#if 0` prose from swallowing the rest of the file.
pub fn blank_comments(src: &[u8]) -> Vec<u8> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Str(u8),
        Line,
        Block,
    }
    let mut out = src.to_vec();
    let mut state = State::Code;
    let mut i = 0;
    let n = src.len();
    while i < n {
        let c = src[i];
        match state {
            State::Code => match c {
                b'/' if i + 1 < n && src[i + 1] == b'*' => {
                    out[i] = b' ';
                    out[i + 1] = b' ';
                    i += 2;
                    state = State::Block;
                    continue;
                }
                b'/' if i + 1 < n && src[i + 1] == b'/' => {
                    state = State::Line;
                    continue;
                }
                b'"' | b'\'' => state = State::Str(c),
                _ => {}
            },
            State::Str(q) => match c {
                b'\\' => {
                    i += 2;
                    continue;
                }
                b'\n' => state = State::Code,
                _ if c == q => state = State::Code,
                _ => {}
            },
            State::Line => {
                if c == b'\n' {
                    state = State::Code;
                } else {
                    out[i] = b' ';
                }
            }
            State::Block => {
                if c == b'*' && i + 1 < n && src[i + 1] == b'/' {
                    out[i] = b' ';
                    out[i + 1] = b' ';
                    i += 2;
                    state = State::Code;
                    continue;
                }
                if c != b'\n' {
                    out[i] = b' ';
                }
            }
        }
        i += 1;
    }
    out
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
    fn unclosed_quote_ends_at_line() {
        let out = blank_comments(b"don't\n/* c */x");
        assert_eq!(&out, b"don't\n       x");
    }
}
