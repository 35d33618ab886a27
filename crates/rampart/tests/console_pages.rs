//! The console's DKIM, audit, allow-list, preview and dashboard pages over HTTPS against a real
//! `rampart serve`, spoken with curl (tests/common/console.rs): the DKIM page asks the test's
//! DNS server what it serves (AL-2.2), the audit runs from the console for an auditor without
//! banning anyone (AL-3.2, NC-2.4.1), allow-list changes need the administrator, the CSRF token
//! and a confirmation (NC-2.4.2), a held message's preview needs a recorded reason and shows
//! nothing that runs or loads (AL-3.1, AL-1.4), and the dashboard's numbers are `rampart report
//! summary --json`'s for the same day (AL-3.2).

use crate::common;

use common::console::{add_admin, by_id, field, Browser};
use common::jmap::start_jmap_with;
use common::{cli, cli_raw, wait_trace, Options, Server};

fn start() -> Server {
    start_jmap_with(Options {
        listener: common::console::ADMIN_LISTENER.into(),
        checks: Some(
            "disabled = [\"antivirus\"]\n[checks.attachments]\non_executable = \"quarantine\"\n"
                .into(),
        ),
        ..Default::default()
    })
}

/// A message with an HTML part that tries to run a script and load a remote image, and an
/// executable attachment: held. Its queue id.
fn quarantine_html(s: &Server) -> String {
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.remote.test");
    c.expect(250);
    let body = "From: <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: tool\r\n\
        Message-ID: <held-html@remote.test>\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
        <p id=x onclick=\"steal()\">hello preview</p><script>alert(1)</script>\
        <img src=\"http://tracker.remote.test/pixel.png\">\r\n\
        --b\r\nContent-Type: application/octet-stream\r\n\
        Content-Disposition: attachment; filename=\"setup.exe\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n--b--\r\n";
    let (code, reply) = c.send_mail("sender@remote.test", &["alice@example.test"], body);
    assert_eq!(code, 250, "{reply}");
    c.send("QUIT");
    let list = cli(&s.config, &["quarantine", "list", "--json"], None);
    let v: serde_json::Value =
        serde_json::from_str(list.lines().next().expect("one held")).unwrap();
    v["queue_id"].as_str().unwrap().to_string()
}

/// The row of the DKIM page's record `name` (type TXT): its class list.
fn record_state(page: &str, name: &str, rtype: &str) -> String {
    let marker = format!("data-name=\"{name}\" data-type=\"{rtype}\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no record {name} {rtype} in {page}"));
    let row_start = page[..at].rfind("<tr class=\"").unwrap();
    page[row_start + 11..at]
        .trim()
        .trim_end_matches('"')
        .to_string()
}

