//! The webmail in a real browser (AL-4.1): headless Chromium from Debian's packages, driven by
//! Selenium (tests/scripts/webmail_browser.py), over real TLS against a real `rampart serve`.
//!
//! Screenshots land in `target/test-artefacts/webmail/`. Without chromium, chromium-driver or
//! Selenium these tests fail with a line saying to run scripts/test.sh; they never skip.

use crate::common;

use common::browser::*;
use common::jmap::*;
use common::{Options, Server};
use serde_json::json;

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

/// Runs one test of the script against `s`; panics with its output unless it passes.
fn run(s: &Server, test: &str, extra: &[&str]) {
    let mx = s.listener("mx").port().to_string();
    let mut args = vec![test, "--mx-port", &mx];
    args.extend_from_slice(extra);
    run_script(s, "webmail_browser.py", &args);
}

/// Mail from bob to alice over the submission listener (STARTTLS, AUTH as bob), so that a reply
/// goes to a local mailbox the test can look into.
fn bob_sends(s: &Server, subject: &str, body: &str) {
    let id = subject.replace(' ', "-").to_ascii_lowercase();
    let msg = format!(
        "From: Bob <{BOB}>\r\nTo: Alice <{ALICE}>\r\nSubject: {subject}\r\n\
         Message-ID: <{id}@example.test>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n\r\n{body}\r\n"
    );
    bob_submits(s, &[ALICE], &msg);
}

/// The server with the two messages every test starts from, both delivered to alice.
fn with_mail(opts: Options) -> Server {
    let s = start_jmap_with(opts);
    bob_sends(
        &s,
        "Budget figures",
        "The numbers for the zucchini farm are in.",
    );
    bob_sends(&s, "Lunch plans", "Shall we meet at noon on Friday?");
    s.wait_mailbox(ALICE, 2);
    s
}

#[test]
fn al_4_1_webmail_flow_in_a_browser() {
    let s = with_mail(Options::default());
    run(&s, "flow", &[]);
    // The reply reached bob with its attachment (checked through JMAP as bob).
    let bob = s.jmap(BOB);
    let acc = bob.account_id();
    let r = bob.call(json!([
        ["Email/query", {"accountId": acc, "filter": {"subject": "Re: Lunch plans"}}, "q"],
        ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
            "properties": ["subject", "from", "attachments", "inReplyTo", "keywords"]}, "g"]
    ]));
    let list = r[1][1]["list"].as_array().cloned().unwrap_or_default();
    let got = list
        .iter()
        .find(|e| e["from"][0]["email"] == ALICE)
        .unwrap_or_else(|| panic!("the reply is not in bob's mailbox: {list:?}"));
    assert_eq!(got["inReplyTo"][0], "lunch-plans@example.test");
    assert_eq!(got["attachments"][0]["name"], "agenda.txt", "{got}");
    assert!(got["keywords"].get("$draft").is_none(), "{got}");
    for shot in ["inbox.png", "message.png"] {
        let p = artefacts().join(shot);
        assert!(
            std::fs::metadata(&p).is_ok_and(|m| m.len() > 1000),
            "{p:?} missing"
        );
    }
}

#[test]
fn al_4_1_webmail_on_a_narrow_screen() {
    let s = with_mail(Options::default());
    run(&s, "narrow", &[]);
    // What the phone did is on the server: the flag, the way back from Junk, the vacation reply.
    let alice = s.jmap(ALICE);
    let acc = alice.account_id();
    let r = alice.call(json!([
        ["Email/query", {"accountId": acc, "filter": {"subject": "Budget figures"}}, "q"],
        ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
            "properties": ["keywords", "mailboxIds"]}, "g"],
        ["VacationResponse/get", {"accountId": acc}, "v"]
    ]));
    let kw = &r[1][1]["list"][0]["keywords"];
    assert_eq!(kw["$flagged"], true, "{kw}");
    assert_eq!(kw["$notjunk"], true, "{kw}");
    assert!(kw.get("$junk").is_none(), "{kw}");
    let v = &r[2][1]["list"][0];
    assert_eq!(v["isEnabled"], true, "{v}");
    assert_eq!(v["subject"], "Away", "{v}");
    assert_eq!(v["textBody"], "Back on Monday.", "{v}");
}

#[test]
fn al_4_1_webmail_keyboard_only() {
    let s = with_mail(Options::default());
    run(&s, "keyboard", &[]);
}

#[test]
fn al_4_1_webmail_shows_a_refused_send_in_plain_words() {
    // A small size limit: a 16 KB attachment uploads, but the message (base64) is over it.
    let s = with_mail(Options {
        limits: "max_message_size = 20000".into(),
        ..Options::default()
    });
    run(&s, "error", &["--big", "16000"]);
}

/// AL-1.2: the user's trusted senders in the webmail (TrustedSender/get and /set over JMAP),
/// two given by the administrator, one removed by the user, a word that is no address refused,
/// one added by the user.
#[test]
fn al_1_2_webmail_trusted_senders() {
    let s = start_jmap_with(Options::default());
    for a in ["news@news.test", "Partner@Partner.test"] {
        common::cli(&s.config, &["spam", "trust", ALICE, a], None);
    }
    run(&s, "trusted", &[]);
    let left = common::cli(&s.config, &["spam", "trusted", ALICE], None);
    let kept: Vec<&str> = left.lines().filter_map(|l| l.split('\t').next()).collect();
    assert_eq!(
        kept,
        ["alerts@bank.example", "partner@partner.test"],
        "{left}"
    );
    for shot in [
        "trusted.png",
        "trusted-removed.png",
        "trusted-refused.png",
        "trusted-added.png",
    ] {
        let p = artefacts().join(shot);
        assert!(
            std::fs::metadata(&p).is_ok_and(|m| m.len() > 1000),
            "{p:?} missing"
        );
    }
}

/// AL-1.2: mail the spam check tagged is filed in Junk, and the reader says why (the score from
/// the server's own `X-Spam-Score`) and what the user can do; a message the user filed in Junk
/// by hand says nothing of the kind.
#[test]
fn al_1_2_webmail_says_why_a_message_is_in_junk() {
    let dir = common::TempDir::new("junkwhy");
    let rules = dir.0.join("local.rules");
    std::fs::write(
        &rules,
        "body LOCAL_WATCHES (?i)\\bcheap replica watches\\b\nscore LOCAL_WATCHES 6\n",
    )
    .unwrap();
    let s = with_mail(Options {
        checks: Some(format!(
            "disabled = [\"antivirus\"]\n[checks.spam]\nrule_files = [\"{}\"]\n",
            rules.display()
        )),
        ..Options::default()
    });
    run(&s, "junkwhy", &[]);
    let p = artefacts().join("junk-why.png");
    assert!(
        std::fs::metadata(&p).is_ok_and(|m| m.len() > 1000),
        "{p:?} missing"
    );
}
