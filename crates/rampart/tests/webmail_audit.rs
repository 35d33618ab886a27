//! The webmail's sign-in through the login guard shared with SMTP AUTH and JMAP (NC-2.1.4),
//! and its mailbox audit with service `webmail` (AL-3.1), against a real `rampart serve` over
//! HTTPS with curl and SMTP with the harness's client.

use crate::common;
use crate::session_support;

use common::jmap::*;
use common::{smtp_auth, Options, Server, PASSWORD};
use serde_json::{json, Value};
use session_support::*;
use std::time::{Duration, Instant};

/// Failed logins answered after `delay_ms`, doubling, and the address blocked after `block`.
fn guarded(delay_ms: u32, block: u32) -> Server {
    start_jmap_with(Options {
        top: format!(
            "[auth]\nfailure_delay_ms = {delay_ms}\nmax_failure_delay_ms = 5000\n\
             block_after_failures = {block}\nblock_secs = 60\n"
        ),
        ..Default::default()
    })
}

/// A failed sign-in through the form: how long it took, and the page.
fn failed_sign_in(s: &Server, user: &str, password: &str) -> (Duration, HttpReply) {
    let (cookie, token) = login_form(s);
    let started = Instant::now();
    let r = post_form(
        s,
        "/login",
        &[(LOGIN_COOKIE, &cookie)],
        &[],
        &form(&[
            ("username", user),
            ("password", password),
            ("login_token", &token),
        ]),
    );
    let took = started.elapsed();
    assert!(set_cookie(&r, SESSION_COOKIE).is_none(), "a session began");
    (took, r)
}

const WAIT_TEXT: &str = "Wait a while";

/// NC-2.1.4: failed webmail sign-ins wait longer each time (300, 600, 1200 ms), then the address
/// is blocked: the right password is refused with a page that says to wait, and SMTP AUTH from
/// the same address is turned away. The failures are in the audit with service `webmail`.
#[test]
fn nc_2_1_4_webmail_failures_grow_the_delay_and_block_smtp_auth() {
    let s = guarded(300, 3);
    assert_eq!(smtp_auth(&s, BOB, PASSWORD), 235, "SMTP AUTH works before");
    let mut took = Vec::new();
    // Three different wrong passwords (the same one again would count once, NC-2.4.1).
    for i in 0..3 {
        let (t, r) = failed_sign_in(&s, ALICE, &format!("wrong password {i}"));
        assert_eq!(r.status, 401, "{}", r.text());
        took.push(t);
    }
    for (i, min) in [300u64, 600, 1200].into_iter().enumerate() {
        assert!(
            took[i] >= Duration::from_millis(min),
            "failure {} answered after {:?}, before its delay of {min} ms",
            i + 1,
            took[i]
        );
    }
    assert!(!took[0].ge(&took[2]), "the delay grows: {took:?}");
    let (_, r) = failed_sign_in(&s, ALICE, PASSWORD);
    assert!(r.status == 401 || r.status == 429, "{}", r.status);
    assert!(
        r.text().contains(WAIT_TEXT),
        "the page says to wait: {}",
        r.text()
    );
    assert_eq!(
        smtp_auth(&s, BOB, PASSWORD),
        421,
        "webmail failures block SMTP AUTH from the address"
    );
    let ev = wait_audit(&s, ALICE, |e| {
        e["operation"] == "login-failed" && e["service"] == "webmail"
    });
    let failed = ev
        .iter()
        .filter(|e| e["operation"] == "login-failed" && e["service"] == "webmail")
        .count();
    assert_eq!(failed, 3, "{ev:#?}");
}

/// NC-2.1.4 the other way: SMTP AUTH failures block the webmail's sign-in from the same
/// address (with the page saying to wait), and a session already open is refused meanwhile.
#[test]
fn nc_2_1_4_smtp_auth_failures_block_the_webmail() {
    let s = guarded(10, 3);
    let open = Browser::sign_in(&s, BOB);
    // A first wrong password over the webmail says only that it is wrong.
    let (_, r) = failed_sign_in(&s, ALICE, "wrong password");
    assert_eq!(r.status, 401);
    assert!(!r.text().contains(WAIT_TEXT), "{}", r.text());
    for i in 1..3 {
        assert_eq!(smtp_auth(&s, ALICE, &format!("wrong password {i}")), 535);
    }
    let (_, r) = failed_sign_in(&s, BOB, PASSWORD);
    assert!(
        r.text().contains(WAIT_TEXT),
        "the right password is refused with a page saying to wait: {}",
        r.text()
    );
    assert_eq!(
        open.session_status(),
        401,
        "a blocked address uses no session"
    );
    assert!(!open.signed_in());
}

