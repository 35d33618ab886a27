use super::*;

fn refused(raw: &[u8]) -> String {
    match read(raw) {
        Ok(_) => panic!("accepted: {}", String::from_utf8_lossy(raw)),
        Err(r) => {
            assert_eq!(
                (r.code, r.status),
                (554, EnhancedStatus::MEDIA_OTHER),
                "{}",
                r.text
            );
            r.text
        }
    }
}

const PLAIN: &[u8] = b"From: Alice <alice@sender.example>\r\nTo: bob@agency.example.gov\r\n\
Subject: Budget\r\n for 2027\r\nMessage-ID: <m1@sender.example>\r\n\r\nHello\r\n";

#[test]
fn a_plain_message_reads_one_way() {
    let m = read(PLAIN).unwrap();
    let names: Vec<&str> = m.headers.fields.iter().map(|f| f.name).collect();
    assert_eq!(names, ["From", "To", "Subject", "Message-ID"]);
    assert_eq!(
        m.headers.get("subject").unwrap().unfolded(),
        "Budget for 2027"
    );
    assert_eq!(m.headers.message_id().as_deref(), Some("m1@sender.example"));
    assert_eq!(&PLAIN[m.headers.body_offset..], b"Hello\r\n");
    assert_eq!(m.parsed.subject(), Some("Budget for 2027"));
}

#[test]
fn builder_messages_with_attachments_pass() {
    let raw = crate::testutil::message_with(&[
        ("a.pdf", "application/pdf", b"%PDF-1.4 x"),
        ("b.txt", "text/plain", b"hello"),
    ]);
    let m = read(&raw).unwrap();
    assert!(m.parsed.parts.len() >= 3);
    let nested = mail_builder::MessageBuilder::new()
        .from("a@sender.example")
        .to("b@agency.example.gov")
        .subject("fwd")
        .text_body("see attached")
        .attachment("message/rfc822", "orig.eml", raw.clone())
        .write_to_vec()
        .unwrap();
    read(&nested).unwrap();
}

#[test]
fn first_line_folded_is_refused() {
    // The authentication library took this for "no From"; readers show the From.
    let t = refused(
        b"\t; dmarc=pass header.from=agency.example.gov\r\nFrom: CEO <ceo@agency.example.gov>\r\n\r\nPay\r\n",
    );
    assert!(t.contains("first header line"), "{t}");
}

#[test]
fn a_line_without_colon_is_refused() {
    let t = refused(b"From: a@sender.example\r\nthis is not a field\r\nSubject: x\r\n\r\nb\r\n");
    assert!(t.contains("line 2"), "{t}");
    refused(b"From : a@sender.example\r\n\r\nb\r\n");
}

#[test]
fn bare_cr_bare_lf_and_nul_are_refused_anywhere() {
    // BDAT carries bytes as sent: a bare CR hides a part from the checks and becomes a line
    // break once an outbound client rewrites it.
    let t = refused(
        b"From: a@sender.example\r\nX-Note: x\rContent-Type: multipart/mixed; boundary=b\r\n\r\nbody\r\n",
    );
    assert!(t.contains("bare CR"), "{t}");
    assert!(refused(b"From: a@sender.example\r\n\r\nline\nnext\r\n").contains("bare LF"));
    assert!(refused(b"From: a@sender.example\r\n\r\nbo\x00dy\r\n").contains("NUL"));
    assert!(refused(b"From: a@sender.example\r\nX: a\x00b\r\n\r\nb\r\n").contains("NUL"));
}

#[test]
fn once_only_fields_twice_are_refused() {
    for name in ONCE_ONLY {
        let raw = format!(
            "From: a@sender.example\r\n{name}: one\r\nTo: x@agency.example.gov\r\n{name}: two\r\n\r\nb\r\n"
        );
        let raw = if *name == "From" || *name == "To" {
            format!("{name}: one@a.example\r\n{name}: two@b.example\r\n\r\nb\r\n")
        } else {
            raw
        };
        let t = refused(raw.as_bytes());
        assert!(t.contains(name), "{name}: {t}");
    }
}

#[test]
fn white_space_only_continuation_is_refused() {
    refused(b"From: a@sender.example\r\nSubject: x\r\n \r\nTo: b@agency.example.gov\r\n\r\nb\r\n");
}

