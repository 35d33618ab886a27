//! One message, one meaning, end to end over SMTP: a message that readers could take two ways is
//! refused with `554 5.6.0` before any check, on the MX and on submission, DATA and BDAT alike
//! (rampart_checks::message). Each input here once passed.

use crate::common;

use common::*;

/// Sends `body` with BDAT LAST in one chunk and returns the final reply.
fn bdat(c: &mut Client, from: &str, to: &str, body: &[u8]) -> (u16, String) {
    c.send(&format!("MAIL FROM:<{from}>"));
    c.expect(250);
    c.send(&format!("RCPT TO:<{to}>"));
    c.expect(250);
    let mut cmd = format!("BDAT {} LAST\r\n", body.len()).into_bytes();
    cmd.extend_from_slice(body);
    c.send_raw(&cmd);
    c.reply().expect("a reply to BDAT")
}

fn refused_554(r: (u16, String), needle: &str) {
    assert_eq!(r.0, 554, "{r:?}");
    assert!(r.1.starts_with("5.6.0 Message refused:"), "{r:?}");
    assert!(r.1.contains(needle), "{needle}: {r:?}");
}

#[test]
fn bdat_bare_cr_cannot_hide_a_part() {
    let s = Server::start();
    let mut c = s.ehlo();
    // A bare CR inside a header: the checks saw one field; an outbound client that rewrites CR
    // as CRLF made a multipart message with an unchecked executable.
    let body = b"From: <a@remote.test>\r\nX-Note: x\rContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: application/x-msdownload; name=a.exe\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n";
    refused_554(
        bdat(&mut c, "a@remote.test", "alice@example.test", body),
        "bare CR",
    );
    // Bare LF and NUL likewise; the session goes on.
    refused_554(
        bdat(
            &mut c,
            "a@remote.test",
            "alice@example.test",
            b"From: <a@remote.test>\r\n\r\nx\ny\r\n",
        ),
        "bare LF",
    );
    refused_554(
        bdat(
            &mut c,
            "a@remote.test",
            "alice@example.test",
            b"From: <a@remote.test>\r\n\r\nx\0y\r\n",
        ),
        "NUL",
    );
    let ok = bdat(
        &mut c,
        "a@remote.test",
        "alice@example.test",
        message("ok", "fine").as_bytes(),
    );
    assert_eq!(ok.0, 250, "{ok:?}");
    assert_eq!(s.wait_mailbox("alice@example.test", 1).len(), 1);
}

#[test]
fn ambiguous_header_sections_are_refused_on_the_mx() {
    let s = Server::start();
    let mut c = s.ehlo();
    // The authentication library read "no From" here and its first line then read as part of
    // our own Authentication-Results; readers showed the CEO as sender.
    let spoof = "\t; dmarc=pass header.from=example.test\r\nFrom: CEO <ceo@example.test>\r\nSubject: wire\r\n\r\npay now\r\n";
    refused_554(
        c.send_mail("ceo@example.test", &["alice@example.test"], spoof),
        "first header line",
    );
    let two_from = "From: <a@remote.test>\r\nFrom: <ceo@example.test>\r\nSubject: x\r\n\r\nb\r\n";
    refused_554(
        c.send_mail("a@remote.test", &["alice@example.test"], two_from),
        "more than one From",
    );
    let two_subjects =
        "From: <a@remote.test>\r\nSubject: invoice\r\nSubject: [External] invoice\r\n\r\nb\r\n";
    refused_554(
        c.send_mail("a@remote.test", &["alice@example.test"], two_subjects),
        "more than one Subject",
    );
    let stray = "From: <a@remote.test>\r\nnot a field\r\nSubject: x\r\n\r\nb\r\n";
    refused_554(
        c.send_mail("a@remote.test", &["alice@example.test"], stray),
        "neither a field nor a continuation",
    );
    let no_from = "To: <alice@example.test>\r\nSubject: x\r\n\r\nb\r\n";
    refused_554(
        c.send_mail("a@remote.test", &["alice@example.test"], no_from),
        "no From",
    );
    let two_boundaries = "From: <a@remote.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"A\"; boundary=\"B\"\r\n\r\n--A\r\n\r\nx\r\n--A--\r\n";
    refused_554(
        c.send_mail("a@remote.test", &["alice@example.test"], two_boundaries),
        "boundary",
    );
    // mail-parser took the nested message's fields for the root's here (a boundary inside a
    // nested header line): the reader would have shown the CEO as sender, the header checks the
    // remote address (found by the message_differential fuzz target).
    // The same bytes as the unit test's and the fuzz seed's.
    let lost_root = include_str!("../../../fuzz/seeds/message_differential/root-lost-ceo-spoof");
    refused_554(
        c.send_mail("a@remote.test", &["alice@example.test"], lost_root),
        "MIME structure reads two ways",
    );
    // A one-letter zone made mail-parser read the Date on into the line after it.
    let zone =
        "From: <a@remote.test>\r\nSubject: x\r\nDate: Thu, 3 Dec 2026 02:00:00 Z\r\n\r\nb\r\n";
    refused_554(
        c.send_mail("a@remote.test", &["alice@example.test"], zone),
        "reads two ways",
    );
    // Nothing was delivered, and every refusal is in the trace.
    assert!(s.mailbox("alice@example.test").is_empty());
    wait_trace(
        &s,
        &["trace", "--client", "127.0.0.1"],
        "5.6.0 Message refused",
    );
}

