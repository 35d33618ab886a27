//! The DATA stream as `Session::data` reads it: `DataDecoder` fed whatever arrived, in pieces.
//!
//! Input: byte 0 picks where the stream is split into two reads, byte 1 picks the size limit, the
//! rest is what the client sent after `354`. Checked on every input:
//!
//! - output kept never exceeds the limit, and is exactly the first `min(size, limit)` bytes;
//! - the end offset lies within the input;
//! - two reads give the same end, output, size and verdicts as one read;
//! - the data ends exactly at the first `<CRLF>.<CRLF>`;
//! - anti-smuggling (RFC 5321 sections 2.3.8, 4.1.1.4; `codec.rs` module doc): only
//!   `<CRLF>.<CRLF>` ends the data, the DATA command's own CRLF counting for the first line;
//! - a bare CR or LF before the end is always reported, and never one that is not there;
//! - a clean message decodes to the dot-unstuffed lines (RFC 5321 section 4.5.2).
//!
//! The normaliser (`rampart_checks::message::read`) then reads the decoded message, as the
//! session does; its Message-ID is bounded.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_smtp::codec::DataDecoder;

/// 0 and tiny limits make the size logic reachable; the last is "no practical limit".
const LIMITS: [u64; 4] = [0, 7, 64, 1 << 20];

#[derive(Debug, PartialEq, Eq)]
struct Run {
    end: Option<usize>,
    out: Vec<u8>,
    size: u64,
    bare: bool,
    too_big: bool,
}

fn decode(limit: u64, reads: &[&[u8]]) -> Run {
    let mut d = DataDecoder::new(limit);
    let mut out = Vec::new();
    let mut before = 0;
    let mut end = None;
    for read in reads {
        if let Some(n) = d.feed(read, &mut out) {
            assert!(
                n <= read.len(),
                "end {n} past a read of {} bytes",
                read.len()
            );
            end = Some(before + n);
            break;
        }
        before += read.len();
    }
    Run {
        end,
        out,
        size: d.size,
        bare: d.bare_line_ending,
        too_big: d.too_big(),
    }
}

/// True if `bytes` holds an LF not preceded by CR, or a CR followed by something other than LF.
/// The first byte follows the DATA command's CRLF; a CR at the very end may still get its LF.
fn has_bare_line_ending(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\n' => i == 0 || bytes[i - 1] != b'\r',
        b'\r' => i + 1 < bytes.len() && bytes[i + 1] != b'\n',
        _ => false,
    })
}

/// Where `<CRLF>.<CRLF>` first ends the data (the DATA command's CRLF counting for the first
/// line): the offset just past it.
fn first_proper_end(input: &[u8]) -> Option<usize> {
    if input.starts_with(b".\r\n") {
        return Some(3);
    }
    input
        .windows(5)
        .position(|w| w == b"\r\n.\r\n")
        .map(|i| i + 5)
}

/// RFC 5321 section 4.5.2, for a body of whole CRLF lines: drop one leading dot of each line.
fn unstuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while !rest.is_empty() {
        let n = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("whole lines")
            + 2;
        let line = &rest[..n];
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        rest = &rest[n..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [split, limit, input @ ..] = data else {
        return;
    };
    let limit = LIMITS[*limit as usize % LIMITS.len()];
    let split = *split as usize % (input.len() + 1);

    let one = decode(limit, &[input]);
    let two = decode(limit, &[&input[..split], &input[split..]]);
    assert_eq!(one, two, "one read and two reads split at {split} disagree");

    assert!(
        one.out.len() as u64 <= limit,
        "kept {} bytes past limit {limit}",
        one.out.len()
    );
    assert_eq!(one.out.len() as u64, one.size.min(limit));
    assert_eq!(one.too_big, one.size > limit);

    let consumed = &input[..one.end.unwrap_or(input.len())];
    assert_eq!(
        one.bare,
        has_bare_line_ending(consumed),
        "bare line ending flag wrong for {consumed:?}"
    );

    if let Some(n) = one.end {
        assert!(n >= 3 && n <= input.len());
        let (body, dot) = consumed.split_at(n - 3);
        assert_eq!(dot, b".\r\n", "data ended without a dot line");
        assert!(
            body.is_empty() || body.ends_with(b"\r\n"),
            "data ended by a dot line that does not follow a CRLF: {consumed:?}"
        );
        if !one.bare {
            let expected = unstuff(body);
            assert_eq!(one.size, expected.len() as u64, "size of {body:?}");
            assert_eq!(
                one.out[..],
                expected[..one.out.len()],
                "decoding of {body:?}"
            );
        }
    }

    assert_eq!(
        one.end,
        first_proper_end(input),
        "end of data misplaced in {input:?}"
    );

    if let Ok(message) = rampart_checks::message::read(&one.out) {
        if let Some(id) = message.headers.message_id() {
            assert!(!id.is_empty() && id.chars().count() <= 998);
        }
    }
});
