//! AL-1.5 regression tests for normalised DLP: each input is a way of writing a value so that a
//! person reads it but a naive matcher does not. Every test goes through [`check`] on a whole
//! message.

use super::*;
use crate::testutil::ctx;
use mail_builder::MessageBuilder;
use mail_parser::MessageParser;

fn verdict(dlp: &Dlp, raw: &[u8]) -> Verdict {
    let parsed = MessageParser::default().parse(raw).unwrap();
    check(dlp, &ctx(raw, &parsed, Direction::Outbound))
}

fn run(raw: &[u8]) -> Verdict {
    verdict(&Dlp::new(DlpConfig::default()).unwrap(), raw)
}

/// A message with a text body and, optionally, an HTML body.
fn text(body: &str, html: Option<&str>) -> Vec<u8> {
    let mut b = MessageBuilder::new()
        .from("clerk@agency.example.gov")
        .to("someone@outside.example")
        .subject("Records")
        .text_body(body.to_string());
    if let Some(h) = html {
        b = b.html_body(h.to_string());
    }
    b.write_to_vec().unwrap()
}

/// A message as raw lines: `head` (header fields, CRLF-terminated) and `body`.
fn raw(head: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "From: clerk@agency.example.gov\r\nTo: someone@outside.example\r\n\
         Date: Thu, 3 Dec 2026 01:00:00 +0000\r\nMessage-ID: <r@agency.example.gov>\r\n{head}\r\n"
    )
    .into_bytes();
    m.extend_from_slice(body);
    m
}

/// A multipart message with one attachment given as raw part headers and body.
fn with_part(part_head: &str, part_body: &[u8]) -> Vec<u8> {
    let mut body = b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n".to_vec();
    body.extend_from_slice(part_head.as_bytes());
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(part_body);
    body.extend_from_slice(b"\r\n--b--\r\n");
    raw(
        "Subject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n",
        &body,
    )
}

/// Refused by the SSN rule, and the value is nowhere in the reply or the reason.
fn ssn_refused(v: &Verdict) {
    match &v.action {
        Action::Reject(r) => {
            assert_eq!(
                (r.code, r.status),
                (550, EnhancedStatus::NOT_AUTHORIZED),
                "{v:?}"
            );
            assert!(r.text.contains("\"ssn\""), "{v:?}");
            assert!(!r.text.contains("6789"), "{v:?}");
        }
        other => panic!("expected an SSN refusal, got {other:?}: {}", v.reason),
    }
    assert!(!v.reason.contains("6789"), "{}", v.reason);
}

#[test]
fn al_1_5_ssn_with_unicode_hyphen() {
    ssn_refused(&run(&text("SSN 123\u{2010}45\u{2010}6789", None)));
}

#[test]
fn al_1_5_ssn_with_non_breaking_hyphen() {
    ssn_refused(&run(&text("SSN 123\u{2011}45\u{2011}6789", None)));
}

#[test]
fn al_1_5_ssn_with_en_dash() {
    ssn_refused(&run(&text("SSN 123\u{2013}45\u{2013}6789", None)));
}

#[test]
fn al_1_5_ssn_with_no_break_spaces() {
    ssn_refused(&run(&text("SSN 123\u{A0}45\u{A0}6789", None)));
}

#[test]
fn al_1_5_ssn_with_doubled_spaces_and_dots() {
    ssn_refused(&run(&text("number 123  45  6789", None)));
    ssn_refused(&run(&text("number 123.45.6789", None)));
    ssn_refused(&run(&text("number 123 - 45 - 6789", None)));
}

#[test]
fn al_1_5_ssn_with_full_width_digit() {
    ssn_refused(&run(&text("SSN 1\u{FF12}3-45-6789", None)));
}

#[test]
fn al_1_5_ssn_in_arabic_indic_digits() {
    ssn_refused(&run(&text("SSN ١٢٣-٤٥-٦٧٨٩", None)));
}

