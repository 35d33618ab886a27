//! Each removal rule of the storage lifecycle, on a real store and writer.

use crate::directory::tempdir;
use crate::queue::INLINE_MAX;
use crate::{
    Enqueue, Failure, QueueId, QueuedRecipient, RecipientStatus, SpoolFile, Store, Writer,
};

struct Fixture {
    _dir: tempdir::Dir,
    store: Store,
    writer: Writer,
}

fn fixture() -> Fixture {
    let dir = tempdir::Dir::new();
    let store = Store::open(dir.path()).unwrap();
    let (writer, _thread) = Writer::start(&store).unwrap();
    Fixture {
        _dir: dir,
        store,
        writer,
    }
}

fn rcpt(address: &str, local: bool) -> QueuedRecipient {
    QueuedRecipient {
        address: address.to_string(),
        local,
    }
}

/// Queues a message for `recipients`; `large` ones get a file of their own, the rest are inline.
async fn queue(f: &Fixture, recipients: Vec<QueuedRecipient>, large: bool) -> QueueId {
    queue_with(f, recipients, large, None, false).await
}

async fn queue_with(
    f: &Fixture,
    recipients: Vec<QueuedRecipient>,
    large: bool,
    quarantine: Option<(String, String)>,
    deliver_local_now: bool,
) -> QueueId {
    let id = QueueId::generate();
    let rp = "Return-Path: <a@example.org>\r\n";
    let mut spool = SpoolFile::new(&f.store, &id);
    spool.push(rp.as_bytes());
    spool.push(b"Subject: lifecycle\r\n\r\n");
    let body_len = if large { INLINE_MAX + 1 } else { 100 };
    spool.push(&vec![b'x'; body_len]);
    let spooled = spool.finish().unwrap();
    assert_eq!(spooled.inline.is_none(), large);
    f.store
        .enqueue(
            &f.writer,
            Enqueue {
                id: id.clone(),
                sender: "a@example.org".into(),
                size: spooled.size,
                message_id: None,
                return_path_len: rp.len(),
                client: None,
                recipients,
                events: Vec::new(),
                quarantine,
                inline: spooled.inline,
                deliver_local_now,
                junk: false,
            },
        )
        .await
        .unwrap();
    id
}

fn count(store: &Store, sql: &str, id: &QueueId) -> i64 {
    store
        .read(|c| Ok(c.query_row(sql, [&id.0], |r| r.get(0))?))
        .unwrap()
}

fn message_rows(store: &Store, id: &QueueId) -> i64 {
    count(store, "SELECT count(*) FROM messages WHERE id = ?1", id)
}

fn queue_rows(store: &Store, id: &QueueId) -> i64 {
    count(store, "SELECT count(*) FROM queue WHERE message = ?1", id)
}

fn body_rows(store: &Store, id: &QueueId) -> i64 {
    count(
        store,
        "SELECT count(*) FROM message_bodies WHERE id = ?1",
        id,
    )
}

fn has_file(store: &Store, id: &QueueId) -> bool {
    store.message_path(id).exists()
}

async fn record(f: &Fixture, id: &QueueId, rcpt: &str, o: RecipientStatus) {
    f.store
        .record_attempts(&f.writer, id, vec![(rcpt.to_string(), o)], Vec::new())
        .await
        .unwrap();
}

fn delivered() -> RecipientStatus {
    RecipientStatus::Delivered("mx.example.net said: 250 ok".into())
}

#[tokio::test]
async fn delivered_to_every_remote_recipient_removes_rows_and_file() {
    let f = fixture();
    let id = queue(
        &f,
        vec![rcpt("b@example.net", false), rcpt("c@example.net", false)],
        true,
    )
    .await;
    assert!(has_file(&f.store, &id));
    record(&f, &id, "b@example.net", delivered()).await;
    // One recipient still to go: everything stays.
    assert_eq!(message_rows(&f.store, &id), 1);
    assert_eq!(queue_rows(&f.store, &id), 2);
    assert!(has_file(&f.store, &id));
    record(&f, &id, "c@example.net", delivered()).await;
    assert_eq!(message_rows(&f.store, &id), 0);
    assert_eq!(queue_rows(&f.store, &id), 0);
    assert!(
        !has_file(&f.store, &id),
        "the message file outlived its rows"
    );
}

#[tokio::test]
async fn a_deferred_recipient_keeps_the_message() {
    let f = fixture();
    let id = queue(&f, vec![rcpt("b@example.net", false)], false).await;
    let deferred = RecipientStatus::TemporaryFailure {
        reply: "mx.example.net said: 451 later".into(),
        next_attempt: crate::now_micros() + 60_000_000,
    };
    record(&f, &id, "b@example.net", deferred).await;
    assert_eq!(message_rows(&f.store, &id), 1);
    assert_eq!(body_rows(&f.store, &id), 1);
    assert!(f.store.message_bytes(&id, false).is_ok());
}

#[tokio::test]
async fn bounced_message_is_removed_once_the_failure_is_recorded() {
    let f = fixture();
    let id = queue(&f, vec![rcpt("b@example.net", false)], false).await;
    // The bounce is queued first (it quotes the original), then the failure is recorded.
    let bounce = f
        .store
        .enqueue_generated(
            &f.writer,
            "a@example.org",
            b"Subject: bounce\r\n\r\nreturned\r\n".to_vec(),
            "dsn@example.org".into(),
            "test bounce",
        )
        .await
        .unwrap();
    record(
        &f,
        &id,
        "b@example.net",
        RecipientStatus::PermanentFailure(Failure {
            status: "5.1.1".into(),
            reply: "mx.example.net said: 550 5.1.1 no such user".into(),
            remote_mta: Some("mx.example.net".into()),
        }),
    )
    .await;
    assert_eq!(message_rows(&f.store, &id), 0);
    assert_eq!(body_rows(&f.store, &id), 0);
    assert_eq!(queue_rows(&f.store, &id), 0);
    // The bounce itself is a message of its own, still queued.
    assert_eq!(message_rows(&f.store, &bounce), 1);
    assert_eq!(queue_rows(&f.store, &bounce), 1);
}

