//! The message every transaction sends, built once before the run.
//!
//! The bytes on the wire are `head` + `Message-ID` line + `tail`: the head (From, To, Subject,
//! Date) and the tail (blank line, dot-stuffed body, `.<CRLF>`) are shared by every session;
//! only the Message-ID line is written per message, into a buffer each session reuses.
//!
//! The body is exactly `size` bytes before dot-stuffing (CRLFs counted): lines of printable
//! ASCII, at most 78 characters each (RFC 5322 2.1.1), some of them starting with a dot so
//! that the server's un-stuffing is exercised.

use std::io::Write;
use std::sync::Arc;

/// Longest body line, without its CRLF (RFC 5322 2.1.1 recommends 78).
pub const MAX_LINE: usize = 78;

/// The pre-built parts of the message.
#[derive(Debug, Clone)]
pub struct Message {
    head: Arc<[u8]>,
    tail: Arc<[u8]>,
    id_domain: String,
}

impl Message {
    /// Builds the message for envelope `from` and `to`, `size` body bytes, dated `unix_secs`.
    /// Message-IDs end in `@id_domain`.
    pub fn new(from: &str, to: &[String], size: usize, unix_secs: u64, id_domain: &str) -> Self {
        let mut head = Vec::with_capacity(256);
        let to_list: Vec<String> = to.iter().map(|t| format!("<{t}>")).collect();
        // Writing into a Vec cannot fail.
        let _ = write!(
            head,
            "From: <{from}>\r\nTo: {}\r\nSubject: rampart-loadgen {size} bytes\r\nDate: {}\r\n",
            to_list.join(", "),
            rfc5322_date(unix_secs)
        );
        let stuffed = dot_stuff(&body(size));
        let mut tail = Vec::with_capacity(stuffed.len() + 5);
        tail.extend_from_slice(b"\r\n");
        tail.extend_from_slice(&stuffed);
        tail.extend_from_slice(b".\r\n");
        Message {
            head: head.into(),
            tail: tail.into(),
            id_domain: id_domain.to_string(),
        }
    }

    /// Writes the header block (Message-ID included) into `buf`, replacing what it held, so the
    /// message on the wire is `buf` followed by [`Message::tail`]. `run`, `phase`, `session`
    /// and `seq` make the Message-ID unique.
    pub fn head_into(&self, buf: &mut Vec<u8>, run: u64, phase: char, session: usize, seq: u64) {
        buf.clear();
        buf.extend_from_slice(&self.head);
        let _ = write!(
            buf,
            "Message-ID: <{run:x}.{phase}{session}.{seq}@{}>\r\n",
            self.id_domain
        );
    }

    /// The blank line, the dot-stuffed body and the terminating `.<CRLF>`.
    pub fn tail(&self) -> &[u8] {
        &self.tail
    }
}

/// The body as the recipient should see it: exactly `size` bytes of CRLF-terminated lines of
/// printable ASCII, none longer than [`MAX_LINE`]. Deterministic, so tests can compare.
///
/// A size of 1 cannot be made of whole lines and gives an empty body; [`crate::Config`] refuses it.
pub fn body(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    let mut rng: u32 = 0x9e37_79b9;
    let mut line_no = 0usize;
    while size - out.len() >= 2 {
        let room = size - out.len() - 2;
        // Line lengths vary over 0..=78; every 8th line starts with a dot, and line 5 is a lone
        // dot (which must be stuffed, or it would end the message).
        let mut len = if line_no == 5 {
            1
        } else {
            (line_no * 37 + 11) % (MAX_LINE + 1)
        };
        if room <= MAX_LINE {
            len = room;
        } else if room - len == 1 {
            // One byte left over could not form a line (here len = room - 1 >= 78).
            len -= 1;
        }
        let dotted = line_no % 8 == 3 || line_no == 5;
        for i in 0..len {
            let c = if i == 0 && dotted {
                b'.'
            } else {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                // Mostly letters and digits, some spaces and punctuation: printable ASCII.
                match rng % 16 {
                    0 | 1 => b' ',
                    2 => b"!#$%&'()*+,-./:;=?"[(rng >> 8) as usize % 18],
                    _ => {
                        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            [(rng >> 8) as usize % 62]
                    }
                }
            };
            out.push(c);
        }
        out.extend_from_slice(b"\r\n");
        line_no += 1;
    }
    out
}

