//! Inbound email authentication end to end (issue 4): SPF, DKIM and DMARC through a real DNS
//! server started by the test; p=reject refused, p=quarantine held (AL-2.4); own-domain From from
//! outside refused (NC-2.1.7); forged Authentication-Results removed; DNS silence gives 451.

use crate::common;

use common::*;
use rampart_testdns::TestDns;

fn zone() -> TestDns {
    TestDns::builder()
        .txt("reject.test", "v=spf1 ip4:192.0.2.1 -all")
        .txt("_dmarc.reject.test", "v=DMARC1; p=reject")
        .txt("quar.test", "v=spf1 ip4:192.0.2.1 -all")
        .txt("_dmarc.quar.test", "v=DMARC1; p=quarantine")
        .txt("none.test", "v=spf1 ip4:192.0.2.1 -all")
        .txt("_dmarc.none.test", "v=DMARC1; p=none")
        .txt("pass.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt("_dmarc.pass.test", "v=DMARC1; p=reject")
        .txt("parent.test", "v=spf1 -all")
        .txt("_dmarc.parent.test", "v=DMARC1; p=none; sp=reject")
        .txt("sub.parent.test", "v=spf1 -all")
        .start()
}

fn server(dns: &TestDns) -> Server {
    Server::start_with(Options {
        top: format!("[dns]\nservers = [\"{}\"]\ntimeout_secs = 1\n", dns.addr()),
        limits: "max_errors = 50".into(),
        // Short DNS bounds, so the silent-DNS case answers quickly.
        checks: Some("disabled = [\"antivirus\"]\n[checks.authentication]\ndns_timeout_ms = 500\ncheck_timeout_secs = 3".into()),
        ..Default::default()
    })
}

fn mail(c: &mut Client, domain: &str, extra_headers: &str) -> (u16, String) {
    c.send(&format!("MAIL FROM:<bob@{domain}>"));
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send("DATA");
    c.expect(354);
    c.send_raw(
        format!(
            "{extra_headers}From: Bob <bob@{domain}>\r\nTo: alice@example.test\r\nSubject: from {domain}\r\nMessage-ID: <{domain}@{domain}>\r\n\r\nhello\r\n.\r\n"
        )
        .as_bytes(),
    );
    c.reply().unwrap()
}

#[test]
fn dmarc_policies_are_enforced() {
    let dns = zone();
    let s = server(&dns);
    let mut c = s.ehlo();
    // AL-2.4: p=reject is refused at the end of DATA, naming the domain.
    let (code, text) = mail(&mut c, "reject.test", "");
    assert_eq!(code, 550, "{text}");
    assert!(
        text.starts_with("5.7.1") && text.contains("reject.test"),
        "{text}"
    );
    // sp=reject of the parent applies to a subdomain without its own record.
    let (code, text) = mail(&mut c, "sub.parent.test", "");
    assert_eq!(code, 550, "sp= honoured: {text}");
    // p=none delivers; p=quarantine is accepted and held.
    assert_eq!(mail(&mut c, "none.test", "").0, 250);
    let (code, text) = mail(&mut c, "quar.test", "");
    assert_eq!(code, 250, "{text}");
    let held_id = text.rsplit(' ').next().unwrap().to_string();
    // A domain that passes (SPF aligned) delivers.
    assert_eq!(mail(&mut c, "pass.test", "").0, 250);

    let inbox = s.wait_mailbox("alice@example.test", 2);
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    let q = cli(&s.config, &["quarantine", "list"], None);
    assert!(q.contains(&held_id) && q.contains("dmarc"), "{q}");
    let shown = cli(&s.config, &["quarantine", "show", &held_id], None);
    assert!(
        shown.contains("Reason: dmarc") && shown.contains("Subject: [External] from quar.test"),
        "{shown}"
    );
    // Release delivers it (within the queue manager's rescan).
    cli(&s.config, &["quarantine", "release", &held_id], None);
    s.wait_mailbox("alice@example.test", 3);
    assert!(cli(&s.config, &["quarantine", "list"], None).is_empty());
    let t = wait_trace(&s, &["trace", "--queue-id", &held_id], "released");
    assert!(t.contains("quarantined by dmarc"), "{t}");

    // Delete removes another held message for good.
    let (_, text) = mail(&mut c, "quar.test", "");
    let second = text.rsplit(' ').next().unwrap().to_string();
    cli(&s.config, &["quarantine", "delete", &second], None);
    assert!(cli(&s.config, &["quarantine", "list"], None).is_empty());
    assert!(
        cli_raw(&s.config, &["quarantine", "show", &second], None)
            .status
            .code()
            != Some(0)
    );
    wait_trace(&s, &["trace", "--queue-id", &second], "deleted");
}

#[test]
fn results_header_is_ours_and_forgeries_are_removed() {
    let dns = zone();
    let s = server(&dns);
    let mut c = s.ehlo();
    let forged = "Authentication-Results: mail.example.test; dmarc=pass header.from=none.test\r\n\
                  Authentication-Results: other.example; spf=pass\r\n";
    assert_eq!(mail(&mut c, "none.test", forged).0, 250);
    let inbox = s.wait_mailbox("alice@example.test", 1);
    let stored = s.show("alice@example.test", inbox[0].split('\t').next().unwrap());
    let ours: Vec<&str> = stored
        .split("\r\n")
        .filter(|l| l.starts_with("Authentication-Results: mail.example.test"))
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "one Authentication-Results of ours: {stored}"
    );
    assert!(
        !stored.contains("dmarc=pass header.from=none.test"),
        "the forgery survived: {stored}"
    );
    assert!(
        stored.contains("Authentication-Results: other.example; spf=pass"),
        "another server's stays: {stored}"
    );
    assert!(stored.contains("dmarc=fail"), "{stored}");
    assert!(stored.contains("spf=fail"), "{stored}");
}