#[test]
fn al_2_2_dkim_page_shows_keys_records_and_what_dns_serves() {
    let s = start();
    let out = cli(
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
    // An RSA key too: its record is longer than one TXT string (255 bytes).
    cli(
        &s.config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "r1",
        ],
        None,
    );
    // The record `rampart dns-records` prints is the one to publish.
    let records = cli(
        &s.config,
        &["dns-records", "--domain", "example.test"],
        None,
    );
    let rsa_line = records
        .lines()
        .find(|l| l.starts_with("r1._domainkey.example.test. IN TXT ("))
        .unwrap_or_else(|| panic!("no split RSA record in {records}"));
    let rsa_strings: Vec<&str> = rsa_line.split('"').skip(1).step_by(2).collect();
    assert!(rsa_strings.len() > 1, "{rsa_line}");
    let line = records
        .lines()
        .find(|l| l.starts_with("s1._domainkey.example.test. IN TXT"))
        .unwrap_or_else(|| panic!("no DKIM record in {records} ({out})"));
    let value = line.split('"').nth(1).unwrap().to_string();
    let dns = s.dns.as_ref().expect("the harness's DNS server");
    dns.set_txt("s1._domainkey.example.test", value.as_str());
    dns.set_txt("example.test", "v=spf1 mx -all");
    dns.set_txt("r1._domainkey.example.test", rsa_strings.clone());

    let root = add_admin(&s, "root", "administrator");
    let b = Browser::signed_in(&s, "root", &root);
    let page = b.get("/dkim");
    assert_eq!(page.status, 200, "{}", page.body);
    let keys = &page.body[page.body.find("id=\"keys\"").unwrap()..];
    assert!(
        keys.contains("<td>s1</td><td>example.test</td><td>ed25519-sha256</td><td>256</td>"),
        "{keys}"
    );
    assert!(
        keys.contains("<td>r1</td><td>example.test</td><td>rsa-sha256</td><td>2048</td>"),
        "{keys}"
    );
    // AL-2.2: served as published (the RSA key in several strings, joined); AL-2.1 SPF
    // served; DMARC not published at all.
    assert_eq!(
        record_state(&page.body, "r1._domainkey.example.test", "TXT"),
        "record match"
    );
    assert_eq!(
        record_state(&page.body, "s1._domainkey.example.test", "TXT"),
        "record match"
    );
    assert_eq!(
        record_state(&page.body, "example.test", "TXT"),
        "record match"
    );
    assert_eq!(
        record_state(&page.body, "_dmarc.example.test", "TXT"),
        "record missing"
    );
    assert!(page.body.contains(&html_escape(&value)), "{}", page.body);

    // A wrong key published: a mismatch, with what DNS serves shown.
    dns.set_txt(
        "s1._domainkey.example.test",
        "v=DKIM1; k=ed25519; p=AAAAwrongkeyAAAA",
    );
    let page = b.get("/dkim");
    assert_eq!(
        record_state(&page.body, "s1._domainkey.example.test", "TXT"),
        "record mismatch"
    );
    assert!(
        page.body.contains("p=AAAAwrongkeyAAAA"),
        "the served value is shown: {}",
        page.body
    );
    // DNS failing (SERVFAIL) is not taken for a missing record.
    dns.set_servfail_name("_dmarc.example.test", true);
    let page = b.get("/dkim");
    assert_eq!(
        record_state(&page.body, "_dmarc.example.test", "TXT"),
        "record no-answer"
    );
    // Every role reads it; a signed-out browser is sent to the login.
    assert_eq!(Browser::new(&s, "anon").get("/dkim").status, 303);

    // AL-2.2: an administrator generates a key here, as `rampart dkim generate` does; the
    // answer gives the record to publish; the key signs from then on (listed by the command
    // line); an operator may not; a used selector or a domain not ours is refused in words.
    let generate = |b: &Browser, domain: &str, selector: &str| {
        b.post(
            "/dkim/generate",
            &[
                ("csrf", &b.csrf()),
                ("domain", domain),
                ("selector", selector),
                ("algorithm", "ed25519"),
            ],
        )
    };
    assert!(page.body.contains("id=\"dkim-generate\""), "the form");
    let r = generate(&b, "example.test", "c1");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("c1._domainkey.example.test. IN TXT &quot;v=DKIM1; k=ed25519; p="),
        "{}",
        r.body
    );
    let listed = cli(&s.config, &["dkim", "list"], None);
    assert!(listed.contains("example.test\tc1\tEd25519"), "{listed}");
    let page = b.get("/dkim");
    assert!(
        page.body
            .contains("<td>c1</td><td>example.test</td><td>ed25519-sha256</td><td>256</td>"),
        "{}",
        page.body
    );
    assert_eq!(
        record_state(&page.body, "c1._domainkey.example.test", "TXT"),
        "record missing",
        "not published yet"
    );
    let r = generate(&b, "example.test", "c1");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("exists already"), "{}", r.body);
    let r = generate(&b, "elsewhere.test", "c2");
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("elsewhere.test is not a domain of this server"),
        "{}",
        r.body
    );
    let op = add_admin(&s, "op", "operator");
    let operator = Browser::signed_in(&s, "op", &op);
    assert!(!operator.get("/dkim").body.contains("id=\"dkim-generate\""));
    assert_eq!(generate(&operator, "example.test", "c3").status, 403);
    let t = wait_trace(
        &s,
        &["trace", "--client", "127.0.0.1"],
        "generated DKIM key c1",
    );
    assert!(
        t.contains("root (administrator): generated DKIM key c1 for example.test (ed25519)"),
        "{t}"
    );
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[test]
fn al_3_2_the_audit_runs_from_the_console_for_an_auditor_and_bans_no_one() {
    let s = start();
    let aud = add_admin(&s, "aud", "auditor");
    let mut b = Browser::signed_in(&s, "aud", &aud);
    b.max_time = 300;
    let page = b.get("/audit");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"no-report\""), "{}", page.body);
    // The run is a POST: without the session's CSRF token it is refused.
    assert_eq!(b.post("/audit/run", &[]).status, 403);
    assert_eq!(
        b.post("/audit/run", &[("csrf", "0123456789abcdef")]).status,
        403
    );
    let r = b.post("/audit/run", &[("csrf", &b.csrf())]);
    assert_eq!(r.status, 303, "{}", r.body);

    let page = b.get("/audit");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"generated\""), "{}", page.body);
    assert!(page.body.contains("id=\"audit-tally\""), "{}", page.body);
    // The report is the audit's own renderer's page, framed in a sandbox and downloadable.
    assert!(
        page.body.contains(
            "<iframe id=\"report\" title=\"the audit report\" sandbox src=\"/audit/report.html\">"
        ),
        "{}",
        page.body
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("frame-src 'self'"),
        "{:?}",
        page.headers
    );
    let report = b.get("/audit/report.html?download=1");
    assert_eq!(report.status, 200);
    assert!(
        report
            .body
            .contains("Compliance evidence for mail.example.test"),
        "{}",
        &report.body[..report.body.len().min(400)]
    );
    assert!(report.body.contains("NC-2.1.3") && report.body.contains("AL-3.2"));
    assert!(report
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    assert!(report
        .header("content-security-policy")
        .unwrap()
        .contains("sandbox"));

    // NC-2.4.1: the self-test's probes came from 127.0.0.1, as the console's user does; nothing
    // was banned and the console still answers.
    let bans = cli(&s.config, &["ban", "list", "--json"], None);
    let v: serde_json::Value = serde_json::from_str(bans.trim()).unwrap();
    assert_eq!(v["bans"].as_array().unwrap().len(), 0, "{bans}");
    assert_eq!(b.get("/").status, 200);
    // AL-3.1: the run is in the trace with the auditor's name.
    wait_trace(
        &s,
        &["trace", "--since", "1h"],
        "aud (auditor): ran the audit",
    );
}

