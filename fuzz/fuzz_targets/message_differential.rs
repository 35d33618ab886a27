//! Issue #10's differential target: for any bytes, once `message::repair` has written header
//! bytes that are not UTF-8 as U+FFFD, either the normaliser (`message::read`) refuses the
//! message, or every reader a check uses sees the same header section and MIME tree.
//!
//! Readers compared on an accepted message:
//! - the normaliser's own fields (`Message::headers`): name, value, start and end offsets;
//! - mail-parser's root part (what the content checks read): same fields in the same order, each
//!   at the same offset, with the same name;
//! - mail-auth's own header reader (`AuthenticatedMessage::parse`, what DKIM/ARC hash) and
//!   `AuthenticatedMessage::from_parsed` (what the auth check builds from mail-parser's reading):
//!   same count, same names, same value bytes;
//! - every MIME part mail-parser found, nested messages included: its header block read again
//!   with `message::read_headers` gives the field offsets mail-parser gave.
//!
//! A failing assertion is a message that passes the normaliser yet reads two ways.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_auth::AuthenticatedMessage;
use mail_parser::{Message as Parsed, PartType};
use rampart_checks::message::{self, Field};

fuzz_target!(|raw: &[u8]| {
    // The server reads what `repair` leaves: header bytes that are not UTF-8 as U+FFFD, and
    // nothing else changed (no ASCII byte added, removed or moved).
    let fixed = message::repair(raw);
    if let Some(r) = &fixed {
        assert!(r.lines > 0, "a repair that changed no line");
        assert!(
            raw.iter()
                .filter(|b| b.is_ascii())
                .eq(r.bytes.iter().filter(|b| b.is_ascii())),
            "repair changed an ASCII byte"
        );
    }
    let raw = fixed.as_ref().map_or(raw, |r| &r.bytes[..]);
    let Ok(msg) = message::read(raw) else {
        return;
    };
    let fields = &msg.headers.fields;
    well_formed(raw, fields);
    same_as_mail_parser(fields, &msg.parsed);
    same_as_mail_auth(raw, fields, &msg.parsed);
    mime_tree_agrees(&msg.parsed, 0);
});

