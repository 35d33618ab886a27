//! Outbound delivery (issue 3) through a real DNS server started by the test: MX and A records
//! point at 127.0.0.1, where a second Rampart receives for remote.test. Retries, expiry bounces,
//! null MX, TLS policy (AL-1.1), and DKIM signatures checked by dkimpy (AL-2.2).

use crate::common;

use common::*;
use rampart_testdns::TestDns;

/// The receiving server: MX for remote.test with user carol, on `port` (0: any), asking `dns`.
/// It stands in for the rest of the Internet, so it does not tag (a changed Subject would break
/// the DKIM signatures the tests check); it does check SPF, DKIM and DMARC.
fn receiver(port: u16, dns: &TestDns) -> Server {
    let r = Server::start_with(Options {
        mx_address: Some(format!("127.0.0.1:{port}")),
        top: format!("[dns]\nservers = [\"{}\"]\n", dns.addr()),
        checks: Some("disabled = [\"antivirus\", \"external\"]".into()),
        ..Default::default()
    });
    cli(&r.config, &["domain", "add", "remote.test"], None);
    cli(
        &r.config,
        &["user", "add", "carol@remote.test", "--password-stdin"],
        Some(PASSWORD),
    );
    r
}

/// DNS for remote.test (MX -> mx.remote.test -> 127.0.0.1) and a null-MX domain.
fn dns() -> TestDns {
    TestDns::builder()
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", "127.0.0.1".parse().unwrap())
        .null_mx("nomail.test")
        // The sender's domain authorises 127.0.0.1: the receiver represents example.test too
        // (the harness's domain), and mail claiming it from outside must pass DMARC (NC-2.1.7).
        .txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        .start()
}

/// The sending server: submission for example.test users, delivering to `port` via `dns`.
fn sender(dns: &TestDns, port: u16, extra: &str) -> Server {
    let top = format!(
        "[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
         [delivery]\nport = {port}\nretry_secs = [1]\ntimeout_secs = 10\n{extra}\n\
         [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n",
        dns.addr()
    );
    Server::start_with(Options {
        top,
        ..Default::default()
    })
}

/// Sends as alice over implicit TLS with AUTH (a raw client: the protocol is the point here).
fn submit(s: &Server, to: &str, body: &str) -> String {
    let mut c = s.login_alice();
    let (code, text) = c.send_mail("alice@example.test", &[to], body);
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    text.rsplit(' ').next().unwrap().to_string()
}

fn outbound_message(id: &str) -> String {
    format!(
        "From: Alice <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: outbound {id}\r\n\
         Date: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <{id}@example.test>\r\n\r\nHello Carol.\r\n.dot line\r\n"
    )
}

#[test]
fn delivered_over_mx_with_verified_tls_and_dkim_checked_by_dkimpy() {
    let dns = dns();
    let r = receiver(0, &dns);
    let policy = format!(
        "[[delivery.policy]]\ndomain = \"remote.test\"\nrequire_tls = true\nverify = true\nca_file = \"{}\"\n",
        r.ca_file().display()
    );
    // The receiver's certificate names mail.example.test: point the MX there so it verifies.
    dns.add(rampart_testdns::Record::mx(
        "remote.test",
        5,
        "mail.example.test",
    ));
    dns.add(rampart_testdns::Record::a(
        "mail.example.test",
        "127.0.0.1".parse().unwrap(),
    ));
    let s = sender(&dns, r.addr.port(), &policy);
    let rsa = cli(
        &s.config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "r1",
            "--algorithm",
            "rsa",
        ],
        None,
    );
    let ed = cli(
        &s.config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "e1",
            "--algorithm",
            "ed25519",
        ],
        None,
    );
    // The TXT records as printed: `name. IN TXT "..." "..."`.
    let record = |out: &str| -> (String, String) {
        let line = out.lines().find(|l| l.contains(" IN TXT ")).unwrap();
        let (name, value) = line.split_once(" IN TXT ").unwrap();
        let value: String = value.split('"').skip(1).step_by(2).collect();
        (name.to_string(), value)
    };
    let (rsa_name, rsa_value) = record(&rsa);
    let (ed_name, ed_value) = record(&ed);
    assert_eq!(rsa_name, "r1._domainkey.example.test.");
    assert!(
        rsa_value.starts_with("v=DKIM1; k=rsa; p=")
            && ed_value.starts_with("v=DKIM1; k=ed25519; p=")
    );
    assert!(
        rsa.matches('"').count() >= 4,
        "a 2048-bit key needs two TXT strings: {rsa}"
    );

    let qid = submit(&s, "carol@remote.test", &outbound_message("dkim1"));
    let got = r.wait_mailbox("carol@remote.test", 1);
    let stored = r.show("carol@remote.test", got[0].split('\t').next().unwrap());
    // AL-1.1: the hop was TLS (and verified, since the policy demands it).
    assert!(stored.contains("with ESMTPS id"), "{stored}");
    assert_eq!(stored.matches("DKIM-Signature:").count(), 2, "{stored}");
    let trace = wait_trace(&s, &["trace", "--queue-id", &qid], "relayed");
    assert!(trace.contains("via mail.example.test (TLSv1."), "{trace}");

    // An independent implementation verifies both signatures.
    let script = r#"