#[test]
fn nc_2_4_2_the_allow_list_needs_the_administrator_csrf_and_a_confirmation() {
    let s = start();
    let root = add_admin(&s, "root", "administrator");
    let op = add_admin(&s, "op", "operator");
    let admin = Browser::signed_in(&s, "root", &root);
    let operator = Browser::signed_in(&s, "op", &op);
    cli(&s.config, &["ban", "add", "198.51.100.7"], None);
    let net = "198.51.100.0/24";

    // Refused: no CSRF token, another session's token, the operator's role.
    let r = admin.post("/bans/allow", &[("network", net), ("confirm", "yes")]);
    assert_eq!(r.status, 403);
    let r = admin.post(
        "/bans/allow",
        &[
            ("csrf", &operator.csrf()),
            ("network", net),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(r.status, 403);
    let r = operator.post(
        "/bans/allow",
        &[
            ("csrf", &operator.csrf()),
            ("network", net),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("needs administrator"), "{}", r.body);

    // The administrator is asked first; nothing changes until confirmed.
    let r = admin.post(
        "/bans/allow",
        &[
            ("csrf", &admin.csrf()),
            ("network", net),
            ("note", "partner"),
        ],
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Never ban 198.51.100.0/24"), "{}", r.body);
    assert_eq!(field(&r.body, "confirm"), "yes");
    let list = cli(&s.config, &["ban", "list"], None);
    assert!(!list.contains("allowed: 198.51.100.0/24"), "{list}");
    let r = admin.post(
        "/bans/allow",
        &[
            ("csrf", &admin.csrf()),
            ("network", net),
            ("note", "partner"),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    // As `rampart ban allow`: on the list, and the ban inside it lifted.
    let list = cli(&s.config, &["ban", "list"], None);
    assert!(list.contains("allowed: 198.51.100.0/24"), "{list}");
    assert!(!list.contains("198.51.100.7/32"), "{list}");
    let page = admin.get("/bans");
    assert!(
        page.body.contains("partner (by root, console)"),
        "{}",
        page.body
    );
    // Now it cannot be banned.
    let r = admin.post(
        "/bans/add",
        &[("csrf", &admin.csrf()), ("network", "198.51.100.9")],
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // Off the list again, after a confirmation.
    let r = admin.post(
        "/bans/disallow",
        &[("csrf", &admin.csrf()), ("network", net)],
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Take 198.51.100.0/24 off the allow-list"));
    let r = admin.post(
        "/bans/disallow",
        &[
            ("csrf", &admin.csrf()),
            ("network", net),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let list = cli(&s.config, &["ban", "list"], None);
    assert!(!list.contains("allowed: 198.51.100.0/24"), "{list}");
    let t = wait_trace(
        &s,
        &["trace", "--since", "1h"],
        "root (administrator): removed 198.51.100.0/24 from the allow-list",
    );
    assert!(
        t.contains("root (administrator): allowed 198.51.100.0/24 (1 ban(s) lifted)"),
        "{t}"
    );
}

#[test]
fn al_3_1_a_held_message_is_previewed_sanitised_and_only_with_a_recorded_reason() {
    let s = start();
    let held = quarantine_html(&s);
    let root = add_admin(&s, "root", "administrator");
    let op = add_admin(&s, "op", "operator");
    let admin = Browser::signed_in(&s, "root", &root);
    let operator = Browser::signed_in(&s, "op", &op);

    // Without a reason: the check results and the reason form, no frame.
    let page = admin.get(&format!("/quarantine/{held}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"read-reason\""), "{}", page.body);
    assert!(!page.body.contains("<iframe"), "{}", page.body);
    // The preview's address cannot be guessed around the reason.
    let r = admin.get(&format!("/quarantine/{held}/preview?read=00"));
    assert_eq!(r.status, 403);
    let r = admin.get(&format!("/quarantine/{held}/preview"));
    assert_eq!(r.status, 403);

    let page = admin.get(&format!(
        "/quarantine/{held}?reason=user%20reports%20a%20false%20positive"
    ));
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("sandbox=\"allow-popups allow-popups-to-escape-sandbox\""),
        "{}",
        page.body
    );
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("frame-src 'self'"));
    let src = field_src(&page.body);
    assert!(src.starts_with(&format!("/quarantine/{held}/preview?read=")));
    // AL-3.1: the read and its reason, with the administrator's name.
    let t = wait_trace(
        &s,
        &["trace", "--queue-id", &held],
        "reason: user reports a false positive",
    );
    assert!(
        t.contains(&format!("root (administrator): read held message {held}")),
        "{t}"
    );

    // AL-1.4: the webmail's sanitiser and CSP: the text, no script, no handler, no remote load.
    let doc = admin.get(&src);
    assert_eq!(doc.status, 200);
    assert!(doc.body.contains("hello preview"), "{}", doc.body);
    for bad in [
        "<script",
        "alert(1)",
        "onclick",
        "tracker.remote.test/pixel.png\"",
    ] {
        assert!(!doc.body.contains(bad), "{bad} in {}", doc.body);
    }
    let csp = doc.header("content-security-policy").unwrap().to_string();
    assert!(
        csp.contains("sandbox") && csp.contains("img-src data:"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "{csp}");
    // The key is bound to the session that recorded the reason.
    assert_eq!(operator.get(&src).status, 403);
}

/// The iframe's src on a page.
fn field_src(html: &str) -> String {
    let at = html
        .find("<iframe id=\"preview\"")
        .expect("the preview frame");
    let rest = &html[at..];
    let s = rest.find("src=\"").unwrap() + 5;
    rest[s..s + rest[s..].find('"').unwrap()].replace("&amp;", "&")
}

#[test]
fn al_3_2_the_dashboard_shows_the_numbers_of_report_summary() {
    let s = start();
    let root = add_admin(&s, "root", "administrator");
    // A failed console login, a delivered message, a held one, a refused recipient.
    let b = Browser::new(&s, "root");
    assert_eq!(
        b.login("root", "not the passphrase", "000000"),
        401,
        "a wrong password"
    );
    quarantine_html(&s);
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.remote.test");
    c.expect(250);
    let (code, reply) = c.send_mail(
        "friend@remote.test",
        &["alice@example.test"],
        &common::message("dash-1", "hello"),
    );
    assert_eq!(code, 250, "{reply}");
    c.send("MAIL FROM:<friend@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<nobody@example.test>");
    let (rc, _) = c.reply().unwrap();
    assert_eq!(rc, 550);
    c.send("QUIT");
    s.wait_mailbox("alice@example.test", 1);
    wait_trace(&s, &["trace", "--since", "1h"], "delivered");
    assert_eq!(
        b.login(
            "root",
            common::console::ADMIN_PASSWORD,
            &common::console::oathtool(&root)
        ),
        303
    );

    // The same day for both: the 24 hours up to the start of the next second, which is let
    // pass first, so every event above is inside the day (on a fast machine they all fall in
    // this second) and whatever the page views record after it is left out of both.
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    let next = now().as_secs() + 1;
    // A wait for the clock, not for another process: the boundary is known exactly.
    if let Some(rest) = std::time::Duration::from_secs(next).checked_sub(now()) {
        std::thread::sleep(rest);
    }
    let until = next.to_string();
    let page = b.get(&format!("/?until={until}"));
    assert_eq!(page.status, 200, "{}", page.body);
    let out = cli_raw(
        &s.config,
        &[
            "report", "summary", "--period", "day", "--json", "--until", &until,
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = |id: &str| -> u64 {
        by_id(&page.body, id)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{id} is not a number in {}", page.body))
    };
    let j = |path: &[&str]| -> u64 {
        path.iter()
            .fold(&v, |v, k| &v[*k])
            .as_u64()
            .unwrap_or_else(|| panic!("{path:?} in {v}"))
    };
    assert_eq!(n("sum-inbound"), j(&["volume", "inbound"]));
    assert!(n("sum-inbound") >= 2, "{}", page.body);
    assert_eq!(
        n("sum-outbound"),
        j(&["volume", "submitted"]) + j(&["volume", "generated"])
    );
    assert_eq!(n("sum-accepted"), j(&["decisions", "accepted"]));
    assert_eq!(n("sum-quarantined"), j(&["decisions", "quarantined"]));
    assert!(n("sum-quarantined") >= 1);
    assert_eq!(n("sum-refused"), j(&["decisions", "refused"]));
    assert_eq!(n("sum-rcpt-refused"), j(&["refusals", "recipients"]));
    assert!(n("sum-rcpt-refused") >= 1);
    assert_eq!(n("sum-auth-failed"), j(&["auth_failures", "failed"]));
    assert!(n("sum-auth-failed") >= 1);
    assert_eq!(n("sum-auth-refused"), j(&["auth_failures", "refused"]));
    assert_eq!(n("sum-bans"), j(&["bans", "bans"]));
    assert_eq!(
        n("sum-delivered"),
        j(&["deliveries", "local"]) + j(&["deliveries", "relayed"])
    );
    assert!(n("sum-delivered") >= 1);
    assert_eq!(n("sum-deferred"), j(&["deliveries", "deferred"]));
    assert_eq!(n("sum-bounces"), j(&["deliveries", "bounces"]));
    assert_eq!(n("sum-released"), j(&["quarantine", "released"]));
    assert_eq!(n("sum-out-of-junk"), j(&["junk", "out_of_junk"]));
    assert_eq!(n("sum-into-junk"), j(&["junk", "into_junk"]));
    // What is true now: one held, nothing queued; the report's charts.
    assert_eq!(n("held"), 1);
    assert!(
        page.body.contains("<div id=\"chart\"><svg"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Verdicts per check"));
    // A bad `until` is a clear refusal, not a panic.
    let bad = b.get("/?until=yesterdayish");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("id=\"refused\">until: "), "{}", bad.body);
}
