//! The webmail's actions that the flow test does not reach, each in headless Chromium (AL-4.1):
//! reply-all, forward with the original's attachments, the attachment download, paging, Move,
//! mark unread, delete for good from Trash, the Sent list, drafts saved, reopened and sent, and
//! the rate-limit and DLP refusals shown in plain words. The browser side is
//! tests/scripts/webmail_actions.py; after it, each test checks the server's state through JMAP.
//!
//! Screenshots land in `target/test-artefacts/webmail/`. Without chromium, chromium-driver or
//! Selenium these tests fail with a line saying to run scripts/test.sh; they never skip.

use crate::common;

use base64::Engine;
use common::browser::*;
use common::jmap::*;
use common::{Options, Server};
use serde_json::{json, Value};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

/// The attachment bob sends: every byte value, so a text-mode mangling shows.
fn report_bytes() -> Vec<u8> {
    let mut b = b"id,amount\r\n1,42\r\n".to_vec();
    b.extend((0u8..=255).rev());
    b
}

/// Runs one test of the script against `s`; panics with its output unless it passes.
fn run(s: &Server, test: &str) {
    // One file per test: the tests of this binary run at the same time.
    let expected =
        std::env::temp_dir().join(format!("rampart-wm-report-{}-{test}", std::process::id()));
    std::fs::write(&expected, report_bytes()).unwrap();
    let expected_arg = expected.display().to_string();
    run_script(
        s,
        "webmail_actions.py",
        &[test, "--expected", &expected_arg],
    );
    let _ = std::fs::remove_file(&expected);
}

/// Emails of `user` whose subject contains `subject`, with `props`.
fn find(s: &Server, user: &str, subject: &str, props: Value) -> Vec<Value> {
    let c = s.jmap(user);
    let acc = c.account_id();
    let r = c.call(json!([
        ["Email/query", {"accountId": acc, "filter": {"subject": subject}}, "q"],
        ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
            "properties": props}, "g"]
    ]));
    r[1][1]["list"].as_array().cloned().unwrap_or_default()
}

