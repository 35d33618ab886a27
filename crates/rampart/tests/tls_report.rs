//! TLS reporting (RFC 8460): the report of a day's outbound outcomes read by parsedmarc (an
//! independent implementation, run offline) with the counts the deliveries made; and reports
//! other senders make about our domains taken in at the configured address and shown by
//! `rampart report tls`.

use crate::common;
use crate::sts;

use common::*;
use sts::*;

/// Two deliveries under an MTA-STS testing policy to an MX whose certificate names another
/// host, one to a domain without a policy: the report parsedmarc reads counts two
/// certificate-host-mismatch failures for remote.test.
#[test]
fn rfc8460_a_day_of_outcomes_parses_with_parsedmarc_and_its_counts_match() {
    let dns = dns("mx.remote.test", "1");
    let policy = PolicyServer::start(Answer::policy("testing", "mx.remote.test"));
    let r = receiver(&dns);
    let s = sender(&dns, &r, &policy, "");
    for (i, id) in ["rpt1", "rpt2"].iter().enumerate() {
        let qid = submit(&s, id);
        // One at a time: each is a session of its own.
        r.wait_mailbox("carol@remote.test", i + 1);
        wait_trace(&s, &["trace", "--queue-id", &qid], "relayed");
    }
    let out = cli(
        &s.config,
        &["report", "tls", "--outgoing", "--domain", "remote.test"],
        None,
    );
    let file = s.dir.0.join("report.json");
    std::fs::write(&file, out.lines().next().expect("a report")).unwrap();
    let script = r#"
import sys, json, parsedmarc
r = parsedmarc.parse_report_file(sys.argv[1], offline=True)
print(r["report_type"])
rep = r["report"]
for p in rep["policies"]:
    print(p["policy_domain"], p["policy_type"], p["successful_session_count"], p["failed_session_count"])
    for f in p.get("failure_details", []):
        print(" ", f["result_type"], f["failed_session_count"], f.get("receiving_mx_hostname"))
"#;
    let out = python(script, &[file.to_str().unwrap()]);
    let out = String::from_utf8(out.stdout).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("smtp_tls"), "{out}");
    assert_eq!(lines.next(), Some("remote.test sts 0 2"), "{out}");
    assert_eq!(
        lines.next(),
        Some("  certificate-host-mismatch 2 mx.remote.test"),
        "{out}"
    );
}

/// A TLS report arriving at `tls_reports_address` is parsed, stored and shown; the message is
/// delivered to the mailbox as well.
#[test]
fn rfc8460_reports_about_our_domains_are_taken_in_and_shown() {
    use rampart_queue::tls_report::send::{build, message, Submitter};
    let s = Server::start_with(Options {
        top: "[delivery]\ntls_reports_address = \"bob@example.test\"\n".into(),
        ..Default::default()
    });
    let count = |result: &str, n: u64| rampart_store::TlsOutcomeCount {
        day: 20_000,
        policy_domain: "example.test".into(),
        policy_type: "sts".into(),
        policy_strings: "version: STSv1\nmode: enforce\nmx: mail.example.test\nmax_age: 86400"
            .into(),
        mx_host: "mail.example.test".into(),
        result_type: result.into(),
        receiving_ip: "127.0.0.1".into(),
        reason: String::new(),
        count: n,
    };
    let submitter = Submitter {
        organization: "Remote Reporter".into(),
        domain: "remote.test".into(),
        contact: "reports@remote.test".into(),
    };
    let counts = [count("success", 5), count("starttls-not-supported", 2)];
    let (_, domain, report) = build(&counts, &submitter).remove(0);
    let msg = message(&report, &domain, &submitter, &["bob@example.test"]);
    let mut c = s.ehlo();
    let (code, text) = c.send_mail(
        "reports@remote.test",
        &["bob@example.test"],
        &String::from_utf8(msg).unwrap(),
    );
    assert_eq!(code, 250, "{text}");
    s.wait_mailbox("bob@example.test", 1);
    let mut shown = String::new();
    // The queue manager looks at the mailbox when it wakes (at the latest every 5 s).
    for _ in 0..600 {
        shown = cli(&s.config, &["report", "tls"], None);
        if !shown.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(
        shown.contains("from Remote Reporter (reports@remote.test)"),
        "{shown}"
    );
    assert!(
        shown.contains("example.test sts: 5 successful, 2 failed"),
        "{shown}"
    );
    assert!(
        shown.contains("starttls-not-supported x2 mx mail.example.test"),
        "{shown}"
    );
    let json = cli(&s.config, &["report", "tls", "--json"], None);
    assert!(json.contains(&report.report_id), "{json}");
}