#[test]
fn al_1_5_ssn_with_soft_hyphen() {
    ssn_refused(&run(&text("SSN 123-4\u{AD}5-6789", None)));
}

#[test]
fn al_1_5_ssn_with_zero_width_inside() {
    ssn_refused(&run(&text("SSN 12\u{200B}3-45-67\u{200D}89\u{2060}", None)));
    // Other invisible format characters: invisible separator, Mongolian vowel separator,
    // combining grapheme joiner, variation selector.
    ssn_refused(&run(&text(
        "SSN 12\u{2063}3-4\u{180E}5-6\u{34F}789\u{FE0F}",
        None,
    )));
}

#[test]
fn al_1_5_ssn_as_html_entities() {
    ssn_refused(&run(&text("x", Some("<p>&#49;23-45-6789</p>"))));
    ssn_refused(&run(&text("x", Some("<p>123&ndash;45&#x2011;6789</p>"))));
    ssn_refused(&run(&text("x", Some("<p>&#49&#50&#51-45-6789</p>"))));
}

#[test]
fn al_1_5_card_split_over_a_line_break() {
    let v = run(&text("Card 4111 1111\r\n1111 1111 thanks", None));
    assert!(
        matches!(&v.action, Action::Reject(r) if r.text.contains("payment_card")),
        "{v:?}"
    );
    let v = run(&text("x", Some("<p>Card 4111 1111<br>1111 1111</p>")));
    assert!(
        matches!(&v.action, Action::Reject(r) if r.text.contains("payment_card")),
        "{v:?}"
    );
}

#[test]
fn al_1_5_hidden_html_element_inside_a_number() {
    // What the reader sees is 123-45-6789: the hidden decoy must not break it.
    ssn_refused(&run(&text(
        "x",
        Some("<p>SSN 123-45-<span style=\"display:none\">0</span>6789</p>"),
    )));
    // Hidden text still counts: a reader can reveal it.
    ssn_refused(&run(&text(
        "x",
        Some("<p>hi <span style=\"display: none\">123-45-6789</span></p>"),
    )));
}

#[test]
fn al_1_5_ssn_in_a_display_name() {
    ssn_refused(&run(&raw(
        "Cc: \"123-45-6789\" <hr@outside.example>\r\nSubject: hi\r\n",
        b"nothing here\r\n",
    )));
    // Encoded-word display name (RFC 2047).
    ssn_refused(&run(&raw(
        "Reply-To: =?utf-8?q?Emp_123-45-6789?= <hr@outside.example>\r\nSubject: hi\r\n",
        b"nothing here\r\n",
    )));
}

#[test]
fn al_1_5_ssn_in_an_x_header() {
    ssn_refused(&run(&raw(
        "Subject: hi\r\nX-Employee: 123-45-6789\r\n",
        b"nothing here\r\n",
    )));
    // Encoded in base64 (RFC 2047), which mail-parser leaves raw in unknown fields.
    ssn_refused(&run(&raw(
        "Subject: hi\r\nX-Note: =?utf-8?b?MTIzLTQ1LTY3ODk=?=\r\n",
        b"nothing here\r\n",
    )));
    // In the field name itself: found, and the reason does not repeat it.
    ssn_refused(&run(&raw(
        "Subject: hi\r\nX-123-45-6789: yes\r\n",
        b"nothing here\r\n",
    )));
    // A header of a MIME part.
    ssn_refused(&run(&with_part(
        "Content-Type: text/plain\r\nContent-Description: 123-45-6789\r\n",
        b"clean",
    )));
}

#[test]
fn al_1_5_ssn_in_an_attachment_name() {
    let v = run(&with_part(
        "Content-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"123-45-6789.pdf.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n",
        b"AAECAwQFBgc=",
    ));
    ssn_refused(&v);
}

