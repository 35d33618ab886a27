//! DMARC aggregate reports (AL-2.3, RFC 7489 section 7.2): a day of inbound mail from several
//! domains, through a real `rampart serve` and a DNS server the test starts, makes one report
//! per domain whose record has `rua` and agrees to it, read by parsedmarc (an independent
//! implementation, run offline) with the right counts; reports about our own domain sent in by
//! SMTP are parsed, stored and shown with the failing sources.

use crate::common;

use common::*;
use rampart_testdns::TestDns;
use std::time::Duration;

fn zone() -> TestDns {
    TestDns::builder()
        // Passes: SPF from 127.0.0.1, aligned.
        .txt("pass.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt(
            "_dmarc.pass.test",
            "v=DMARC1; p=none; rua=mailto:bob@example.test",
        )
        .txt("pass.test._report._dmarc.example.test", "v=DMARC1")
        // Fails SPF; its DKIM signature does not verify either.
        .txt("spffail.test", "v=spf1 -all")
        .txt(
            "_dmarc.spffail.test",
            "v=DMARC1; p=none; rua=mailto:bob@example.test",
        )
        .txt("spffail.test._report._dmarc.example.test", "v=DMARC1")
        // A rua in example.test that example.test never agreed to (RFC 7489 section 7.1).
        .txt("unverified.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt(
            "_dmarc.unverified.test",
            "v=DMARC1; p=none; rua=mailto:bob@example.test",
        )
        .start()
}

fn server(dns: &TestDns, extra: &str) -> Server {
    Server::start_with(Options {
        top: format!(
            "[dns]\nservers = [\"{}\"]\ntimeout_secs = 1\n\n[dmarc_reports]\nfrom = \"dmarc-reports@example.test\"\norganization = \"Rampart Test\"\n{extra}",
            dns.addr()
        ),
        limits: "max_errors = 50".into(),
        checks: Some("disabled = [\"antivirus\"]\n[checks.authentication]\ndns_timeout_ms = 500\ncheck_timeout_secs = 3".into()),
        ..Default::default()
    })
}

fn mail(c: &mut Client, mail_from: &str, from: &str, n: usize, extra_headers: &str) {
    let body = format!(
        "{extra_headers}From: <{from}>\r\nTo: alice@example.test\r\nSubject: hello {n}\r\nMessage-ID: <{n}.{from}>\r\n\r\nhello\r\n"
    );
    let (code, text) = c.send_mail(mail_from, &["alice@example.test"], &body);
    assert_eq!(code, 250, "{from}: {text}");
}

/// Polls `f` (bounded) until it returns Some.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..1200 {
        if let Some(t) = f() {
            return t;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{what} never happened");
}

#[test]
fn al_2_3_a_day_of_mail_makes_one_report_per_domain_that_parsedmarc_reads() {
    let dns = zone();
    let s = server(&dns, "");
    let mut c = s.ehlo();
    mail(&mut c, "a@pass.test", "a@pass.test", 1, "");
    mail(&mut c, "b@pass.test", "b@pass.test", 2, "");
    // SPF fails, and the signature's key does not exist: DMARC fails (p=none: delivered).
    let bad_sig = "DKIM-Signature: v=1; a=rsa-sha256; d=spffail.test; s=sel; c=relaxed/relaxed; h=from; bh=AAAA; b=AAAA\r\n";
    mail(&mut c, "x@spffail.test", "x@spffail.test", 3, bad_sig);
    // SPF passes for pass.test, which is not the From domain: not aligned.
    mail(&mut c, "y@pass.test", "y@spffail.test", 4, "");
    mail(&mut c, "u@unverified.test", "u@unverified.test", 5, "");
    s.wait_mailbox("alice@example.test", 5);

    // AL-2.3: the schedule's code path, run now.
    let sent = cli_raw(&s.config, &["report", "dmarc", "--send-now"], None);
    let (out, notes) = (
        String::from_utf8_lossy(&sent.stdout),
        String::from_utf8_lossy(&sent.stderr),
    );
    assert_eq!(out.trim(), "2 DMARC report(s) queued", "{out}{notes}");
    // RFC 7489 section 7.1: unverified.test's rua in example.test was never agreed to.
    assert!(
        notes.contains("unverified.test: not sent to bob@example.test: example.test does not publish unverified.test._report._dmarc.example.test"),
        "{notes}"
    );
    let ids: Vec<String> = wait_for("two reports delivered to bob", || {
        let m = s.mailbox("bob@example.test");
        (m.len() >= 2).then_some(m)
    })
    .iter()
    .map(|l| l.split('\t').next().unwrap().to_string())
    .collect();
    let script = r#"
import sys, parsedmarc
for path in sys.argv[1:]:
    r = parsedmarc.parse_report_email(open(path, "rb").read(), offline=True)
    rep = r["report"]
    print(r["report_type"], rep["policy_published"]["domain"], rep["report_metadata"]["org_name"])
    for rec in sorted(rep["records"], key=lambda x: (x["identifiers"]["header_from"], x["identifiers"]["envelope_from"] or "")):
        pe = rec["policy_evaluated"]
        print(" ", rec["source"]["ip_address"], rec["count"], rec["identifiers"]["header_from"],
              rec["identifiers"]["envelope_from"], pe["disposition"], "dkim=" + pe["dkim"], "spf=" + pe["spf"])
"#;
    let mut paths = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let p = s.dir.0.join(format!("report{i}.eml"));
        std::fs::write(&p, s.show("bob@example.test", id)).unwrap();
        paths.push(p.to_str().unwrap().to_string());
    }
    let args: Vec<&str> = paths.iter().map(String::as_str).collect();
    let out = String::from_utf8(python(script, &args).stdout).unwrap();
    let mut blocks: Vec<&str> = out.split("aggregate ").filter(|b| !b.is_empty()).collect();
    blocks.sort();
    assert_eq!(blocks.len(), 2, "{out}");
    assert_eq!(
        blocks[0].trim_end(),
        "pass.test Rampart Test\n  127.0.0.1 2 pass.test pass.test none dkim=fail spf=pass",
        "{out}"
    );
    assert_eq!(
        blocks[1].trim_end(),
        "spffail.test Rampart Test\n  127.0.0.1 1 spffail.test pass.test none dkim=fail spf=fail\n  127.0.0.1 1 spffail.test spffail.test none dkim=fail spf=fail",
        "{out}"
    );
    // Nor did a report about it arrive.
    assert!(!out.contains("unverified.test"), "{out}");
    // Reported evaluations are forgotten: a second run (or a restart) sends nothing again.
    let again = cli(&s.config, &["report", "dmarc", "--send-now"], None);
    assert_eq!(again.trim(), "0 DMARC report(s) queued", "{again}");
}

