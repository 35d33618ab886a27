//! The system report (AL-3.2) against a real `rampart serve`: a known mix of mail goes in over
//! SMTP (accepted, an unknown user, a relay attempt, EICAR quarantined by a real clamd, a failed
//! AUTH); the numbers of `rampart report summary --json` are then recounted here, independently,
//! from `rampart trace --json`. The scheduled report of the day before arrives at start, and
//! `--send` mails today's once, as multipart/alternative with an SVG chart and no external URL.

use crate::common;

use crate::clamd;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn eicar_message() -> String {
    format!(
        "From: <virus@bad.test>\r\nTo: <alice@example.test>\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"eicar.txt\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        b64(&clamd::eicar())
    )
}

/// The count of `name` in a summary's top list.
fn in_list(list: &Value, name: &str) -> u64 {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .map(|c| c["count"].as_u64().unwrap())
        .unwrap_or(0)
}

/// What the test counts itself from the trace, one event at a time.
#[derive(Default, Debug, PartialEq)]
struct Recount {
    inbound: u64,
    submitted: u64,
    generated: u64,
    accepted: u64,
    quarantined_by_checks: u64,
    refused_by_checks: u64,
    rcpt_refused: u64,
    auth_failed: u64,
    auth_by_account: BTreeMap<String, u64>,
    auth_by_address: BTreeMap<String, u64>,
    held: u64,
    released: u64,
    delivered: u64,
    sessions: u64,
    tls_in: BTreeMap<String, u64>,
    antivirus: BTreeMap<String, u64>,
    blocked_senders: BTreeMap<String, u64>,
}

fn recount(trace: &str) -> Recount {
    let mut r = Recount::default();
    for line in trace.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let (event, detail) = (e["event"].as_str().unwrap(), e["detail"].as_str().unwrap());
        let sender = e["sender"].as_str().map(|s| {
            if s.is_empty() {
                "<>".to_string()
            } else {
                s.to_lowercase()
            }
        });
        let has_session = !e["session"].is_null();
        match event {
            "queued" if !has_session => r.generated += 1,
            "queued" if detail.contains("authenticated as") => r.submitted += 1,
            "queued" => r.inbound += 1,
            "checks" => {
                let blocked = if detail.starts_with("accepted") {
                    r.accepted += 1;
                    false
                } else if detail.starts_with("quarantined") {
                    r.quarantined_by_checks += 1;
                    true
                } else {
                    r.refused_by_checks += 1;
                    true
                };
                if blocked {
                    *r.blocked_senders
                        .entry(sender.clone().unwrap())
                        .or_default() += 1;
                }
                // The antivirus verdict, as the trace words it: `antivirus=ACTION (`.
                if let Some(i) = detail.find("antivirus=") {
                    let action = detail[i + 10..].split([' ', '(']).next().unwrap();
                    *r.antivirus.entry(action.to_string()).or_default() += 1;
                }
            }
            "rcpt" if detail.contains(" refused: ") => {
                r.rcpt_refused += 1;
                *r.blocked_senders
                    .entry(sender.clone().unwrap())
                    .or_default() += 1;
            }
            "auth" if detail.starts_with("failed for ") => {
                r.auth_failed += 1;
                let account = detail["failed for ".len()..].split(';').next().unwrap();
                *r.auth_by_account.entry(account.to_lowercase()).or_default() += 1;
                let client = e["client"].as_str().unwrap().to_string();
                *r.auth_by_address.entry(client).or_default() += 1;
            }
            "quarantined" => r.held += 1,
            "released" => r.released += 1,
            "delivered" => r.delivered += 1,
            "connect" if has_session => r.sessions += 1,
            "tls" if !detail.starts_with("handshake") => {
                let v = detail.split(' ').next().unwrap().to_string();
                *r.tls_in.entry(v).or_default() += 1;
            }
            _ => {}
        }
    }
    r
}

fn from_summary(s: &Value) -> Recount {
    let map = |v: &Value| -> BTreeMap<String, u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let n = |v: &Value| v.as_u64().unwrap();
    Recount {
        inbound: n(&s["volume"]["inbound"]),
        submitted: n(&s["volume"]["submitted"]),
        generated: n(&s["volume"]["generated"]),
        accepted: n(&s["decisions"]["accepted"]),
        quarantined_by_checks: n(&s["decisions"]["quarantined"]),
        refused_by_checks: n(&s["decisions"]["refused"]),
        rcpt_refused: n(&s["refusals"]["recipients"]),
        auth_failed: n(&s["auth_failures"]["failed"]),
        auth_by_account: map(&s["auth_failures"]["by_account"]),
        auth_by_address: map(&s["auth_failures"]["by_address"]),
        held: n(&s["quarantine"]["held"]),
        released: n(&s["quarantine"]["released"]),
        delivered: n(&s["deliveries"]["local"]),
        sessions: n(&s["tls"]["sessions"]),
        tls_in: map(&s["tls"]["inbound"]),
        antivirus: s["verdicts"]["antivirus"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), n(v))).collect())
            .unwrap_or_default(),
        blocked_senders: map(&s["top_blocked_senders"]),
    }
}