/// No field name is empty or holds a byte outside printable ASCII; no value holds a CR or LF
/// that is not part of a fold (CRLF then white space); the offsets cover the bytes given.
fn well_formed(raw: &[u8], fields: &[Field<'_>]) {
    let mut prev_end = 0;
    for f in fields {
        assert!(!f.name.is_empty(), "empty field name at {}", f.start);
        assert!(
            f.name.bytes().all(|b| (33..=126).contains(&b) && b != b':'),
            "field name {:?} is not printable ASCII without a colon",
            f.name
        );
        let v = f.value.as_bytes();
        for (i, &b) in v.iter().enumerate() {
            match b {
                b'\r' => assert!(
                    v.get(i + 1) == Some(&b'\n') && matches!(v.get(i + 2), Some(b' ' | b'\t')),
                    "bare CR or a CRLF that is not a fold in {}: {:?}",
                    f.name,
                    f.value
                ),
                b'\n' => assert!(
                    i > 0 && v[i - 1] == b'\r',
                    "bare LF in {}: {:?}",
                    f.name,
                    f.value
                ),
                0 => panic!("NUL in {}", f.name),
                _ => {}
            }
        }
        // The field is its bytes: name, colon, value, then the CRLF (or the end of the message).
        assert_eq!(f.start, prev_end, "fields do not follow each other");
        assert_eq!(&raw[f.start..f.start + f.name.len()], f.name.as_bytes());
        assert_eq!(raw[f.start + f.name.len()], b':');
        let vstart = f.start + f.name.len() + 1;
        assert_eq!(&raw[vstart..vstart + v.len()], v);
        let tail = &raw[vstart + v.len()..f.end];
        assert!(
            tail == b"\r\n" || (tail.is_empty() && f.end == raw.len()),
            "field {} does not end with CRLF",
            f.name
        );
        prev_end = f.end;
    }
}

/// mail-parser's root part has our fields, one for one, in order, at the same offsets.
fn same_as_mail_parser(fields: &[Field<'_>], parsed: &Parsed<'_>) {
    let root = parsed.root_part();
    assert_eq!(
        root.headers.len(),
        fields.len(),
        "mail-parser reads {} root fields, the normaliser {}",
        root.headers.len(),
        fields.len()
    );
    for (h, f) in root.headers.iter().zip(fields) {
        assert_eq!(
            h.offset_field as usize, f.start,
            "field {} starts elsewhere",
            f.name
        );
        assert_eq!(
            h.offset_start as usize,
            f.start + f.name.len() + 1,
            "the value of {} starts elsewhere",
            f.name
        );
        assert_eq!(
            h.offset_end as usize, f.end,
            "field {} ends elsewhere",
            f.name
        );
        assert!(
            h.name().eq_ignore_ascii_case(f.name),
            "mail-parser names the field at {} {:?}, the normaliser {:?}",
            f.start,
            h.name(),
            f.name
        );
    }
}

/// mail-auth's two readings have our fields: same count, names and value bytes.
///
/// mail-auth's value runs from just after the colon to just past the field's final CRLF (it
/// hashes the field as written, RFC 6376 section 3.4); ours stops before that CRLF. So mail-auth's
/// value must equal the message's bytes from after our colon to our `end`, which is our value
/// plus the CRLF (or our value alone for a last field without CRLF at the end of the message).
fn same_as_mail_auth(raw: &[u8], fields: &[Field<'_>], parsed: &Parsed<'_>) {
    let expected: Vec<(&[u8], &[u8])> = fields
        .iter()
        .map(|f| (f.name.as_bytes(), &raw[f.start + f.name.len() + 1..f.end]))
        .collect();
    // What DKIM and ARC verification hash when they read the message themselves.
    let own = AuthenticatedMessage::parse(raw);
    let own_headers = own.as_ref().map(|m| m.headers.clone()).unwrap_or_default();
    if !expected.is_empty() || own.is_some() {
        compare("AuthenticatedMessage::parse", &expected, &own_headers);
    }
    // What the auth check now uses: mail-auth's view built from mail-parser's reading.
    let from_parsed = AuthenticatedMessage::from_parsed(parsed, raw, true);
    compare(
        "AuthenticatedMessage::from_parsed",
        &expected,
        &from_parsed.headers,
    );
}

fn compare(reader: &str, expected: &[(&[u8], &[u8])], theirs: &[(&[u8], &[u8])]) {
    assert_eq!(
        theirs.len(),
        expected.len(),
        "{reader} reads {} fields, the normaliser {}",
        theirs.len(),
        expected.len()
    );
    for ((en, ev), (tn, tv)) in expected.iter().zip(theirs) {
        assert_eq!(
            en,
            tn,
            "{reader} names a field {:?}, the normaliser {:?}",
            String::from_utf8_lossy(tn),
            String::from_utf8_lossy(en)
        );
        assert_eq!(
            ev,
            tv,
            "{reader} reads field {} as {:?}, the normaliser as {:?}",
            String::from_utf8_lossy(en),
            String::from_utf8_lossy(tv),
            String::from_utf8_lossy(ev)
        );
    }
}

/// Every part's header block, read on its own with the strict reader, has the fields
/// mail-parser found there, at the same offsets, and its body where mail-parser puts it.
fn mime_tree_agrees(parsed: &Parsed<'_>, depth: usize) {
    assert!(
        depth <= message::MAX_DEPTH,
        "accepted a message nested deeper than MAX_DEPTH"
    );
    let raw = parsed.raw_message.as_ref();
    for (i, part) in parsed.parts.iter().enumerate() {
        let start = part.offset_header as usize;
        let body = part.offset_body as usize;
        let end = part.offset_end as usize;
        assert!(
            start <= body && start <= raw.len(),
            "part {i} lies outside the message"
        );
        let block = &raw[start..end.max(body).min(raw.len())];
        let ours = message::read_headers(block).unwrap_or_else(|r| {
            panic!("part {i} was accepted but its block is refused: {}", r.text)
        });
        let theirs: Vec<usize> = part
            .headers
            .iter()
            .map(|h| h.offset_field as usize)
            .collect();
        let mine: Vec<usize> = ours.fields.iter().map(|f| start + f.start).collect();
        assert_eq!(theirs, mine, "part {i}: field offsets differ");
        for (h, f) in part.headers.iter().zip(&ours.fields) {
            assert!(
                h.name().eq_ignore_ascii_case(f.name),
                "part {i}: mail-parser names a field {:?}, the strict reader {:?}",
                h.name(),
                f.name
            );
        }
        assert!(
            start + ours.body_offset == body || (ours.body_offset == block.len() && body >= end),
            "part {i}: body starts at {body} for mail-parser, at {} for the strict reader",
            start + ours.body_offset
        );
        if let PartType::Message(inner) = &part.body {
            mime_tree_agrees(inner, depth + 1);
        }
    }
}
