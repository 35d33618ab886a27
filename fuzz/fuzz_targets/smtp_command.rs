//! Command mode of an SMTP session, as `Session::run` and `Session::command` do it: frame lines
//! with `take_line`, parse each with smtp-proto, and read the raw forward path for the relay checks
//! (NC-2.1.6). Nothing may panic, and the framing must not depend on how the bytes arrived.
//!
//! Input: byte 0 picks where a first read would have ended (see `framing_is_streaming_safe`),
//! the rest is what the client sent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_smtp::address::{check_forward_path, raw_path};
use rampart_smtp::codec::{take_line, Line};

/// The default `limits.max_line_length`, and a small one so the fuzzer reaches the limit easily.
const MAX_LINES: [usize; 2] = [2048, 64];

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    for max in MAX_LINES {
        framing_is_streaming_safe(input, split as usize, max);
        let mut pos = 0;
        loop {
            match take_line(&input[pos..], max) {
                Line::Complete(n) => {
                    assert!(n >= 2 && n <= max, "Complete({n}) with max {max}");
                    let line = &input[pos..pos + n];
                    assert!(
                        line.ends_with(b"\r\n"),
                        "Complete line without CRLF: {line:?}"
                    );
                    let line = &line[..n - 2];
                    assert!(
                        !line.contains(&b'\r') && !line.contains(&b'\n'),
                        "Complete line holds a CR or LF: {line:?}"
                    );
                    command(line);
                    pos += n;
                }
                Line::Incomplete => {
                    let rest = &input[pos..];
                    assert!(
                        rest.len() < max,
                        "Incomplete at {} bytes, max {max}",
                        rest.len()
                    );
                    assert!(!rest.contains(&b'\n'), "Incomplete but a LF is there");
                    break;
                }
                Line::TooLong => {
                    let window = &input[pos..pos + max];
                    assert!(
                        !window.contains(&b'\n'),
                        "TooLong but a LF is in the window"
                    );
                    break;
                }
                Line::BareLineEnding => break,
            }
        }
    }
});

/// The session calls `take_line` again each time more bytes arrive. A verdict given on the bytes
/// read so far must be the verdict on the whole input: a valid line split at an unlucky place must
/// not be refused, and an invalid one must not become valid.
fn framing_is_streaming_safe(input: &[u8], split: usize, max: usize) {
    let k = split.min(input.len());
    let whole = take_line(input, max);
    let part = take_line(&input[..k], max);
    match part {
        Line::Incomplete => {}
        _ => assert_eq!(
            part, whole,
            "take_line on the first {k} bytes disagrees with the whole input (max {max})"
        ),
    }
    if let Line::Complete(n) = whole {
        if k >= n {
            assert_eq!(
                part, whole,
                "a complete line is no longer complete in a prefix"
            );
        }
    }
}

/// What `Session::command` does with one line (CRLF removed).
fn command(line: &[u8]) {
    let mut with_lf = line.to_vec();
    with_lf.push(b'\n');
    let _ = smtp_proto::Request::parse(&mut with_lf.iter());
    // RCPT and the InvalidRecipientAddress path read the forward path as the client wrote it.
    let raw = String::from_utf8_lossy(line);
    if let Some(path) = raw_path(&raw) {
        assert!(raw.contains(path));
        if check_forward_path(path).is_ok() {
            // Ok means a plain `local@domain` (or no domain at all): none of the relay tricks.
            assert!(!path.starts_with('@'), "source route accepted: {path:?}");
            assert!(
                !path.contains('"') && !path.contains('\\'),
                "quotes accepted: {path:?}"
            );
            if let Some((local, domain)) = path.rsplit_once('@') {
                assert!(
                    !local.contains(['@', '%', '!']),
                    "relay trick accepted: {path:?}"
                );
                assert!(
                    !domain.starts_with('['),
                    "address literal accepted: {path:?}"
                );
                assert!(
                    !domain.is_empty() && !domain.ends_with('.'),
                    "bad domain: {path:?}"
                );
            }
        }
    }
}