#[test]
fn non_utf8_header_bytes_are_refused() {
    refused(b"From: a@sender.example\r\nSubject: caf\xe9\r\n\r\nb\r\n");
    // UTF-8 (RFC 6532) is fine.
    read("From: a@sender.example\r\nSubject: café\r\n\r\nb\r\n".as_bytes()).unwrap();
}

/// The bytes that are ASCII, in order: `repair` may change nothing else.
fn ascii(b: &[u8]) -> Vec<u8> {
    b.iter().copied().filter(u8::is_ascii).collect()
}

#[test]
fn header_bytes_that_are_not_utf8_become_replacement_characters() {
    // A raw Latin-1 pound sign in the Subject and an a-ring in the display name (both seen in
    // wanted mail of the SpamAssassin corpus); the body's Latin-1 stays as it is.
    let raw = b"From: Sel\xe5sdal <s@sender.example>\r\nSubject: signs \xa380m deal\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n\xa3 and \xe5\r\n";
    refused(raw);
    let fixed = repair(raw).expect("two lines to repair");
    assert_eq!(fixed.lines, 2);
    assert_eq!(ascii(&fixed.bytes), ascii(raw));
    assert!(
        fixed.bytes.ends_with(b"\r\n\r\n\xa3 and \xe5\r\n"),
        "body changed"
    );
    let m = read(&fixed.bytes).expect("repaired bytes read one way");
    assert_eq!(
        m.headers.get("Subject").unwrap().unfolded(),
        "signs \u{fffd}80m deal"
    );
    // mail-parser, which the checks and JMAP read, sees the same characters.
    assert_eq!(m.parsed.subject(), Some("signs \u{fffd}80m deal"));
    let from = m.parsed.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.name(), Some("Sel\u{fffd}sdal"));
    assert_eq!(
        m.parsed.body_text(0).as_deref(),
        Some("\u{a3} and \u{e5}\r\n")
    );
}

#[test]
fn repair_leaves_utf8_and_8bit_bodies_alone() {
    assert_eq!(repair(PLAIN), None);
    assert_eq!(repair("Subject: café\r\n\r\nb\r\n".as_bytes()), None);
    // Not UTF-8, but only in the body: nothing to repair.
    assert_eq!(
        repair(b"From: a@sender.example\r\nContent-Type: text/plain; charset=latin1\r\n\r\ncaf\xe9\r\n"),
        None
    );
}

#[test]
fn a_header_block_past_the_limit_is_not_repaired_but_refused() {
    let mut raw = b"From: a@sender.example\r\nX-Big: ".to_vec();
    raw.resize(raw.len() + MAX_HEADER_BYTES, 0xe9);
    raw.extend_from_slice(b"\r\n\r\nb\r\n");
    assert_eq!(repair(&raw), None);
    assert!(refused(&raw).contains("larger than"));
}

#[test]
fn part_and_nested_message_headers_are_repaired_in_place() {
    let raw = b"From: a@sender.example\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\n\
Content-Type: text/plain\r\nContent-Disposition: attachment; filename=\"r\xe9sum\xe9.txt\"\r\n\r\n\
caf\xe9\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\n\
From: Sel\xe5sdal <s@sender.example>\r\nSubject: inner\r\n\r\nhi \xe5\r\n--XX--\r\n";
    refused(raw);
    let fixed = repair(raw).expect("repaired");
    assert_eq!(fixed.lines, 2);
    assert_eq!(ascii(&fixed.bytes), ascii(raw));
    let m = read(&fixed.bytes).expect("repaired bytes read one way");
    let names: Vec<String> = m
        .parsed
        .attachments()
        .filter_map(|a| mail_parser::MimeHeaders::attachment_name(a).map(str::to_string))
        .collect();
    assert!(
        names.iter().any(|n| n == "r\u{fffd}sum\u{fffd}.txt"),
        "{names:?}"
    );
    // Bodies keep their bytes: the part's and the nested message's.
    let text = String::from_utf8_lossy(&fixed.bytes);
    assert!(fixed.bytes.windows(5).any(|w| w == b"caf\xe9\r"), "{text}");
    assert!(fixed.bytes.windows(4).any(|w| w == b"hi \xe5"), "{text}");
    assert!(
        text.contains("From: Sel\u{fffd}sdal <s@sender.example>"),
        "{text}"
    );
}

