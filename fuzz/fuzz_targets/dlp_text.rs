//! DLP text extraction (issue #11 item 10; AL-1.5 reads every rule through it).
//!
//! Input: bytes 0 and 1 give the text limit (`max_bytes`, 0 to 65535, so small limits that cut
//! inside a character are reached), the rest is a message: mail-parser, then
//! `dlp::extract::message_text` as the DLP check runs it. The rest read as text also goes through
//! `dlp::normalize::normalize` and `dlp::extract::html_to_text` on its own.
//!
//! What must hold: no panic; `normalize` is idempotent (every segment is already normalised, so
//! a detector never sees text a second pass would change); the text kept is bounded by the
//! limit: `max_bytes` before normalisation, and NFKC grows UTF-8 text at most elevenfold
//! (UAX #15, section 9) while the folds after it never lengthen a character, so at most
//! `11 * max_bytes` after (and nothing at all for a limit of 0).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_parser::MessageParser;
use rampart_checks::dlp::{extract, normalize::normalize};

/// UAX #15 section 9: the largest growth of UTF-8 text under NFKC.
const NFKC_MAX_GROWTH: usize = 11;

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let max_bytes = usize::from(u16::from_le_bytes([*a, *b]));

    let text = String::from_utf8_lossy(rest);
    let once = normalize(&text);
    assert_eq!(
        normalize(&once),
        once,
        "normalize is not idempotent on {text:?}"
    );
    let _ = extract::html_to_text(&text);
    let _ = extract::decode_entities(&text);

    let Some(parsed) = MessageParser::default().parse(rest) else {
        return;
    };
    let x = extract::message_text(&parsed, max_bytes);
    let mut total = 0;
    for seg in &x.segments {
        assert!(!seg.text.trim().is_empty(), "an empty segment was kept");
        assert_eq!(
            normalize(&seg.text),
            seg.text,
            "segment {} is not normalised",
            seg.location
        );
        total += seg.text.len();
    }
    assert!(
        total <= NFKC_MAX_GROWTH * max_bytes,
        "{total} bytes of text kept for a limit of {max_bytes}"
    );
    if max_bytes == 0 {
        assert!(x.segments.is_empty(), "text kept for a limit of 0");
    }
});
