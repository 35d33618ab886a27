//! The administrative commands made to run on PostgreSQL (issue 20), each shown by its effect
//! through the other node: two `rampart serve` processes on one database of a private cluster
//! (common/pg.rs), each with its own configuration; a command run with one node's command line
//! changes, or reads, what the other node serves.
//!
//! - `mailbox list|show|delete` (AL-3.1): mail node A delivered is listed and read with node B's
//!   command line, deleted with A's, and both administrator actions are in the shared audit;
//! - `mailbox grant|revoke|grants`: a delegation made with node A's command line is a second
//!   JMAP account on node B, revoked with B's it is gone on A;
//! - `user token add|list|revoke`: a token made with node A's command line logs in on node B's
//!   JMAP, and once revoked with B's is refused by A's;
//! - `user delete` with node A's command line: node B refuses the user's login and mail for him;
//! - `sendmail` on node A (NC-2.1.9): picked up into the shared queue, found with B's CLI;
//!   `firewall` on node B prints the ban added with A's (NC-2.4.2); `integrity init|check` of
//!   node A's own files (NC-2.2);
//! - `report dmarc --outgoing` (AL-2.3) and `report tls --outgoing` (RFC 8460) on node B show
//!   the evaluations and TLS outcomes node A recorded;
//! - `queue bounce` on node B of a message queued by node A fails it once and the sender gets
//!   one notification;
//! - `dns-records` on node B publishes the DKIM key generated into the database with node A's
//!   command line (AL-2.2);
//! - `spam train` with node A's command line trains the classifier node B reads (AL-1.2);
//! - `alias remove` and `domain remove` with node B's command line: node A's MX refuses the
//!   alias and then the domain (NC-2.1.6).

use crate::common;

use common::jmap::Auth;
use common::pg::{node, receiver, wait_until, Db};
use common::{cli, cli_raw, ClosedPort, Server};
use rampart_testdns::TestDns;

/// DNS: remote.test publishes SPF for 127.0.0.1 and a DMARC policy with an aggregate report
/// address, so mail from it is evaluated (and recorded for its report); its MX is 127.0.0.1.
/// down.test's MX is 127.0.0.2, where nothing listens: mail for it stays queued.
fn dns() -> TestDns {
    TestDns::builder()
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", "127.0.0.1".parse().unwrap())
        .txt("remote.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt(
            "_dmarc.remote.test",
            "v=DMARC1; p=none; rua=mailto:dmarc@remote.test",
        )
        .mx("down.test", 10, "mx.down.test")
        .a("mx.down.test", "127.0.0.2".parse().unwrap())
        .txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        .start()
}

/// Lines of `rampart ARGS` on `s`'s configuration.
fn run(s: &Server, args: &[&str]) -> String {
    cli(&s.config, args, None)
}