const MULTI_HEAD: &str = "From: a@sender.example\r\nMIME-Version: 1.0\r\n";

fn multipart(part_headers: &str) -> Vec<u8> {
    format!(
        "{MULTI_HEAD}Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\n\
         Content-Type: text/plain\r\n\r\nhello\r\n--XX\r\n{part_headers}\r\nTVqQAAMAAAAEAAAA\r\n--XX--\r\n"
    )
    .into_bytes()
}

#[test]
fn duplicate_mime_fields_in_a_part_are_refused() {
    read(&multipart(
        "Content-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n",
    ))
    .unwrap();
    let t = refused(&multipart(
        "Content-Type: text/plain\r\nContent-Type: application/x-msdownload; name=\"a.exe\"\r\n",
    ));
    assert!(t.contains("Content-Type"), "{t}");
    refused(&multipart(
        "Content-Type: application/octet-stream\r\nContent-Disposition: inline\r\nContent-Disposition: attachment; filename=a.exe\r\n",
    ));
    refused(&multipart(
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n",
    ));
}

#[test]
fn duplicate_parameters_are_refused() {
    let t = refused(
        format!(
            "{MULTI_HEAD}Content-Type: multipart/mixed; boundary=\"A\"; boundary=\"B\"\r\n\r\n--A\r\n\r\nx\r\n--A--\r\n"
        )
        .as_bytes(),
    );
    assert!(t.contains("boundary"), "{t}");
    refused(
        format!(
            "{MULTI_HEAD}Content-Type: multipart/mixed; boundary=\"A\";\r\n boundary*=''B\r\n\r\n--A\r\n\r\nx\r\n--A--\r\n"
        )
        .as_bytes(),
    );
    refused(&multipart(
        "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=a.txt; FILENAME=a.exe\r\n",
    ));
    // Sections of one RFC 2231 parameter are not duplicates; quoted text is not a parameter.
    read(&multipart(
        "Content-Type: application/octet-stream; name*0=\"a\"; name*1=\"b.bin\"\r\nContent-Disposition: attachment; filename=\"x; filename=y\"\r\n",
    ))
    .unwrap();
}

#[test]
fn nested_message_headers_are_read_strictly() {
    let inner = "From: a@sender.example\r\nFrom: b@sender.example\r\n\r\ninner\r\n";
    let raw = format!(
        "{MULTI_HEAD}Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\n\
         Content-Type: message/rfc822\r\n\r\n{inner}--XX--\r\n"
    );
    // A forwarded message may carry its own From; the nested block is checked as a MIME part
    // (its MIME fields), and any field line must still be a field.
    read(raw.as_bytes()).unwrap();
    let bad = format!(
        "{MULTI_HEAD}Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\n\
         Content-Type: message/rfc822\r\n\r\nFrom: a@sender.example\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n\r\ninner\r\n--XX--\r\n"
    );
    refused(bad.as_bytes());
}

#[test]
fn field_offsets_and_folded_values() {
    let h = read_headers(b"A: 1\r\nB: two\r\n\tlines\r\n\r\nbody").unwrap();
    assert_eq!(h.fields[1].value, " two\r\n\tlines");
    assert_eq!(h.fields[1].start, 6);
    assert_eq!(h.fields[1].end, 22);
    assert_eq!(h.body_offset, 24);
    assert_eq!(h.all("b").map(|(i, _)| i).collect::<Vec<_>>(), [1]);
}