/// RFC 8601 section 5, NC-2.3.4: with the authentication check switched off, forgeries of our
/// results are still removed: a store behind this server may believe results of this
/// authserv-id (`trusted_authserv_ids`), so none may pass through unchecked.
#[test]
fn forged_results_go_with_the_authentication_check_off() {
    let s = Server::start_with(Options {
        checks: Some("disabled = [\"antivirus\", \"authentication\"]".into()),
        ..Default::default()
    });
    let mut c = s.ehlo();
    let forged = "Authentication-Results: Mail.Example.Test.; dmarc=pass header.from=bank.test\r\n\
                  Authentication-Results: other.example; spf=pass\r\n";
    assert_eq!(mail(&mut c, "bank.test", forged).0, 250);
    let inbox = s.wait_mailbox("alice@example.test", 1);
    let stored = s.show("alice@example.test", inbox[0].split('\t').next().unwrap());
    assert!(
        !stored.contains("header.from=bank.test"),
        "the forgery survived: {stored}"
    );
    assert!(
        stored.contains("Authentication-Results: other.example; spf=pass"),
        "another server's stays: {stored}"
    );
    wait_trace(
        &s,
        &["trace"],
        "removed 1 Authentication-Results claiming our authserv-id",
    );
}

#[test]
fn forged_spam_verdicts_go_with_the_spam_check_off() {
    // NC-2.3.4, AL-1.2: a store behind this server files `X-Spam-Flag: YES` in Junk as our
    // verdict; with the spam check off there is no verdict of ours, and a sender's must not
    // pass for one.
    let s = Server::start_with(Options {
        checks: Some("disabled = [\"antivirus\", \"authentication\", \"spam\"]".into()),
        ..Default::default()
    });
    let mut c = s.ehlo();
    let forged = "X-Spam-Flag: YES\r\nX-Spam-Score: 99.00\r\n";
    assert_eq!(mail(&mut c, "sender.test", forged).0, 250);
    let inbox = s.wait_mailbox("alice@example.test", 1);
    let stored = s.show("alice@example.test", inbox[0].split('\t').next().unwrap());
    assert!(!stored.contains("X-Spam"), "the forgery survived: {stored}");
    wait_trace(
        &s,
        &["trace"],
        "removed spam verdict fields the sender wrote (X-Spam-Flag, X-Spam-Score)",
    );
}

#[test]
fn own_domain_from_outside_is_refused() {
    // NC-2.1.7: example.test publishes nothing, yet a From of it from the Internet is refused.
    let dns = zone();
    let s = server(&dns);
    let mut c = s.ehlo();
    c.send("MAIL FROM:<x@none.test>");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send("DATA");
    c.expect(354);
    c.send_raw(b"From: The Director <director@example.test>\r\nSubject: urgent wire\r\n\r\npay now\r\n.\r\n");
    let (code, text) = c.reply().unwrap();
    assert_eq!(code, 550, "{text}");
    assert!(text.starts_with("5.7.1"), "{text}");
    wait_trace(&s, &["trace", "--client", "127.0.0.1"], "refused by");
}

#[test]
fn silent_dns_gives_451() {
    let dns = zone();
    let s = server(&dns);
    dns.set_silent(true);
    let mut c = s.ehlo();
    let (code, text) = mail(&mut c, "reject.test", "");
    assert_eq!(code, 451, "a DNS failure is not a pass: {text}");
    assert!(text.starts_with("4.7."), "{text}");
}

#[test]
fn dns_records_are_printed_for_each_control() {
    let dns = zone();
    let s = server(&dns);
    cli(
        &s.config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "s1",
            "--algorithm",
            "ed25519",
        ],
        None,
    );
    let out = cli(
        &s.config,
        &["dns-records", "--domain", "example.test"],
        None,
    );
    for needle in [
        "v=spf1",
        "s1._domainkey.example.test",
        "k=ed25519",
        "_dmarc.example.test",
        "p=reject",
        "_mta-sts.example.test",
        "_smtp._tls.example.test",
        "AL-2.1",
        "AL-2.2",
        "AL-2.3",
    ] {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
}
