//! Integration tests: SMTP over loopback sockets against a real `rampart serve`, one per control.

use crate::common;

use common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn full_transaction_one_copy_for_many_recipients() {
    let s = Server::start();
    let mut c = s.ehlo();
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &[
            "alice@example.test",
            "team@example.test",
            "BOB@Example.Test",
        ],
        &message("full1", "hello\r\n..leading dot"),
    );
    assert_eq!(code, 250, "{text}");
    assert!(text.starts_with("2.0.0 Ok: queued as "), "{text}");
    let qid = text.rsplit(' ').next().unwrap().to_string();
    c.send("QUIT");
    c.expect(221);

    let alice = s.wait_mailbox("alice@example.test", 1);
    let bob = s.wait_mailbox("bob@example.test", 1);
    assert_eq!(
        alice.len(),
        1,
        "alias and direct RCPT reach alice once: {alice:?}"
    );
    assert_eq!(bob.len(), 1);
    let stored = s.show("alice@example.test", alice[0].split('\t').next().unwrap());
    // Return-Path first (RFC 5321 4.4), then our Received line, then the message, unstuffed.
    assert!(
        stored.starts_with(
            "Return-Path: <sender@remote.test>\r\nReceived: from client.test ([127.0.0.1])"
        ),
        "{stored}"
    );
    assert!(stored.contains(&format!("with ESMTP id {qid}")), "{stored}");
    assert!(
        stored.ends_with("\r\n\r\nhello\r\n.leading dot\r\n"),
        "{stored:?}"
    );
    // NC-2.1.3: nothing the server writes names the software.
    assert!(!stored.to_ascii_lowercase().contains("rampart"), "{stored}");
    // One stored copy, whatever the number of mailboxes: both rows name the same message,
    // which, being small, is kept in the database rather than in a file of its own.
    for user in ["alice@example.test", "bob@example.test"] {
        let json = cli(&s.config, &["mailbox", "list", user, "--json"], None);
        let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(row["queue_id"], qid.as_str(), "{json}");
    }
    let files = std::fs::read_dir(s.data_dir().join("messages"))
        .unwrap()
        .count();
    assert_eq!(files, 0);
}

/// With nothing to check again at delivery (the default), a message for local mailboxes is in
/// them when the 250 comes: delivered in the commit that queued it, traced queued then delivered.
#[test]
fn local_mail_is_in_the_mailbox_when_the_250_comes() {
    let mut s = Server::start();
    let mut c = s.ehlo();
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test", "bob@example.test"],
        &message("now1", "at once"),
    );
    assert_eq!(code, 250, "{text}");
    let qid = text.rsplit(' ').next().unwrap().to_string();
    // Killed the moment the 250 is read, the server has had no time for a delivery of its own:
    // the mailbox rows were durable before the reply.
    s.kill9();
    assert_eq!(s.mailbox("alice@example.test").len(), 1);
    assert_eq!(s.mailbox("bob@example.test").len(), 1);
    let t = cli(&s.config, &["trace", "--queue-id", &qid], None);
    let queued = t.find("queued").expect("a queued event");
    let delivered = t.find("delivered to mailbox alice@example.test");
    assert!(delivered.is_some_and(|d| d > queued), "{t}");
    assert!(t.contains("delivered to mailbox bob@example.test"), "{t}");
    let q = cli(&s.config, &["queue", "list"], None);
    assert!(!q.contains("queued"), "nothing left queued: {q}");
}

/// A message larger than the inline limit (128 KiB) gets a file of its own, read back intact by
/// mailbox access; a small one does not.
#[test]
fn large_messages_are_files_and_small_ones_are_not() {
    let s = Server::start();
    let mut c = s.ehlo();
    let line = "x".repeat(998);
    let big: String = (0..200).map(|_| format!("{line}\r\n")).collect();
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test"],
        &message("big1", big.trim_end()),
    );
    assert_eq!(code, 250, "{text}");
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test"],
        &message("small1", "short"),
    );
    assert_eq!(code, 250, "{text}");
    let rows = s.wait_mailbox("alice@example.test", 2);
    let files: Vec<_> = std::fs::read_dir(s.data_dir().join("messages"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1, "only the large message has a file");
    let stored = s.show("alice@example.test", rows[0].split('\t').next().unwrap());
    assert!(stored.len() > 200 * 1000, "{}", stored.len());
    assert!(
        stored.ends_with(&format!("{line}\r\n")),
        "the large body came back whole"
    );
    let stored = s.show("alice@example.test", rows[1].split('\t').next().unwrap());
    assert!(stored.ends_with("\r\n\r\nshort\r\n"), "{stored:?}");
}

