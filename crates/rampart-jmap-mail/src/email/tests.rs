//! Email/get, Email/import, Email/parse and Email/set create over a real embedded store,
//! called the way the engine calls them (the HTTPS round trip is in
//! crates/rampart/tests/jmap_email.rs).

use std::collections::BTreeSet;

use rampart_jmap::{Access, CallContext, CoreCapability, Origin};
use rampart_store::mailbox_audit::op;
use rampart_store::{AnyStore, MailboxEventFilter};
use serde_json::{json, Map, Value};

use crate::account::MailAccount;
use crate::testutil::{owner_user, temp_store, TempStore};
use crate::{ids, MailMethods};

const A: &str = "alice@example.test";

struct Fixture {
    t: TempStore,
    store: AnyStore,
    m: MailMethods,
    cx: CallContext,
    account: MailAccount,
}

async fn fixture() -> Fixture {
    let t = temp_store("rampart-jmap-mail", A).await;
    let store = t.store.clone();
    let id = ids::account(A);
    let user = owner_user(
        A,
        Origin {
            ip: None,
            user_agent: Some("unit".into()),
            service: "jmap",
        },
    );
    Fixture {
        t,
        m: MailMethods::new(store.clone()),
        store,
        cx: CallContext::new(user, CoreCapability::default(), BTreeSet::new()),
        account: MailAccount {
            id,
            owner: A.into(),
            access: Access::Owner,
        },
    }
}

impl Fixture {
    async fn mailbox(&self, role: &str) -> String {
        let boxes = self.store.mailbox_get(A).await.unwrap();
        let b = boxes
            .iter()
            .find(|b| b.role.as_deref() == Some(role))
            .unwrap();
        ids::mailbox(b.id)
    }

    async fn call(&mut self, name: &str, args: Value) -> Value {
        let Value::Object(mut a) = args else {
            panic!("arguments must be an object")
        };
        a.insert("accountId".into(), self.account.id.clone().into());
        let out = rampart_jmap::Methods::call(&self.m, &mut self.cx, name, a)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        Value::Object(out[0].1.clone())
    }

