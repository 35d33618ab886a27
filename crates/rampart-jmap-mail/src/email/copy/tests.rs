//! Email/copy between two accounts one user reaches (their own and a delegated one), and the
//! access rules of a delegate, over a real store: delegation is granted by the server, so these
//! build the caller's accounts directly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rampart_jmap::{Access, Account, CallContext, CoreCapability, Methods, User};
use rampart_store::mailbox_audit::op;
use rampart_store::{ActorKind, AnyStore, MailboxEventFilter, Sqlite};
use serde_json::{json, Map, Value};

use crate::{ids, MailMethods};

const OWNER: &str = "alice@example.test";
const DELEGATE: &str = "bob@example.test";

fn account(owner: &str, access: Access) -> Account {
    Account {
        id: ids::account(owner),
        name: owner.into(),
        is_personal: access == Access::Owner,
        is_read_only: access == Access::DelegateRead,
        owner: owner.into(),
        access,
        ..Default::default()
    }
}

/// Bob, who reaches his own account and alice's with `access`.
fn bob(access: Access) -> CallContext {
    let user = User {
        username: DELEGATE.into(),
        accounts: vec![account(DELEGATE, Access::Owner), account(OWNER, access)],
        primary_accounts: BTreeMap::new(),
        origin: Default::default(),
    };
    CallContext::new(user, CoreCapability::default(), BTreeSet::new())
}

struct Fixture {
    m: MailMethods,
    _dir: std::path::PathBuf,
}