/// RFC 5321 4.5.2: a line that starts with a dot gets one more. `text` is CRLF-terminated lines.
pub fn dot_stuff(text: &[u8]) -> Vec<u8> {
    let dots = text
        .split(|&b| b == b'\n')
        .filter(|l| l.first() == Some(&b'.'))
        .count();
    let mut out = Vec::with_capacity(text.len() + dots);
    let mut at_line_start = true;
    for &b in text {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out
}

/// An RFC 5322 3.3 date in UTC, e.g. `Thu, 01 Jan 1970 00:00:00 +0000`.
pub fn rfc5322_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (y, m, d) = civil_date(days);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Year, month (1-12) and day (1-31) of the day `days` after 1970-01-01, in the proleptic
/// Gregorian calendar. Works in 400-year eras counted from 0000-03-01, so that the leap day is
/// the last day of its year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Days from 0000-03-01 to 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March.
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5321 4.5.2, receiver side: the inverse of [`dot_stuff`].
    fn unstuff(wire: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(wire.len());
        let mut at_line_start = true;
        for &b in wire {
            if !(at_line_start && b == b'.') {
                out.push(b);
            }
            at_line_start = b == b'\n';
        }
        out
    }

    fn lines(text: &[u8]) -> Vec<&[u8]> {
        let mut v: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        assert_eq!(v.pop(), Some(&b""[..]), "text ends in a line break");
        v
    }

    #[test]
    fn body_has_the_exact_size_and_only_short_printable_crlf_lines() {
        for size in [0, 2, 3, 10, 79, 80, 81, 82, 1000, 5000, 10_240, 102_400] {
            let b = body(size);
            assert_eq!(b.len(), size, "size {size}");
            for l in lines(&b) {
                let l = l.strip_suffix(b"\r").expect("CRLF");
                assert!(l.len() <= MAX_LINE, "{} bytes", l.len());
                assert!(l.iter().all(|c| (0x20..0x7f).contains(c)), "{l:?}");
            }
        }
    }

    #[test]
    fn body_has_lines_that_need_stuffing() {
        let b = body(5000);
        let ls = lines(&b);
        assert!(ls.contains(&&b".\r"[..]), "a lone dot");
        assert!(ls.iter().filter(|l| l.starts_with(b".")).count() > 10);
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots_only() {
        assert_eq!(dot_stuff(b".\r\n"), b"..\r\n");
        assert_eq!(dot_stuff(b"a.b\r\n.c\r\n..\r\n"), b"a.b\r\n..c\r\n...\r\n");
        assert_eq!(dot_stuff(b"x\r\n"), b"x\r\n");
        assert_eq!(dot_stuff(b""), b"");
    }

    #[test]
    fn the_message_on_the_wire_ends_only_at_its_terminator_and_unstuffs_to_the_body() {
        let to = vec!["a@example.test".to_string(), "b@example.test".to_string()];
        let m = Message::new("s@remote.test", &to, 5000, 0, "loadgen.test");
        let mut wire = Vec::new();
        m.head_into(&mut wire, 0xab, 't', 3, 7);
        wire.extend_from_slice(m.tail());
        let text = String::from_utf8(wire.clone()).unwrap();
        assert!(text.starts_with(
            "From: <s@remote.test>\r\nTo: <a@example.test>, <b@example.test>\r\n\
             Subject: rampart-loadgen 5000 bytes\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\n\
             Message-ID: <ab.t3.7@loadgen.test>\r\n\r\n"
        ));
        // The end of data (<CRLF>.<CRLF>) occurs once, at the very end.
        let end = b"\r\n.\r\n";
        let first = wire.windows(5).position(|w| w == end).unwrap();
        assert_eq!(first, wire.len() - 5);
        // No line but the last is a lone dot; every dotted line was doubled.
        let ls = lines(&wire);
        assert_eq!(ls.last(), Some(&&b".\r"[..]));
        for l in &ls[..ls.len() - 1] {
            assert_ne!(*l, b".\r");
            if l.starts_with(b".") {
                assert!(l.starts_with(b".."), "{l:?}");
            }
        }
        // The receiver's view: headers, blank line, then the body unchanged.
        let body_start = text.find("\r\n\r\n").unwrap() + 4;
        let data = &wire[body_start..wire.len() - 3];
        assert_eq!(unstuff(data), body(5000));
        // A new head replaces the old one.
        let mut buf = Vec::new();
        m.head_into(&mut buf, 1, 'w', 0, 0);
        m.head_into(&mut buf, 1, 'w', 0, 1);
        assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 5);
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_700_000_000),
            "Tue, 14 Nov 2023 22:13:20 +0000"
        );
        // A leap day and the day after it.
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_868_799), "Tue, 29 Feb 2000 23:59:59 +0000");
        assert_eq!(rfc5322_date(951_868_800), "Wed, 01 Mar 2000 00:00:00 +0000");
    }
}