fn ops_of(events: &[Value], service: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["service"] == service)
        .filter_map(|e| e["operation"].as_str().map(str::to_owned))
        .collect()
}

/// AL-3.1: everything done through the webmail is in the owner's audit with service
/// `webmail`: a failed sign-in, the sign-in, a read, a send, a move, a delete to Trash, a
/// destroy and the sign-out.
#[test]
fn al_3_1_webmail_sign_in_read_send_move_delete_sign_out_are_audited() {
    let s = start_jmap();
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.test");
    c.expect(250);
    for id in ["first", "second"] {
        let (code, text) = c.send_mail(
            "sender@remote.test",
            &[ALICE],
            &common::message(id, "hello"),
        );
        assert_eq!(code, 250, "{text}");
    }
    s.wait_mailbox(ALICE, 2);
    let (_, r) = failed_sign_in(&s, ALICE, "wrong password");
    assert_eq!(r.status, 401);
    let b = Browser::sign_in(&s, ALICE);
    let acct = b.account_id();
    let boxes: std::collections::HashMap<String, String> = b
        .call1("Mailbox/get", json!({"accountId": acct}))["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| Some((m["role"].as_str()?.to_owned(), m["id"].as_str()?.to_owned())))
        .collect();
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids = b.call1(
            "Email/query",
            json!({"accountId": acct, "filter": {"inMailbox": boxes["inbox"]}}),
        )["ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if ids.len() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(ids.len(), 2, "both messages indexed in the Inbox");
    // Read.
    let got = b.call1(
        "Email/get",
        json!({"accountId": acct, "ids": [ids[0]], "properties": ["subject", "bodyValues"],
               "fetchTextBodyValues": true}),
    );
    assert!(
        got["list"][0]["bodyValues"]
            .as_object()
            .is_some_and(|v| !v.is_empty()),
        "{got}"
    );
    // Move to the archive, delete the other to Trash, then destroy it.
    let moved = b.call1(
        "Email/set",
        json!({"accountId": acct, "update": {
            ids[0].as_str().unwrap(): {"mailboxIds": {boxes["archive"].as_str(): true}}}}),
    );
    assert!(
        moved["updated"].get(ids[0].as_str().unwrap()).is_some(),
        "{moved}"
    );
    let trashed = b.call1(
        "Email/set",
        json!({"accountId": acct, "update": {
            ids[1].as_str().unwrap(): {"mailboxIds": {boxes["trash"].as_str(): true}}}}),
    );
    assert!(
        trashed["updated"].get(ids[1].as_str().unwrap()).is_some(),
        "{trashed}"
    );
    let destroyed = b.call1("Email/set", json!({"accountId": acct, "destroy": [ids[1]]}));
    assert_eq!(destroyed["destroyed"], json!([ids[1]]), "{destroyed}");
    // Send: the identity, a draft, its submission.
    let identity = b.call1("Identity/get", json!({"accountId": acct}))["list"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let draft = b.call1(
        "Email/set",
        json!({"accountId": acct, "create": {"d": {
            "mailboxIds": {boxes["drafts"].as_str(): true}, "keywords": {"$draft": true},
            "from": [{"email": ALICE}], "to": [{"email": BOB}], "subject": "from the webmail",
            "textBody": [{"partId": "t", "type": "text/plain"}],
            "bodyValues": {"t": {"value": "Sent from a browser."}}}}}),
    );
    let draft_id = draft["created"]["d"]["id"]
        .as_str()
        .expect("a draft")
        .to_owned();
    let sent = b.call1(
        "EmailSubmission/set",
        json!({"accountId": acct, "create": {"k": {"identityId": identity, "emailId": draft_id}}}),
    );
    assert_eq!(sent["created"]["k"]["undoStatus"], "final", "{sent}");
    s.wait_mailbox(BOB, 1);
    // Sign out.
    let out = post_form(
        &s,
        "/logout",
        &[(SESSION_COOKIE, &b.session)],
        &[],
        &form(&[("csrf", &b.csrf)]),
    );
    assert_eq!(out.status, 303);
    let want = [
        "login-failed",
        "login",
        "read",
        "move",
        "soft-delete",
        "hard-delete",
        "create",
        "send",
        "logout",
    ];
    let ev = wait_audit(&s, ALICE, |e| e["operation"] == "logout");
    let webmail = ops_of(&ev, "webmail");
    for op in want {
        assert!(
            webmail.iter().any(|o| o == op),
            "no {op} with service webmail: {ev:#?}"
        );
    }
    assert!(ops_of(&ev, "jmap").is_empty(), "recorded as jmap: {ev:#?}");
    assert!(
        ev.iter()
            .filter(|e| e["service"] == "webmail")
            .all(|e| e["client"] == "127.0.0.1"),
        "{ev:#?}"
    );
}