#[tokio::test]
async fn expired_message_is_removed() {
    let f = fixture();
    let id = queue(&f, vec![rcpt("b@example.net", false)], true).await;
    record(
        &f,
        &id,
        "b@example.net",
        RecipientStatus::PermanentFailure(Failure {
            status: "4.4.7".into(),
            reply: "delivery time expired; last error: connection refused".into(),
            remote_mta: None,
        }),
    )
    .await;
    assert_eq!(message_rows(&f.store, &id), 0);
    assert!(!has_file(&f.store, &id));
}

#[tokio::test]
async fn mailbox_copy_stays_until_the_last_mailbox_deletes_it() {
    let f = fixture();
    let id = queue_with(
        &f,
        vec![rcpt("u1@example.org", true), rcpt("u2@example.org", true)],
        true,
        None,
        true,
    )
    .await;
    // Delivered in the commit that queued it: the queue rows are done with, the copy stays.
    assert_eq!(queue_rows(&f.store, &id), 0);
    assert_eq!(message_rows(&f.store, &id), 1);
    let m1 = f.store.mailbox_list("u1@example.org").unwrap();
    let m2 = f.store.mailbox_list("u2@example.org").unwrap();
    assert_eq!((m1.len(), m2.len()), (1, 1));

    assert!(f.store.mailbox_delete("u1@example.org", m1[0].id).unwrap());
    assert!(f.store.mailbox_list("u1@example.org").unwrap().is_empty());
    // Still held by the second mailbox: readable there.
    assert!(f
        .store
        .mailbox_message("u2@example.org", m2[0].id)
        .unwrap()
        .is_some());
    assert!(has_file(&f.store, &id));

    // Deleting another user's message is refused, and removes nothing.
    assert!(!f.store.mailbox_delete("u1@example.org", m2[0].id).unwrap());
    assert!(has_file(&f.store, &id));

    assert!(f.store.mailbox_delete("u2@example.org", m2[0].id).unwrap());
    assert_eq!(message_rows(&f.store, &id), 0);
    assert!(!has_file(&f.store, &id));
}

#[tokio::test]
async fn local_and_remote_recipients_the_mailbox_keeps_it_after_relay() {
    let f = fixture();
    let id = queue(
        &f,
        vec![rcpt("u1@example.org", true), rcpt("b@example.net", false)],
        false,
    )
    .await;
    let due = f.store.due(10).unwrap();
    f.store.deliver_local(&f.writer, due).await.unwrap();
    record(&f, &id, "b@example.net", delivered()).await;
    assert_eq!(queue_rows(&f.store, &id), 0);
    assert_eq!(message_rows(&f.store, &id), 1, "the mailbox still holds it");
    let m = f.store.mailbox_list("u1@example.org").unwrap();
    assert!(f.store.mailbox_delete("u1@example.org", m[0].id).unwrap());
    assert_eq!(message_rows(&f.store, &id), 0);
    assert_eq!(body_rows(&f.store, &id), 0);
}

#[tokio::test]
async fn quarantined_message_is_kept_until_deleted() {
    let f = fixture();
    let held = Some(("virus".to_string(), "antivirus: EICAR".to_string()));
    let id = queue_with(&f, vec![rcpt("b@example.net", false)], true, held, false).await;
    // Nothing is due, nothing is removed, however often the queue looks.
    assert!(f.store.due(10).unwrap().is_empty());
    assert_eq!(message_rows(&f.store, &id), 1);
    assert!(has_file(&f.store, &id));
    f.store.quarantine_delete(&id.0, "admin").unwrap();
    assert_eq!(message_rows(&f.store, &id), 0);
    assert_eq!(queue_rows(&f.store, &id), 0);
    assert!(!has_file(&f.store, &id));
}

#[tokio::test]
async fn released_message_is_removed_once_delivered() {
    let f = fixture();
    let held = Some(("spam".to_string(), "spam: 12.0".to_string()));
    let id = queue_with(&f, vec![rcpt("b@example.net", false)], false, held, false).await;
    f.store.quarantine_release(&id.0, "admin").unwrap();
    assert_eq!(message_rows(&f.store, &id), 1);
    record(&f, &id, "b@example.net", delivered()).await;
    assert_eq!(message_rows(&f.store, &id), 0);
    assert_eq!(body_rows(&f.store, &id), 0);
}

/// A crash between the commit that removed the rows and the unlink leaves a file without rows:
/// the sweep at start-up removes it.
#[tokio::test]
async fn a_file_left_by_a_crash_after_removal_is_swept_at_start() {
    let f = fixture();
    let id = queue(&f, vec![rcpt("b@example.net", false)], true).await;
    let path = f.store.message_path(&id);
    let kept = std::fs::read(&path).unwrap();
    record(&f, &id, "b@example.net", delivered()).await;
    assert!(!path.exists());
    // The unlink "did not happen".
    std::fs::write(&path, kept).unwrap();
    assert_eq!(f.store.remove_orphans().unwrap(), 1);
    assert!(!path.exists());
}