#[test]
fn al_1_5_ssn_in_an_encoded_or_archived_file_name() {
    // RFC 2231 file name with U+2010 hyphens.
    ssn_refused(&run(&with_part(
        "Content-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename*=utf-8''123%E2%80%9045%E2%80%906789.bin\r\n\
         Content-Transfer-Encoding: base64\r\n",
        b"AAECAwQFBgc=",
    )));
    // The name of a file inside a zip.
    let z = crate::archive::testutil::zip_of(&[("hr/123-45-6789.bin", b"\x00\x01\x02")]);
    ssn_refused(&run(&with_part(
        "Content-Type: application/zip\r\n\
         Content-Disposition: attachment; filename=\"hr.zip\"\r\n\
         Content-Transfer-Encoding: base64\r\n",
        base64(&z).as_bytes(),
    )));
}

#[test]
fn al_1_5_archives_past_the_nesting_limit_are_held() {
    let mut z = crate::archive::testutil::zip_of(&[("notes.txt", b"nothing here")]);
    for _ in 0..extract::MAX_DEPTH {
        z = crate::archive::testutil::zip_of(&[("inner.zip", &z)]);
    }
    let v = run(&with_part(
        "Content-Type: application/zip\r\n\
         Content-Disposition: attachment; filename=\"deep.zip\"\r\n\
         Content-Transfer-Encoding: base64\r\n",
        base64(&z).as_bytes(),
    ));
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(
        v.reason.contains("too much text to inspect"),
        "{}",
        v.reason
    );
}

#[test]
fn al_1_5_pdf_and_binary_parts_do_not_fail() {
    // Until the PDF reader is wired in, a PDF is neither text nor an error; an image with
    // control bytes is not read as Latin-1 text.
    for (ct, body) in [
        ("application/pdf", "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagolJUVPRgo="),
        ("image/png", "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="),
    ] {
        let v = run(&with_part(
            &format!("Content-Type: {ct}\r\nContent-Transfer-Encoding: base64\r\n"),
            body.as_bytes(),
        ));
        assert_eq!(v.action, Action::Accept, "{ct}: {v:?}");
    }
}

fn utf16le_bom(s: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xFE];
    for u in s.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn al_1_5_ssn_in_a_utf16le_bom_attachment() {
    let data = base64(&utf16le_bom("Staff list\r\nSSN 123-45-6789\r\n"));
    // A text attachment without charset, and the same as an opaque file.
    for ct in ["text/plain", "application/octet-stream"] {
        ssn_refused(&run(&with_part(
            &format!(
                "Content-Type: {ct}\r\nContent-Disposition: attachment; filename=\"staff.txt\"\r\n\
                 Content-Transfer-Encoding: base64\r\n"
            ),
            data.as_bytes(),
        )));
    }
    // Declared UTF-16LE without a BOM: mail-parser decodes the declared charset.
    let plain: Vec<u8> = "SSN 123-45-6789"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    ssn_refused(&run(&with_part(
        "Content-Type: text/plain; charset=utf-16le\r\n\
         Content-Disposition: attachment; filename=\"staff.txt\"\r\n\
         Content-Transfer-Encoding: base64\r\n",
        base64(&plain).as_bytes(),
    )));
}

#[test]
fn al_1_5_ssn_in_latin1() {
    // Declared Latin-1, no-break spaces (0xA0) as separators.
    ssn_refused(&run(&raw(
        "Subject: hi\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: 8bit\r\n",
        b"M\xfcller SSN 123\xa045\xa06789\r\n",
    )));
    // Undeclared Latin-1: not UTF-8, read as Windows-1252 (0x96 is an en dash there).
    ssn_refused(&run(&raw(
        "Subject: hi\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\
         Content-Transfer-Encoding: 8bit\r\n",
        b"M\xfcller SSN 123\x9645\x966789\r\n",
    )));
    // A Latin-1 file with a binary type.
    ssn_refused(&run(&with_part(
        "Content-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"list.csv\"\r\n",
        b"name;ssn\r\nM\xfcller;123-45-6789\r\n",
    )));
}