/// The id of `user`'s mailbox with `role`.
fn role(s: &Server, user: &str, role: &str) -> String {
    let c = s.jmap(user);
    let acc = c.account_id();
    let r = c.call1("Mailbox/get", json!({"accountId": acc}));
    r["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == role)
        .unwrap_or_else(|| panic!("no {role} mailbox: {r}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn emails(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["email"].as_str().unwrap_or("").to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn al_4_1_webmail_reply_all_forward_and_download() {
    let s = start_jmap();
    let _ = std::fs::remove_file(artefacts().join("compose-reply-all.png"));
    // To and Cc name alice twice (once in capitals) beside two other people.
    let b64 = base64::engine::general_purpose::STANDARD.encode(report_bytes());
    let msg = format!(
        "From: Bob <{BOB}>\r\nTo: Alice <{ALICE}>, Carol <carol@remote.test>\r\n\
         Cc: ALICE@EXAMPLE.TEST, dan@remote.test\r\nSubject: Quarterly report\r\n\
         Message-ID: <quarterly@example.test>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe report is attached.\r\n\
         --b1\r\nContent-Type: text/csv; name=\"report.csv\"\r\n\
         Content-Disposition: attachment; filename=\"report.csv\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b1--\r\n"
    );
    bob_submits(&s, &[ALICE], &msg);
    s.wait_mailbox(ALICE, 1);
    run(&s, "reply-all");
    let shot = artefacts().join("compose-reply-all.png");
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000),
        "{shot:?} missing"
    );
    // The reply-all and the forward, both to bob (local delivery runs after the submission).
    s.wait_mailbox(BOB, 2);

    // The reply-all went to bob, carol and dan, never to alice herself.
    let sent = find(
        &s,
        ALICE,
        "Re: Quarterly report",
        json!(["to", "cc", "mailboxIds", "keywords"]),
    );
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(emails(&sent[0]["to"]), [BOB], "{}", sent[0]);
    assert_eq!(
        emails(&sent[0]["cc"]),
        ["carol@remote.test", "dan@remote.test"],
        "{}",
        sent[0]
    );
    assert!(
        sent[0]["mailboxIds"][role(&s, ALICE, "sent")] == true,
        "{}",
        sent[0]
    );
    // The forward reached bob with the original's attachment, byte for byte.
    let fwd = find(
        &s,
        BOB,
        "Fwd: Quarterly report",
        json!(["from", "attachments"]),
    );
    let got = fwd
        .iter()
        .find(|e| e["from"][0]["email"] == ALICE)
        .unwrap_or_else(|| panic!("the forward is not in bob's mailbox: {fwd:?}"));
    let a = &got["attachments"][0];
    assert_eq!(a["name"], "report.csv", "{got}");
    let bob = s.jmap(BOB);
    let acc = bob.account_id();
    let blob = a["blobId"].as_str().unwrap();
    let r = bob.http(
        "GET",
        &format!("/jmap/download/{acc}/{blob}/report.csv?accept=application/octet-stream"),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, report_bytes(), "the forwarded attachment's bytes");
}

#[test]
fn al_4_1_webmail_paging_move_unread_and_delete_for_good() {
    let s = start_jmap();
    // 55 messages in alice's Inbox, "Paged 01" the oldest: two pages of the list.
    let c = s.jmap(ALICE);
    let acc = c.account_id();
    let inbox = role(&s, ALICE, "inbox");
    let mut create = serde_json::Map::new();
    for i in 1..=55 {
        create.insert(
            format!("m{i}"),
            json!({
                "mailboxIds": {&inbox: true},
                "from": [{"name": "Bob", "email": BOB}],
                "to": [{"email": ALICE}],
                "subject": format!("Paged {i:02}"),
                "receivedAt": format!("2026-11-{:02}T{:02}:00:00Z", 1 + i / 24, i % 24),
                "bodyValues": {"b": {"value": format!("Message number {i}.")}},
                "textBody": [{"partId": "b", "type": "text/plain"}]
            }),
        );
    }
    // All in one request: the store writes every one (a lost one was "database is locked"
    // before the writer took its lock at BEGIN).
    let r = c.call1("Email/set", json!({"accountId": acc, "create": create}));
    let created = r["created"].as_object().map_or(0, |m| m.len());
    assert_eq!(created, 55, "{r}");
    run(&s, "paging");

    let archive = role(&s, ALICE, "archive");
    let moved = find(&s, ALICE, "Paged 55", json!(["mailboxIds"]));
    assert_eq!(moved[0]["mailboxIds"], json!({&archive: true}), "{moved:?}");
    let seen = find(&s, ALICE, "Paged 01", json!(["keywords"]));
    assert_eq!(seen[0]["keywords"]["$seen"], true, "{seen:?}");
    let unread = find(&s, ALICE, "Paged 54", json!(["keywords"]));
    assert!(unread[0]["keywords"].get("$seen").is_none(), "{unread:?}");
    assert!(
        find(&s, ALICE, "Paged 53", json!(["id"])).is_empty(),
        "deleted for good"
    );
    let r = c.call1(
        "Email/query",
        json!({"accountId": acc, "filter": {"inMailbox": inbox}, "calculateTotal": true}),
    );
    // 55, less the one moved and the one deleted.
    assert_eq!(r["total"], 53, "{r}");
}

#[test]
fn al_4_1_webmail_drafts_reopened_and_sent() {
    let s = start_jmap();
    run(&s, "drafts");
    s.wait_mailbox(BOB, 1);
    let drafts = role(&s, ALICE, "drafts");
    let sent = role(&s, ALICE, "sent");
    let mine = find(
        &s,
        ALICE,
        "Plans for Monday",
        json!(["mailboxIds", "keywords", "attachments"]),
    );
    assert_eq!(mine.len(), 1, "one message, no draft left behind: {mine:?}");
    assert_eq!(mine[0]["mailboxIds"], json!({&sent: true}), "{mine:?}");
    assert!(mine[0]["keywords"].get("$draft").is_none(), "{mine:?}");
    assert!(mine[0]["mailboxIds"].get(&drafts).is_none());
    assert_eq!(mine[0]["attachments"][0]["name"], "notes.txt", "{mine:?}");
    let got = find(
        &s,
        BOB,
        "Plans for Monday",
        json!(["from", "bodyValues", "textBody"]),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["from"][0]["email"], ALICE);
}

#[test]
fn al_4_1_webmail_rate_limit_and_dlp_refusals_in_plain_words() {
    // AL-1.5 and NC-2.1.8: two messages an hour; the one the DLP check refuses counts.
    let s = start_jmap_with(Options {
        top:
            "[[rate_limit]]\nscope = \"user\"\nwhat = \"messages\"\nlimit = 2\nwindow_secs = 3600\n"
                .into(),
        ..Options::default()
    });
    let _ = std::fs::remove_file(artefacts().join("dlp-error.png"));
    run(&s, "refusals");
    s.wait_mailbox(BOB, 1);
    // Only the harmless message left; the two refused ones stayed in Drafts.
    let bob = find(&s, BOB, "", json!(["subject"]));
    let subjects: Vec<_> = bob.iter().map(|e| e["subject"].clone()).collect();
    assert_eq!(subjects, [json!("Harmless")], "{bob:?}");
    let drafts = role(&s, ALICE, "drafts");
    for subject in ["Card number", "One too many"] {
        let kept = find(&s, ALICE, subject, json!(["mailboxIds", "keywords"]));
        assert_eq!(kept.len(), 1, "{subject}: {kept:?}");
        assert_eq!(kept[0]["mailboxIds"], json!({&drafts: true}), "{kept:?}");
        assert_eq!(kept[0]["keywords"]["$draft"], true, "{kept:?}");
    }
    let shot = artefacts().join("dlp-error.png");
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000),
        "{shot:?} missing"
    );
}
