//! Conformance checks of [`MailStore`](crate::api::MailStore) and
//! [`MailboxAudit`](crate::api::MailboxAudit): the mailbox model JMAP reads, its change log
//! and push feed, and the mailbox audit (AL-3.1).

use super::{enqueue, populated, small_message, Harness};
use crate::api::MailStore;
use crate::mail::{Comparator, EmailFilter, EmailQuery, FilterCondition, Kind, SortProperty};
use crate::mailbox_audit::{op, ActorKind, MailboxEvent, MailboxEventFilter};

const USER: &str = "user@local.example";

/// Delivers one message to `USER` (and any others) and returns nothing; the email is indexed
/// by the caller.
async fn deliver(store: &crate::AnyStore, subject: &str, to: &[&str]) {
    let rcpts: Vec<(&str, bool)> = to.iter().map(|a| (*a, true)).collect();
    enqueue(store, &small_message(subject), &rcpts, None).await;
    let due = store.due(100).await.unwrap();
    store.deliver_local(due).await.unwrap();
}

/// How a check delivers [`small_message`]`(subject)` to local accounts: through the queue of a
/// whole backend, or, for a backend whose queue is not there yet, through its own delivery
/// function (the `_on` forms).
pub trait Deliver: Send + Sync {
    fn deliver<'a>(
        &'a self,
        subject: &'a str,
        to: &'a [&'a str],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
}

/// Delivery through the backend's queue (enqueue, due, deliver_local).
struct ThroughQueue(crate::AnyStore);

impl Deliver for ThroughQueue {
    fn deliver<'a>(
        &'a self,
        subject: &'a str,
        to: &'a [&'a str],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(deliver(&self.0, subject, to))
    }
}

/// The id of the account's mailbox with `role`.
pub(super) async fn role<S: MailStore + ?Sized>(store: &S, account: &str, role: &str) -> i64 {
    store
        .mailbox_get(account)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.role.as_deref() == Some(role))
        .unwrap_or_else(|| panic!("{account} has a {role} mailbox"))
        .id
}

pub(super) fn in_mailbox(id: i64) -> EmailQuery {
    EmailQuery {
        filter: Some(EmailFilter::Condition(Box::new(FilterCondition {
            in_mailbox: Some(id),
            ..FilterCondition::default()
        }))),
        sort: vec![Comparator {
            property: SortProperty::ReceivedAt,
            ascending: false,
        }],
        ..EmailQuery::default()
    }
}

/// Role mailboxes exist once ensured; delivered mail is in the Inbox with its header facts once
/// indexed; its blob is the stored message; the Email state moved and /changes says created.
pub async fn mail_delivery_roles_and_changes<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    mail_delivery_roles_and_changes_on(&*store, &ThroughQueue(store.clone())).await;
}

/// [`mail_delivery_roles_and_changes`] for a store with the mail model and a way to deliver
/// (the users of [`super::populate`] exist).
pub async fn mail_delivery_roles_and_changes_on<S: MailStore + ?Sized>(store: &S, d: &dyn Deliver) {
    store.mailbox_ensure(USER).await.unwrap();
    let mut roles: Vec<String> = store
        .mailbox_get(USER)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| m.role)
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        ["archive", "drafts", "inbox", "junk", "sent", "trash"],
        "every account has the RFC 8621 role mailboxes"
    );
    let before = store.mail_state(USER, Kind::Email).await.unwrap();
    d.deliver("hello", &[USER]).await;
    store.index_pending(USER).await.unwrap();
    let inbox = role(store, USER, "inbox").await;
    let found = store.email_query(USER, &in_mailbox(inbox)).await.unwrap();
    assert_eq!(found.ids.len(), 1, "the delivered email is in the Inbox");
    let e = &store.email_get(USER, &found.ids).await.unwrap()[0];
    assert_eq!(e.subject.as_deref(), Some("hello"), "indexed header facts");
    assert_eq!(e.mailboxes, vec![inbox]);
    let raw = store.email_raw(USER, e.id).await.unwrap().expect("a blob");
    assert!(
        raw.ends_with(b"Subject: hello\r\nMessage-ID: <hello@remote.example>\r\n\r\nBody\r\n"),
        "the blob is the stored message"
    );
    assert_eq!(
        store.email_raw("other@local.example", e.id).await.unwrap(),
        None,
        "another account cannot read the email"
    );
    let after = store.mail_state(USER, Kind::Email).await.unwrap();
    assert_ne!(before, after, "the Email state changed with the delivery");
    let changes = store
        .mail_changes(USER, Kind::Email, &before, None)
        .await
        .unwrap();
    assert_eq!(changes.created, vec![e.id]);
    assert_eq!(changes.new_state, after);
}

