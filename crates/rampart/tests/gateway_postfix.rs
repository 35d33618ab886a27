//! The gateway in front of an existing server (AL-1, AL-1.1): Postfix from Debian's packages is
//! the internal next hop for agency.test, started by the test in its own directory with STARTTLS
//! and a certificate of the test CA. The gateway verifies that certificate, forwards, and its
//! trace records Postfix's queue id.

use crate::common;

use common::postfix::{self, Postfix};
use common::*;
use rampart_testdns::TestDns;
use std::path::Path;
use std::time::Duration;

#[test]
fn al_1_1_postfix_as_the_next_hop_receives_over_verified_tls_and_its_queue_id_is_traced() {
    // Never skipped: scripts/test.sh installs Debian's postfix.
    assert!(
        Path::new("/usr/sbin/postfix").exists(),
        "postfix is not installed: run scripts/test.sh (it installs Debian's postfix package)"
    );
    let pki_dir = TempDir::new("pfhop");
    let pki = make_pki(&pki_dir.0);
    let pf = Postfix::start(&pki, &pki_dir.0, &postfix::next_hop("agency.test"));
    let ca = pki_dir.0.join("postfix-ca.pem");
    let dns = TestDns::builder()
        .a("mail.example.test", "127.0.0.1".parse().unwrap())
        .start();
    let gw = Server::start_with(Options {
        top: format!(
            "[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n[delivery]\nretry_secs = [1]\n\
             [[relay_domain]]\ndomains = [\"agency.test\"]\nhosts = [\"mail.example.test\"]\nport = {}\n\
             ca_file = \"{}\"\n[relay_domain.verify]\nmethod = \"static\"\naddresses = [\"bob@agency.test\"]\n",
            dns.addr(),
            pf.port,
            ca.display()
        ),
        ..Default::default()
    });
    let mut c = gw.ehlo();
    c.send("MAIL FROM:<x@remote.test>");
    c.expect(250);
    // AL-1: only recipients the next hop has.
    c.send("RCPT TO:<carol@agency.test>");
    let (code, text) = c.reply().unwrap();
    assert_eq!(code, 550, "{text}");
    c.send("RSET");
    c.expect(250);
    let body = "From: <x@remote.test>\r\nTo: <bob@agency.test>\r\nSubject: through to postfix\r\n\
                Message-ID: <pfhop1@remote.test>\r\n\r\nHello Bob.\r\n";
    let (code, text) = c.send_mail("x@remote.test", &["bob@agency.test"], body);
    assert_eq!(code, 250, "{text}");
    let qid = text.rsplit(' ').next().unwrap().to_string();

    let mut got = Vec::new();
    for _ in 0..600 {
        got = pf.messages();
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let msg = got.first().unwrap_or_else(|| {
        panic!(
            "nothing in Postfix's Maildir; log:\n{}\ntrace:\n{}",
            pf.log(),
            cli(&gw.config, &["trace", "--queue-id", &qid], None)
        )
    });
    assert!(msg.contains("through to postfix"), "{msg}");
    let trace = wait_trace(&gw, &["trace", "--queue-id", &qid], "relayed");
    // AL-1.1: TLS, verified against the test CA for the next hop's name.
    assert!(trace.contains("via mail.example.test (TLSv1."), "{trace}");
    let pf_qid = trace
        .split("next hop queue id ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no next hop queue id in {trace}"))
        .to_string();
    // The same id in Postfix's own log: the trace follows the message into Postfix's queue.
    let log = pf.log();
    assert!(
        log.contains(&format!("{pf_qid}: client=")),
        "{pf_qid} not in Postfix's log:\n{log}"
    );
}