#[test]
fn a_field_read_past_its_line_is_refused_even_when_last() {
    // mail-parser 0.11 reads `x-y` in a Date as a numeric zone and then a zone name, and the
    // name runs on over the line break. With a field after it, that field disappears for the
    // reader (the starts disagree); as the last field it takes the blank line, which left the
    // block readable until a later step added a Subject or a banner after it (the modify fuzz
    // target found this). Each field must cover the same bytes for both readers.
    let t = refused(b"From: a@example.test\r\nDate: x-y\r\n\r\n");
    assert!(t.contains("reads two ways"), "{t}");
    refused(b"From: a@example.test\r\nDate: x-y\r\nSubject: s\r\n\r\nb\r\n");
    refused(b"From: a@example.test\r\nResent-Date: Mon-y\r\n\r\n");
    read(b"From: a@example.test\r\nDate: Thu, 3 Dec 2026 02:00:00 -0500\r\n\r\n").unwrap();
    read(b"From: a@example.test\r\nDate: not a date\r\n\r\nb\r\n").unwrap();
    // What follows the last field must not change its reading: a one-letter zone is read with
    // the line break after it, a header section without a blank line would be given one.
    for raw in [
        &b"From: a@example.test\r\nDate: Thu, 3 Dec 2026 02:00:00 Z\r\n\r\n"[..],
        b"From: a@example.test\r\nDate: Thu, 3 Dec 2026 02:00:00 Z\r\n",
        b"From: a@example.test\r\nDate: x-6n\r\n",
    ] {
        let t = refused(raw);
        assert!(t.contains("reads two ways"), "{t}");
    }
    read(b"From: a@example.test\r\nDate: Thu, 3 Dec 2026 02:00:00 GMT\r\n").unwrap();
}

#[test]
fn the_root_part_must_be_the_message_itself() {
    // mail-parser returned a nested message's fields as the root's (message_differential
    // fuzz target): the checks that read its root would have seen the CEO as sender.
    let raw = include_bytes!("../../../../fuzz/seeds/message_differential/root-lost-ceo-spoof");
    let t = refused(raw);
    assert!(t.contains("MIME structure reads two ways (level 0)"), "{t}");
}

#[test]
fn a_header_section_without_a_final_line_break_is_refused() {
    // mail-auth read one field here, the other readers two (the differential fuzz target).
    let t = refused(b"From: a@example.test\r\nSubject: no body");
    assert!(t.contains("line break"), "{t}");
    read(b"From: a@example.test\r\nSubject: no body\r\n").unwrap();
    read(b"From: a@example.test\r\n\r\nbody without a final line break").unwrap();
}

/// The byte check visits only CR, LF and NUL (issue 23): on random texts thick with them it
/// refuses exactly what a byte-by-byte reading refuses, with the same first reason.
#[test]
fn the_byte_check_agrees_with_a_byte_by_byte_reading() {
    fn byte_by_byte(raw: &[u8]) -> Result<(), String> {
        let mut prev = 0u8;
        for (i, &b) in raw.iter().enumerate() {
            let bad = match b {
                0 => Some("NUL"),
                b'\n' if prev != b'\r' => Some("bare LF"),
                b'\r' if raw.get(i + 1) != Some(&b'\n') => Some("bare CR"),
                _ => None,
            };
            if let Some(what) = bad {
                return Err(what.to_string());
            }
            prev = b;
        }
        Ok(())
    }
    let reason = |r: Result<(), Refusal>| {
        r.map_err(|e| {
            let t = e.text;
            if t.contains("NUL") {
                "NUL".to_string()
            } else if t.contains("bare LF") {
                "bare LF".to_string()
            } else if t.contains("bare CR") {
                "bare CR".to_string()
            } else {
                t
            }
        })
    };
    let mut below = crate::testutil::below(0x5eed_ca11);
    let alphabet = [b'a', b' ', b'.', b'\r', b'\n', 0u8, 0xC3];
    let (mut refused, mut passed) = (0, 0);
    for round in 0..20_000 {
        let len = below(120);
        let mut raw: Vec<u8> = (0..len)
            .map(|_| {
                // Mostly proper CRLF lines, so that messages get far before a bad byte.
                if below(10) < 8 {
                    b'x'
                } else {
                    alphabet[below(alphabet.len())]
                }
            })
            .collect();
        if round % 2 == 0 {
            // Half of them with their lone line ends made proper, to reach the other outcomes.
            raw = raw
                .split(|&b| b == b'\n' || b == b'\r')
                .map(|l| l.to_vec())
                .collect::<Vec<_>>()
                .join(&b"\r\n"[..]);
        }
        let want = byte_by_byte(&raw);
        assert_eq!(reason(check_bytes(&raw)), want, "on {raw:?}");
        if want.is_ok() {
            passed += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        refused > 1000 && passed > 1000,
        "{refused} refused, {passed} passed"
    );
}
