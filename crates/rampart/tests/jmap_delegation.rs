//! Delegation over HTTPS (AL-3.1): `rampart mailbox grant` gives a delegate the owner's mailbox
//! as a second JMAP account, with the rights granted — read, send-as or full — and every access
//! by the delegate is in the owner's mailbox audit as the delegate's.

use crate::common;

use common::jmap::start_jmap;
use common::*;
use serde_json::{json, Value};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

fn grant(s: &Server, rights: &str) {
    let out = cli(
        &s.config,
        &["mailbox", "grant", ALICE, BOB, "--rights", rights],
        None,
    );
    assert!(out.contains("may now reach"), "{out}");
}

fn audit(s: &Server, user: &str) -> Vec<Value> {
    cli(
        &s.config,
        &["mailbox", "audit", "--user", user, "--json"],
        None,
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}

fn role(c: &common::jmap::Jmap<'_>, account: &str, role: &str) -> String {
    let r = c.call1("Mailbox/get", json!({"accountId": account}));
    r["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == role)
        .unwrap_or_else(|| panic!("no {role} in {r}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn al_3_1_a_reader_reads_cannot_change_and_is_audited_as_a_delegate() {
    let s = start_jmap();
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.example.org");
    c.expect(250);
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &[ALICE],
        &message("minutes", "The minutes."),
    );
    assert_eq!(code, 250, "{text}");
    grant(&s, "read");
    let alice_acc = s.jmap(ALICE).account_id();
    let bob = s.jmap(BOB);
    let inbox = role(&bob, &alice_acc, "inbox");
    let q = bob.call1(
        "Email/query",
        json!({"accountId": alice_acc, "filter": {"inMailbox": inbox}}),
    );
    let ids = q["ids"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 1, "{q}");
    let got = bob.call1(
        "Email/get",
        json!({"accountId": alice_acc, "ids": ids, "properties": ["subject", "bodyValues"],
               "fetchTextBodyValues": true}),
    );
    let body = got["list"][0]["bodyValues"].to_string();
    assert!(body.contains("The minutes."), "{got}");

    // A reader changes nothing: each write is accountReadOnly, and the state stays.
    let before =
        bob.call1("Email/get", json!({"accountId": alice_acc, "ids": []}))["state"].clone();
    let r = bob.call(json!([
        ["Mailbox/set", {"accountId": alice_acc, "create": {"x": {"name": "Bob's"}}}, "a"],
        ["Email/set", {"accountId": alice_acc, "update": {ids[0].as_str().unwrap(): {"keywords/$seen": true}}}, "b"],
        ["Email/set", {"accountId": alice_acc, "destroy": [ids[0]]}, "c"]
    ]));
    for (i, x) in r.iter().enumerate() {
        assert_eq!(x[0], "error", "call {i}: {x}");
        assert_eq!(x[1]["type"], "accountReadOnly", "call {i}: {x}");
    }
    let after = bob.call1("Email/get", json!({"accountId": alice_acc, "ids": []}))["state"].clone();
    assert_eq!(before, after);

    // AL-3.1: the read is in alice's audit, by bob, as a delegate.
    let events = audit(&s, ALICE);
    let read = events
        .iter()
        .find(|e| e["operation"] == "read")
        .unwrap_or_else(|| panic!("no read in {events:#?}"));
    assert_eq!(read["actor"], BOB);
    assert_eq!(read["actor_kind"], "delegate");
    assert_eq!(read["service"], "jmap");
    assert_eq!(read["client"], "127.0.0.1");
    // Bob's own audit has none of it.
    assert!(audit(&s, BOB).iter().all(|e| e["operation"] != "read"));
}

#[test]
fn a_full_delegate_changes_and_copies_and_a_send_as_delegate_sends_as_the_owner() {
    let s = start_jmap();
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.example.org");
    c.expect(250);
    let (code, text) = c.send_mail("sender@remote.test", &[ALICE], &message("report", "Q3."));
    assert_eq!(code, 250, "{text}");
    grant(&s, "full");
    let alice_acc = s.jmap(ALICE).account_id();
    let bob = s.jmap(BOB);
    let bob_acc = bob.account_id();
    let inbox = role(&bob, &alice_acc, "inbox");
    let id = bob.call1(
        "Email/query",
        json!({"accountId": alice_acc, "filter": {"inMailbox": inbox}}),
    )["ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let r = bob.call1(
        "Email/set",
        json!({"accountId": alice_acc, "update": {&id: {"keywords/$flagged": true}}}),
    );
    assert!(r["updated"].get(&id).is_some(), "{r}");
    // AL-1.2: the trusted senders are alice's own judgement, not a delegate's, even with full
    // rights: not offered on her account in bob's session, and refused if asked for.
    let session = bob.session();
    let caps = &session["accounts"][&alice_acc]["accountCapabilities"];
    assert!(caps.get("urn:ietf:params:jmap:mail").is_some(), "{caps}");
    assert!(
        caps.get("urn:rampart:params:jmap:trustedsenders").is_none(),
        "{caps}"
    );
    let r = bob.call(json!([["TrustedSender/get", {"accountId": alice_acc, "ids": null}, "t"]]));
    assert_eq!(r[0][0], "error", "{r:?}");
    assert_eq!(r[0][1]["type"], "forbidden", "{r:?}");
    // Email/copy from alice's mailbox into bob's own Inbox.
    let bob_inbox = role(&bob, &bob_acc, "inbox");
    let r = bob.call1(
        "Email/copy",
        json!({"fromAccountId": alice_acc, "accountId": bob_acc,
               "create": {"c1": {"id": id, "mailboxIds": {bob_inbox.clone(): true}}}}),
    );
    assert!(r["created"].get("c1").is_some(), "{r}");
    let events = audit(&s, ALICE);
    let flagged = events
        .iter()
        .find(|e| e["operation"] == "keywords")
        .unwrap_or_else(|| panic!("no keywords event in {events:#?}"));
    assert_eq!(flagged["actor"], BOB);
    assert_eq!(flagged["actor_kind"], "delegate");

    // send-as: bob may use alice's address (NC-2.1.7 through the grant) and sends as her from
    // his own account; bob receives it with her From.
    grant(&s, "send-as");
    let r = bob.call1(
        "Identity/set",
        json!({"accountId": bob_acc, "create": {"i": {"email": ALICE, "name": "Alice (by Bob)"}}}),
    );
    let identity = r["created"]["i"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    let drafts = role(&bob, &bob_acc, "drafts");
    let r = bob.call(json!([
        ["Email/set", {"accountId": bob_acc, "create": {"d": {
            "mailboxIds": {drafts: true},
            "from": [{"email": ALICE}], "to": [{"email": BOB}],
            "subject": "on alice's behalf",
            "bodyValues": {"b": {"value": "Sent by Bob as Alice."}},
            "textBody": [{"partId": "b", "type": "text/plain"}]}}}, "a"],
        ["EmailSubmission/set", {"accountId": bob_acc, "create": {"s": {
            "identityId": identity, "emailId": "#d"}}}, "b"]
    ]));
    assert!(r[1][1]["created"].get("s").is_some(), "{r:?}");
    let q = bob.call1(
        "Email/query",
        json!({"accountId": bob_acc, "filter": {"inMailbox": bob_inbox, "subject": "behalf"}}),
    );
    assert_eq!(q["ids"].as_array().unwrap().len(), 1, "{q}");
    let got = bob.call1(
        "Email/get",
        json!({"accountId": bob_acc, "ids": q["ids"], "properties": ["from"]}),
    );
    assert_eq!(got["list"][0]["from"][0]["email"], ALICE);

    // A reader may not: after `--rights read` the same submission's envelope sender (alice,
    // from the identity) is refused first: forbiddenMailFrom.
    grant(&s, "read");
    let r = bob.call(json!([
        ["Email/set", {"accountId": bob_acc, "create": {"d": {
            "mailboxIds": {role(&bob, &bob_acc, "drafts"): true},
            "from": [{"email": ALICE}], "to": [{"email": BOB}], "subject": "again",
            "bodyValues": {"b": {"value": "x"}},
            "textBody": [{"partId": "b", "type": "text/plain"}]}}}, "a"],
        ["EmailSubmission/set", {"accountId": bob_acc, "create": {"s": {
            "identityId": identity, "emailId": "#d"}}}, "b"]
    ]));
    let not = &r[1][1]["notCreated"]["s"];
    assert_eq!(not["type"], "forbiddenMailFrom", "{r:?}");
}