#[test]
fn greeting_and_ehlo_name_no_software_and_hide_vrfy() {
    let s = Server::start();
    let mut c = s.connect();
    // NC-2.1.3: exactly "220 <hostname> ESMTP".
    assert_eq!(c.expect(220), "mail.example.test ESMTP");
    c.send("EHLO client.test");
    let ehlo = c.expect(250);
    let lines: Vec<&str> = ehlo.lines().collect();
    assert_eq!(lines[0], "mail.example.test");
    for ext in [
        "PIPELINING",
        "SIZE ",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "STARTTLS",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(ext)),
            "{ext} not advertised: {ehlo}"
        );
    }
    // NC-2.2: not advertised, and no information given.
    for hidden in ["VRFY", "EXPN", "ETRN", "TURN"] {
        assert!(!ehlo.contains(hidden), "{hidden} advertised");
    }
    for cmd in [
        "VRFY alice",
        "VRFY alice@example.test",
        "EXPN team",
        "ETRN example.test",
        "TURN",
    ] {
        c.send(cmd);
        assert_eq!(c.expect(502), "5.5.1 Command not implemented", "{cmd}");
    }
    c.send("NOOP");
    assert_eq!(c.expect(250), "2.0.0 Ok");
    c.send("HELP");
    let help = c.expect(214);
    assert!(!help.to_ascii_lowercase().contains("rampart"));
    c.send("QUIT");
    assert_eq!(c.expect(221), "2.0.0 Bye");
}

#[test]
fn every_error_reply_carries_an_enhanced_code() {
    let s = Server::start_with(Options {
        limits: "max_errors = 50".into(),
        ..Default::default()
    });
    let mut c = s.ehlo();
    for cmd in [
        "FOO",
        "MAIL FROM:",
        "RCPT TO:<alice@example.test>",
        "DATA",
        "BDAT 0 LAST",
        "MAIL FROM:<a@remote.test> BODY=BINARYMIME",
        "MAIL FROM:<a@remote.test> SIZE=999999999999",
        "MAIL FROM:<a@remote.test> FOO=BAR",
    ] {
        c.send(cmd);
        let (code, text) = c.reply().unwrap();
        assert!(code >= 500, "{cmd}: {code} {text}");
        let status = text.split(' ').next().unwrap();
        assert!(
            status.starts_with("5.") && status.split('.').count() == 3,
            "{cmd}: {code} {text}"
        );
    }
}

#[test]
fn starttls_offers_tls12_and_tls13_and_then_hides_starttls() {
    let s = Server::start();
    for (version, expect) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let mut c = s.ehlo();
        c.starttls(s.tls_config(&[version])).expect("handshake");
        assert_eq!(c.tls_version(), Some(expect)); // AL-1.1
        c.send("EHLO client.test");
        let ehlo = c.expect(250);
        assert!(!ehlo.contains("STARTTLS"), "STARTTLS offered inside TLS");
        c.send("STARTTLS");
        c.expect(503);
        let (code, text) = c.send_mail(
            "a@remote.test",
            &["alice@example.test"],
            &message(&format!("tls{expect:?}"), "x"),
        );
        assert_eq!(code, 250, "{text}");
    }
    let m = s.wait_mailbox("alice@example.test", 2);
    let stored = s.show("alice@example.test", m[0].split('\t').next().unwrap());
    assert!(
        stored.contains("(TLSv1.2 ") && stored.contains("with ESMTPS id"),
        "{stored}"
    );
}