#[test]
fn al_3_1_mail_node_a_delivered_is_listed_read_and_deleted_with_either_nodes_cli() {
    let db = Db::start();
    let dns = dns();
    // Nothing here delivers to the Internet's side: the nodes' delivery port is closed.
    let closed = ClosedPort::new();
    // Node A's local programs send as alice (NC-2.1.9), and it keeps an integrity baseline of
    // its own files (NC-2.2).
    let a = node(
        &db,
        &dns,
        closed.port(),
        "[sendmail]\nsender = \"alice@example.test\"\n\
         [integrity]\nbaseline = \"integrity.baseline\"\npublic_key = \"integrity.pub\"\n",
    );
    let b = node(&db, &dns, closed.port(), "");

    let mut c = a.ehlo();
    let (code, text) = c.send_mail(
        "carol@remote.test",
        &["alice@example.test"],
        "From: Carol <carol@remote.test>\r\nTo: <alice@example.test>\r\nSubject: via A\r\n\
         Message-ID: <via-a@remote.test>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\n\
         Delivered by node A.\r\n",
    );
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");

    // `mailbox list` and `mailbox show` with node B's command line.
    let list = b.wait_mailbox("alice@example.test", 1);
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(list[0].contains("carol@remote.test"), "{list:?}");
    assert!(list[0].contains("<via-a@remote.test>"), "{list:?}");
    let id = list[0].split('\t').next().unwrap().to_string();
    let shown = run(
        &b,
        &[
            "mailbox",
            "show",
            "alice@example.test",
            &id,
            "--reason",
            "ticket 7",
        ],
    );
    assert!(shown.contains("Delivered by node A."), "{shown}");

    // `mailbox delete` with node A's: gone for node B, and for alice on B's JMAP.
    let out = run(
        &a,
        &[
            "mailbox",
            "delete",
            "alice@example.test",
            &id,
            "--reason",
            "ticket 8",
        ],
    );
    assert_eq!(
        out.trim(),
        format!("message {id} deleted from the mailbox of alice@example.test")
    );
    assert!(b.mailbox("alice@example.test").is_empty());
    let gone = cli_raw(
        &b.config,
        &[
            "mailbox",
            "show",
            "alice@example.test",
            &id,
            "--reason",
            "again",
        ],
        None,
    );
    assert!(!gone.status.success());
    let err = String::from_utf8_lossy(&gone.stderr);
    assert!(
        err.contains(&format!(
            "no message {id} in the mailbox of alice@example.test"
        )),
        "{err}"
    );

    // AL-3.1: both administrator actions, whichever node's command line, in the one audit.
    let audit = run(
        &b,
        &["mailbox", "audit", "--user", "alice@example.test", "--json"],
    );
    assert!(
        audit.contains(&format!("message {id}; reason: ticket 7")),
        "{audit}"
    );
    assert!(
        audit.contains(&format!("message {id}; reason: ticket 8")),
        "{audit}"
    );
    // An unknown user is named, as on SQLite.
    let unknown = cli_raw(&b.config, &["mailbox", "list", "nobody@example.test"], None);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no user nobody@example.test"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    // AL-2.3: node A evaluated carol's mail against remote.test's DMARC policy; node B's
    // command line makes the aggregate report of it.
    let xml = run(
        &b,
        &["report", "dmarc", "--outgoing", "--domain", "remote.test"],
    );
    assert!(xml.contains("<domain>remote.test</domain>"), "{xml}");
    assert!(xml.contains("<source_ip>127.0.0.1</source_ip>"), "{xml}");

    // A token made with node A's command line logs in on node B's JMAP; revoked with B's, it is
    // refused by A's.
    let token = run(
        &a,
        &[
            "user",
            "token",
            "add",
            "alice@example.test",
            "--name",
            "phone",
            "--scope",
            "jmap",
        ],
    )
    .trim()
    .to_string();
    assert!(token.starts_with("rpt_"), "{token}");
    let session = |s: &Server| {
        s.jmap_with(Auth::Bearer(token.clone()))
            .http("GET", "/jmap/session", &[], None)
    };
    let on_b = session(&b);
    assert_eq!(on_b.status, 200, "{}", on_b.text());
    assert_eq!(on_b.json()["username"], "alice@example.test");
    let listed = run(&b, &["user", "token", "list", "alice@example.test"]);
    let token_id = listed.split('\t').next().unwrap().to_string();
    assert!(listed.contains("\tphone\tjmap\t"), "{listed}");
    assert_eq!(
        run(
            &b,
            &["user", "token", "revoke", "alice@example.test", &token_id]
        )
        .trim(),
        format!("token {token_id} revoked")
    );
    assert_eq!(session(&a).status, 401);
    let audit = run(
        &a,
        &["mailbox", "audit", "--user", "alice@example.test", "--json"],
    );
    assert!(
        audit.contains(&format!("token {token_id} \\\"phone\\\"")),
        "{audit}"
    );

    // Delegation: alice's mailbox granted to bob with node A's command line is a second
    // account of bob on node B's JMAP; revoked with B's, node A no longer offers it.
    let bob_accounts = |s: &Server| {
        s.jmap("bob@example.test").session()["accounts"]
            .as_object()
            .map_or(0, |a| a.len())
    };
    assert_eq!(bob_accounts(&b), 1);
    let out = run(
        &a,
        &[
            "mailbox",
            "grant",
            "alice@example.test",
            "bob@example.test",
            "--rights",
            "read",
        ],
    );
    assert_eq!(
        out.trim(),
        "bob@example.test may now reach the mailbox of alice@example.test (read)"
    );
    assert_eq!(bob_accounts(&b), 2);
    let grants = run(&b, &["mailbox", "grants", "alice@example.test"]);
    assert!(
        grants.starts_with("alice@example.test\tbob@example.test\tread\t"),
        "{grants}"
    );
    run(
        &b,
        &[
            "mailbox",
            "revoke",
            "alice@example.test",
            "bob@example.test",
        ],
    );
    assert_eq!(bob_accounts(&a), 1);
    let audit = run(&a, &["mailbox", "audit", "--user", "alice@example.test"]);
    assert!(audit.contains("bob@example.test granted read"), "{audit}");
    assert!(audit.contains("bob@example.test revoked"), "{audit}");

    // NC-2.1.2: bob deleted with node A's command line can no longer log in on node B, and
    // node B refuses mail for him; the alias that pointed at him lost him.
    let bob_session = || {
        b.jmap("bob@example.test")
            .http("GET", "/jmap/session", &[], None)
            .status
    };
    assert_eq!(bob_session(), 200);
    let out = run(&a, &["user", "delete", "bob@example.test"]);
    assert!(
        out.contains("user bob@example.test deleted; 0 message(s) of its mailbox deleted"),
        "{out}"
    );
    assert!(
        out.contains("it was removed as the target of: team@example.test"),
        "{out}"
    );
    assert_eq!(bob_session(), 401);
    let mut c = b.ehlo();
    c.send("MAIL FROM:<carol@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<bob@example.test>");
    let (code, text) = c.reply().unwrap();
    assert_eq!(code, 550, "{text}");
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send("QUIT");
    assert!(!run(&b, &["user", "list"]).contains("bob@example.test"));
    let again = cli_raw(&b.config, &["user", "delete", "bob@example.test"], None);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("no user bob@example.test"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // NC-2.1.9: `rampart sendmail` on node A: its server picks the message up into the shared
    // queue, and node B's command line finds it in alice's mailbox.
    let mut child = std::process::Command::new(common::BIN)
        .arg("--config")
        .arg(&a.config)
        .args(["sendmail", "-t"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(
                b"To: alice@example.test\nSubject: from cron on node A\n\nnightly job done\n",
            )
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = b.wait_mailbox("alice@example.test", 1);
    let id = list[0].split('\t').next().unwrap();
    assert!(b
        .show("alice@example.test", id)
        .contains("Subject: from cron on node A"));
    let mailq = run(&a, &["sendmail", "-bp"]);
    assert!(mailq.contains("drop directory"), "{mailq}");

    // NC-2.4.2: a ban added with node A's command line is in the ruleset node B's prints.
    run(&a, &["ban", "add", "203.0.113.0/24", "--permanent"]);
    let rules = run(&b, &["firewall"]);
    assert!(rules.contains("203.0.113.0/24"), "{rules}");

    // NC-2.2: node A's baseline of its own files is made and checked on PostgreSQL too; a
    // changed certificate fails the check.
    let key = a.dir.0.join("integrity.key");
    run(&a, &["integrity", "init", "--key", key.to_str().unwrap()]);
    let check = run(&a, &["integrity", "check"]);
    assert!(check.contains("files match the baseline"), "{check}");
    let cert = a.dir.0.join("cert.pem");
    let mut pem = std::fs::read(&cert).unwrap();
    pem.extend_from_slice(b"\n");
    std::fs::write(&cert, pem).unwrap();
    let changed = cli_raw(&a.config, &["integrity", "check"], None);
    assert!(
        !changed.status.success(),
        "a changed certificate passed the check"
    );
}

#[test]
fn a_bounce_with_node_bs_cli_of_mail_node_a_queued_notifies_the_sender_once() {
    let db = Db::start();
    let dns = dns();
    let r = receiver(0, &dns);
    let port = r.addr.port();
    let a = node(&db, &dns, port, "");
    let b = node(&db, &dns, port, "");

    // RFC 8460: node A's delivery to remote.test is counted; node B's command line reports it.
    common::pg::submit(&a, &common::pg::outbound("tls-1"));
    r.wait_mailbox("carol@remote.test", 1);
    let mut json = String::new();
    wait_until(
        "node A's TLS outcome for remote.test in node B's report",
        || {
            json = run(
                &b,
                &["report", "tls", "--outgoing", "--domain", "remote.test"],
            );
            json.contains("remote.test")
        },
    );
    assert!(json.contains("\"policy-domain\":\"remote.test\""), "{json}");
    // The receiver's certificate is its own test CA's, which node A does not trust: the
    // session is counted as that failure (and the message delivered, TLS being opportunistic).
    assert!(json.contains("\"total-failure-session-count\":1"), "{json}");
    assert!(
        json.contains("\"result-type\":\"certificate-not-trusted\""),
        "{json}"
    );
    assert!(json.contains("\"receiving-ip\":\"127.0.0.1\""), "{json}");

    // A message node A cannot deliver (down.test's MX does not answer) stays queued.
    let mut c = a.login_alice();
    let (code, text) = c.send_mail(
        "alice@example.test",
        &["dave@down.test"],
        "From: Alice <alice@example.test>\r\nTo: <dave@down.test>\r\nSubject: stuck\r\n\
         Message-ID: <stuck@example.test>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\n\
         Nobody answers for down.test.\r\n",
    );
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    let qid = text.rsplit(' ').next().unwrap().to_string();
    assert!(run(&b, &["queue", "list"]).contains(&qid));

    let out = run(&b, &["queue", "bounce", &qid]);
    assert!(out.contains(&qid), "{out}");
    // Once: a second bounce finds nothing waiting, and alice gets one notification.
    let again = cli_raw(&a.config, &["queue", "bounce", &qid], None);
    assert!(!again.status.success(), "a second bounce succeeded");
    let list = a.wait_mailbox("alice@example.test", 1);
    let dsn_id = list[0].split('\t').next().unwrap().to_string();
    let dsn = a.show("alice@example.test", &dsn_id);
    assert!(
        dsn.contains("delivery cancelled by the administrator"),
        "{dsn}"
    );
    assert!(dsn.contains("dave@down.test"), "{dsn}");
    wait_until("the bounced message off the queue", || {
        !run(&a, &["queue", "list"]).contains(&qid)
    });
    assert_eq!(a.mailbox("alice@example.test").len(), 1);

    // AL-2.2: a key generated into the database with node A's command line is in the records
    // node B's command line prints, with the same public key.
    let generated = run(
        &a,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "s9",
            "--algorithm",
            "ed25519",
        ],
    );
    let public = generated
        .split("p=")
        .nth(1)
        .and_then(|p| p.split('"').next())
        .unwrap_or_else(|| panic!("no p= in {generated}"))
        .to_string();
    let records = run(&b, &["dns-records", "--domain", "example.test"]);
    assert!(records.contains("s9._domainkey.example.test"), "{records}");
    assert!(records.contains(&public), "{public} not in {records}");

    // AL-1.2: the classifier trained from files with node A's command line is the one node B
    // counts; the same files again with B's teach nothing new.
    let dir = common::TempDir::new("corpus");
    for (kind, n) in [("spam", 3), ("ham", 2)] {
        let d = dir.0.join(kind);
        std::fs::create_dir(&d).unwrap();
        for i in 0..n {
            std::fs::write(
                d.join(format!("{i}.eml")),
                format!(
                    "From: <x@remote.test>\r\nTo: <alice@example.test>\r\nSubject: {kind} {i}\r\n\
                     Message-ID: <{kind}{i}@remote.test>\r\n\r\nwords of {kind} number {i}\r\n"
                ),
            )
            .unwrap();
        }
    }
    let (spam, ham) = (dir.0.join("spam"), dir.0.join("ham"));
    let (spam, ham) = (spam.to_str().unwrap(), ham.to_str().unwrap());
    let out = run(&a, &["spam", "train", "--spam", spam, "--ham", ham]);
    assert!(out.contains("spam: 3 trained (3 new"), "{out}");
    // Below the classifier's minimum, nothing is trained again until no errors: the counts
    // below are the messages.
    assert!(
        out.contains("not trained again until no errors: the classifier is not yet in effect"),
        "{out}"
    );
    let status = run(&b, &["spam", "status"]);
    assert!(
        status.contains("installation: 3 spam, 2 ham trained"),
        "{status}"
    );
    let again = run(&b, &["spam", "train", "--spam", spam]);
    assert!(again.contains("3 already known"), "{again}");

    // NC-2.1.6: an alias and then a domain removed with node B's command line are refused by
    // node A's MX.
    run(&a, &["domain", "add", "second.test"]);
    cli(
        &a.config,
        &["user", "add", "dana@second.test", "--password-stdin"],
        Some(common::PASSWORD),
    );
    run(
        &a,
        &["alias", "add", "info@second.test", "dana@second.test"],
    );
    let rcpt = |to: &str| {
        let mut c = a.ehlo();
        c.send("MAIL FROM:<carol@remote.test>");
        c.expect(250);
        c.send(&format!("RCPT TO:<{to}>"));
        let code = c.reply().unwrap().0;
        c.send("QUIT");
        code
    };
    assert_eq!(rcpt("info@second.test"), 250);
    let out = run(&b, &["alias", "remove", "info@second.test"]);
    assert_eq!(
        out.trim(),
        "alias info@second.test -> dana@second.test removed"
    );
    assert_eq!(rcpt("info@second.test"), 550);
    assert_eq!(rcpt("dana@second.test"), 250);
    let refused = cli_raw(&b.config, &["domain", "remove", "second.test"], None);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("still has users (dana@second.test)"), "{err}");
    let out = run(&b, &["domain", "remove", "second.test", "--force"]);
    assert!(out.contains("domain second.test removed"), "{out}");
    assert!(
        out.contains("users deleted with it: dana@second.test"),
        "{out}"
    );
    let code = rcpt("dana@second.test");
    assert!((500..600).contains(&code), "{code}");
    assert!(!run(&a, &["domain", "list"]).contains("second.test"));
}
