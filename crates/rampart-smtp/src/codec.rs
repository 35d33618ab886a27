//! Byte-level SMTP framing, free of I/O: command lines and the DATA stream.
//!
//! Anti-smuggling (RFC 5321 sections 2.3.8 and 4.1.1.4): a line ends with CRLF and nothing else.
//! A command containing a bare CR or LF is refused; in DATA only `<CRLF>.<CRLF>` ends the message,
//! and a message containing a bare CR or LF is refused as a whole once its real end has been read,
//! so `\n.\n`, `\r.\r\n` and the like can never end one transaction and start another.

/// What the start of a buffer holds, in command mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// A complete line of this many bytes, CRLF included.
    Complete(usize),
    /// No line end yet.
    Incomplete,
    /// The line is longer than the limit and has no end within it.
    TooLong,
    /// The line ends in a bare LF, or holds a CR that is not followed by LF.
    BareLineEnding,
}

/// Finds the first command line in `buf`, at most `max` bytes long including CRLF.
pub fn take_line(buf: &[u8], max: usize) -> Line {
    let window = &buf[..buf.len().min(max)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) => {
            if lf == 0 || window[lf - 1] != b'\r' || window[..lf - 1].contains(&b'\r') {
                Line::BareLineEnding
            } else {
                Line::Complete(lf + 1)
            }
        }
        None => {
            // A CR followed by anything but LF can never become a valid line.
            if let Some(cr) = window.iter().position(|&b| b == b'\r') {
                if cr + 1 < window.len() {
                    return Line::BareLineEnding;
                }
            }
            if buf.len() >= max {
                Line::TooLong
            } else {
                Line::Incomplete
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after CRLF, or at the start of the data).
    LineStart,
    /// Inside a line.
    Text,
    /// Saw CR inside a line.
    Cr,
    /// A line started with '.'.
    Dot,
    /// A line started with ".\r".
    DotCr,
}

/// Decodes the DATA stream: dot-unstuffing, end detection, bare CR/LF detection, size limit.
#[derive(Debug)]
pub struct DataDecoder {
    state: State,
    /// Message bytes decoded so far (CRLF before the final dot included).
    pub size: u64,
    /// Largest message kept; bytes past it are counted but not kept.
    limit: u64,
    /// A bare CR or LF was seen: the message will be refused.
    pub bare_line_ending: bool,
}

impl DataDecoder {
    pub fn new(limit: u64) -> DataDecoder {
        DataDecoder {
            state: State::LineStart,
            size: 0,
            limit,
            bare_line_ending: false,
        }
    }

    /// True when the message grew past the limit.
    pub fn too_big(&self) -> bool {
        self.size > self.limit
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.size);
        let keep = (bytes.len() as u64).min(room) as usize;
        out.extend_from_slice(&bytes[..keep]);
        self.size += bytes.len() as u64;
    }

    /// Feeds input; decoded message bytes are appended to `out` (never past the limit).
    /// Returns `Some(n)` when the end-of-data line was found after `n` bytes of `input`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Text => {
                    // Fast path: copy up to the next CR or LF in one go.
                    let rest = &input[i..];
                    let n = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
                    self.emit(out, &rest[..n]);
                    i += n;
                    if i < input.len() {
                        if input[i] == b'\r' {
                            self.state = State::Cr;
                        } else {
                            self.bare_line_ending = true;
                            self.emit(out, b"\n");
                        }
                        i += 1;
                    }
                }
                State::Cr => {
                    match input[i] {
                        b'\n' => {
                            self.emit(out, b"\r\n");
                            self.state = State::LineStart;
                        }
                        b'\r' => {
                            self.bare_line_ending = true;
                            self.emit(out, b"\r");
                        }
                        b => {
                            self.bare_line_ending = true;
                            self.emit(out, &[b'\r', b]);
                            self.state = State::Text;
                        }
                    }
                    i += 1;
                }
                State::LineStart => {
                    match input[i] {
                        b'.' => self.state = State::Dot,
                        b'\r' => self.state = State::Cr,
                        b'\n' => {
                            self.bare_line_ending = true;
                            self.emit(out, b"\n");
                            self.state = State::Text;
                        }
                        _ => {
                            self.state = State::Text;
                            continue;
                        }
                    }
                    i += 1;
                }
                State::Dot => {
                    match input[i] {
                        b'\r' => self.state = State::DotCr,
                        b'\n' => {
                            // ".\n": the classic smuggling end. Not an end; the message is refused.
                            // A bare LF never starts a line (as in Text): only CRLF does.
                            self.bare_line_ending = true;
                            self.emit(out, b".\n");
                            self.state = State::Text;
                        }
                        _ => {
                            // A leading dot is removed (RFC 5321 section 4.5.2); the rest is text.
                            self.state = State::Text;
                            continue;
                        }
                    }
                    i += 1;
                }
                State::DotCr => {
                    if input[i] == b'\n' {
                        return Some(i + 1);
                    }
                    // ".\r" not followed by LF.
                    self.bare_line_ending = true;
                    self.emit(out, b".\r");
                    self.state = State::Text;
                    continue;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(take_line(b"NOOP\r\nQUIT\r\n", 512), Line::Complete(6));
        assert_eq!(take_line(b"NOOP\r", 512), Line::Incomplete);
        assert_eq!(take_line(b"NOOP", 512), Line::Incomplete);
        assert_eq!(take_line(b"NOOP\n", 512), Line::BareLineEnding);
        assert_eq!(take_line(b"\n", 512), Line::BareLineEnding);
        assert_eq!(take_line(b"NO\rOP\r\n", 512), Line::BareLineEnding);
        assert_eq!(take_line(b"NO\rOP", 512), Line::BareLineEnding);
        assert_eq!(take_line(&[b'a'; 600], 512), Line::TooLong);
        let mut long = vec![b'a'; 510];
        long.extend_from_slice(b"\r\n");
        assert_eq!(take_line(&long, 512), Line::Complete(512));
        long.insert(0, b'a');
        assert_eq!(take_line(&long, 512), Line::TooLong);
    }

    /// Feeds `input` in chunks of every size from 1 to its length; all must agree.
    fn decode(input: &[u8]) -> (Vec<u8>, Option<usize>, bool) {
        let mut first: Option<(Vec<u8>, Option<usize>, bool)> = None;
        for chunk in 1..=input.len().max(1) {
            let mut d = DataDecoder::new(1 << 20);
            let mut out = Vec::new();
            let mut end = None;
            let mut pos = 0;
            for c in input.chunks(chunk) {
                if let Some(n) = d.feed(c, &mut out) {
                    end = Some(pos + n);
                    break;
                }
                pos += c.len();
            }
            let r = (out, end, d.bare_line_ending);
            match &first {
                None => first = Some(r),
                Some(f) => assert_eq!(f, &r, "chunk size {chunk} disagrees"),
            }
        }
        first.unwrap()
    }

    #[test]
    fn plain_message_and_dot_unstuffing() {
        let (out, end, bare) =
            decode(b"Subject: x\r\n\r\n..leading dot\r\n.\r\nMAIL FROM:<a@b>\r\n");
        assert_eq!(out, b"Subject: x\r\n\r\n.leading dot\r\n");
        assert_eq!(end, Some(32));
        assert!(!bare);
    }

    #[test]
    fn empty_message_ends_at_once() {
        assert_eq!(decode(b".\r\n"), (vec![], Some(3), false));
    }

    #[test]
    fn smuggling_vectors_do_not_end_the_message() {
        // Each would, in a lenient server, end the message and start a second transaction.
        for sep in [
            &b"\n.\n"[..],
            b"\n.\r\n",
            b"\r.\r\n",
            b"\r\n.\r",
            b"\r\n.\n",
        ] {
            let mut input = b"Subject: a\r\n\r\nbody".to_vec();
            input.extend_from_slice(sep);
            input.extend_from_slice(
                b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@example.test>\r\nDATA\r\nsmuggled\r\n",
            );
            let (_, end, bare) = decode(&input);
            assert_eq!(
                end,
                None,
                "{:?} ended the message",
                String::from_utf8_lossy(sep)
            );
            // With the real end after it, the whole thing is one message, and it is refused.
            input.extend_from_slice(b"\r\n.\r\n");
            let (_, end, bare2) = decode(&input);
            assert_eq!(end, Some(input.len()), "{:?}", String::from_utf8_lossy(sep));
            assert!(
                bare || bare2,
                "{:?} not flagged",
                String::from_utf8_lossy(sep)
            );
        }
    }

    /// Found by the data_stream fuzz target: after ".\n" a "." must not count as the start of a
    /// line, or ".\n.\r\n" would end the data (a "\n.\r\n" end, one of the smuggling forms).
    #[test]
    fn a_bare_lf_never_starts_a_line() {
        for input in [
            &b"body li\xff\xff\r\n.\n.\r\n"[..],
            b"\n.\r\n",
            b"a\r\n\n.\r\n",
        ] {
            let (_, end, bare) = decode(input);
            assert_eq!(
                end,
                None,
                "{:?} ended the data",
                String::from_utf8_lossy(input)
            );
            assert!(bare);
        }
    }

    #[test]
    fn bare_line_endings_are_flagged() {
        assert!(decode(b"a\nb\r\n.\r\n").2);
        assert!(decode(b"a\rb\r\n.\r\n").2);
        assert!(decode(b"a\r\r\n.\r\n").2);
        assert!(!decode(b"a\r\nb\r\n.\r\n").2);
    }

    #[test]
    fn size_limit_counts_but_does_not_keep() {
        let mut d = DataDecoder::new(10);
        let mut out = Vec::new();
        assert_eq!(d.feed(b"0123456789abcdef\r\n", &mut out), None);
        assert_eq!(out.len(), 10);
        assert!(d.too_big());
        assert_eq!(d.feed(b".\r\n", &mut out), Some(3));
        assert_eq!(out.len(), 10);
    }
}
