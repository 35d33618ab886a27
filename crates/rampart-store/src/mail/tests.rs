//! The mail model on a real store and writer: delivery, migration, mailboxes, emails, the
//! change log, threads, search and single-copy storage. Queries are in `tests_query.rs`.

use super::*;
use crate::directory::tempdir;
use crate::queue::INLINE_MAX;
use crate::{Enqueue, QueueId, QueuedRecipient, Store, Writer};

pub(super) struct Fixture {
    _dir: tempdir::Dir,
    pub store: Store,
    pub writer: Writer,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempdir::Dir::new();
    let store = Store::open(dir.path()).unwrap();
    let (writer, _thread) = Writer::start(&store).unwrap();
    Fixture {
        _dir: dir,
        store,
        writer,
    }
}

pub(super) const A: &str = "alice@example.test";
pub(super) const B: &str = "bob@example.test";

/// A message with these header lines and body, as delivered (Return-Path first).
pub(super) fn message(headers: &str, body: &str) -> Vec<u8> {
    format!("Return-Path: <s@example.net>\r\n{headers}\r\n\r\n{body}\r\n").into_bytes()
}

/// Receives `raw` for local `users` and delivers it in the same commit, as the session does.
pub(super) async fn deliver(f: &Fixture, users: &[&str], raw: Vec<u8>, junk: bool) -> QueueId {
    let id = QueueId::generate();
    let size = raw.len() as u64;
    let inline = if raw.len() <= INLINE_MAX {
        Some(raw)
    } else {
        std::fs::write(f.store.message_path(&id), &raw).unwrap();
        None
    };
    f.store
        .enqueue(
            &f.writer,
            Enqueue {
                id: id.clone(),
                sender: "s@example.net".into(),
                size,
                message_id: None,
                return_path_len: "Return-Path: <s@example.net>\r\n".len(),
                client: None,
                recipients: users
                    .iter()
                    .map(|u| QueuedRecipient {
                        address: u.to_string(),
                        local: true,
                    })
                    .collect(),
                events: Vec::new(),
                quarantine: None,
                inline,
                deliver_local_now: true,
                junk,
                authenticated_from: None,
            },
        )
        .await
        .unwrap();
    id
}

/// The newest email of `user` (delivered last).
pub(super) fn last_email(f: &Fixture, user: &str) -> EmailRecord {
    let id = f.store.mailbox_list(user).unwrap().last().unwrap().id;
    f.store.email_get(user, &[id]).unwrap().pop().unwrap()
}

pub(super) fn role(f: &Fixture, user: &str, role: &str) -> MailboxInfo {
    f.store
        .mailbox_get(user)
        .unwrap()
        .into_iter()
        .find(|m| m.role.as_deref() == Some(role))
        .unwrap()
}

pub(super) fn state(f: &Fixture, user: &str, kind: Kind) -> String {
    f.store.mail_state(user, kind).unwrap()
}

#[tokio::test]
async fn a_new_user_gets_the_six_role_mailboxes() {
    let f = fixture();
    f.store.add_domain("example.test").unwrap();
    f.store.add_user(A, "a long enough password").unwrap();
    let boxes = f.store.mailbox_get(A).unwrap();
    let mut roles: Vec<_> = boxes.iter().filter_map(|m| m.role.clone()).collect();
    roles.sort();
    assert_eq!(
        roles,
        ["archive", "drafts", "inbox", "junk", "sent", "trash"]
    );
    assert!(boxes
        .iter()
        .all(|m| m.total_emails == 0 && m.parent.is_none()));
    assert_eq!(state(&f, A, Kind::Mailbox), "6");
}