    async fn reads(&self) -> Vec<String> {
        self.store
            .mailbox_events(&MailboxEventFilter {
                account: Some(A.into()),
                operations: vec![op::READ.into()],
                ..MailboxEventFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.detail)
            .collect()
    }
}

#[tokio::test]
async fn al_3_1_create_then_get_shows_what_was_created() {
    let mut f = fixture().await;
    let drafts = f.mailbox("drafts").await;
    let object = json!({
        "mailboxIds": {drafts.clone(): true},
        "keywords": {"$draft": true},
        "from": [{"name": "Alice", "email": A}],
        "to": [{"email": "bob@example.test"}],
        "subject": "Plans",
        "textBody": [{"partId": "t", "type": "text/plain"}],
        "bodyValues": {"t": {"value": "Lunch at noon?"}},
    });
    let created = super::create::create(
        &f.m,
        &mut f.cx,
        &f.account.clone(),
        "k1",
        object.as_object().unwrap(),
    )
    .await
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["blobId"].is_string() && created["threadId"].is_string());
    assert!(created["size"].as_u64().unwrap() > 0);
    let got = f
        .call(
            "Email/get",
            json!({"ids": [id], "properties": ["subject", "from", "keywords", "mailboxIds",
                "textBody", "bodyValues"], "fetchTextBodyValues": true}),
        )
        .await;
    let e = &got["list"][0];
    assert_eq!(e["subject"], "Plans");
    assert_eq!(e["from"], json!([{"name": "Alice", "email": A}]));
    assert_eq!(e["keywords"], json!({"$draft": true}));
    assert_eq!(e["mailboxIds"], json!({drafts: true}));
    let part = e["textBody"][0]["partId"].as_str().unwrap();
    assert_eq!(e["bodyValues"][part]["value"], "Lunch at noon?");
    // A server-set property given by the client is refused.
    let bad = json!({"mailboxIds": {f.mailbox("drafts").await: true}, "size": 5});
    let err = super::create::create(
        &f.m,
        &mut f.cx,
        &f.account.clone(),
        "k2",
        bad.as_object().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.properties, vec!["size".to_string()]);
    let created_events = f
        .store
        .mailbox_events(&MailboxEventFilter {
            account: Some(A.into()),
            operations: vec![op::CREATE.into()],
            ..MailboxEventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(created_events.len(), 1);
    assert!(created_events[0].detail.contains(&id));
}

#[tokio::test]
async fn al_3_1_metadata_only_get_records_no_read_and_body_get_does() {
    let mut f = fixture().await;
    let inbox = f.mailbox("inbox").await;
    let raw = "From: <x@remote.test>\r\nTo: <alice@example.test>\r\nSubject: hi\r\nMessage-ID: <m1@remote.test>\r\n\r\nhello there\r\n";
    let id = f
        .store
        .email_import(
            A,
            raw.as_bytes().to_vec(),
            vec![ids::parse(ids::MAILBOX, &inbox).unwrap()],
            vec![],
            None,
        )
        .await
        .unwrap();
    let eid = ids::email(id);
    let meta = f
        .call(
            "Email/get",
            json!({"ids": [eid], "properties": ["subject", "from", "preview", "messageId"]}),
        )
        .await;
    assert_eq!(meta["list"][0]["subject"], "hi");
    assert_eq!(meta["list"][0]["messageId"], json!(["m1@remote.test"]));
    assert_eq!(meta["list"][0]["preview"], "hello there");
    assert!(f.reads().await.is_empty(), "metadata is not a read");
    let body = f
        .call(
            "Email/get",
            json!({"ids": [eid], "fetchTextBodyValues": true}),
        )
        .await;
    assert_eq!(
        body["list"][0]["bodyValues"]["0"]["value"],
        "hello there\r\n"
    );
    assert_eq!(f.reads().await, vec![format!("Email/get {eid}")]);
}

#[tokio::test]
async fn import_refuses_what_the_checks_refuse() {
    let mut f = fixture().await;
    let inbox = f.mailbox("inbox").await;
    for (raw, why) in [
        (
            "From: <a@x.test>\r\nFrom: <b@x.test>\r\nSubject: two\r\n\r\nbody\r\n",
            "two From",
        ),
        (
            "From: <a@x.test>\r\nSubject: cr\r\n\r\nbare\rCR\r\n",
            "bare CR",
        ),
    ] {
        let up = f
            .store
            .upload_blob(A, "message/rfc822", raw.as_bytes().to_vec())
            .await
            .unwrap();
        let out = f
            .call(
                "Email/import",
                json!({"emails": {"i": {"blobId": ids::make(ids::UPLOAD_BLOB, up.id),
                    "mailboxIds": {inbox.clone(): true}}}}),
            )
            .await;
        assert_eq!(
            out["notCreated"]["i"]["type"], "invalidEmail",
            "{why}: {out}"
        );
        // The same bytes cannot be parsed either: one message, one meaning.
        let parsed = f
            .call(
                "Email/parse",
                json!({"blobIds": [ids::make(ids::UPLOAD_BLOB, up.id)]}),
            )
            .await;
        assert_eq!(
            parsed["notParsable"],
            json!([ids::make(ids::UPLOAD_BLOB, up.id)]),
            "{why}"
        );
    }
}

#[tokio::test]
async fn the_metadata_path_never_opens_the_message() {
    let mut f = fixture().await;
    let inbox = ids::parse(ids::MAILBOX, &f.mailbox("inbox").await).unwrap();
    // Past the inline limit, so the message is a file of its own.
    let raw = format!(
        "From: \"Ann\" <ann@remote.test>\r\nTo: <alice@example.test>\r\nSubject: big\r\n\
         Date: Tue, 1 Jul 2025 10:52:37 +0200\r\nMessage-ID: <big@remote.test>\r\n\r\n{}\r\n",
        "0123456789abcdef".repeat(16 * 1024)
    );
    let id = f
        .store
        .email_import(A, raw.into_bytes(), vec![inbox], vec![], None)
        .await
        .unwrap();
    // The message file goes: only a read that opens it can notice.
    let mut removed = 0;
    for entry in std::fs::read_dir(f.t.dir.join("messages")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
        removed += 1;
    }
    assert_eq!(removed, 1);
    let props = json!([
        "id",
        "threadId",
        "mailboxIds",
        "keywords",
        "receivedAt",
        "size",
        "from",
        "to",
        "subject",
        "preview",
        "hasAttachment",
        "sentAt",
        "messageId",
        "blobId"
    ]);
    let got = f
        .call(
            "Email/get",
            json!({"ids": [ids::email(id)], "properties": props}),
        )
        .await;
    let e = &got["list"][0];
    assert_eq!(e["subject"], "big");
    assert_eq!(
        e["from"],
        json!([{"name": "Ann", "email": "ann@remote.test"}])
    );
    assert_eq!(e["sentAt"], "2025-07-01T08:52:37Z");
    assert_eq!(e["messageId"], json!(["big@remote.test"]));
    assert!(e["preview"]
        .as_str()
        .unwrap()
        .starts_with("0123456789abcdef"));
    // A property the record does not hold opens the message, which is gone: the call fails.
    let mut a = Map::new();
    a.insert("accountId".into(), f.account.id.clone().into());
    a.insert("ids".into(), json!([ids::email(id)]));
    a.insert("properties".into(), json!(["inReplyTo"]));
    assert!(rampart_jmap::Methods::call(&f.m, &mut f.cx, "Email/get", a)
        .await
        .is_err());
}