#[test]
fn submission_reads_the_same_message() {
    let s = Server::start_with(Options {
        top: "[[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n".into(),
        ..Default::default()
    });
    let mut c = s.login_alice();
    // Alignment read only the last From; readers show the first.
    let two_from =
        "From: <ceo@example.test>\r\nFrom: <alice@example.test>\r\nSubject: x\r\n\r\nb\r\n";
    refused_554(
        c.send_mail("alice@example.test", &["bob@example.test"], two_from),
        "more than one From",
    );
    // NC-2.1.7: a display name that shows another address is not an address alice holds.
    let shown = "From: \"ceo@example.test\" <alice@example.test>\r\nSubject: x\r\n\r\nb\r\n";
    let r = c.send_mail("alice@example.test", &["bob@example.test"], shown);
    assert_eq!(r.0, 550, "{r:?}");
    assert!(
        r.1.starts_with("5.7.1") && r.1.contains("display name"),
        "{r:?}"
    );
    let plain = "From: \"Alice\" <alice@example.test>\r\nSubject: x\r\n\r\nb\r\n";
    let r = c.send_mail("alice@example.test", &["bob@example.test"], plain);
    assert_eq!(r.0, 250, "{r:?}");
}

/// Raw Latin-1 in header fields (an RSS gateway's `£` in a Subject, an `å` in a display name:
/// wanted mail of the SpamAssassin corpus) was refused; it is now written as U+FFFD before any
/// check reads it, on DATA and BDAT alike, and stored so. Only header lines change: the 8-bit
/// body keeps its bytes for its declared charset.
#[test]
fn header_bytes_that_are_not_utf8_are_stored_as_replacement_characters() {
    let s = Server::start();
    let mut c = s.ehlo();
    let body = b"From: Sel\xe5sdal <s@remote.test>\r\nTo: <alice@example.test>\r\n\
Subject: signs \xa380m deal\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
\xa380m for Sel\xe5sdal\r\n";
    let r = bdat(&mut c, "s@remote.test", "alice@example.test", body);
    assert_eq!(r.0, 250, "{r:?}");
    c.send("MAIL FROM:<s@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send("DATA");
    c.expect(354);
    c.send_raw(body);
    c.send_raw(b".\r\n");
    let r = c.reply().expect("a reply to DATA");
    assert_eq!(r.0, 250, "{r:?}");
    for line in s.wait_mailbox("alice@example.test", 2) {
        let id = line.split('\t').next().unwrap();
        let out = cli_raw(
            &s.config,
            &[
                "mailbox",
                "show",
                "alice@example.test",
                id,
                "--reason",
                "test",
            ],
            None,
        );
        assert!(out.status.success(), "{out:?}");
        let stored = out.stdout;
        let has = |n: &[u8]| stored.windows(n.len()).any(|w| w == n);
        let text = String::from_utf8_lossy(&stored);
        // (The inbound [External] tag goes on the repaired Subject.)
        assert!(has(b" signs \xef\xbf\xbd80m deal\r\n"), "{text}");
        assert!(
            has(b"\r\nFrom: Sel\xef\xbf\xbdsdal <s@remote.test>\r\n"),
            "{text}"
        );
        assert!(has(b"\r\n\r\n\xa380m for Sel\xe5sdal\r\n"), "{text}");
    }
    wait_trace(
        &s,
        &["trace", "--client", "127.0.0.1"],
        "replaced with U+FFFD on 2 line(s)",
    );
}