#[tokio::test]
async fn delivery_files_into_the_inbox_and_creates_mailboxes_lazily() {
    let f = fixture();
    // No add_user: an account from before the mail model.
    assert!(f.store.mailbox_get(A).unwrap().is_empty());
    let before = state(&f, A, Kind::Email);
    deliver(&f, &[A], message("Subject: hello", "hi"), false).await;
    let inbox = role(&f, A, "inbox");
    assert_eq!((inbox.total_emails, inbox.unread_emails), (1, 1));
    let e = last_email(&f, A);
    assert_eq!(e.mailboxes, vec![inbox.id]);
    assert_ne!(state(&f, A, Kind::Email), before);
}

#[tokio::test]
async fn local_mail_delivered_at_receipt_leaves_no_queue_rows_and_a_mailbox_named_twice_gets_one_copy(
) {
    // Issue 23: all-local mail delivered in its receiving commit gets no queue rows at all; a
    // mailbox named twice (two aliases of one user) gets it once, with one trace event.
    let f = fixture();
    let id = deliver(&f, &[A, B, A], message("Subject: hello", "hi"), false).await;
    assert!(f.store.queue_list().unwrap().is_empty());
    assert_eq!(role(&f, A, "inbox").total_emails, 1);
    assert_eq!(role(&f, B, "inbox").total_emails, 1);
    let trace = f
        .store
        .trace(&crate::TraceFilter {
            queue_id: Some(id.0.clone()),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    let delivered: Vec<_> = trace
        .iter()
        .filter(|e| e.event == "delivered")
        .filter_map(|e| e.recipient.as_deref())
        .collect();
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    assert!(delivered.contains(&A) && delivered.contains(&B));
    // The message stays for its mailboxes: its body reads back.
    assert!(f
        .store
        .message_bytes(&id, true)
        .unwrap()
        .ends_with(b"hi\r\n"));
}

#[tokio::test]
async fn al_1_2_mail_tagged_as_spam_is_delivered_to_junk() {
    let f = fixture();
    deliver(&f, &[A], message("Subject: cheap pills", "buy"), true).await;
    assert_eq!(role(&f, A, "junk").total_emails, 1);
    assert_eq!(role(&f, A, "inbox").total_emails, 0);
    // The queue manager's path reads the mark from the message row too.
    let id = QueueId::generate();
    let raw = message("Subject: later", "x");
    f.store
        .enqueue(
            &f.writer,
            Enqueue {
                id: id.clone(),
                sender: "s@example.net".into(),
                size: raw.len() as u64,
                message_id: None,
                return_path_len: 0,
                client: None,
                recipients: vec![QueuedRecipient {
                    address: A.into(),
                    local: true,
                }],
                events: Vec::new(),
                quarantine: None,
                inline: Some(raw),
                deliver_local_now: false,
                junk: true,
                authenticated_from: None,
            },
        )
        .await
        .unwrap();
    let due = f.store.due(10).unwrap();
    assert_eq!(f.store.deliver_local(&f.writer, due).await.unwrap(), 1);
    assert_eq!(role(&f, A, "junk").total_emails, 2);
    // Without a Junk mailbox, spam goes to the Inbox rather than nowhere.
    let junk = role(&f, A, "junk").id;
    f.store
        .mailbox_destroy(&f.writer, A, junk, true)
        .await
        .unwrap();
    deliver(&f, &[A], message("Subject: more", "x"), true).await;
    assert_eq!(role(&f, A, "inbox").total_emails, 1);
}

#[tokio::test]
async fn rows_of_the_old_mailbox_table_move_into_the_inbox_once() {
    let dir = tempdir::Dir::new();
    {
        let store = Store::open(dir.path()).unwrap();
        let c = store.admin_connection().unwrap();
        // As the server before the mail model stored them.
        c.execute_batch(
            "INSERT INTO messages(id, received, sender, size, return_path_len)
                 VALUES ('00000000000010000', 1, 'x@example.net', 40, 0);
             INSERT INTO message_bodies(id, data) VALUES ('00000000000010000', x'5375626a6563743a206f6c640d0a0d0a6869');
             INSERT INTO mailbox(id, user, message, delivered) VALUES (7, 'alice@example.test', '00000000000010000', 1000);
             INSERT INTO mailbox(id, user, message, delivered) VALUES (9, 'bob@example.test', '00000000000010000', 2000);",
        )
        .unwrap();
    }
    for _ in 0..2 {
        // Opening twice moves nothing twice.
        let store = Store::open(dir.path()).unwrap();
        let list = store.mailbox_list(A).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].id, list[0].delivered, list[0].size), (7, 1000, 40));
        assert_eq!(store.mailbox_list(B).unwrap()[0].id, 9);
        assert_eq!(
            store.mailbox_message(A, 7).unwrap().unwrap(),
            b"Subject: old\r\n\r\nhi"
        );
        let inbox = store
            .mailbox_get(A)
            .unwrap()
            .into_iter()
            .find(|m| m.role.as_deref() == Some("inbox"))
            .unwrap();
        assert_eq!(inbox.total_emails, 1);
        let old: i64 = store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM mailbox", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(old, 0);
    }
}