#[test]
fn al_3_2_summary_matches_the_trace_and_is_mailed_once() {
    let av = clamd::Clamd::start(&[(
        "test.hdb",
        clamd::hdb_line(&clamd::eicar(), "Eicar-Test-Signature"),
    )]);
    let s = Server::start_with(Options {
        top: "[reports]\ndaily = [\"bob@example.test\"]\n\
              [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n"
            .into(),
        limits: "max_errors = 100".into(),
        checks: Some(format!(
            "disabled = []\n[checks.antivirus]\nclamd = \"{}\"\ntimeout_ms = 20000\non_infected = \"quarantine\"\n\
             [checks.authentication]\ndns_timeout_ms = 500\n",
            av.socket.display()
        )),
        ..Default::default()
    });

    // AL-3.2: the schedule mails the day that ended before the server started, at start.
    let bob = s.wait_mailbox("bob@example.test", 1);
    assert_eq!(bob.len(), 1, "{bob:?}");

    // The mix, over SMTP on the MX listener.
    let mut c = s.ehlo();
    let (code, _) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test"],
        &message("ok1", "hello"),
    );
    assert_eq!(code, 250);
    c.send("MAIL FROM:<spammer@junk.test>");
    c.expect(250);
    c.send("RCPT TO:<nobody@example.test>");
    c.expect(550);
    c.send("RCPT TO:<someone@elsewhere.test>");
    let (code, _) = c.reply().unwrap();
    assert!(code >= 500, "relaying refused, got {code}");
    c.send("RSET");
    c.expect(250);
    let (code, _) = c.send_mail("virus@bad.test", &["alice@example.test"], &eicar_message());
    assert_eq!(code, 250, "EICAR is quarantined, not refused");
    c.send("QUIT");
    c.expect(221);

    // A wrong password on the submission listener.
    let mut a = Client::connect(s.listener("submissions"));
    a.start_tls_now(s.tls_config(&[&rustls::version::TLS13]));
    a.expect(220);
    a.send("EHLO client.test");
    a.expect(250);
    // "\0alice@example.test\0wrong password"
    a.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZyBwYXNzd29yZA==");
    a.expect(535);
    a.send("QUIT");
    a.expect(221);

    s.wait_mailbox("alice@example.test", 1);
    wait_trace(&s, &["trace", "--since", "1d"], "held at receipt");
    wait_trace(
        &s,
        &["trace", "--since", "1d"],
        "failed for alice@example.test",
    );

    // --send: today's report (the period ending at the next midnight) to [reports] daily, once.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let tomorrow = ((secs / 86_400 + 1) * 86_400).to_string();
    let send = [
        "report", "summary", "--period", "day", "--send", "--until", &tomorrow,
    ];
    let out = cli(&s.config, &send, None);
    assert!(out.contains("queued for bob@example.test"), "{out}");
    let again = cli(&s.config, &send, None);
    assert!(again.contains("already sent"), "{again}");
    let bob = s.wait_mailbox("bob@example.test", 2);
    let mail = s.show(
        "bob@example.test",
        bob.last().unwrap().split_whitespace().next().unwrap(),
    );
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(
        mail.contains("text/plain") && mail.contains("text/html"),
        "{mail}"
    );
    assert!(
        mail.contains("System report of mail.example.test: day"),
        "{mail}"
    );
    // Once delivered, nothing more happens: both views read the same events.
    wait_trace(
        &s,
        &["trace", "--since", "1d"],
        "queued for bob@example.test",
    );
    let trace = wait_trace(&s, &["trace", "--since", "1d", "--json"], "\"delivered\"");
    let delivered_bob = |t: &str| {
        t.lines()
            .filter(|l| l.contains("\"delivered\"") && l.contains("bob@example.test"))
            .count()
    };
    let mut trace = trace;
    for _ in 0..200 {
        if delivered_bob(&trace) >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
        trace = cli(&s.config, &["trace", "--since", "1d", "--json"], None);
    }

    let json = cli(
        &s.config,
        &["report", "summary", "--period", "day", "--json"],
        None,
    );
    let summary: Value = serde_json::from_str(&json).unwrap();
    let trace = cli(&s.config, &["trace", "--since", "1d", "--json"], None);
    let mine = recount(&trace);
    // AL-3.2: the report's numbers are the trace's, counted independently.
    assert_eq!(
        from_summary(&summary),
        mine,
        "summary:\n{json}\ntrace:\n{trace}"
    );
    // And the known mix is in them.
    assert_eq!(mine.inbound, 2, "{trace}");
    assert_eq!(mine.quarantined_by_checks, 1);
    assert_eq!(mine.antivirus.get("quarantine"), Some(&1));
    assert!(mine.rcpt_refused >= 2, "{trace}");
    assert_eq!(mine.auth_failed, 1);
    assert_eq!(mine.auth_by_account.get("alice@example.test"), Some(&1));
    assert_eq!(mine.held, 1);
    assert_eq!(
        mine.generated, 2,
        "two reports written by the server: {trace}"
    );
    assert_eq!(
        in_list(&summary["top_blocked_senders"], "spammer@junk.test"),
        2
    );
    assert_eq!(
        in_list(&summary["top_blocked_senders"], "virus@bad.test"),
        1
    );
    assert_eq!(in_list(&summary["tls"]["inbound"], "TLSv1.3"), 1);

    // The HTML: the charts are inline SVG, and nothing is fetched from anywhere.
    let html = cli(&s.config, &["report", "summary", "--html"], None);
    assert!(
        html.contains("<svg") && html.contains("Messages per hour"),
        "{html}"
    );
    assert!(
        !html.contains("http:") && !html.contains("https:"),
        "{html}"
    );
    assert!(!html.contains("src=") && !html.contains("<script") && !html.contains("url("));
    let text = cli(&s.config, &["report", "summary"], None);
    assert!(text.contains("Messages in: 2"), "{text}");
}
