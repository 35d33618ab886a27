//! AL-1.2: forged header rules of the default set (docs/ANTISPAM.md, "Forged headers"): a time
//! zone no place uses, a Date ahead of the nearest relay, mail that claims Microsoft's software
//! without its Message-ID, its X-MimeOLE field or its text part, and a free mail From that no
//! relay of its provider carried. Each is shown firing on the forgery and staying silent on the
//! real thing.

use super::tests_samples::{names, score};
use crate::testutil::LOCAL;

const DATE: &str = "Date: Tue, 02 Dec 2026 09:12:00 +0000";

/// A short personal message as Outlook Express 6 writes it; `extra` fields come before the body.
fn outlook_express(message_id: &str, extra: &str) -> String {
    format!(
        "From: Ann Example <ann@sender.example>\nTo: user@{LOCAL}\nSubject: lunch on Friday\n\
         {DATE}\nMessage-ID: <{message_id}>\nMIME-Version: 1.0\n\
         Content-Type: text/plain; charset=\"iso-8859-1\"\nX-Priority: 3\n\
         X-MSMail-Priority: Normal\n{extra}\nShall we meet at noon at the usual place?\n"
    )
}

const OE_MAILER: &str = "X-Mailer: Microsoft Outlook Express 6.00.2800.1106\n";
const MIMEOLE: &str = "X-MimeOLE: Produced By Microsoft MimeOLE V6.00.2800.1106\n";
const OE_ID: &str = "000801c29a3b$4a8b0c60$0100a8c0@annspc";

fn has(raw: &str, rule: &str) -> bool {
    names(&score(raw)).iter().any(|n| n == rule)
}

#[test]
fn al_1_2_outlook_as_outlook_writes_it_is_not_forged() {
    for m in [
        outlook_express(OE_ID, &format!("{OE_MAILER}{MIMEOLE}")),
        // Outlook Express through Hotmail's web service: Hotmail's Message-ID.
        outlook_express(
            "OE17BcN7DaJHFzrK0pW0001e900@hotmail.com",
            &format!("{OE_MAILER}{MIMEOLE}"),
        ),
        // Outlook 2002, a comma after its name.
        outlook_express(
            OE_ID,
            &format!("X-Mailer: Microsoft Outlook, Build 10.0.2627\n{MIMEOLE}"),
        ),
    ] {
        let n = names(&score(&m));
        assert!(
            !n.iter()
                .any(|r| r == "MSGID_MS_FORGED" || r == "MUA_OUTLOOK_FORGED"),
            "{n:?}\n{m}"
        );
    }
}

#[test]
fn al_1_2_microsoft_message_id_without_mimeole_is_forged() {
    let m = outlook_express(OE_ID, OE_MAILER);
    assert!(has(&m, "MSGID_MS_FORGED"), "{m}");
    // Without an X-Mailer too (a bulk tool that copied only the Message-ID's shape).
    assert!(has(&outlook_express(OE_ID, ""), "MSGID_MS_FORGED"));
    // Through Exchange, which rewrites these fields: left alone.
    let exchange = m.replace(
        "From: Ann",
        "Received: from mail.sender.example ([192.0.2.7]) by exch.sender.example with \
         Microsoft Exchange Server 2003; Tue, 2 Dec 2026 09:12:01 +0000\nFrom: Ann",
    );
    assert!(!has(&exchange, "MSGID_MS_FORGED"), "{exchange}");
}

#[test]
fn al_1_2_outlook_x_mailer_with_another_message_id_is_forged() {
    // Outlook Express named, but the Message-ID is a relay's (the sender wrote none).
    let m = outlook_express(
        "200208231641.g7NGfZZ32185@relay.example",
        &format!("{OE_MAILER}{MIMEOLE}"),
    );
    assert!(has(&m, "MUA_OUTLOOK_FORGED"), "{m}");
    assert!(
        !has(&m, "MSGID_MS_FORGED"),
        "not Microsoft's shape: only one rule"
    );
    // X-Mailers no Outlook writes: no comma before Build, or the bare name.
    for mailer in [
        "X-Mailer: Microsoft Outlook Build 10.0.2627\n",
        "X-Mailer: Microsoft Outlook IMO Build 9.0.2416\n",
        "X-Mailer: Outlook\n",
    ] {
        let m = outlook_express(OE_ID, &format!("{mailer}{MIMEOLE}"));
        assert!(has(&m, "MUA_OUTLOOK_FORGED"), "{m}");
    }
    // Outlook for Macintosh and other mailers that merely contain the word are not Outlook
    // Express 4-6.
    let mac = outlook_express(
        "B9D1A2C3.1234%ann@sender.example",
        "X-Mailer: Microsoft Outlook Express Macintosh Edition - 5.01 (1630)\n",
    );
    assert!(!has(&mac, "MUA_OUTLOOK_FORGED"), "{mac}");
}

#[test]
fn al_1_2_time_zone_no_place_uses() {
    let with_date = |date: &str| {
        format!(
            "From: ann@sender.example\nTo: user@{LOCAL}\nSubject: hello\nDate: {date}\n\
             Message-ID: <1@sender.example>\n\nhello\n"
        )
    };
    for zone in ["+2300", "-1600", "+0017", "-0559", "+0261"] {
        let m = with_date(&format!("Tue, 02 Dec 2026 09:12:00 {zone}"));
        assert!(has(&m, "DATE_TZ_ABSURD"), "{zone}");
    }
    // Real zones: UTC, India, Nepal, Newfoundland, Kiribati, Chatham, with a comment after.
    for zone in [
        "+0000",
        "+0530",
        "+0545",
        "-0330",
        "+1400",
        "+1245",
        "-0500 (EST)",
    ] {
        let m = with_date(&format!("Tue, 02 Dec 2026 09:12:00 {zone}"));
        assert!(!has(&m, "DATE_TZ_ABSURD"), "{zone}");
    }
}