#[tokio::test]
async fn keywords_and_mailboxes_of_an_email_are_set() {
    let f = fixture();
    deliver(&f, &[A], message("Subject: k", "k"), false).await;
    let id = last_email(&f, A).id;
    let kw = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let r = f
        .store
        .email_set_keywords(&f.writer, A, id, kw(&["$Seen", "$flagged"]))
        .await;
    assert!(r.unwrap());
    let e = f.store.email_get(A, &[id]).unwrap().pop().unwrap();
    assert_eq!(e.keywords, ["$flagged", "$seen"]);
    assert_eq!(role(&f, A, "inbox").unread_emails, 0);
    // The same keywords again: no change, no new state.
    let (se, sm) = (state(&f, A, Kind::Email), state(&f, A, Kind::Mailbox));
    assert!(!f
        .store
        .email_set_keywords(&f.writer, A, id, kw(&["$seen", "$FLAGGED"]))
        .await
        .unwrap());
    assert_eq!(
        (state(&f, A, Kind::Email), state(&f, A, Kind::Mailbox)),
        (se, sm)
    );
    let bad = f
        .store
        .email_set_keywords(&f.writer, A, id, kw(&["a b"]))
        .await;
    assert!(
        matches!(bad, Err(MailError::InvalidProperties(_))),
        "{bad:?}"
    );
    // Move to the Archive, then copy into Sent as well.
    let (inbox, archive, sent) = (
        role(&f, A, "inbox").id,
        role(&f, A, "archive").id,
        role(&f, A, "sent").id,
    );
    f.store
        .email_set_mailboxes(&f.writer, A, id, vec![archive])
        .await
        .unwrap();
    assert_eq!(role(&f, A, "inbox").total_emails, 0);
    f.store
        .email_set_mailboxes(&f.writer, A, id, vec![archive, sent])
        .await
        .unwrap();
    let e = f.store.email_get(A, &[id]).unwrap().pop().unwrap();
    let mut want = vec![archive, sent];
    want.sort();
    assert_eq!(e.mailboxes, want, "ids in ascending order");
    assert!(!f
        .store
        .email_set_mailboxes(&f.writer, A, id, vec![sent, archive])
        .await
        .unwrap());
    let other = f
        .store
        .email_set_mailboxes(&f.writer, A, id, vec![inbox + 1000])
        .await;
    assert!(
        matches!(other, Err(MailError::InvalidProperties(_))),
        "{other:?}"
    );
    // Another account's email is not found.
    let r = f.store.email_set_keywords(&f.writer, B, id, vec![]).await;
    assert!(matches!(r, Err(MailError::NotFound)), "{r:?}");
    // In no mailbox, it is destroyed.
    f.store
        .email_set_mailboxes(&f.writer, A, id, vec![])
        .await
        .unwrap();
    assert!(f.store.email_get(A, &[id]).unwrap().is_empty());
}