#[test]
fn al_2_3_a_report_about_our_domain_is_taken_in_and_shows_failing_sources() {
    use rampart_queue::dmarc_report::send::{build, message, Submitter};
    use rampart_store::DmarcEvaluation;
    let dns = TestDns::builder().start();
    let s = server(&dns, "address = \"bob@example.test\"\n");
    let eval = |ip: &str, aligned: &str| DmarcEvaluation {
        id: 0,
        at: 1_700_000_000_000_000,
        domain: "example.test".into(),
        source_ip: ip.into(),
        header_from: "example.test".into(),
        envelope_from: "example.test".into(),
        envelope_to: "remote.test".into(),
        spf_domain: "example.test".into(),
        spf_scope: "mfrom".into(),
        spf_result: if aligned == "pass" { "pass" } else { "fail" }.into(),
        dkim: Vec::new(),
        spf_aligned: aligned.into(),
        dkim_aligned: aligned.into(),
        disposition: if aligned == "pass" { "none" } else { "reject" }.into(),
        policy: "reject".into(),
        published: "p=reject; adkim=r; aspf=r; t=n".into(),
        rua: Vec::new(),
    };
    let evals = [
        eval("192.0.2.10", "pass"),
        eval("192.0.2.10", "pass"),
        eval("192.0.2.10", "pass"),
        eval("198.51.100.7", "fail"),
        eval("198.51.100.7", "fail"),
    ];
    let reporter = Submitter {
        organization: "Remote Receiver".into(),
        domain: "remote.test".into(),
        from: "reports@remote.test".into(),
    };
    let out = build(&evals, &reporter, 1_700_086_399).remove(0);
    let good = String::from_utf8(message(&out, &reporter, "bob@example.test")).unwrap();
    // A report that is not one: ignored (and logged), never a failure of the server.
    let bad = "From: reports@remote.test\r\nTo: bob@example.test\r\nDate: Thu, 3 Dec 2026 10:00:00 +0000\r\nMessage-ID: <bad.1@remote.test>\r\nSubject: Report Domain: example.test\r\nMIME-Version: 1.0\r\nContent-Type: application/gzip; name=\"x!example.test!1!2.xml.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\nbm90IGd6aXA=\r\n";
    let mut c = s.ehlo();
    for m in [bad, good.as_str()] {
        let (code, text) = c.send_mail("reports@remote.test", &["bob@example.test"], m);
        assert_eq!(code, 250, "{text}");
    }
    let json = wait_for("the report shown", || {
        let j = cli(&s.config, &["report", "dmarc", "--json"], None);
        (!j.is_empty()).then_some(j)
    });
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{json}");
    // The failing source first: it sends as example.test and aligns neither SPF nor DKIM.
    assert_eq!(lines[0]["source_ip"], "198.51.100.7", "{json}");
    assert_eq!(lines[0]["reporter"], "Remote Receiver", "{json}");
    assert_eq!(lines[0]["count"], 2, "{json}");
    assert_eq!(lines[0]["spf_alignment_failures"], 2, "{json}");
    assert_eq!(lines[0]["dkim_alignment_failures"], 2, "{json}");
    assert_eq!(lines[0]["dispositions"]["reject"], 2, "{json}");
    assert_eq!(lines[1]["source_ip"], "192.0.2.10", "{json}");
    assert_eq!(lines[1]["count"], 3, "{json}");
    assert_eq!(lines[1]["spf_alignment_failures"], 0, "{json}");
    let text = cli(
        &s.config,
        &["report", "dmarc", "--domain", "example.test"],
        None,
    );
    assert!(
        text.contains("FAIL example.test  198.51.100.7  by Remote Receiver: 2 message(s), SPF not aligned 2, DKIM not aligned 2; reject 2"),
        "{text}"
    );
    assert!(text.starts_with("1 report(s) received"), "{text}");
    // Both messages were delivered to the mailbox as well.
    s.wait_mailbox("bob@example.test", 2);
}