import sys, dkim
msg = open(sys.argv[1], 'rb').read()
msg = msg.split(b'\r\n', 1)[1] if msg.startswith(b'Return-Path:') else msg
keys = {sys.argv[2].encode(): sys.argv[3].encode(), sys.argv[4].encode(): sys.argv[5].encode()}
def dnsfunc(name, timeout=5):
    return keys.get(name, b'')
d = dkim.DKIM(msg)
sigs = [h for h in d.headers if h[0].lower() == b'dkim-signature']
print(len(sigs), *[dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc) for i in range(len(sigs))])
tampered = msg.replace(b'Hello Carol.', b'Hello Mallory.')
def check(m, i):
    try:
        return dkim.DKIM(m).verify(idx=i, dnsfunc=dnsfunc)
    except dkim.DKIMException:
        return False
print(*[check(tampered, i) for i in range(len(sigs))])
"#;
    let file = r.dir.0.join("received.eml");
    std::fs::write(&file, &stored).unwrap();
    let out = python(
        script,
        &[
            file.to_str().unwrap(),
            &rsa_name,
            &rsa_value,
            &ed_name,
            &ed_value,
        ],
    );
    let out = String::from_utf8(out.stdout).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("2 True True"), "dkimpy verified: {out}");
    assert_eq!(
        lines.next(),
        Some("False False"),
        "a changed body must fail: {out}"
    );
}

#[test]
fn retried_while_the_receiver_is_down_then_delivered() {
    // Held until the receiver listens on it.
    let reserved = ClosedPort::for_rampart();
    let port = reserved.port();
    let dns = dns();
    // One connection per domain, so the three waiting messages share one.
    let mut s = sender(&dns, port, "max_connections_per_domain = 1");
    let qids: Vec<String> = (1..=3)
        .map(|i| {
            submit(
                &s,
                "carol@remote.test",
                &outbound_message(&format!("retry{i}")),
            )
        })
        .collect();
    // Nothing listens yet: the attempts are deferred, with the reason in the trace.
    for qid in &qids {
        let t = wait_trace(&s, &["trace", "--queue-id", qid], "deferred");
        assert!(t.contains("next attempt in 1 s"), "{t}");
    }
    let q = cli(&s.config, &["queue", "list"], None);
    assert_eq!(q.matches("carol@remote.test\tqueued").count(), 3, "{q}");
    // Stop the sender, let the 1 s retry time of all three pass, bring the receiver up on that
    // port, and start the sender again: the queue survives, and the three messages, due
    // together, go over one connection.
    assert!(s.terminate().success());
    std::thread::sleep(std::time::Duration::from_millis(1500)); // the retry schedule, not a sync
    let r = receiver(port, &dns);
    s.spawn();
    r.wait_mailbox("carol@remote.test", 3);
    for qid in &qids {
        wait_trace(&s, &["trace", "--queue-id", qid], "relayed");
    }
    let q = cli(&s.config, &["queue", "list"], None);
    // Delivered to their only recipient: the messages are removed from the queue.
    assert!(!q.contains("carol@remote.test"), "{q}");
    // Over one connection: the receiver saw a session with three messages.
    wait_trace(
        &r,
        &["trace", "--client", "127.0.0.1"],
        "messages: 3, errors: 0",
    );
}