/// Keywords and moves change the state exactly when they change something; destroy removes.
pub async fn mail_keywords_moves_destroy<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    mail_keywords_moves_destroy_on(&*store, &ThroughQueue(store.clone())).await;
}

/// [`mail_keywords_moves_destroy`] for a store with the mail model and a way to deliver.
pub async fn mail_keywords_moves_destroy_on<S: MailStore + ?Sized>(store: &S, d: &dyn Deliver) {
    d.deliver("flags", &[USER]).await;
    store.index_pending(USER).await.unwrap();
    let inbox = role(store, USER, "inbox").await;
    let id = store
        .email_query(USER, &in_mailbox(inbox))
        .await
        .unwrap()
        .ids[0];
    let s0 = store.mail_state(USER, Kind::Email).await.unwrap();
    assert!(store
        .email_set_keywords(USER, id, vec!["$seen".into()])
        .await
        .unwrap());
    let s1 = store.mail_state(USER, Kind::Email).await.unwrap();
    assert_ne!(s0, s1, "a keyword change moves the state");
    assert!(
        !store
            .email_set_keywords(USER, id, vec!["$seen".into()])
            .await
            .unwrap(),
        "setting the same keywords changes nothing"
    );
    assert_eq!(
        store.mail_state(USER, Kind::Email).await.unwrap(),
        s1,
        "and the state stays"
    );
    let archive = role(store, USER, "archive").await;
    assert!(store
        .email_set_mailboxes(USER, id, vec![archive])
        .await
        .unwrap());
    assert!(store
        .email_query(USER, &in_mailbox(inbox))
        .await
        .unwrap()
        .ids
        .is_empty());
    assert_eq!(
        store
            .email_query(USER, &in_mailbox(archive))
            .await
            .unwrap()
            .ids,
        vec![id]
    );
    assert_eq!(
        store
            .email_destroy(USER, vec![id, id + 1000])
            .await
            .unwrap(),
        vec![true, false]
    );
    assert!(store.email_get(USER, &[id]).await.unwrap().is_empty());
}

/// The push feed carries each delivery's account after it is committed.
pub async fn mail_push_feed<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    mail_push_feed_on(&*store, &ThroughQueue(store.clone())).await;
}

/// [`mail_push_feed`] for a store with the mail model and a way to deliver.
pub async fn mail_push_feed_on<S: MailStore + ?Sized>(store: &S, d: &dyn Deliver) {
    let mut feed = store.mail_changes_feed();
    d.deliver("push", &["other@local.example"]).await;
    let change = tokio::time::timeout(std::time::Duration::from_secs(10), feed.recv())
        .await
        .expect("a change arrives")
        .expect("the feed is open");
    assert_eq!(change.account, "other@local.example");
    assert!(change.kinds.contains(&Kind::Email));
}

/// Mailbox events are kept per account and selected by time and operation (AL-3.1).
pub async fn mailbox_audit_record_and_select<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    mailbox_audit_record_and_select_on(&*store).await;
}

/// On any store: the events need no account to exist.
pub async fn mailbox_audit_record_and_select_on<S: crate::api::MailboxAudit + ?Sized>(store: &S) {
    let mut read = MailboxEvent::new(USER, "jmap", op::READ, "E1");
    read.client = Some("192.0.2.7".into());
    read.user_agent = Some("client/1".into());
    let mut admin = MailboxEvent::new(USER, "admin-cli", op::ADMIN_READ, "1: legal hold");
    admin.actor = "admin:root".into();
    admin.actor_kind = ActorKind::Administrator;
    let other = MailboxEvent::new("other@local.example", "jmap", op::LOGIN, "");
    store
        .mailbox_record(vec![read.clone(), admin.clone(), other])
        .await;
    let mine = store
        .mailbox_events(&MailboxEventFilter {
            account: Some(USER.into()),
            ..MailboxEventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        mine,
        vec![read.clone(), admin],
        "oldest first, this account only"
    );
    let reads = store
        .mailbox_events(&MailboxEventFilter {
            account: Some(USER.into()),
            operations: vec![op::READ.into()],
            ..MailboxEventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(reads, vec![read.clone()]);
    let later = store
        .mailbox_events(&MailboxEventFilter {
            since: Some(read.ts + 3_600_000_000),
            ..MailboxEventFilter::default()
        })
        .await
        .unwrap();
    assert!(later.is_empty(), "nothing after an hour from now");
    assert_eq!(
        store.prune_mailbox_events(90).await.unwrap(),
        0,
        "recent events are kept"
    );
}
