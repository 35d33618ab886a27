//! EmailSubmission/set over a real store and a recording [`Submitter`]: a send-as delegate
//! sends as the owner (the pipeline checks the owner's rights), a read-only delegate is
//! forbidden and nothing is sent; onSuccessDestroyEmail destroys the email sent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rampart_jmap::{
    Access, Account, CallContext, CoreCapability, MethodErrorType, Methods, Origin, User,
};
use rampart_store::api::Directory;
use rampart_store::{AnyStore, MailStore, MailboxEventFilter, Sqlite};
use serde_json::json;

use super::{Refused, Submitter};
use crate::{ids, MailMethods};

const OWNER: &str = "alice@example.test";
const DELEGATE: &str = "bob@example.test";

/// (user, mail from, rcpt to, message) of one submission.
type Call = (String, String, Vec<String>, Vec<u8>);

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<Call>>,
}

#[async_trait::async_trait]
impl Submitter for Recorder {
    async fn submit(
        &self,
        _origin: &Origin,
        user: &str,
        mail_from: &str,
        rcpt_to: &[String],
        message: Vec<u8>,
    ) -> Result<String, Refused> {
        self.calls.lock().unwrap().push((
            user.to_owned(),
            mail_from.to_owned(),
            rcpt_to.to_vec(),
            message,
        ));
        Ok("q1".into())
    }
}

struct Dir(std::path::PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store with alice's draft to carol; the email id.
async fn store_with_draft() -> (AnyStore, Dir, i64) {
    let n = u64::from_le_bytes(rampart_store::random_bytes::<8>());
    let dir = Dir(std::env::temp_dir().join(format!("rampart-jmap-sub-{n:x}")));
    let (s, _thread) = Sqlite::open(&dir.0).unwrap();
    s.add_domain("example.test").await.unwrap();
    for u in [OWNER, DELEGATE] {
        s.add_user(u, "correct horse battery").await.unwrap();
    }
    s.mailbox_ensure(OWNER).await.unwrap();
    let drafts = s
        .mailbox_get(OWNER)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.role.as_deref() == Some("drafts"))
        .unwrap()
        .id;
    let raw = b"From: <alice@example.test>\r\nTo: <carol@remote.test>\r\nBcc: <dave@remote.test>\r\nSubject: s\r\n\r\nbody\r\n";
    let id = s
        .email_import(
            OWNER,
            raw.to_vec(),
            vec![drafts],
            vec!["$draft".into()],
            None,
        )
        .await
        .unwrap();
    (Arc::new(s), dir, id)
}

/// Bob's call context, reaching alice's account with `access`.
fn delegate_cx(access: Access) -> CallContext {
    let account = Account {
        id: ids::account(OWNER),
        name: OWNER.into(),
        is_personal: false,
        is_read_only: access != Access::DelegateFull,
        account_capabilities: crate::account_capabilities(access),
        owner: OWNER.into(),
        access,
    };
    let user = User {
        username: DELEGATE.into(),
        accounts: vec![account],
        primary_accounts: BTreeMap::new(),
        origin: Origin {
            ip: Some("192.0.2.9".parse().unwrap()),
            user_agent: None,
            service: "jmap",
        },
    };
    let using: BTreeSet<String> = [crate::MAIL, crate::SUBMISSION]
        .into_iter()
        .map(String::from)
        .collect();
    CallContext::new(user, CoreCapability::default(), using)
}

async fn send(m: &MailMethods, cx: &mut CallContext, email: i64) -> serde_json::Value {
    send_with(m, cx, email, json!({})).await[0].clone()
}

/// Every response of one EmailSubmission/set creating "k", with `extra` arguments.
async fn send_with(
    m: &MailMethods,
    cx: &mut CallContext,
    email: i64,
    extra: serde_json::Value,
) -> Vec<serde_json::Value> {
    let identity = m.store.identity_list(OWNER).await.unwrap()[0].id;
    let mut args = json!({"accountId": ids::account(OWNER), "create": {"k": {
        "identityId": ids::make(ids::IDENTITY, identity), "emailId": ids::email(email)}}});
    if let (Some(a), Some(e)) = (args.as_object_mut(), extra.as_object()) {
        a.extend(e.clone());
    }
    match m
        .call(cx, "EmailSubmission/set", args.as_object().unwrap().clone())
        .await
    {
        Ok(r) => r
            .into_iter()
            .map(|(name, a)| json!({"name": name, "args": a}))
            .map(|v| {
                if v["name"] == "EmailSubmission/set" {
                    v["args"].clone()
                } else {
                    v
                }
            })
            .collect(),
        Err(e) => vec![json!({"error": e.kind.as_str()})],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn send_as_delegate_sends_as_the_owner_and_a_reader_is_forbidden() {
    let (store, _dir, email) = store_with_draft().await;
    let rec = Arc::new(Recorder::default());
    let m = MailMethods::new(store.clone()).with_submitter(rec.clone());
    // A read-only delegate: forbidden, nothing handed to the pipeline.
    let r = send(&m, &mut delegate_cx(Access::DelegateRead), email).await;
    assert_eq!(r["error"], MethodErrorType::Forbidden.as_str(), "{r}");
    assert!(rec.calls.lock().unwrap().is_empty());
    // A send-as delegate: sent as alice, to To and Bcc, the Bcc header removed.
    let r = send(&m, &mut delegate_cx(Access::DelegateSendAs), email).await;
    assert!(r["created"]["k"]["id"].is_string(), "{r}");
    let calls = rec.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let (user, from, to, msg) = &calls[0];
    assert_eq!((user.as_str(), from.as_str()), (OWNER, OWNER));
    assert_eq!(to, &["carol@remote.test", "dave@remote.test"]);
    let msg = String::from_utf8_lossy(msg);
    assert!(!msg.contains("Bcc") && !msg.contains("dave"), "{msg}");
    // AL-3.1: the send is alice's mailbox event, by bob as a delegate.
    let events = store
        .mailbox_events(&MailboxEventFilter {
            account: Some(OWNER.into()),
            operations: vec!["send".into()],
            ..MailboxEventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, DELEGATE);
    assert_eq!(events[0].actor_kind, rampart_store::ActorKind::Delegate);
    assert!(events[0].detail.contains("to 2 recipient(s), queued as q1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn on_success_destroy_email_destroys_the_sent_draft() {
    let (store, _dir, email) = store_with_draft().await;
    let rec = Arc::new(Recorder::default());
    let m = MailMethods::new(store.clone()).with_submitter(rec.clone());
    let mut cx = delegate_cx(Access::DelegateFull);
    let r = send_with(&m, &mut cx, email, json!({"onSuccessDestroyEmail": ["#k"]})).await;
    assert!(r[0]["created"]["k"]["id"].is_string(), "{r:?}");
    // The implicit Email/set follows, and the email is gone.
    assert_eq!(r[1]["name"], "Email/set", "{r:?}");
    assert_eq!(
        r[1]["args"]["destroyed"],
        json!([ids::email(email)]),
        "{r:?}"
    );
    assert!(store.email_get(OWNER, &[email]).await.unwrap().is_empty());
    assert_eq!(rec.calls.lock().unwrap().len(), 1);
}