#[test]
fn al_1_2_date_ahead_of_the_nearest_relay() {
    let relayed = |date: &str| {
        format!(
            "Received: from mx.sender.example (mx.sender.example [192.0.2.7]) by \
             mx.{LOCAL} with ESMTP id 42; Tue, 02 Dec 2026 09:12:00 +0000\n\
             Received: from pc (pc [10.0.0.2]) by mx.sender.example; \
             Tue, 02 Dec 2026 09:11:58 +0000\n\
             From: ann@sender.example\nTo: user@{LOCAL}\nSubject: hello\nDate: {date}\n\
             Message-ID: <1@sender.example>\n\nhello\n"
        )
    };
    // Ten hours after the nearest relay took it (the newest, first Received), written in
    // another zone.
    assert!(has(
        &relayed("Tue, 02 Dec 2026 14:12:00 -0500"),
        "DATE_AHEAD_OF_RELAY"
    ));
    // Minutes apart, either way, or the same instant in another zone: a clock, not a forgery.
    for date in [
        "Tue, 02 Dec 2026 09:20:00 +0000",
        "Tue, 02 Dec 2026 04:12:00 -0500",
        "Mon, 01 Dec 2026 22:00:00 +0000",
    ] {
        assert!(!has(&relayed(date), "DATE_AHEAD_OF_RELAY"), "{date}");
    }
    // Without a Received field there is nothing to compare with.
    let alone = relayed("Tue, 02 Dec 2026 23:12:00 +0000");
    let alone: String = alone
        .lines()
        .filter(|l| !l.starts_with("Received") && !l.starts_with(' '))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!has(&alone, "DATE_AHEAD_OF_RELAY"), "{alone}");
}

/// A message from a Gmail address, relayed as `received` says.
fn from_gmail(received: &str, extra: &str) -> String {
    format!(
        "{received}From: Ann <ann.example@gmail.com>\nTo: user@{LOCAL}\nSubject: hello\n{DATE}\n\
         Message-ID: <1@mail.gmail.com>\n{extra}\nhello\n"
    )
}

#[test]
fn al_1_2_free_mail_that_its_provider_never_carried() {
    let elsewhere = "Received: from bulk7.cheap-hosting.example (bulk7.cheap-hosting.example \
                     [198.51.100.7]) by mx.example.net; Tue, 02 Dec 2026 09:12:00 +0000\n";
    let m = from_gmail(elsewhere, "");
    assert!(has(&m, "FREEMAIL_NOT_RELAYED"), "{m}");
    // Carried by Google's relays (named under google.com, not gmail.com).
    let google = "Received: by mail-wr1-f54.google.com with SMTP id a1; \
                  Tue, 02 Dec 2026 09:12:00 +0000\n";
    assert!(!has(&from_gmail(google, ""), "FREEMAIL_NOT_RELAYED"));
    // A reply, or a message with no Received field at all: left alone.
    for m in [
        from_gmail(elsewhere, "In-Reply-To: <0@example.net>\n"),
        from_gmail(elsewhere, "References: <0@example.net>\n"),
        from_gmail("", ""),
    ] {
        assert!(!has(&m, "FREEMAIL_NOT_RELAYED"), "{m}");
    }
    // Not a free mail From.
    let own = from_gmail(elsewhere, "").replace("ann.example@gmail.com", "ann@sender.example");
    assert!(!has(&own, "FREEMAIL_NOT_RELAYED"), "{own}");
}

#[test]
fn al_1_2_free_mail_relays_by_provider() {
    use super::brands::is_freemail_relay;
    assert!(is_freemail_relay("gmail.com", "mail-wr1-f54.google.com"));
    assert!(is_freemail_relay("yahoo.co.uk", "web13001.mail.yahoo.com"));
    assert!(is_freemail_relay(
        "hotmail.com",
        "mail-db5eur01.outbound.protection.outlook.com"
    ));
    assert!(is_freemail_relay("aol.com", "omr-m07.mx.aol.com"));
    assert!(!is_freemail_relay("gmail.com", "mx.yahoo.com"));
    assert!(!is_freemail_relay("aol.com", "bulk7.cheap-hosting.example"));
}

#[test]
fn al_1_2_outlook_never_sends_html_alone() {
    let html = "<html><body><p>Shall we meet at <b>noon</b>?</p></body></html>";
    let head = |ctype: &str| {
        outlook_express(OE_ID, &format!("{OE_MAILER}{MIMEOLE}"))
            .replace("Content-Type: text/plain; charset=\"iso-8859-1\"", ctype)
    };
    let alone = head("Content-Type: text/html; charset=\"iso-8859-1\"")
        .replace("Shall we meet at noon at the usual place?", html);
    assert!(has(&alone, "MUA_OUTLOOK_HTML_ONLY"), "{alone}");
    // As Outlook writes it: the text and the HTML side by side.
    let both = head("Content-Type: multipart/alternative; boundary=\"b1\"").replace(
        "Shall we meet at noon at the usual place?\n",
        &format!(
            "--b1\nContent-Type: text/plain\n\nShall we meet at noon?\n--b1\n\
             Content-Type: text/html\n\n{html}\n--b1--\n"
        ),
    );
    assert!(!has(&both, "MUA_OUTLOOK_HTML_ONLY"), "{both}");
    assert!(!has(&alone.replace(OE_MAILER, ""), "MUA_OUTLOOK_HTML_ONLY"));
}