#[tokio::test]
async fn changes_report_created_updated_destroyed_since_a_state() {
    let f = fixture();
    deliver(&f, &[A], message("Subject: 1", "1"), false).await;
    let e1 = last_email(&f, A).id;
    let s1 = state(&f, A, Kind::Email);
    deliver(&f, &[A], message("Subject: 2", "2"), false).await;
    let e2 = last_email(&f, A).id;
    deliver(&f, &[A], message("Subject: 3", "3"), false).await;
    let e3 = last_email(&f, A).id;
    f.store
        .email_set_keywords(&f.writer, A, e1, vec!["$seen".into()])
        .await
        .unwrap();
    // Created and destroyed since s1: never reported.
    f.store.email_destroy(&f.writer, A, vec![e3]).await.unwrap();
    let c = f.store.mail_changes(A, Kind::Email, &s1, None).unwrap();
    assert_eq!(
        (c.created, c.updated, c.destroyed),
        (vec![e2], vec![e1], vec![])
    );
    assert_eq!(c.new_state, state(&f, A, Kind::Email));
    assert!(!c.has_more_changes);
    // Up to date: nothing.
    let none = f
        .store
        .mail_changes(A, Kind::Email, &c.new_state, None)
        .unwrap();
    assert!(none.created.is_empty() && none.updated.is_empty() && none.destroyed.is_empty());
    // A page at a time.
    let p = f.store.mail_changes(A, Kind::Email, &s1, Some(1)).unwrap();
    assert!(p.has_more_changes);
    assert_eq!(p.created.len() + p.updated.len() + p.destroyed.len(), 1);
    let rest = f
        .store
        .mail_changes(A, Kind::Email, &p.new_state, None)
        .unwrap();
    assert_eq!(rest.new_state, c.new_state);
    // The destroyed email, from before it existed and after.
    let s2 = state(&f, A, Kind::Email);
    f.store.email_destroy(&f.writer, A, vec![e2]).await.unwrap();
    let d = f.store.mail_changes(A, Kind::Email, &s2, None).unwrap();
    assert_eq!(d.destroyed, vec![e2]);
    // Unknown and future states cannot be answered.
    for bad in ["x", "99999", "-1"] {
        let r = f.store.mail_changes(A, Kind::Email, bad, None);
        assert!(
            matches!(r, Err(MailError::CannotCalculateChanges)),
            "{bad}: {r:?}"
        );
    }
    // Nor states older than the log keeps.
    f.store
        .mail_prune_changes(&f.writer, A, Kind::Email, 1)
        .await
        .unwrap();
    let r = f.store.mail_changes(A, Kind::Email, &s1, None);
    assert!(matches!(r, Err(MailError::CannotCalculateChanges)), "{r:?}");
    let cur = state(&f, A, Kind::Email);
    assert!(f.store.mail_changes(A, Kind::Email, &cur, None).is_ok());
}

#[tokio::test]
async fn one_stored_copy_serves_two_users_until_both_destroy_it() {
    for large in [false, true] {
        let f = fixture();
        let body = if large {
            "x".repeat(INLINE_MAX + 10)
        } else {
            "small".into()
        };
        let id = deliver(&f, &[A, B], message("Subject: shared", &body), false).await;
        let (ea, eb) = (last_email(&f, A), last_email(&f, B));
        assert_eq!(ea.message, id);
        assert_eq!(eb.message, id);
        let messages: i64 = f
            .store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(messages, 1, "one body for two users");
        f.store
            .email_destroy(&f.writer, A, vec![ea.id])
            .await
            .unwrap();
        assert!(f.store.email_get(A, &[ea.id]).unwrap().is_empty());
        let still = f.store.mailbox_message(B, eb.id).unwrap().unwrap();
        assert!(still.ends_with(format!("{body}\r\n").as_bytes()));
        assert_eq!(
            f.store
                .email_destroy(&f.writer, B, vec![eb.id])
                .await
                .unwrap(),
            [true]
        );
        assert!(
            f.store.message_bytes(&id, true).is_err(),
            "the body outlived both emails"
        );
        assert!(!f.store.message_path(&id).exists());
        assert_eq!(
            f.store
                .email_destroy(&f.writer, B, vec![eb.id])
                .await
                .unwrap(),
            [false]
        );
    }
}

