//! AL-1.2: senders a user trusts, end to end. A real `rampart serve` with SPF answered by a DNS
//! server the test starts; a newsletter tagged as spam lands in Junk; the user moves it out over
//! JMAP, which trusts its authenticated From; the next one from that From lands in the user's
//! Inbox (another recipient's goes to Junk), the same From sent from elsewhere (not
//! authenticated) lands in Junk, and once the administrator removes the trust, Junk again.

use crate::common;

use common::jmap::{start_jmap_with, Jmap};
use common::*;
use rampart_testdns::TestDns;
use serde_json::json;

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

/// A newsletter the local rule below scores over the tag line (5) and under quarantine (10).
fn newsletter(n: u32) -> String {
    format!(
        "From: Spice News <news@news.test>\r\nTo: <alice@example.test>\r\nSubject: Our \
         letter {n}\r\nMessage-ID: <letter{n}@news.test>\r\nDate: {}\r\n\r\nThe seasonal sale \
         starts on Monday: cardamom, saffron and vanilla from the new harvest.\r\n",
        date()
    )
}

/// A command that must fail: its one-line error.
fn cli_fails(config: &std::path::Path, args: &[&str]) -> String {
    let out = cli_raw(config, args, None);
    assert!(!out.status.success(), "rampart {args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

fn date() -> String {
    let out = std::process::Command::new("date")
        .args(["-R", "-u"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The JMAP id of the message `message_id` once it is in `account`'s mailbox with `role`.
fn wait_in(s: &Server, account: &str, role: &str, message_id: &str) -> String {
    let c: Jmap<'_> = s.jmap(account);
    let acc = c.account_id();
    let mailbox = c.role_id(&acc, role);
    c.wait_email_in(&acc, &mailbox, message_id)
}

#[test]
fn al_1_2_a_move_out_of_junk_trusts_the_authenticated_sender() {
    let dns = TestDns::builder()
        .txt("news.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt("other.test", "v=spf1 ip4:127.0.0.1 -all")
        .start();
    let dir = TempDir::new("trusted");
    let rules = dir.0.join("local.rules");
    std::fs::write(
        &rules,
        "body LOCAL_SALE (?i)seasonal sale\nscore LOCAL_SALE 6\n",
    )
    .unwrap();
    let s = start_jmap_with(Options {
        top: format!("[dns]\nservers = [\"{}\"]\ntimeout_secs = 1\n", dns.addr()),
        checks: Some(format!(
            "disabled = [\"antivirus\"]\n[checks.spam]\nrule_files = [\"{}\"]\n",
            rules.display()
        )),
        limits: "max_errors = 100".into(),
        ..Options::default()
    });
    let mut c = s.ehlo();
    let (code, text) = c.send_mail("bounce@news.test", &[ALICE], &newsletter(1));
    assert_eq!(code, 250, "{text}");
    let first = wait_in(&s, ALICE, "junk", "letter1@news.test");
    wait_trace(
        &s,
        &["trace", "--message-id", "letter1@news.test"],
        &format!("delivered to mailbox {ALICE} (Junk: tagged as spam)"),
    );
    let trusted = cli(&s.config, &["spam", "trusted", ALICE], None);
    assert!(trusted.contains("trusts no sender yet"), "{trusted}");

    // Alice moves it out of Junk: its From was authenticated (SPF pass for news.test).
    let alice = s.jmap(ALICE);
    let acc = alice.account_id();
    let inbox = alice.role_id(&acc, "inbox");
    let r = alice.call1(
        "Email/set",
        json!({"accountId": acc, "update": {first.clone(): {"mailboxIds": {inbox.clone(): true}}}}),
    );
    assert!(r["updated"].get(&first).is_some(), "{r}");
    wait_trace(
        &s,
        &["trace", "--message-id", "letter1@news.test"],
        "learned as ham (AL-1.2); its authenticated sender news@news.test is trusted from now on",
    );
    let trusted = cli(&s.config, &["spam", "trusted", ALICE], None);
    assert!(
        trusted.starts_with("news@news.test\ttrusted since 20"),
        "{trusted}"
    );
    // The same list over JMAP (this server's TrustedSender extension), as the webmail reads it.
    let got = alice.call1("TrustedSender/get", json!({"accountId": acc, "ids": null}));
    assert_eq!(got["list"][0]["email"], "news@news.test", "{got}");
    assert!(
        got["list"][0]["added"].as_str().unwrap().starts_with("20"),
        "{got}"
    );
    let bad = alice.call1(
        "TrustedSender/set",
        json!({"accountId": acc, "create": {"x": {"email": "not an address"}},
               "destroy": ["tffffffffffffffff"]}),
    );
    assert_eq!(bad["notCreated"]["x"]["type"], "invalidProperties", "{bad}");
    assert_eq!(
        bad["notDestroyed"]["tffffffffffffffff"]["type"], "notFound",
        "{bad}"
    );

    // The next letter, to Alice and Bob: still tagged, Alice's in her Inbox, Bob's in Junk.
    let (code, text) = c.send_mail("bounce@news.test", &[ALICE, BOB], &newsletter(2));
    assert_eq!(code, 250, "{text}");
    wait_in(&s, ALICE, "inbox", "letter2@news.test");
    wait_in(&s, BOB, "junk", "letter2@news.test");
    let t = wait_trace(
        &s,
        &["trace", "--message-id", "letter2@news.test"],
        &format!("delivered to mailbox {BOB} (Junk: tagged as spam)"),
    );
    assert!(t.contains("spam=tag"), "{t}");
    assert!(
        t.contains(&format!(
            "delivered to mailbox {ALICE} (Inbox: tagged as spam, but {ALICE} trusts its \
             authenticated sender news@news.test, AL-1.2)"
        )),
        "{t}"
    );

    // The same From sent from other.test: SPF passes for other.test only, so the From is not
    // authenticated and the trust does not apply.
    let (code, text) = c.send_mail("bounce@other.test", &[ALICE], &newsletter(3));
    assert_eq!(code, 250, "{text}");
    wait_in(&s, ALICE, "junk", "letter3@news.test");

    // The administrator removes the trust: Junk again.
    let out = cli(
        &s.config,
        &["spam", "untrust", ALICE, "News@News.test"],
        None,
    );
    assert!(out.contains("no longer trusts news@news.test"), "{out}");
    let err = cli_fails(&s.config, &["spam", "untrust", ALICE, "news@news.test"]);
    assert!(err.contains("does not trust news@news.test"), "{err}");
    let err = cli_fails(&s.config, &["spam", "trusted", "nobody@example.test"]);
    assert!(err.contains("is not a user here"), "{err}");
    let (code, text) = c.send_mail("bounce@news.test", &[ALICE], &newsletter(4));
    assert_eq!(code, 250, "{text}");
    let fourth = wait_in(&s, ALICE, "junk", "letter4@news.test");

    // Trusted again, then the account is deleted: a new account of the same address starts
    // with no trusted sender.
    let r = alice.call1(
        "Email/set",
        json!({"accountId": acc, "update": {fourth.clone(): {"mailboxIds": {inbox: true}}}}),
    );
    assert!(r["updated"].get(&fourth).is_some(), "{r}");
    let trusted = cli(&s.config, &["spam", "trusted", ALICE], None);
    assert!(trusted.starts_with("news@news.test\t"), "{trusted}");
    let status = cli(&s.config, &["spam", "status"], None);
    assert!(status.contains(&format!("{ALICE}: ")), "{status}");
    cli(&s.config, &["user", "delete", ALICE, "--purge-mail"], None);
    cli(
        &s.config,
        &["user", "add", ALICE, "--password-stdin"],
        Some(PASSWORD),
    );
    let trusted = cli(&s.config, &["spam", "trusted", ALICE], None);
    assert!(trusted.contains("trusts no sender yet"), "{trusted}");
    // Her own classifier's lessons went with the account; the installation's stay.
    let status = cli(&s.config, &["spam", "status"], None);
    assert!(!status.contains(ALICE), "{status}");
    assert!(status.contains("installation: "), "{status}");
}
