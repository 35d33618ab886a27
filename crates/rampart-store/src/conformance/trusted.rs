//! Conformance checks of [`TrustedSenders`](crate::trusted_senders::TrustedSenders) (AL-1.2):
//! a user's move out of Junk trusts the message's authenticated From and a move into Junk
//! distrusts it; tagged mail from a trusted authenticated From is delivered to that user's
//! Inbox, and only to that user's; an unauthenticated From is never trusted; the list survives
//! a restart.

use super::mail::{in_mailbox, role};
use super::{populated, Harness, RETURN_PATH_LEN};
use crate::queue::{Enqueue, QueueId, QueuedRecipient};
use crate::trace::{TraceEvent, TraceFilter};
use crate::trusted_senders::TrustChange;
use crate::AnyStore;

const USER: &str = "user@local.example";
const OTHER: &str = "other@local.example";
const NEWS: &str = "news@letters.example";

/// Queues a message tagged as spam for `to` with `authenticated_from`, and delivers it.
async fn tagged(store: &AnyStore, subject: &str, from: Option<&str>, to: &[&str]) -> QueueId {
    let id = QueueId::generate();
    let bytes = super::small_message(subject);
    let mut spool = store.spool(&id, None);
    spool.push(&bytes);
    let spooled = tokio::task::spawn_blocking(move || spool.finish())
        .await
        .expect("spool task")
        .expect("a spool finishes");
    let mut e = TraceEvent::new("queued", "conformance");
    e.queue_id = Some(id.0.clone());
    store
        .enqueue(Enqueue {
            id: id.clone(),
            sender: "sender@remote.example".into(),
            size: spooled.size,
            message_id: Some(format!("{subject}@remote.example")),
            return_path_len: RETURN_PATH_LEN,
            client: Some("192.0.2.1".into()),
            recipients: to
                .iter()
                .map(|a| QueuedRecipient {
                    address: a.to_string(),
                    local: true,
                })
                .collect(),
            events: vec![e],
            quarantine: None,
            inline: spooled.inline,
            deliver_local_now: false,
            junk: true,
            authenticated_from: from.map(str::to_string),
        })
        .await
        .expect("enqueue succeeds");
    let due = store.due(100).await.unwrap();
    store.deliver_local(due).await.unwrap();
    id
}

/// The ids of `account`'s emails in the mailbox with `role`.
async fn in_role(store: &AnyStore, account: &str, r: &str) -> Vec<i64> {
    store.index_pending(account).await.unwrap();
    let b = role(&**store, account, r).await;
    store
        .email_query(account, &in_mailbox(b))
        .await
        .unwrap()
        .ids
}

/// AL-1.2: trusted by a move out of Junk, delivered to the Inbox; distrusted by a move into
/// Junk, delivered to Junk again; an unauthenticated From never counts.
pub async fn trusted_senders_file_tagged_mail<H: Harness>(h: &H) {
    let (place, store) = populated(h).await;
    tagged(&store, "t1", Some(NEWS), &[USER, OTHER]).await;
    let junk = in_role(&store, USER, "junk").await;
    assert_eq!(junk.len(), 1, "tagged mail goes to Junk");
    assert_eq!(in_role(&store, OTHER, "junk").await.len(), 1);

    // The user moves it out of Junk: its authenticated From is trusted, by this user only.
    assert_eq!(
        store.judge_sender(USER, junk[0], true).await.unwrap(),
        TrustChange::Trusted(NEWS.into())
    );
    assert_eq!(
        store.judge_sender(OTHER, junk[0], true).await.unwrap(),
        TrustChange::NotAuthenticated,
        "another account's email id teaches nothing"
    );
    let list = store.trusted_senders(USER).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].0, NEWS);
    assert!(store.trusted_senders(OTHER).await.unwrap().is_empty());

    let q = tagged(&store, "t2", Some(NEWS), &[USER, OTHER]).await;
    assert_eq!(
        in_role(&store, USER, "inbox").await.len(),
        1,
        "trusted: Inbox"
    );
    assert_eq!(in_role(&store, USER, "junk").await.len(), 1);
    assert_eq!(
        in_role(&store, OTHER, "junk").await.len(),
        2,
        "not trusted: Junk"
    );
    let t = store
        .trace(&TraceFilter {
            queue_id: Some(q.0.clone()),
            limit: 100,
            ..TraceFilter::default()
        })
        .await
        .unwrap();
    let details: Vec<&str> = t.iter().map(|e| e.detail.as_str()).collect();
    assert!(
        details.iter().any(|d| d.starts_with(&format!(
            "delivered to mailbox {USER} (Inbox: tagged as spam, but {USER} trusts its \
             authenticated sender {NEWS}"
        ))),
        "{details:?}"
    );
    assert!(
        details.contains(&format!("delivered to mailbox {OTHER} (Junk: tagged as spam)").as_str()),
        "{details:?}"
    );

    // The same From, not authenticated this time: Junk.
    tagged(&store, "t3", None, &[USER]).await;
    assert_eq!(in_role(&store, USER, "junk").await.len(), 2);

    // Kept across a restart.
    drop(store);
    let store = h.open(&place).await;
    tagged(&store, "t4", Some(NEWS), &[USER]).await;
    let inbox = in_role(&store, USER, "inbox").await;
    assert_eq!(inbox.len(), 2, "still trusted after a restart");

    // Moved into Junk: no longer trusted, and the next one goes to Junk.
    assert_eq!(
        store.judge_sender(USER, inbox[0], false).await.unwrap(),
        TrustChange::Distrusted(NEWS.into())
    );
    assert!(store.trusted_senders(USER).await.unwrap().is_empty());
    tagged(&store, "t5", Some(NEWS), &[USER]).await;
    assert_eq!(in_role(&store, USER, "junk").await.len(), 3);

    // The administrator's removal.
    let junk = in_role(&store, USER, "junk").await;
    let unauthenticated = {
        let mut found = None;
        for id in &junk {
            if store.judge_sender(USER, *id, true).await.unwrap() == TrustChange::NotAuthenticated {
                found = Some(*id);
            }
        }
        found
    };
    assert!(unauthenticated.is_some(), "t3 had no authenticated From");
    assert_eq!(store.trusted_senders(USER).await.unwrap().len(), 1);
    assert!(store
        .untrust_sender(USER, "NEWS@Letters.Example")
        .await
        .unwrap());
    assert!(!store.untrust_sender(USER, NEWS).await.unwrap());
    assert!(store.trusted_senders(USER).await.unwrap().is_empty());

    // Trusted directly (the administrator, the user's own list): the same filing.
    let added = store
        .trust_sender(OTHER, " News@Letters.example ")
        .await
        .unwrap();
    assert_eq!(
        store.trusted_senders(OTHER).await.unwrap(),
        vec![(NEWS.to_string(), added)],
        "the address as kept, and the time trust_sender gave"
    );
    tagged(&store, "t6", Some(NEWS), &[OTHER]).await;
    assert_eq!(in_role(&store, OTHER, "inbox").await.len(), 1);
}