fn fixture(tag: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "rampart-jmap-mail-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (store, _writer) = Sqlite::open(&dir).unwrap();
    let store: AnyStore = Arc::new(store);
    Fixture {
        m: MailMethods::new(store),
        _dir: dir,
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn role(m: &MailMethods, owner: &str, role: &str) -> i64 {
    m.store.mailbox_ensure(owner).await.unwrap();
    m.store
        .mailbox_get(owner)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.role.as_deref() == Some(role))
        .unwrap()
        .id
}

#[tokio::test]
async fn copy_between_accounts_with_destroy_original_and_al_3_1_audit() {
    let f = fixture("copy");
    let m = &f.m;
    let alice_inbox = role(m, OWNER, "inbox").await;
    let bob_archive = role(m, DELEGATE, "archive").await;
    let raw = b"Subject: shared\r\nMessage-ID: <s@x>\r\n\r\nhello\r\n".to_vec();
    let src = m
        .store
        .email_import(OWNER, raw, vec![alice_inbox], vec![], None)
        .await
        .unwrap();
    let mut cx = bob(Access::DelegateFull);
    let args = obj(json!({
        "fromAccountId": ids::account(OWNER),
        "accountId": ids::account(DELEGATE),
        "create": {
            "c1": {"id": ids::email(src), "mailboxIds": {ids::mailbox(bob_archive): true},
                   "keywords": {"$seen": true}},
            "c2": {"id": "E999999", "mailboxIds": {ids::mailbox(bob_archive): true}},
            "c3": {"id": ids::email(src), "mailboxIds": {}, "subject": "x"},
        },
        "onSuccessDestroyOriginal": true,
    }));
    let out = m.call(&mut cx, "Email/copy", args).await.unwrap();
    assert_eq!(out.len(), 2, "{out:?}");
    let (name, copy) = &out[0];
    assert_eq!(name, "Email/copy");
    assert_eq!(copy["fromAccountId"], ids::account(OWNER));
    let created = &copy["created"]["c1"];
    let new_id = ids::parse(ids::EMAIL, created["id"].as_str().unwrap()).unwrap();
    assert!(created["threadId"].is_string(), "{created}");
    assert_eq!(copy["notCreated"]["c2"]["type"], "notFound");
    let mut bad: Vec<&str> = copy["notCreated"]["c3"]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    bad.sort();
    assert_eq!(bad, ["mailboxIds", "subject"]);
    // The copy is in bob's archive with its keyword; one stored body for both.
    let e = m.store.email_get(DELEGATE, &[new_id]).await.unwrap();
    assert_eq!(e[0].mailboxes, [bob_archive]);
    assert_eq!(e[0].keywords, ["$seen"]);
    // onSuccessDestroyOriginal: the implicit Email/set destroyed the original.
    let (name, set) = &out[1];
    assert_eq!(name, "Email/set");
    assert_eq!(set["accountId"], ids::account(OWNER));
    assert_eq!(set["destroyed"], json!([ids::email(src)]));
    assert!(m.store.email_get(OWNER, &[src]).await.unwrap().is_empty());
    assert_eq!(
        m.store.email_raw(DELEGATE, new_id).await.unwrap().unwrap(),
        b"Subject: shared\r\nMessage-ID: <s@x>\r\n\r\nhello\r\n"
    );
    // AL-3.1: the copy in bob's account, the hard delete in alice's by her delegate.
    let events = |acct: &str| {
        let f = MailboxEventFilter {
            account: Some(acct.into()),
            ..Default::default()
        };
        let store = m.store.clone();
        async move { store.mailbox_events(&f).await.unwrap() }
    };
    let bob_events = events(DELEGATE).await;
    assert_eq!(bob_events.len(), 1, "{bob_events:?}");
    assert_eq!(bob_events[0].operation, op::COPY);
    assert!(bob_events[0].detail.contains(&ids::email(new_id)));
    let alice_events = events(OWNER).await;
    assert_eq!(alice_events.len(), 1, "{alice_events:?}");
    assert_eq!(alice_events[0].operation, op::HARD_DELETE);
    assert_eq!(alice_events[0].actor_kind, ActorKind::Delegate);
    assert_eq!(alice_events[0].actor, DELEGATE);
}

#[tokio::test]
async fn a_read_only_delegate_reads_but_cannot_set_or_copy_into_the_account() {
    let f = fixture("ro");
    let m = &f.m;
    let inbox = role(m, OWNER, "inbox").await;
    let mut cx = bob(Access::DelegateRead);
    let alice = ids::account(OWNER);
    let got = m
        .call(&mut cx, "Mailbox/get", obj(json!({"accountId": alice})))
        .await
        .unwrap();
    let list = got[0].1["list"].as_array().unwrap().clone();
    assert_eq!(list.len(), 6);
    let inbox_json = list
        .iter()
        .find(|b| b["id"] == ids::mailbox(inbox))
        .unwrap();
    // myRights: a read-only delegate may read, nothing more.
    assert_eq!(inbox_json["myRights"]["mayReadItems"], true);
    assert_eq!(inbox_json["myRights"]["mayAddItems"], false);
    assert_eq!(inbox_json["myRights"]["maySubmit"], false);
    for (method, args) in [
        (
            "Mailbox/set",
            json!({"accountId": alice, "create": {"n": {"name": "X"}}}),
        ),
        ("Email/set", json!({"accountId": alice, "destroy": ["E1"]})),
        (
            "Email/copy",
            json!({"fromAccountId": ids::account(DELEGATE), "accountId": alice, "create": {}}),
        ),
    ] {
        let e = m.call(&mut cx, method, obj(args)).await.unwrap_err();
        assert_eq!(
            e.kind,
            rampart_jmap::MethodErrorType::AccountReadOnly,
            "{method}"
        );
    }
    assert_eq!(m.store.mailbox_get(OWNER).await.unwrap().len(), 6);
}

#[tokio::test]
async fn over_quota_copies_are_refused_and_quota_get_shows_the_limit() {
    let f = fixture("quota");
    let m = &f.m;
    let alice_inbox = role(m, OWNER, "inbox").await;
    let bob_inbox = role(m, DELEGATE, "inbox").await;
    let raw = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(2000)).into_bytes();
    let size = raw.len() as u64;
    let src = m
        .store
        .email_import(OWNER, raw, vec![alice_inbox], vec![], None)
        .await
        .unwrap();
    m.store.quota_set_limit(DELEGATE, Some(1000)).await.unwrap();
    let mut cx = bob(Access::DelegateFull);
    let out = m
        .call(
            &mut cx,
            "Email/copy",
            obj(json!({
                "fromAccountId": ids::account(OWNER),
                "accountId": ids::account(DELEGATE),
                "create": {"c": {"id": ids::email(src), "mailboxIds": {ids::mailbox(bob_inbox): true}}},
            })),
        )
        .await
        .unwrap();
    assert_eq!(out[0].1["notCreated"]["c"]["type"], "overQuota");
    // RFC 9425: the limit is the hardLimit; alice's own mail is what she uses.
    let q = m
        .call(
            &mut cx,
            "Quota/get",
            obj(json!({"accountId": ids::account(DELEGATE)})),
        )
        .await
        .unwrap();
    assert_eq!(q[0].1["list"][0]["hardLimit"], 1000);
    assert_eq!(q[0].1["list"][0]["used"], 0);
    let q = m
        .call(
            &mut cx,
            "Quota/get",
            obj(json!({"accountId": ids::account(OWNER), "ids": ["Qmail", "Qother"]})),
        )
        .await
        .unwrap();
    assert_eq!(q[0].1["list"][0]["used"], size);
    assert_eq!(q[0].1["notFound"], json!(["Qother"]));
}