#[test]
fn expiry_bounces_with_a_dsn() {
    let dns = dns();
    let closed = ClosedPort::new();
    let s = sender(&dns, closed.port(), "lifetime_secs = 2");
    let qid = submit(&s, "carol@remote.test", &outbound_message("expire1"));
    let inbox = s.wait_mailbox("alice@example.test", 1);
    let dsn = s.show("alice@example.test", inbox[0].split('\t').next().unwrap());
    assert!(dsn.starts_with("Return-Path: <>\r\n"), "{dsn}");
    assert!(
        dsn.contains("From: \"Mail Delivery System\" <MAILER-DAEMON@mail.example.test>"),
        "{dsn}"
    );
    assert!(
        dsn.contains("multipart/report") && dsn.contains("report-type=\"delivery-status\""),
        "{dsn}"
    );
    assert!(
        dsn.contains("Final-Recipient: rfc822; carol@remote.test"),
        "{dsn}"
    );
    assert!(dsn.contains("Status: 4.4.7"), "{dsn}");
    assert!(
        dsn.contains("Subject: outbound expire1"),
        "original headers quoted: {dsn}"
    );
    assert!(
        !dsn.to_ascii_lowercase().contains("rampart"),
        "NC-2.1.3: {dsn}"
    );
    let t = wait_trace(&s, &["trace", "--queue-id", &qid], "bounce");
    assert!(t.contains("expired"), "{t}");
}

#[test]
fn null_mx_bounces_at_once() {
    let dns = dns();
    let closed = ClosedPort::new();
    let s = sender(&dns, closed.port(), "");
    let qid = submit(&s, "anyone@nomail.test", &outbound_message("nullmx1"));
    let inbox = s.wait_mailbox("alice@example.test", 1);
    let dsn = s.show("alice@example.test", inbox[0].split('\t').next().unwrap());
    assert!(dsn.contains("Status: 5.1.10"), "{dsn}");
    assert!(dsn.contains("null MX"), "{dsn}");
    let t = wait_trace(&s, &["trace", "--queue-id", &qid], "failed");
    assert!(!t.contains("deferred"), "no retry for a null MX: {t}");
}

#[test]
fn smarthost_relays_everything_over_implicit_tls() {
    // The relay host: a Rampart that lets 127.0.0.1 relay (relay.networks) on its 465 listener.
    let relay = Server::start_with(Options {
        top: "[relay]\nnetworks = [\"127.0.0.1/32\"]\n[[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n".into(),
        ..Default::default()
    });
    cli(&relay.config, &["domain", "add", "remote.test"], None);
    cli(
        &relay.config,
        &["user", "add", "carol@remote.test", "--password-stdin"],
        Some(PASSWORD),
    );
    let dns = TestDns::builder()
        .a("mail.example.test", "127.0.0.1".parse().unwrap())
        .start();
    let smarthost = format!(
        "[delivery.smarthost]\nhost = \"mail.example.test\"\nport = {}\ntls = \"implicit\"\nca_file = \"{}\"\n",
        relay.listener("submissions").port(),
        relay.ca_file().display()
    );
    // No MX for remote.test exists: only the smarthost can deliver it.
    let closed = ClosedPort::new();
    let s = sender(&dns, closed.port(), &smarthost);
    let qid = submit(&s, "carol@remote.test", &outbound_message("smarthost1"));
    let got = relay.wait_mailbox("carol@remote.test", 1);
    let stored = relay.show("carol@remote.test", got[0].split('\t').next().unwrap());
    assert!(stored.contains("Subject: outbound smarthost1"), "{stored}");
    let t = wait_trace(&s, &["trace", "--queue-id", &qid], "relayed");
    assert!(t.contains("via mail.example.test (TLSv1."), "{t}");
}