#[tokio::test]
async fn import_stores_a_new_message_and_copy_shares_it() {
    let f = fixture();
    f.store.mailbox_ensure(&f.writer, A).await.unwrap();
    f.store.mailbox_ensure(&f.writer, B).await.unwrap();
    let drafts = role(&f, A, "drafts").id;
    for body in ["a draft".to_string(), "y".repeat(INLINE_MAX + 1)] {
        let raw = format!("Subject: Draft\r\nFrom: alice@example.test\r\n\r\n{body}").into_bytes();
        let id = f
            .store
            .email_import(
                &f.writer,
                A,
                raw.clone(),
                vec![drafts],
                vec!["$draft".into()],
                Some(5),
            )
            .await
            .unwrap();
        let e = f.store.email_get(A, &[id]).unwrap().pop().unwrap();
        // Indexed at once: the parse was done anyway.
        assert_eq!(
            (e.subject.as_deref(), e.received_at, e.size),
            (Some("Draft"), 5, raw.len() as i64)
        );
        assert_eq!(
            (e.mailboxes.clone(), e.keywords.clone()),
            (vec![drafts], vec!["$draft".to_string()])
        );
        assert_eq!(f.store.message_bytes(&e.message, true).unwrap(), raw);
        assert_eq!(
            f.store.message_path(&e.message).exists(),
            raw.len() > INLINE_MAX
        );
        // Copied to Bob: a new email there, the same message.
        let inbox_b = role(&f, B, "inbox").id;
        let copy = f
            .store
            .email_copy(&f.writer, A, id, B, vec![inbox_b], vec![])
            .await
            .unwrap();
        let c = f.store.email_get(B, &[copy]).unwrap().pop().unwrap();
        assert_eq!(c.message, e.message);
    }
    let r = f
        .store
        .email_import(&f.writer, A, b"x".to_vec(), vec![], vec![], None)
        .await;
    assert!(matches!(r, Err(MailError::InvalidProperties(_))), "{r:?}");
    let r = f
        .store
        .email_import(
            &f.writer,
            A,
            b"x".to_vec(),
            vec![drafts + 1000],
            vec![],
            None,
        )
        .await;
    assert!(matches!(r, Err(MailError::InvalidProperties(_))), "{r:?}");
}

#[tokio::test]
async fn quota_counts_the_account_s_emails_and_refuses_imports_over_it() {
    let f = fixture();
    let raw = message("Subject: q", "0123456789");
    let size = raw.len() as u64;
    deliver(&f, &[A], raw, false).await;
    assert_eq!(
        f.store.quota_get(A).unwrap(),
        Quota {
            used: size,
            limit: None
        }
    );
    f.store
        .quota_set_limit(&f.writer, A, Some(size + 5))
        .await
        .unwrap();
    assert_eq!(f.store.quota_get(A).unwrap().limit, Some(size + 5));
    let inbox = role(&f, A, "inbox").id;
    let r = f
        .store
        .email_import(&f.writer, A, vec![b'x'; 6], vec![inbox], vec![], None)
        .await;
    assert!(matches!(r, Err(MailError::OverQuota)), "{r:?}");
    f.store
        .email_import(&f.writer, A, vec![b'x'; 5], vec![inbox], vec![], None)
        .await
        .unwrap();
    assert_eq!(f.store.quota_get(A).unwrap().used, size + 5);
    f.store.quota_set_limit(&f.writer, A, None).await.unwrap();
    assert_eq!(f.store.quota_get(A).unwrap().limit, None);
}
