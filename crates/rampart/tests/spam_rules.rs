//! AL-1.2 content rules end to end: a real `rampart serve`, mail over SMTP, the verdict read
//! back with `rampart trace` and `rampart quarantine show`. The default rules are built into the
//! binary; the administrator's rule file is given in `[checks.spam] rule_files`.

use crate::common;

use common::*;
use rampart_testdns::TestDns;

/// CRLF line endings, as SMTP carries them.
fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// The date as mail clients write it (the rules penalise dates far from now).
fn now_date() -> String {
    let out = std::process::Command::new("date")
        .args(["-R", "-u"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The message id at the start of a `mailbox list` line.
fn first_field(line: &str) -> &str {
    line.split('\t').next().unwrap_or(line)
}

/// The queue id from "250 2.0.0 Ok: queued as ID".
fn queue_id(text: &str) -> String {
    text.rsplit(' ').next().unwrap().to_string()
}

/// The trace line of the checks on one transaction (a session's trace holds its other
/// transactions too).
fn checks_line(s: &Server, qid: &str) -> String {
    let t = wait_trace(s, &["trace", "--queue-id", qid], &format!("queue={qid} "));
    let tag = format!("[queue={qid} ");
    for _ in 0..200 {
        let t = cli(&s.config, &["trace", "--queue-id", qid], None);
        if let Some(l) = t
            .lines()
            .find(|l| l.contains("  checks  ") && l.contains(&tag))
        {
            return l.to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("no checks line for {qid}:\n{t}");
}

/// The spam score in a checks line: the number after "AL-1.2: score ".
fn spam_score(trace: &str) -> f32 {
    let at = trace
        .find("AL-1.2: score ")
        .expect("a spam verdict in the trace")
        + 14;
    let end = trace[at..]
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .map_or(trace.len(), |e| at + e);
    trace[at..end].parse().unwrap()
}

fn server(rules: &std::path::Path) -> Server {
    Server::start_with(Options {
        checks: Some(format!(
            "disabled = [\"antivirus\"]\n[checks.spam]\nrule_files = [\"{}\"]\n",
            rules.display()
        )),
        limits: "max_errors = 100".into(),
        ..Default::default()
    })
}

const ISSUE_SPAM: &str = "From: \"Best Offers\" <offers@cheap-meds.example>
To: <alice@example.test>
Subject: CHEAP V1AGRA - LOTTERY WINNER
Date: DATE
Message-ID: <lottery-1@cheap-meds.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

You are a lottery winner! Claim your prize at our office.
We also sell v1agra without prescription at the best price.
";

const BUSINESS: &str = "From: Ann Baker <ann.baker@partner.example>
To: Alice <alice@example.test>
Subject: Re: Q3 maintenance contract - invoice and next steps
Date: DATE
Message-ID: <CAF7.4411@mail.partner.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hi Alice,

Thanks for the call yesterday. As agreed, the invoice for the third quarter is on the
portal; payment terms are 30 days as in the contract. Please let me know if the purchase
order number needs to change, so that we can reissue it before month end.

The schedule is at https://portal.partner.example/projects/schedule and the minutes of
our meeting are in the shared folder.

Best regards,
Ann Baker
";

const PHISH: &str = "From: \"PayPal Service\" <service@paypa1-secure.example>
To: <alice@example.test>
Subject: Your account has been limited
Date: DATE
Message-ID: <a1b2c3@paypa1-secure.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"b1\"

--b1
Content-Type: text/html; charset=utf-8

<html><body><p>Hello,</p>
<p>We noticed a login to your account from a new device and limited some features until
you review it. You can review the activity on our website at any time, or open the attached
form to restore full access to your account and payments.</p>
<p><a href=\"http://paypa1-secure.example/review\">https://www.paypal.com/myaccount</a></p>
<p>Thank you for being a customer.</p></body></html>
--b1
Content-Type: text/html; name=\"Restore-Access.html\"
Content-Disposition: attachment; filename=\"Restore-Access.html\"

<html><body><form action=\"http://paypa1-secure.example/collect.php\" method=\"post\">
Email <input type=\"text\" name=\"email\"> Password <input type=\"password\" name=\"pw\">
<input type=\"submit\" value=\"Continue\"></form></body></html>
--b1--
";

#[test]
fn al_1_2_content_rules_end_to_end() {
    let dir = TempDir::new("rules");
    let rules = dir.0.join("local.rules");
    std::fs::write(
        &rules,
        "# The agency's own rule\nbody LOCAL_CODEWORD (?i)\\bproject nightingale\\b\n\
         score LOCAL_CODEWORD 6\ndescribe LOCAL_CODEWORD Mentions the embargoed project\n",
    )
    .unwrap();
    let s = server(&rules);
    let date = now_date();
    let ext = "sender@remote.test";

    // The issue's spam: scored 0 and delivered before content rules; now held.
    let mut c = s.ehlo();
    let (code, text) = c.send_mail(
        ext,
        &["alice@example.test"],
        &crlf(&ISSUE_SPAM.replace("DATE", &date)),
    );
    assert_eq!(code, 250, "{text}");
    let qid = queue_id(&text);
    let t = checks_line(&s, &qid);
    assert!(t.contains("quarantined by spam"), "{t}");
    for r in [
        "SUBJ_OBFUSCATED(",
        "SUBJ_LOTTERY(",
        "BODY_PHARMA(",
        "BODY_OBFUSCATED(",
    ] {
        assert!(t.contains(r), "{r} not in the trace:\n{t}");
    }
    let score = spam_score(&t);
    assert!(
        (10.0..15.0).contains(&score),
        "between quarantine and reject: {score}\n{t}"
    );
    // The quarantine view shows the same rules with their scores.
    let q = cli(&s.config, &["quarantine", "show", &qid], None);
    assert!(q.contains("SUBJ_OBFUSCATED(2.0)"), "{q}");

    // Ordinary business mail: delivered, below the tag threshold, not flagged.
    let (code, text) = c.send_mail(
        ext,
        &["alice@example.test"],
        &crlf(&BUSINESS.replace("DATE", &date)),
    );
    assert_eq!(code, 250, "{text}");
    let t = checks_line(&s, &queue_id(&text));
    assert!(t.contains("accepted"), "{t}");
    let score = spam_score(&t);
    assert!(score < 5.0, "{score}\n{t}");
    let ids = s.wait_mailbox("alice@example.test", 1);
    let delivered = s.show("alice@example.test", first_field(&ids[0]));
    assert!(!delivered.contains("X-Spam-Flag"), "{delivered}");

    // The administrator's rule fires and tags.
    let own = BUSINESS
        .replace("DATE", &date)
        .replace("CAF7.4411", "CAF7.4412")
        .replace(
            "Thanks for the call yesterday.",
            "About Project Nightingale, as discussed.",
        );
    let (code, text) = c.send_mail(ext, &["alice@example.test"], &crlf(&own));
    assert_eq!(code, 250, "{text}");
    let t = checks_line(&s, &queue_id(&text));
    assert!(t.contains("accepted"), "{t}");
    assert!(t.contains("LOCAL_CODEWORD(6.0)"), "{t}");
    assert!(t.contains("spam=tag"), "{t}");
    let ids = s.wait_mailbox("alice@example.test", 2);
    let tagged: Vec<String> = ids
        .iter()
        .map(|line| s.show("alice@example.test", first_field(line)))
        .collect();
    assert!(
        tagged
            .iter()
            .any(|m| m.contains("X-Spam-Flag: YES") && m.contains("Nightingale")),
        "{tagged:?}"
    );

    // Phishing: a login-form attachment, a link showing paypal.com that leads elsewhere, a
    // PayPal look-alike sender.
    let (code, text) = c.send_mail(
        ext,
        &["alice@example.test"],
        &crlf(&PHISH.replace("DATE", &date)),
    );
    assert_eq!(code, 250, "{text}");
    let qid = queue_id(&text);
    let t = checks_line(&s, &qid);
    assert!(t.contains("quarantined by spam"), "{t}");
    for r in [
        "html_form",
        "mismatched_link",
        "LOGIN_FORM_ATTACHMENT(",
        "BRAND_LOOKALIKE(",
        "PHISH_COMBINED(",
    ] {
        assert!(t.contains(r), "{r} not in the trace:\n{t}");
    }
    let q = cli(&s.config, &["quarantine", "list"], None);
    assert!(q.contains(&qid), "{q}");
}

#[test]
fn al_1_2_bad_rule_file_is_a_configuration_error() {
    let dir = TempDir::new("badrules");
    let rules = dir.0.join("broken.rules");
    std::fs::write(
        &rules,
        "# ok\nbody FINE (?i)hello\n\nbody BROKEN (unclosed\n",
    )
    .unwrap();
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mx.a.example\"\ndata_dir = \"data\"\n[checks.spam]\nrule_files = [\"{}\"]\n",
            rules.display()
        ),
    )
    .unwrap();
    let out = cli_raw(&config, &["config", "check"], None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("checks.spam.rule_files[0]"), "{text}");
    assert!(
        text.contains(&format!(
            "{}:4: rule BROKEN: not a valid regular expression",
            rules.display()
        )),
        "{text}"
    );
}

/// An allow list as rules: a sender's mail loses points only when its From domain is
/// authenticated (`from_authenticated`), so a forged From earns nothing; a block rule by
/// address refuses. SPF answered by a DNS server started here.
#[test]
fn al_1_2_allow_rules_hold_only_for_authenticated_senders() {
    let dns = TestDns::builder()
        .txt("partner.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt("_dmarc.partner.test", "v=DMARC1; p=none")
        .txt("friend.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt("other.test", "v=spf1 ip4:127.0.0.1 -all")
        .start();
    let dir = TempDir::new("allow");
    let rules = dir.0.join("local.rules");
    std::fs::write(
        &rules,
        "header   __TRUSTED_FROM addr From =~ @(partner|friend)\\.test$\n\
         check    __FROM_AUTH    from_authenticated\n\
         meta     TRUSTED_SENDER __TRUSTED_FROM && __FROM_AUTH\n\
         score    TRUSTED_SENDER -10\n\
         header   BLOCKED_SENDER addr From =~ @blocked\\.test$\n\
         score    BLOCKED_SENDER 20\n",
    )
    .unwrap();
    let s = Server::start_with(Options {
        top: format!("[dns]\nservers = [\"{}\"]\ntimeout_secs = 1\n", dns.addr()),
        checks: Some(format!(
            "disabled = [\"antivirus\"]\n[checks.spam]\nrule_files = [\"{}\"]\n",
            rules.display()
        )),
        limits: "max_errors = 100".into(),
        ..Default::default()
    });
    let date = now_date();
    let spam_from = |domain: &str, n: u32| {
        crlf(
            &ISSUE_SPAM
                .replace("DATE", &date)
                .replace("offers@cheap-meds.example", &format!("offers@{domain}"))
                .replace("lottery-1@", &format!("lottery-{n}@")),
        )
    };
    let mut c = s.ehlo();

    // Authenticated through DMARC (SPF aligned, the domain publishes a record), and without a
    // record (SPF pass for the From domain itself): the allow rule takes the score under the
    // tag line, and the trace shows it.
    for (n, domain) in [(1, "partner.test"), (2, "friend.test")] {
        let (code, text) = c.send_mail(
            &format!("bounces@{domain}"),
            &["alice@example.test"],
            &spam_from(domain, n),
        );
        assert_eq!(code, 250, "{text}");
        let t = checks_line(&s, &queue_id(&text));
        assert!(t.contains("TRUSTED_SENDER(-10.0)"), "{domain}: {t}");
        assert!(t.contains("accepted"), "{domain}: {t}");
        assert!(spam_score(&t) < 5.0, "{domain}: {t}");
    }

    // The same From, sent from elsewhere: SPF passes for other.test, which is not the From
    // domain, so nothing vouches for the From and the message is held as before.
    let (code, text) = c.send_mail(
        "bounces@other.test",
        &["alice@example.test"],
        &spam_from("friend.test", 3),
    );
    assert_eq!(code, 250, "{text}");
    let t = checks_line(&s, &queue_id(&text));
    assert!(!t.contains("TRUSTED_SENDER"), "{t}");
    assert!(t.contains("quarantined by spam"), "{t}");

    // A blocked address is refused whatever else the message is.
    let (code, text) = c.send_mail(
        "ann@blocked.test",
        &["alice@example.test"],
        &crlf(
            &BUSINESS
                .replace("DATE", &date)
                .replace("ann.baker@partner.example", "ann@blocked.test"),
        ),
    );
    assert!((500..600).contains(&code), "{code} {text}");
    assert!(text.contains("5.7."), "{text}");
}
