//! Sending over JMAP (RFC 8621 §6–§8) against a real `rampart serve`, spoken with curl:
//! Identity, EmailSubmission through the SMTP submission pipeline (NC-2.1.7, NC-2.1.8, AL-1.5),
//! VacationResponse (AL-4.2) and their mailbox audit rows (AL-3.1).
//!
//! Drafts are put into alice's Drafts mailbox through the store while the server is stopped
//! (Email/set create and Email/import belong to other methods' tests).

use crate::common;

use crate::clamd;

use common::jmap::*;
use common::{wait_trace, Options, Server};
use rampart_store::mailbox_audit::op;
use rampart_store::{MailStore, MailboxAudit, MailboxEventFilter, Sqlite};
use serde_json::{json, Value};
use std::collections::HashMap;

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f` on the server's store with the server stopped, then starts it again.
fn with_store<T>(s: &mut Server, f: impl AsyncFnOnce(&Sqlite) -> T) -> T {
    s.terminate();
    let rt = runtime();
    let out = {
        let (store, thread) = Sqlite::open(&s.data_dir()).unwrap();
        let out = rt.block_on(f(&store));
        drop(store);
        thread.join().unwrap();
        out
    };
    s.spawn();
    out
}

/// Puts each message into alice's Drafts with `$draft`; the email ids and her mailbox ids by
/// role, as JMAP ids.
fn drafts(s: &mut Server, raws: &[String]) -> (Vec<String>, HashMap<String, String>) {
    let raws = raws.to_vec();
    with_store(s, async move |st: &Sqlite| {
        st.mailbox_ensure(ALICE).await.unwrap();
        let boxes: HashMap<String, i64> = st
            .mailbox_get(ALICE)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|b| Some((b.role?, b.id)))
            .collect();
        let mut ids = Vec::new();
        for raw in raws {
            let id = st
                .email_import(
                    ALICE,
                    raw.into_bytes(),
                    vec![boxes["drafts"]],
                    vec!["$draft".into()],
                    None,
                )
                .await
                .unwrap();
            ids.push(format!("E{id}"));
        }
        let boxes = boxes
            .into_iter()
            .map(|(r, id)| (r, format!("M{id}")))
            .collect();
        (ids, boxes)
    })
}

fn draft(from: &str, to: &str, extra: &str, n: u32, body: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\n{extra}Subject: draft {n}\r\nMessage-ID: <draft{n}@example.test>\r\n\
         Date: Thu, 3 Dec 2026 08:00:00 +0000\r\n\r\n{body}\r\n"
    )
}

/// Alice's own identity id (made on first use).
fn own_identity(c: &Jmap<'_>, account: &str) -> String {
    let r = c.call1("Identity/get", json!({"accountId": account}));
    let list = r["list"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{r}");
    assert_eq!(list[0]["email"], ALICE);
    assert_eq!(list[0]["mayDelete"], false);
    list[0]["id"].as_str().unwrap().to_owned()
}

/// One EmailSubmission/set create; the whole response list.
fn submit(c: &Jmap<'_>, account: &str, create: Value, extra: Value) -> Vec<Value> {
    let mut args = json!({"accountId": account, "create": {"k": create}});
    if let (Value::Object(a), Value::Object(e)) = (&mut args, extra) {
        a.extend(e);
    }
    c.call(json!([["EmailSubmission/set", args, "0"]]))
}

fn not_created(r: &[Value]) -> Value {
    assert_eq!(r[0][0], "EmailSubmission/set", "{r:?}");
    r[0][1]["notCreated"]["k"].clone()
}

fn audit(s: &mut Server, user: &str, operation: &str) -> Vec<String> {
    let (user, operation) = (user.to_owned(), operation.to_owned());
    with_store(s, async move |st: &Sqlite| {
        st.mailbox_events(&MailboxEventFilter {
            account: Some(user),
            operations: vec![operation],
            ..MailboxEventFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e.service,
                e.client.unwrap_or_default(),
                e.detail
            )
        })
        .collect()
    })
}

#[test]
fn submission_reaches_bob_through_the_pipeline_and_moves_the_draft_to_sent() {
    let mut s = start_jmap();
    let raw = draft(ALICE, BOB, "Bcc: <team@example.test>\r\n", 1, "See you.");
    let (emails, boxes) = drafts(&mut s, &[raw]);
    let c = s.jmap(ALICE);
    let account = c.account_id();
    let identity = own_identity(&c, &account);
    let r = submit(
        &c,
        &account,
        json!({"identityId": identity, "emailId": emails[0]}),
        json!({"onSuccessUpdateEmail": {"#k": {
            format!("mailboxIds/{}", boxes["drafts"]): null,
            format!("mailboxIds/{}", boxes["sent"]): true,
            "keywords/$draft": null,
        }}}),
    );
    let created = &r[0][1]["created"]["k"];
    assert_eq!(created["undoStatus"], "final", "{r:?}");
    let sub_id = created["id"].as_str().unwrap().to_owned();
    // The implicit Email/set of onSuccessUpdateEmail follows.
    assert_eq!(r[1][0], "Email/set", "{r:?}");
    assert!(r[1][1]["updated"].get(&emails[0]).is_some(), "{r:?}");
    // Bob receives it with alice's From, and without the Bcc header (RFC 8621 §7.5).
    let bob = s.wait_mailbox(BOB, 1);
    let id = bob[0].split('\t').next().unwrap();
    let got = s.show(BOB, id);
    assert!(got.contains("From: <alice@example.test>"), "{got}");
    assert!(got.contains("Subject: draft 1"), "{got}");
    assert!(!got.contains("team@example.test"), "{got}");
    // The trace shows the submission and where it came from (the HTTPS client).
    wait_trace(
        &s,
        &["trace", "--sender", ALICE],
        "submission over JMAP (HTTPS) from 127.0.0.1",
    );
    // get, query and changes see it.
    let g = c.call1(
        "EmailSubmission/get",
        json!({"accountId": account, "ids": [sub_id]}),
    );
    assert_eq!(g["list"][0]["emailId"], emails[0].as_str());
    assert_eq!(g["list"][0]["identityId"], identity.as_str());
    let rcpts: Vec<&str> = g["list"][0]["envelope"]["rcptTo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["email"].as_str())
        .collect();
    assert_eq!(rcpts, [BOB, "team@example.test"]);
    let q = c.call1("EmailSubmission/query", json!({"accountId": account}));
    assert_eq!(q["ids"], json!([sub_id]));
    let ch = c.call1(
        "EmailSubmission/changes",
        json!({"accountId": account, "sinceState": "0"}),
    );
    assert_eq!(ch["created"], json!([sub_id]));
    let qc = c.call1(
        "EmailSubmission/queryChanges",
        json!({"accountId": account, "sinceQueryState": "0"}),
    );
    assert_eq!(qc["added"], json!([{"id": sub_id, "index": 0}]));
    // Destroying the record forgets it (the message stays sent).
    let d = c.call1(
        "EmailSubmission/set",
        json!({"accountId": account, "destroy": [sub_id], "update": {&sub_id: {"undoStatus": "canceled"}}}),
    );
    assert_eq!(d["destroyed"], json!([sub_id]), "{d}");
    assert_eq!(d["notUpdated"][&sub_id]["type"], "cannotUnsend", "{d}");
    let ch2 = c.call1(
        "EmailSubmission/changes",
        json!({"accountId": account, "sinceState": ch["newState"]}),
    );
    assert_eq!(ch2["destroyed"], json!([sub_id]), "{ch2}");
    // The draft is now in Sent, without $draft.
    let email_n: i64 = emails[0][1..].parse().unwrap();
    let rec = with_store(&mut s, async move |st: &Sqlite| {
        st.email_get(ALICE, &[email_n]).await.unwrap().remove(0)
    });
    let sent: i64 = boxes["sent"][1..].parse().unwrap();
    assert_eq!(rec.mailboxes, [sent]);
    assert!(!rec.keywords.iter().any(|k| k == "$draft"), "{rec:?}");
    // AL-3.1: the send with its recipient count, and no address.
    let rows = audit(&mut s, ALICE, op::SEND);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].starts_with("jmap 127.0.0.1 "), "{rows:?}");
    assert!(
        rows[0].contains("to 2 recipient(s), queued as "),
        "{rows:?}"
    );
    assert!(!rows[0].contains('@'), "{rows:?}");
}

#[test]
fn nc_2_1_7_from_header_and_envelope_sender_she_may_not_use_are_refused() {
    let mut s = start_jmap();
    let (emails, _) = drafts(
        &mut s,
        &[
            draft(BOB, BOB, "", 1, "Not hers to send."),
            draft(ALICE, BOB, "", 2, "Hers."),
            format!("From: <{ALICE}>\r\nSubject: nobody\r\n\r\nno recipients\r\n"),
        ],
    );
    let c = s.jmap(ALICE);
    let account = c.account_id();
    let identity = own_identity(&c, &account);
    // NC-2.1.7: the From header is bob's: forbiddenFrom, with the pipeline's reply.
    let e = not_created(&submit(
        &c,
        &account,
        json!({"identityId": identity, "emailId": emails[0]}),
        json!({}),
    ));
    assert_eq!(e["type"], "forbiddenFrom", "{e}");
    assert!(
        e["description"]
            .as_str()
            .unwrap()
            .contains("550 5.7.1 Header From <bob@example.test>"),
        "{e}"
    );
    // NC-2.1.7: the envelope sender is bob's: forbiddenMailFrom.
    let env = json!({"mailFrom": {"email": BOB}, "rcptTo": [{"email": BOB}]});
    let e = not_created(&submit(
        &c,
        &account,
        json!({"identityId": identity, "emailId": emails[1], "envelope": env}),
        json!({}),
    ));
    assert_eq!(e["type"], "forbiddenMailFrom", "{e}");
    // A recipient that does not exist: invalidRecipients, naming it.
    let env = json!({"mailFrom": {"email": ALICE}, "rcptTo": [{"email": BOB}, {"email": "nobody@example.test"}]});
    let e = not_created(&submit(
        &c,
        &account,
        json!({"identityId": identity, "emailId": emails[1], "envelope": env}),
        json!({}),
    ));
    assert_eq!(e["type"], "invalidRecipients", "{e}");
    assert_eq!(e["invalidRecipients"], json!(["nobody@example.test"]));
    // No To, Cc or Bcc and no envelope: noRecipients.
    let e = not_created(&submit(
        &c,
        &account,
        json!({"identityId": identity, "emailId": emails[2]}),
        json!({}),
    ));
    assert_eq!(e["type"], "noRecipients", "{e}");
    // Nothing reached bob, and nothing was recorded as sent.
    assert!(s.mailbox(BOB).is_empty());
    let q = c.call1("EmailSubmission/query", json!({"accountId": account}));
    assert_eq!(q["ids"], json!([]));
}

#[test]
fn nc_2_1_7_identity_set_allows_only_addresses_she_may_send_as() {
    let mut s = start_jmap();
    common::cli(
        &s.config,
        &["user", "send-as", ALICE, "sales@example.test"],
        None,
    );
    let c = s.jmap(ALICE);
    let account = c.account_id();
    let own = own_identity(&c, &account);
    let state = c.call1("Identity/get", json!({"accountId": account}))["state"].clone();
    let r = c.call1(
        "Identity/set",
        json!({"accountId": account, "create": {
            "bob": {"email": BOB, "name": "Bob?"},
            "sales": {"email": "sales@example.test", "name": "Sales", "textSignature": "--\nSales",
                "replyTo": [{"name": "Sales", "email": "sales@example.test"}]},
            "bad": {"email": "sales@example.test", "replyTo": "sales@example.test"},
        }, "destroy": [own]}),
    );
    assert_eq!(r["notCreated"]["bob"]["type"], "forbiddenFrom", "{r}");
    assert_eq!(r["notCreated"]["bad"]["type"], "invalidProperties", "{r}");
    assert_eq!(
        r["notCreated"]["bad"]["properties"],
        json!(["replyTo"]),
        "{r}"
    );
    assert_eq!(r["notDestroyed"][&own]["type"], "forbidden", "{r}");
    let sales = r["created"]["sales"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r["created"]["sales"]["mayDelete"], true);
    let ch = c.call1(
        "Identity/changes",
        json!({"accountId": account, "sinceState": state}),
    );
    assert_eq!(ch["created"], json!([sales]));
    let r = c.call1(
        "Identity/set",
        json!({"accountId": account, "update": {&sales: {"name": "Sales team", "email": "x@example.test"}}}),
    );
    assert_eq!(r["notUpdated"][&sales]["type"], "invalidProperties", "{r}");
    let r = c.call1(
        "Identity/set",
        json!({"accountId": account, "update": {&sales: {"name": "Sales team"}}}),
    );
    assert!(r["updated"].get(&sales).is_some(), "{r}");
    let g = c.call1(
        "Identity/get",
        json!({"accountId": account, "ids": [&sales]}),
    );
    assert_eq!(g["list"][0]["name"], "Sales team");
    assert_eq!(g["list"][0]["textSignature"], "--\nSales");
    assert_eq!(
        g["list"][0]["replyTo"],
        json!([{"name": "Sales", "email": "sales@example.test"}])
    );
    assert_eq!(g["list"][0]["bcc"], json!(null));
    // AL-3.1: the identity changes are in the mailbox audit.
    let rows = audit(&mut s, ALICE, op::IDENTITY);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0].contains(&format!("create {sales} <sales@example.test>")));
    assert!(rows[1].contains(&format!("update {sales}")));
}

#[test]
fn al_1_5_dlp_refusal_and_nc_2_1_8_rate_limit_are_set_errors() {
    let mut s = start_jmap_with(Options {
        top:
            "[[rate_limit]]\nscope = \"user\"\nwhat = \"messages\"\nlimit = 2\nwindow_secs = 3600\n"
                .into(),
        ..Options::default()
    });
    let card = "My card: 4111 1111 1111 1111, expires 12/29.";
    let (emails, _) = drafts(
        &mut s,
        &[
            draft(ALICE, BOB, "", 1, card),
            draft(ALICE, BOB, "", 2, "Fine."),
        ],
    );
    let c = s.jmap(ALICE);
    let account = c.account_id();
    let identity = own_identity(&c, &account);
    // AL-1.5: the DLP check refuses it, as it would over SMTP.
    let e = not_created(&submit(
        &c,
        &account,
        json!({"identityId": identity, "emailId": emails[0]}),
        json!({}),
    ));
    assert_eq!(e["type"], "forbiddenToSend", "{e}");
    let d = e["description"].as_str().unwrap();
    assert!(d.starts_with("550 5.7.1 Message refused"), "{d}");
    assert!(d.contains("payment_card"), "{d}");
    assert!(!d.contains("4111"), "the value is never shown: {d}");
    // NC-2.1.8: the refused message counted; the second is the last the limit allows.
    let r = submit(
        &c,
        &account,
        json!({"identityId": identity, "emailId": emails[1]}),
        json!({}),
    );
    assert!(r[0][1]["created"].get("k").is_some(), "{r:?}");
    let e = not_created(&submit(
        &c,
        &account,
        json!({"identityId": identity, "emailId": emails[1]}),
        json!({}),
    ));
    assert_eq!(e["type"], "rateLimit", "{e}");
    assert!(
        e["description"]
            .as_str()
            .unwrap()
            .starts_with("451 4.7.1 Rate limit reached"),
        "{e}"
    );
    assert_eq!(s.wait_mailbox(BOB, 1).len(), 1);
}

#[test]
fn al_4_2_vacation_response_answers_each_sender_once_and_never_lists() {
    let mut s = start_jmap_with(Options {
        listener: "\n[[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n".into(),
        ..Options::default()
    });
    let c = s.jmap(BOB);
    let account = c.account_id();
    let r = c.call1(
        "VacationResponse/set",
        json!({"accountId": account, "update": {"singleton": {
            "isEnabled": true, "subject": "Away", "textBody": "Back on Monday.",
            "fromDate": "2020-01-01T00:00:00Z", "toDate": null,
        }}}),
    );
    assert!(r["updated"].get("singleton").is_some(), "{r}");
    let g = c.call1("VacationResponse/get", json!({"accountId": account}));
    assert_eq!(g["list"][0]["isEnabled"], true);
    assert_eq!(g["list"][0]["fromDate"], "2020-01-01T00:00:00Z");
    let r = c.call1(
        "VacationResponse/set",
        json!({"accountId": account, "create": {"x": {}}, "destroy": ["singleton"]}),
    );
    assert_eq!(r["notCreated"]["x"]["type"], "singleton");
    assert_eq!(r["notDestroyed"]["singleton"]["type"], "singleton");
    // Alice writes to bob: a list message, an automatic one, then two ordinary ones.
    let mut smtp = s.login_alice();
    for (n, extra) in [
        (1, "List-Id: <team.example.test>\r\n"),
        (2, "Auto-Submitted: auto-generated\r\n"),
        (3, ""),
        (4, ""),
    ] {
        let m = format!(
            "From: <{ALICE}>\r\nTo: <{BOB}>\r\n{extra}Subject: q{n}\r\nMessage-ID: <q{n}@example.test>\r\n\r\nsecret {n}\r\n"
        );
        let (code, text) = smtp.send_mail(ALICE, &[BOB], &m);
        assert_eq!(code, 250, "{text}");
    }
    // Each decision is made before the 250: all four are in the trace.
    let t = wait_trace(
        &s,
        &["trace", "--recipient", BOB],
        "already answered within 7 days",
    );
    assert_eq!(t.matches("no automatic reply").count(), 3, "{t}");
    assert!(t.contains(": List-* header"), "{t}");
    assert!(t.contains(": Auto-Submitted"), "{t}");
    assert_eq!(
        t.matches("automatic reply to <alice@example.test>").count() - 3,
        1,
        "{t}"
    );
    // Exactly one reply reaches alice: to the envelope sender, marked, nothing of the original.
    let got = s.wait_mailbox(ALICE, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    let id = got[0].split('\t').next().unwrap();
    let reply = s.show(ALICE, id);
    assert!(reply.contains("Auto-Submitted: auto-replied"), "{reply}");
    assert!(reply.contains("In-Reply-To: <q3@example.test>"), "{reply}");
    assert!(reply.contains("Subject: Away"), "{reply}");
    assert!(reply.contains("Return-Path: <>"), "{reply}");
    assert!(!reply.contains("secret"), "{reply}");
    drop(smtp);
    // AL-3.1: the vacation change is in bob's mailbox audit.
    let rows = audit(&mut s, BOB, op::VACATION);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("enabled=true"), "{rows:?}");
}

#[test]
fn nc_2_3_2_antivirus_refusal_is_a_set_error_and_nothing_is_sent() {
    let mut av = clamd::Clamd::start(&[(
        "test.ndb",
        clamd::ndb_line(&clamd::eicar(), "Eicar-Test-Signature"),
    )]);
    let mut s = start_jmap_with(Options {
        checks: Some(format!(
            "disabled = []\n[checks.antivirus]\nclamd = \"{}\"\ntimeout_ms = 20000\n\
             [checks.authentication]\ndns_timeout_ms = 500\n",
            av.socket.display()
        )),
        ..Options::default()
    });
    let eicar = String::from_utf8(clamd::eicar()).unwrap();
    let raw = format!(
        "From: <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: file\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"t.com\"\r\n\
         Content-Transfer-Encoding: 7bit\r\n\r\n{eicar}\r\n--b1--\r\n"
    );
    let (emails, _) = drafts(&mut s, &[raw]);
    let c = s.jmap(ALICE);
    let account = c.account_id();
    let identity = own_identity(&c, &account);
    let e = not_created(&submit(
        &c,
        &account,
        json!({"identityId": identity, "emailId": emails[0]}),
        json!({}),
    ));
    assert_eq!(e["type"], "forbiddenToSend", "{e}");
    assert!(
        e["description"]
            .as_str()
            .unwrap()
            .starts_with("554 5.7.1 Message refused: virus found"),
        "{e}"
    );
    assert!(s.mailbox(BOB).is_empty());
    av.stop();
}