#[test]
fn al_1_5_over_size_text_is_held() {
    let cfg = DlpConfig {
        max_text_bytes: 2_000,
        ..DlpConfig::default()
    };
    let dlp = Dlp::new(cfg).unwrap();
    let clean = "nothing sensitive here. ".repeat(200);
    let v = verdict(&dlp, &text(&clean, None));
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(
        v.reason.contains("too much text to inspect"),
        "{}",
        v.reason
    );
    // Under the bound the same kind of text passes.
    let v = verdict(&dlp, &text("nothing sensitive here.", None));
    assert_eq!(v.action, Action::Accept, "{v:?}");
    // What was inspected still decides when it is stronger: an SSN before the bound.
    let v = verdict(&dlp, &text(&format!("SSN 123-45-6789 {clean}"), None));
    ssn_refused(&v);
}

#[test]
fn al_1_5_custom_rules_read_normalised_text() {
    let cfg: DlpConfig = toml::from_str(
        r#"
        [[patterns]]
        name = "employee-id"
        pattern = '\bEMP-\d{6}\b'

        [[dictionaries]]
        name = "classified"
        keywords = ["top secret"]
        threshold = 2
        "#,
    )
    .unwrap();
    let dlp = Dlp::new(cfg).unwrap();
    // Non-breaking hyphen, full-width digits.
    let v = verdict(&dlp, &text("EMP\u{2011}１２３４５６", None));
    assert!(
        matches!(&v.action, Action::Reject(r) if r.text.contains("employee-id")),
        "{v:?}"
    );
    // Zero-width and no-break space inside the phrase.
    let v = verdict(&dlp, &text("TOP\u{A0}SE\u{200B}CRET and top secret", None));
    assert!(
        matches!(&v.action, Action::Reject(r) if r.text.contains("classified")),
        "{v:?}"
    );
    // The visible reading of HTML does not count the same occurrence twice.
    let v = verdict(
        &dlp,
        &text("x", Some("<p>top secret<span hidden>x</span></p>")),
    );
    assert_eq!(v.action, Action::Accept, "{v:?}");
}

#[test]
fn al_1_5_numbers_one_per_line_stay_apart() {
    // Two SSNs on two lines are two values, not one run of six groups.
    let cfg = DlpConfig {
        ssn: DetectorConfig {
            threshold: 2,
            ..DetectorConfig::default()
        },
        ..DlpConfig::default()
    };
    let dlp = Dlp::new(cfg).unwrap();
    ssn_refused(&verdict(
        &dlp,
        &text("123 45 6789\r\n234 56 7890\r\n", None),
    ));
    // A longer number is not an SSN.
    assert_eq!(
        run(&text("ref 555-123-45-6789", None)).action,
        Action::Accept
    );
}

/// AL-1.5: the text of a PDF attachment, its content stream decoded, is read; an encrypted
/// PDF could not be read and is held.
#[test]
fn al_1_5_ssn_in_pdf_text_behind_flate() {
    let pdf = crate::testutil::pdf_flate(b"BT (SSN 123-45-6789) Tj ET", "");
    ssn_refused(&run(&with_part(
        "Content-Type: application/pdf; name=\"form.pdf\"\r\nContent-Transfer-Encoding: base64\r\n",
        crate::testutil::base64_lines(&pdf).as_bytes(),
    )));
    let locked =
        crate::testutil::pdf_flate(b"BT (x) Tj ET", "9 0 obj << /Encrypt 10 0 R >> endobj");
    let v = run(&with_part(
        "Content-Type: application/pdf; name=\"locked.pdf\"\r\nContent-Transfer-Encoding: base64\r\n",
        crate::testutil::base64_lines(&locked).as_bytes(),
    ));
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
}
