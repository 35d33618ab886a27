//! AL-1.2: users' corrections teach both engines. A real Rspamd (Debian's, started by the test
//! with Bayes in a Redis of its own and a controller that wants a password) beside a real
//! `rampart serve`; a message moved into Junk over JMAP is posted to Rspamd's `/learnspam`,
//! moved back out to `/learnham`; Rspamd's own `/stat` shows the lessons, and the message's
//! trace shows what Rspamd answered, a wrong password included.

use crate::common;

use common::jmap::{start_jmap_with, Jmap};
use common::rspamd::Rspamd;
use common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "learn-7c41e";

/// A message long enough for Rspamd's Bayes (it learns nothing from under 11 tokens).
fn letter(n: u32) -> String {
    format!(
        "From: Dan <dan@letters.test>\r\nTo: <alice@example.test>\r\nSubject: quarterly \
         shipment {n}\r\nMessage-ID: <ship{n}@letters.test>\r\n\r\nThe quarterly shipment of \
         cardamom, saffron, nutmeg and vanilla leaves the harbour on Thursday; the invoices, \
         the customs papers and the insurance certificates for lot {n} follow by courier \
         before the end of the month.\r\n"
    )
}

fn move_to(c: &Jmap<'_>, acc: &str, email: &str, mailbox: &str) {
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "update": {email: {"mailboxIds": {mailbox: true}}}}),
    );
    assert!(r["updated"].get(email).is_some(), "{r}");
}

#[test]
fn al_1_2_junk_moves_teach_rspamd_too() {
    let rs = Rspamd::start_with_bayes(PASSWORD);
    let dir = TempDir::new("rspamd-learn");
    let pw_file = dir.0.join("rspamd-controller.pass");
    std::fs::write(&pw_file, format!("{PASSWORD}\n")).unwrap();
    let s = start_jmap_with(Options {
        checks: Some(format!(
            "disabled = [\"antivirus\"]\n[checks.spam.rspamd]\nurl = \"{}\"\ntimeout = 20\n\
             controller = \"{}\"\ncontroller_password_file = \"{}\"\n",
            rs.url(),
            rs.controller_url(),
            pw_file.display()
        )),
        ..Options::default()
    });
    assert_eq!(rs.learned(PASSWORD), 0);

    let (code, text) = s
        .ehlo()
        .send_mail("dan@letters.test", &["alice@example.test"], &letter(1));
    assert_eq!(code, 250, "{text}");
    let alice = s.jmap("alice@example.test");
    let acc = alice.account_id();
    let (inbox, junk) = (alice.role_id(&acc, "inbox"), alice.role_id(&acc, "junk"));
    let email = alice.wait_email_in(&acc, &inbox, "ship1@letters.test");
    let by_id = ["trace", "--message-id", "ship1@letters.test"];

    // Into Junk: Rampart's classifier and Rspamd's both learn it as spam.
    move_to(&alice, &acc, &email, &junk);
    wait_trace(&s, &by_id, "Rspamd learned it as spam (AL-1.2)");
    assert_eq!(rs.learned(PASSWORD), 1, "{}", rs.stat(PASSWORD));
    let status = cli(&s.config, &["spam", "status"], None);
    assert!(
        status.contains("alice@example.test: 1 spam, 0 ham"),
        "{status}"
    );

    // Back out of Junk: ham for both; Rspamd relearns the message the other way.
    move_to(&alice, &acc, &email, &inbox);
    wait_trace(&s, &by_id, "Rspamd learned it as ham (AL-1.2)");
    assert_eq!(rs.learned(PASSWORD), 2, "{}", rs.stat(PASSWORD));

    // The report counts each user's move once, not Rspamd's answers besides.
    let report = cli(&s.config, &["report", "summary", "--json"], None);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["junk"]["into_junk"], 1, "{report}");
    assert_eq!(report["junk"]["out_of_junk"], 1, "{report}");

    // A wrong password: the move stands, Rampart's classifier learns, and the trace says
    // what Rspamd refused; Rspamd learned nothing.
    std::fs::write(&pw_file, "not-the-password\n").unwrap();
    let (code, text) = s
        .ehlo()
        .send_mail("dan@letters.test", &["alice@example.test"], &letter(2));
    assert_eq!(code, 250, "{text}");
    let second = alice.wait_email_in(&acc, &inbox, "ship2@letters.test");
    move_to(&alice, &acc, &second, &junk);
    let t = wait_trace(
        &s,
        &["trace", "--message-id", "ship2@letters.test"],
        "Rspamd could not learn it as spam",
    );
    assert!(t.contains("HTTP 401: Unauthorized"), "{t}");
    let status = cli(&s.config, &["spam", "status"], None);
    assert!(
        status.contains("alice@example.test: 1 spam, 1 ham"),
        "{status}"
    );
    assert_eq!(rs.learned(PASSWORD), 2, "learned without the password");
}