/// A TLS 1.1 ClientHello (no supported_versions extension), written by hand since no TLS library
/// here will send one.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
                  // Suites the server does support (ECDHE with AES-GCM), so the version is the only thing wrong,
                  // and the TLS 1.1 classics (AES-CBC).
    body.extend_from_slice(&[
        0x00, 0x0a, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x2f, 0xc0, 0x13, 0xc0, 0x09,
    ]);
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut ext = Vec::new();
    ext.extend_from_slice(&[0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17]); // groups: secp256r1
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]); // ec point formats
                                                                  // signature_algorithms (ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256), so the
                                                                  // server gets as far as choosing a certificate and the version is what it refuses.
    ext.extend_from_slice(&[
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01,
    ]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01, (hs.len() >> 8) as u8, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn tls11_client_hello_is_refused() {
    // AL-1.1: TLS 1.2 or higher only.
    let s = Server::start();
    let mut c = s.ehlo();
    c.send("STARTTLS");
    c.expect(220);
    let mut tcp = c.tcp().try_clone().unwrap();
    tcp.write_all(&tls11_client_hello()).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    // The server answers with a fatal alert (21) protocol_version (70), or closes; never a ServerHello.
    assert!(!answer.is_empty(), "no alert sent");
    assert_eq!(answer[0], 21, "expected an alert record, got {answer:?}");
    assert_eq!(answer[5], 2, "fatal");
    assert_eq!(answer[6], 70, "protocol_version alert, got {answer:?}");
}

#[test]
fn relay_variants_are_refused_permanently() {
    // NC-2.1.6: only our domains; every trick gets 550 5.7.1, never a 4xx.
    let s = Server::start_with(Options {
        limits: "max_errors = 100".into(),
        ..Default::default()
    });
    let mut c = s.ehlo();
    c.send("MAIL FROM:<spammer@remote.test>");
    c.expect(250);
    let variants = [
        "victim@elsewhere.test",
        "victim@ELSEWHERE.TEST",
        "victim@elsewhere.test.",
        "victim@example.test.",
        "victim@example.test.elsewhere.test",
        "victim%elsewhere.test@example.test",
        "elsewhere.test!victim@example.test",
        "@example.test:victim@elsewhere.test",
        "@a.test,@b.test:victim@elsewhere.test",
        "\"victim@elsewhere.test\"@example.test",
        "\"victim%elsewhere.test\"@example.test",
        "victim@[127.0.0.1]",
        "victim@[IPv6:::1]",
        "alice@example.test@elsewhere.test",
        "victim@sub.example.test",
    ];
    for v in variants {
        c.send(&format!("RCPT TO:<{v}>"));
        let (code, text) = c.reply().unwrap();
        assert_eq!(code, 550, "{v}: {code} {text}");
        assert!(text.starts_with("5.7.1 Relaying denied"), "{v}: {text}");
    }
    // Case variants of our own domain are ours (domains are case-insensitive).
    c.send("RCPT TO:<Alice@EXAMPLE.test>");
    c.expect(250);
    // Unknown users of our domains: 550 5.1.1.
    c.send("RCPT TO:<nobody@example.test>");
    assert_eq!(c.expect(550), "5.1.1 No such user here");
    // And the refusals are in the trace.
    let trace = wait_trace(
        &s,
        &["trace", "--recipient", "victim@elsewhere.test"],
        "550 5.7.1 Relaying denied",
    );
    assert!(
        trace.contains("RCPT TO:<victim@elsewhere.test> refused"),
        "{trace}"
    );
}

#[test]
fn size_limit_is_advertised_declared_and_enforced_while_streaming() {
    let s = Server::start_with(Options {
        limits: "max_message_size = 20000".into(),
        ..Default::default()
    });
    let mut c = s.ehlo();
    c.send("EHLO client.test");
    assert!(c.expect(250).contains("SIZE 20000"));
    c.send("MAIL FROM:<a@remote.test> SIZE=20001");
    assert_eq!(
        c.expect(552),
        "5.3.4 Message size exceeds fixed maximum message size"
    );
    c.send("MAIL FROM:<a@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send("DATA");
    c.expect(354);
    let line = "x".repeat(998) + "\r\n";
    for _ in 0..100 {
        c.send_raw(line.as_bytes()); // 100 KB, five times the limit
    }
    c.send_raw(b".\r\n");
    assert_eq!(
        c.expect(552),
        "5.3.4 Message size exceeds fixed maximum message size"
    );
    // The session goes on; a message within the limit is accepted.
    let (code, _) = c.send_mail(
        "a@remote.test",
        &["alice@example.test"],
        &message("small", "ok"),
    );
    assert_eq!(code, 250);
    assert_eq!(s.wait_mailbox("alice@example.test", 1).len(), 1);
    // BDAT past the limit is refused too.
    c.send("MAIL FROM:<a@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    let big = vec![b'y'; 30_000];
    c.send_raw(format!("BDAT {} LAST\r\n", big.len()).as_bytes());
    c.send_raw(&big);
    c.expect(552);
    c.send("NOOP");
    c.expect(250);
}

#[test]
fn smuggling_variants_never_start_a_second_transaction() {
    let s = Server::start_with(Options {
        limits: "max_errors = 50".into(),
        ..Default::default()
    });
    for (i, sep) in ["\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r\n.\n"]
        .iter()
        .enumerate()
    {
        let mut c = s.ehlo();
        c.send("MAIL FROM:<a@remote.test>");
        c.expect(250);
        c.send("RCPT TO:<alice@example.test>");
        c.expect(250);
        c.send("DATA");
        c.expect(354);
        let smuggled = format!(
            "Subject: first {i}\r\n\r\nbody{sep}MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n"
        );
        c.send_raw(smuggled.as_bytes());
        // The whole thing was one message, and it held a bare CR or LF: refused.
        let (code, text) = c.reply().unwrap();
        assert_eq!((code, &text[..5]), (554, "5.6.0"), "{sep:?}: {code} {text}");
        c.send("NOOP");
        assert_eq!(c.expect(250), "2.0.0 Ok", "{sep:?}: replies out of step");
    }
    // Nothing reached bob, nothing reached alice.
    assert!(s.mailbox("bob@example.test").is_empty());
    assert!(s.mailbox("alice@example.test").is_empty());
    let q = cli(&s.config, &["queue", "list"], None);
    assert!(q.is_empty(), "{q}");
}

#[test]
fn bare_lf_in_commands_closes_the_session() {
    let s = Server::start();
    for bad in [
        &b"NOOP\n"[..],
        b"MAIL FROM:<a@remote.test>\rRCPT TO:<bob@example.test>\r\n",
    ] {
        let mut c = s.ehlo();
        c.send_raw(bad);
        let (code, text) = c.reply().unwrap();
        assert_eq!(code, 554, "{text}");
        assert!(text.starts_with("5.5.2"), "{text}");
        assert!(c.closed());
    }
}

#[test]
fn long_lines_recipients_and_errors_are_limited() {
    let s = Server::start_with(Options {
        limits: "max_errors = 3\nmax_line_length = 600".into(),
        ..Default::default()
    });
    // Line length.
    let mut c = s.ehlo();
    c.send(&format!("NOOP {}", "a".repeat(700)));
    assert_eq!(c.expect(500), "5.5.2 Line too long");
    assert!(c.closed());
    // Recipients: the 101st gets 452 4.5.3, the message still goes to the first 100.
    let mut c = s.ehlo();
    c.send("MAIL FROM:<a@remote.test>");
    c.expect(250);
    for _ in 0..100 {
        c.send("RCPT TO:<alice@example.test>");
        c.expect(250);
    }
    c.send("RCPT TO:<alice@example.test>");
    assert_eq!(c.expect(452), "4.5.3 Too many recipients");
    c.send("RSET");
    c.expect(250);
    // Errors: the third error closes the session with 421.
    c.send("FOO");
    c.expect(500);
    c.send("BAR");
    c.expect(500);
    c.send("BAZ");
    c.expect(500);
    let text = c.expect(421);
    assert!(
        text.starts_with("4.7.0") && text.contains("Too many errors"),
        "{text}"
    );
    assert!(c.closed());
}

#[test]
fn early_talker_is_refused() {
    let s = Server::start_with(Options {
        listener: "greeting_delay_ms = 400".into(),
        ..Default::default()
    });
    let mut c = s.connect();
    c.send("EHLO impatient.test");
    let (code, text) = c.reply().unwrap();
    assert_eq!(code, 554, "{text}");
    assert!(
        text.contains("5.5.0") && text.contains("before the greeting"),
        "{text}"
    );
    assert!(c.closed());
    // A patient client is served.
    let mut c = s.connect();
    c.expect(220);
    c.send("QUIT");
    c.expect(221);
    wait_trace(&s, &["trace", "--client", "127.0.0.1"], "early-talker");
}

#[test]
fn connections_per_address_are_limited() {
    // NC-2.1.8
    let s = Server::start_with(Options {
        limits: "max_connections_per_ip = 3".into(),
        ..Default::default()
    });
    let mut held: Vec<Client> = (0..3).map(|_| s.ehlo()).collect();
    let mut extra = s.connect();
    let text = extra.expect(421);
    assert!(
        text.starts_with("4.7.0") && text.contains("from your address"),
        "{text}"
    );
    assert!(extra.closed());
    // When one leaves, a new one gets in.
    let mut gone = held.pop().unwrap();
    gone.send("QUIT");
    gone.expect(221);
    assert!(gone.closed());
    let mut admitted = None;
    for _ in 0..100 {
        let mut c = s.connect();
        match c.reply().unwrap().0 {
            220 => {
                admitted = Some(c);
                break;
            }
            421 => std::thread::sleep(std::time::Duration::from_millis(20)),
            other => panic!("unexpected {other}"),
        }
    }
    assert!(admitted.is_some(), "a place never freed up");
}

#[test]
fn pipelining_and_bdat() {
    let s = Server::start();
    let mut c = s.ehlo();
    // One write, several commands: the replies come in order.
    c.send_raw(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
    c.expect(250);
    c.expect(250);
    c.expect(550);
    c.expect(250);
    c.expect(354);
    c.send_raw(message("pipe", "pipelined").as_bytes());
    c.send_raw(b".\r\n");
    c.expect(250);
    // CHUNKING (RFC 3030): bytes are taken as they are, dots and all.
    let body =
        "From: a@remote.test\r\nSubject: chunks\r\nMessage-ID: <bdat@remote.test>\r\n\r\n.line starting with a dot\r\n";
    let (a, b) = body.split_at(20);
    c.send_raw(
        format!(
            "MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nBDAT {}\r\n{a}",
            a.len()
        )
        .as_bytes(),
    );
    c.expect(250);
    c.expect(250);
    c.expect(250);
    c.send_raw(format!("BDAT {} LAST\r\n{b}", b.len()).as_bytes());
    let text = c.expect(250);
    assert!(text.starts_with("2.0.0 Ok: queued as"), "{text}");
    let m = s.wait_mailbox("alice@example.test", 2);
    let stored = s.show("alice@example.test", m[1].split('\t').next().unwrap());
    // The [External] tag (AL-1.6) changed the Subject; the body bytes are as sent.
    assert!(
        stored.contains("Subject: [External] chunks\r\n"),
        "{stored:?}"
    );
    assert!(
        stored.ends_with("\r\n\r\n.line starting with a dot\r\n"),
        "{stored:?}"
    );
    assert_eq!(s.wait_mailbox("bob@example.test", 1).len(), 1);
}

#[test]
fn smtputf8_and_sequence_rules() {
    let s = Server::start();
    let mut c = s.connect();
    c.expect(220);
    c.send("MAIL FROM:<a@remote.test>");
    assert_eq!(c.expect(503), "5.5.1 Send EHLO or HELO first");
    c.send("EHLO client.test");
    c.expect(250);
    c.send("MAIL FROM:<ü@remote.test>");
    assert!(c.expect(553).starts_with("5.6.7"));
    c.send("MAIL FROM:<ü@remote.test> SMTPUTF8");
    c.expect(250);
    c.send("MAIL FROM:<a@remote.test>");
    assert!(c.expect(503).starts_with("5.5.1"));
    c.send("DATA");
    assert_eq!(c.expect(554), "5.5.1 No valid recipients");
    c.send("RSET");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    assert_eq!(c.expect(503), "5.5.1 Send MAIL FROM first");
}

#[test]
fn trace_finds_a_message_by_every_key() {
    // AL-3.1: connection, TLS, EHLO, MAIL, RCPT, queue id, Message-ID, size, delivery.
    let s = Server::start();
    let mut c = s.ehlo();
    c.starttls(s.tls_config(&[&rustls::version::TLS13]))
        .unwrap();
    c.send("EHLO client.test");
    c.expect(250);
    let (_, text) = c.send_mail(
        "tracer@remote.test",
        &["bob@example.test"],
        &message("trace1", "t"),
    );
    let qid = text.rsplit(' ').next().unwrap().to_string();
    c.send("QUIT");
    c.expect(221);
    s.wait_mailbox("bob@example.test", 1);
    let by_qid = wait_trace(&s, &["trace", "--queue-id", &qid], "disconnect");
    for needle in [
        "connect",
        "TLSv1.3",
        "EHLO client.test",
        "MAIL FROM:<tracer@remote.test> 250",
        "RCPT TO:<bob@example.test> 250",
        "queued as",
        "delivered to mailbox bob@example.test",
        "disconnect",
    ] {
        assert!(by_qid.contains(needle), "{needle} missing from\n{by_qid}");
    }
    for args in [
        vec!["--message-id", "<trace1@remote.test>"],
        vec!["--sender", "TRACER@remote.test"],
        vec!["--recipient", "bob@example.test"],
        vec!["--client", "127.0.0.1", "--since", "5m"],
    ] {
        let mut full = vec!["trace"];
        full.extend(args.iter().copied());
        let t = cli(&s.config, &full, None);
        assert!(
            t.contains(&qid) && t.contains("delivered"),
            "{args:?}:\n{t}"
        );
    }
    let none = cli(
        &s.config,
        &[
            "trace",
            "--sender",
            "tracer@remote.test",
            "--until",
            "2000-01-01",
        ],
        None,
    );
    assert!(none.is_empty(), "{none}");
    let json = cli(&s.config, &["trace", "--queue-id", &qid, "--json"], None);
    let first = json.lines().next().unwrap();
    assert!(
        first.starts_with('{') && first.contains("\"event\":\"connect\""),
        "{first}"
    );
}

#[test]
fn cli_refuses_bad_input_with_one_line() {
    let s = Server::start();
    for (args, stdin, needle) in [
        (
            vec!["user", "add", "carol@nowhere.test", "--password-stdin"],
            Some("long enough password"),
            "domain nowhere.test is not configured",
        ),
        (
            vec!["user", "add", "carol@example.test", "--password-stdin"],
            Some("short"),
            "shorter than 12",
        ),
        (
            vec!["alias", "add", "out@example.test", "someone@elsewhere.test"],
            None,
            "AL-4.2",
        ),
        (
            vec!["domain", "add", "not a domain"],
            None,
            "is not a domain name",
        ),
        (
            vec![
                "mailbox",
                "show",
                "alice@example.test",
                "99",
                "--reason",
                "test",
            ],
            None,
            "no message 99",
        ),
        (vec!["trace", "--since", "yesterday"], None, "is not a time"),
    ] {
        let out = cli_raw(&s.config, &args, stdin);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // NC-2.1.2: only the accounts we made exist.
    assert_eq!(
        cli(&s.config, &["user", "list"], None),
        "alice@example.test\nbob@example.test\n"
    );
}

/// NC-2.1.8 (slowloris): a server whose timeouts are short, to watch them run out.
fn impatient_server() -> Server {
    Server::start_with(Options {
        top: "[timeouts]\ncommand_secs = 1\ndata_secs = 1\ndata_min_bytes_per_sec = 1000\n".into(),
        ..Default::default()
    })
}

/// Sends `bytes` one at a time, `gap` apart (the slowness is what is being tested), until the
/// server answers or closes. True if it did so before every byte had gone out.
fn trickle(c: &mut Client, bytes: &[u8], gap: Duration) -> bool {
    let tcp = c.tcp().try_clone().unwrap();
    // The wait for an answer between two bytes is the gap.
    tcp.set_read_timeout(Some(gap)).unwrap();
    let mut answered = false;
    for b in bytes {
        if (&tcp).write_all(&[*b]).is_err() {
            answered = true;
            break;
        }
        match tcp.peek(&mut [0u8; 1]) {
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            _ => {
                answered = true;
                break;
            }
        }
    }
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    answered
}

/// Sends `line` in pieces, `gap` apart.
fn send_in_pieces(c: &mut Client, line: &[u8], pieces: usize, gap: Duration) {
    for piece in line.chunks(line.len().div_ceil(pieces)) {
        c.send_raw(piece);
        std::thread::sleep(gap);
    }
}

#[test]
fn a_trickled_command_is_cut_off_at_the_command_deadline() {
    // NC-2.1.8: a byte every 100 ms keeps each read far inside the 1 s command timeout, but the
    // line as a whole must arrive within it.
    let s = impatient_server();
    let mut c = s.ehlo();
    let started = Instant::now();
    let line = format!("NOOP {}\r\n", "x".repeat(40));
    assert!(
        trickle(&mut c, line.as_bytes(), Duration::from_millis(100)),
        "the whole line went out unanswered"
    );
    let took = started.elapsed();
    let text = c.expect(421);
    assert!(
        text.starts_with("4.4.2 mail.example.test ") && text.contains("Timeout"),
        "{text}"
    );
    assert!(c.closed());
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "cut off after {took:?}, not at the 1 s deadline"
    );
    wait_trace(
        &s,
        &["trace", "--client", "127.0.0.1"],
        "command line not complete within 1 s",
    );
}

#[test]
fn a_command_sent_in_quick_fragments_is_unaffected() {
    // NC-2.1.8: the deadline is per line, not per session: five lines in pieces over about 2 s,
    // each within its 1 s, are all answered, and mail still goes through.
    let s = impatient_server();
    let mut c = s.ehlo();
    let started = Instant::now();
    for _ in 0..5 {
        send_in_pieces(
            &mut c,
            b"NOOP in three pieces\r\n",
            3,
            Duration::from_millis(130),
        );
        c.expect(250);
    }
    assert!(started.elapsed() > Duration::from_secs(1));
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test"],
        &message("pieces", "fine"),
    );
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    c.expect(221);
    s.wait_mailbox("alice@example.test", 1);
}

#[test]
fn trickled_data_below_the_minimum_rate_is_cut_off_and_not_queued() {
    // NC-2.1.8: 20 bytes/s against a minimum of 1000: the 1 s data budget runs out in about 1 s
    // although no single read waits that long.
    let s = impatient_server();
    let mut c = s.ehlo();
    c.send("MAIL FROM:<sender@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send("DATA");
    c.expect(354);
    let started = Instant::now();
    let msg = format!("{}.\r\n", message("trickle", &"z".repeat(100)));
    assert!(
        trickle(&mut c, msg.as_bytes(), Duration::from_millis(50)),
        "the whole message went out unanswered"
    );
    let took = started.elapsed();
    let text = c.expect(421);
    assert!(text.starts_with("4.4.2 mail.example.test "), "{text}");
    assert!(c.closed());
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "cut off after {took:?}, not near the 1 s budget"
    );
    wait_trace(
        &s,
        &["trace", "--client", "127.0.0.1"],
        "message data too slow",
    );
    // Nothing queued, nothing half-written left behind.
    assert!(s.mailbox("alice@example.test").is_empty());
    let q = cli(&s.config, &["queue", "list"], None);
    assert!(q.is_empty(), "{q}");
    let files = std::fs::read_dir(s.data_dir().join("messages"))
        .unwrap()
        .count();
    assert_eq!(files, 0);
}

#[test]
fn slow_data_above_the_minimum_rate_is_accepted() {
    // NC-2.1.8: 2500 bytes/s against a minimum of 1000, for twice the 1 s data timeout: each
    // block earns more time than the wait for it took.
    let s = impatient_server();
    let mut c = s.ehlo();
    c.send("MAIL FROM:<sender@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send("DATA");
    c.expect(354);
    let started = Instant::now();
    c.send_raw(message("steady", "start").as_bytes());
    let block = format!("{}\r\n", "y".repeat(248));
    for _ in 0..20 {
        c.send_raw(block.as_bytes());
        std::thread::sleep(Duration::from_millis(100));
    }
    c.send_raw(b".\r\n");
    let (code, text) = c.reply().expect("a reply to the message");
    assert_eq!(code, 250, "{text}");
    assert!(started.elapsed() > Duration::from_secs(2));
    let got = s.wait_mailbox("alice@example.test", 1);
    let stored = s.show("alice@example.test", got[0].split('\t').next().unwrap());
    assert!(stored.ends_with(&block.repeat(20)), "{stored}");
}

/// RFC 5321 4.1.1.1: EHLO and HELO take a host name or an address literal, in ASCII. The parser
/// took any word, 8-bit bytes included (read as U+FFFD), and answered 250.
#[test]
fn ehlo_with_8bit_or_no_host_name_is_refused() {
    let s = Server::start_with(Options {
        limits: "max_errors = 50".into(),
        ..Default::default()
    });
    let mut c = s.connect();
    c.expect(220);
    for line in [
        &b"EHLO b\xc3\xbccher.example\r\n"[..],
        b"EHLO client\xff.test\r\n",
        b"HELO client\x80.test\r\n",
        b"EHLO <script>\r\n",
        b"HELO [192.0.2.300]\r\n",
    ] {
        c.send_raw(line);
        let text = c.expect(501);
        assert!(
            text.starts_with("5.5.2 "),
            "{}: {text}",
            line.escape_ascii()
        );
    }
    // Nothing was greeted: the session still wants a valid EHLO first.
    c.send("MAIL FROM:<a@remote.test>");
    assert_eq!(c.expect(503), "5.5.1 Send EHLO or HELO first");
    c.send("EHLO [IPv6:2001:db8::1]");
    c.expect(250);
    c.send("HELO client.test");
    c.expect(250);
}

/// RFC 6531 3.3: with SMTPUTF8 an address is UTF-8. Invalid bytes were read as U+FFFD and the
/// address accepted; now they are refused with 553 5.6.7, and without SMTPUTF8 8-bit is refused
/// as before.
#[test]
fn invalid_utf8_in_mail_and_rcpt_is_refused_with_553() {
    let s = Server::start_with(Options {
        limits: "max_errors = 50".into(),
        ..Default::default()
    });
    let mut c = s.ehlo();
    c.send_raw(b"MAIL FROM:<a\xff@remote.test> SMTPUTF8\r\n");
    assert_eq!(c.expect(553), "5.6.7 Address is not valid UTF-8");
    c.send_raw(b"MAIL FROM:<\xc3@remote.test> SMTPUTF8\r\n");
    assert_eq!(c.expect(553), "5.6.7 Address is not valid UTF-8");
    c.send_raw(b"MAIL FROM:<\xff> SMTPUTF8\r\n");
    assert_eq!(c.expect(553), "5.6.7 Address is not valid UTF-8");
    c.send_raw(b"MAIL FROM:<a\xff@remote.test>\r\n");
    assert!(c.expect(553).starts_with("5.6.7 Address is not ASCII"));
    c.send_raw("MAIL FROM:<ü@remote.test> SMTPUTF8\r\n".as_bytes());
    c.expect(250);
    c.send_raw(b"RCPT TO:<al\xffice@example.test>\r\n");
    assert_eq!(c.expect(553), "5.6.7 Address is not valid UTF-8");
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send("RSET");
    c.expect(250);
    c.send("MAIL FROM:<a@remote.test>");
    c.expect(250);
    c.send_raw(b"RCPT TO:<al\xffice@example.test>\r\n");
    assert!(c.expect(553).starts_with("5.6.7 Address is not ASCII"));
}

/// RFC 5321 4.4: the Return-Path names the sender as given; the quotes of a quoted local part
/// were dropped, which names another (invalid) address.
#[test]
fn return_path_keeps_the_quotes_of_a_quoted_local_part() {
    let s = Server::start();
    let mut c = s.ehlo();
    let (code, text) = c.send_mail(
        "\"john doe\"@remote.test",
        &["alice@example.test"],
        &message("quoted1", "hello"),
    );
    assert_eq!(code, 250, "{text}");
    let alice = s.wait_mailbox("alice@example.test", 1);
    let stored = s.show("alice@example.test", alice[0].split('\t').next().unwrap());
    assert!(
        stored.starts_with("Return-Path: <\"john doe\"@remote.test>\r\n"),
        "{stored}"
    );
}
