//! AL-1.2 with Rspamd as the second engine, for real: Debian's `rspamd` started by the test on
//! loopback with a private configuration (common/rspamd.rs: no network checks, no Redis), a real
//! `rampart serve` with `[checks.spam.rspamd]` pointing at it, mail over SMTP, the verdict read
//! back with `rampart trace`, `rampart quarantine` and `rampart audit`. Then Rspamd is stopped:
//! `fail = "closed"` answers 451 4.7.1, `fail = "open"` delivers with a note, and the audit
//! reports the fail mode and that /ping is not answered.

use crate::common;

use common::rspamd::{checkv2, Rspamd};
use common::*;

/// CRLF line endings, as SMTP carries them.
fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// The date as mail clients write it (the content rules penalise dates far from now).
fn now_date() -> String {
    let out = std::process::Command::new("date")
        .args(["-R", "-u"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The queue id from "250 2.0.0 Ok: queued as ID".
fn queue_id(text: &str) -> String {
    text.rsplit(' ').next().unwrap().to_string()
}

/// The trace's checks line of `rampart trace ARGS` that contains `needle`, once written.
fn checks_line(s: &Server, args: &[&str], needle: &str) -> String {
    let mut t = String::new();
    for _ in 0..200 {
        t = cli(&s.config, args, None);
        if let Some(l) = t
            .lines()
            .find(|l| l.contains("  checks  ") && l.contains(needle))
        {
            return l.to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("no checks line with `{needle}` in `rampart {args:?}`:\n{t}");
}

/// Refused mail has no queue id to ask for: its checks line is found by the client address.
const BY_CLIENT: &[&str] = &["trace", "--client", "127.0.0.1"];

/// Rspamd's test pattern (GTUBE), assembled at run time.
fn gtube() -> String {
    format!(
        "XJS*C4JDBQADN1.NSBN3*2IDNEN*{}*C.34X",
        "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL"
    )
}

fn message(id: &str, subject: &str, body: &str) -> String {
    crlf(&format!(
        "From: Ann Baker <ann.baker@partner.example>\nTo: Alice <alice@example.test>\n\
         Subject: {subject}\nDate: {}\nMessage-ID: <{id}@partner.example>\nMIME-Version: 1.0\n\
         Content-Type: text/plain; charset=utf-8\n\n{body}\n",
        now_date()
    ))
}

const CLEAN_BODY: &str = "Hi Alice,\n\nthe minutes of Tuesday's meeting are in the shared folder; \
                          the next meeting is on Thursday at ten.\n\nBest regards,\nAnn";

fn server(rspamd_url: &str, rspamd: &str, spam: &str) -> Server {
    Server::start_with(Options {
        checks: Some(format!(
            "disabled = [\"antivirus\"]\n[checks.spam]\n{spam}\n[checks.spam.rspamd]\n\
             url = \"{rspamd_url}\"\ntimeout = 20\n{rspamd}\n"
        )),
        limits: "max_errors = 100".into(),
        ..Default::default()
    })
}

fn audit_json(config: &std::path::Path) -> serde_json::Value {
    let out = cli_raw(config, &["audit", "--json"], None);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// AL-1.2's finding named `check`: (status, evidence, remedy).
fn al_1_2_finding(report: &serde_json::Value, check: &str) -> (String, String, String) {
    let c = report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "AL-1.2")
        .expect("AL-1.2 in the report");
    let f = c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no AL-1.2 finding {check}: {c}"));
    let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
    (s("status"), s("evidence"), s("remedy"))
}

#[test]
fn al_1_2_rspamd_joins_the_verdict_and_fails_closed_or_open() {
    let mut rs = Rspamd::start();
    // The test's own view first: this Rspamd knows GTUBE and scores it at its reject score.
    let direct = checkv2(rs.addr, message("direct", "x", &gtube()).as_bytes());
    assert!(direct["symbols"]["GTUBE"].is_object(), "{direct}");
    let gtube_score = direct["score"].as_f64().unwrap();
    assert!(gtube_score >= 15.0, "{direct}");

    // Server A: fail closed, Rspamd's score as it is, the default thresholds (tag 5,
    // quarantine 10, reject 15). Server B: fail open, Rspamd's score weighted 0.7.
    let a = server(&rs.url(), "fail = \"closed\"", "");
    let b = server(&rs.url(), "fail = \"open\"\nweight = 0.7", "");
    let ext = "ann.baker@partner.example";

    // GTUBE at A: Rspamd's score reaches the reject threshold: 554 5.7.1 at the end of DATA,
    // with Rspamd's symbol in the trace.
    let mut c = a.ehlo();
    let (code, text) = c.send_mail(
        ext,
        &["alice@example.test"],
        &message("gtube-a", "Test pattern", &gtube()),
    );
    assert_eq!(code, 554, "{text}");
    assert!(text.starts_with("5.7.1"), "{text}");
    let t = checks_line(&a, BY_CLIENT, "refused by spam: 554");
    assert!(t.contains("GTUBE("), "Rspamd's symbol in the trace: {t}");
    assert!(
        t.contains(&format!("rspamd +{gtube_score:.1}")),
        "Rspamd's score in the trace: {t}"
    );

    // A clean message at A: delivered, Rspamd's (low) score in the trace.
    let clean = message("clean-a", "Minutes of Tuesday's meeting", CLEAN_BODY);
    let direct = checkv2(rs.addr, clean.as_bytes());
    assert!(direct["score"].as_f64().unwrap() < 5.0, "{direct}");
    let (code, text) = c.send_mail(ext, &["alice@example.test"], &clean);
    assert_eq!(code, 250, "{text}");
    let qid = queue_id(&text);
    let t = checks_line(&a, &["trace", "--queue-id", &qid], "accepted");
    assert!(
        t.contains("Rspamd score "),
        "Rspamd's answer in the trace: {t}"
    );
    assert!(
        t.contains("MIME_GOOD("),
        "Rspamd's symbols in the trace: {t}"
    );
    s_wait_delivered(&a, 1);

    // GTUBE at B: 0.7 × Rspamd's score is between quarantine and reject: held, and the
    // quarantine view shows Rspamd's symbols.
    let mut cb = b.ehlo();
    let (code, text) = cb.send_mail(
        ext,
        &["alice@example.test"],
        &message("gtube-b", "Test pattern", &gtube()),
    );
    assert_eq!(code, 250, "{text}");
    let qid = queue_id(&text);
    let t = checks_line(&b, &["trace", "--queue-id", &qid], "quarantined by spam");
    assert!(
        t.contains(&format!("rspamd +{:.1}", gtube_score * 0.7)),
        "weighted: {t}"
    );
    let q = cli(&b.config, &["quarantine", "show", &qid], None);
    assert!(q.contains("GTUBE("), "{q}");

    // The audit, Rspamd up: A's fail mode passes, B's warns naming the key; both answer.
    let ra = audit_json(&a.config);
    let (status, evidence, _) = al_1_2_finding(&ra, "checks.spam.rspamd.fail");
    assert_eq!(status, "pass", "{evidence}");
    let (status, evidence, _) = al_1_2_finding(&ra, "rspamd");
    assert_eq!(status, "pass", "{evidence}");
    assert!(evidence.contains("answers /ping"), "{evidence}");
    let rb = audit_json(&b.config);
    let (status, evidence, remedy) = al_1_2_finding(&rb, "checks.spam.rspamd.fail");
    assert_eq!(status, "warn", "{evidence}");
    assert!(evidence.contains("fail = \"open\""), "{evidence}");
    assert_eq!(remedy, "set [checks.spam.rspamd] fail = \"closed\"");

    // Rspamd stopped.
    rs.stop();

    // A (closed): 451 4.7.1, the sender retries later; the trace says why.
    let (code, text) = c.send_mail(
        ext,
        &["alice@example.test"],
        &message("down-a", "Minutes again", CLEAN_BODY),
    );
    assert_eq!(code, 451, "{text}");
    assert!(text.starts_with("4.7.1"), "{text}");
    let t = checks_line(&a, BY_CLIENT, "refused by spam: 451");
    assert!(t.contains("fail = closed"), "{t}");

    // B (open): delivered, scored by Rampart alone, with the note.
    let (code, text) = cb.send_mail(
        ext,
        &["alice@example.test"],
        &message("down-b", "Minutes again", CLEAN_BODY),
    );
    assert_eq!(code, 250, "{text}");
    let qid = queue_id(&text);
    let t = checks_line(&b, &["trace", "--queue-id", &qid], "accepted");
    assert!(t.contains("continued without Rspamd (fail = open)"), "{t}");
    s_wait_delivered(&b, 1);

    // The audit, Rspamd down: /ping is not answered, a fail on both.
    for s in [&a, &b] {
        let r = audit_json(&s.config);
        let (status, evidence, remedy) = al_1_2_finding(&r, "rspamd");
        assert_eq!(status, "fail", "{evidence}");
        assert!(evidence.contains("does not answer /ping"), "{evidence}");
        assert!(remedy.contains("[checks.spam.rspamd] url"), "{remedy}");
    }
}

/// Waits until alice has `n` messages in the mailbox (delivery is asynchronous).
fn s_wait_delivered(s: &Server, n: usize) {
    let ids = s.wait_mailbox("alice@example.test", n);
    assert_eq!(ids.len(), n, "{ids:?}");
}
