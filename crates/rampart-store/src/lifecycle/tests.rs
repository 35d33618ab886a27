//! Each removal rule of the storage lifecycle, on a real store and writer.

use crate::directory::tempdir;
use crate::queue::INLINE_MAX;
use crate::{
    Bounce, Enqueue, Failure, QueueId, QueuedRecipient, RecipientStatus, SpoolFile, Store,
    TraceEvent, Writer,
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
                authenticated_from: None,
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
        .record_attempts(&f.writer, id, vec![(rcpt.to_string(), o)], Vec::new(), None)
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

fn no_such_user() -> RecipientStatus {
    RecipientStatus::PermanentFailure(Failure {
        status: "5.1.1".into(),
        reply: "mx.example.net said: 550 5.1.1 no such user".into(),
        remote_mta: Some("mx.example.net".into()),
    })
}

/// A DSN for message `of` as outbound delivery prepares it; `large` ones get a file.
async fn dsn(f: &Fixture, of: &QueueId, large: bool) -> Bounce {
    let mut body = b"Subject: Undelivered Mail Returned to Sender\r\n\r\n".to_vec();
    body.resize(if large { INLINE_MAX + 1 } else { 200 }, b'x');
    let message = f
        .store
        .generated(
            "a@example.org",
            body,
            format!("{of}.dsn@example.org"),
            "test bounce",
        )
        .await
        .unwrap();
    let mut event = TraceEvent::new("bounce", format!("DSN {} queued", message.id));
    event.queue_id = Some(of.0.clone());
    Bounce { message, event }
}

async fn record_failure(f: &Fixture, id: &QueueId, rcpt: &str, bounce: Bounce) -> bool {
    f.store
        .record_attempts(
            &f.writer,
            id,
            vec![(rcpt.to_string(), no_such_user())],
            Vec::new(),
            Some(bounce),
        )
        .await
        .unwrap()
}

fn bounces_of(store: &Store, id: &QueueId) -> i64 {
    count(
        store,
        "SELECT count(*) FROM trace WHERE event = 'bounce' AND queue_id = ?1",
        id,
    )
}

#[tokio::test]
async fn bounced_message_is_removed_in_the_commit_that_queues_its_bounce() {
    let f = fixture();
    let id = queue(&f, vec![rcpt("b@example.net", false)], false).await;
    let bounce = dsn(&f, &id, false).await;
    let bid = bounce.message.id.clone();
    // Prepared, not queued: nothing of it is in the database yet.
    assert_eq!(message_rows(&f.store, &bid), 0);
    assert!(record_failure(&f, &id, "b@example.net", bounce).await);
    assert_eq!(message_rows(&f.store, &id), 0);
    assert_eq!(body_rows(&f.store, &id), 0);
    assert_eq!(queue_rows(&f.store, &id), 0);
    // The bounce itself is a message of its own, still queued, with the trace event naming it.
    assert_eq!(message_rows(&f.store, &bid), 1);
    assert_eq!(queue_rows(&f.store, &bid), 1);
    assert_eq!(bounces_of(&f.store, &id), 1);
    assert!(f.store.message_bytes(&bid, false).is_ok());
}

/// Two recipients failing in separate attempts: each attempt queues its own bounce, and the
/// message, which both bounces quote, stays until the second is queued.
#[tokio::test]
async fn two_recipients_failing_apart_each_bounce_and_the_message_waits_for_the_second() {
    let f = fixture();
    let id = queue(
        &f,
        vec![rcpt("b@example.net", false), rcpt("c@example.org", false)],
        true,
    )
    .await;
    let first = dsn(&f, &id, false).await;
    assert!(record_failure(&f, &id, "b@example.net", first).await);
    assert_eq!(message_rows(&f.store, &id), 1);
    assert!(has_file(&f.store, &id));
    // The second bounce is built from the message after the first was recorded.
    assert!(f.store.message_bytes(&id, false).is_ok());
    let second = dsn(&f, &id, true).await;
    let second_id = second.message.id.clone();
    assert!(record_failure(&f, &id, "c@example.org", second).await);
    assert_eq!(bounces_of(&f.store, &id), 2);
    assert_eq!(message_rows(&f.store, &id), 0);
    assert!(!has_file(&f.store, &id));
    assert!(
        has_file(&f.store, &second_id),
        "the second bounce keeps its file"
    );
}

/// An attempt recorded a second time (a stale snapshot of the queue delivered it again) finds
/// its recipient final already: no second bounce, and the prepared one's file is removed.
#[tokio::test]
async fn a_failure_recorded_twice_bounces_once() {
    let f = fixture();
    let id = queue(&f, vec![rcpt("b@example.net", false)], false).await;
    let first = dsn(&f, &id, false).await;
    assert!(record_failure(&f, &id, "b@example.net", first).await);
    let again = dsn(&f, &id, true).await;
    let again_id = again.message.id.clone();
    assert!(has_file(&f.store, &again_id));
    assert!(!record_failure(&f, &id, "b@example.net", again).await);
    assert_eq!(bounces_of(&f.store, &id), 1);
    assert_eq!(message_rows(&f.store, &again_id), 0);
    assert!(
        !has_file(&f.store, &again_id),
        "the unused bounce left its file"
    );
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

/// Issue #11 item 7 (draining a large backlog): the queue is read in the order of its due
/// index, earliest due first, so a round reads `limit` rows instead of sorting the backlog.
#[tokio::test]
async fn due_reads_the_earliest_due_first() {
    let f = fixture();
    let a = queue(&f, vec![rcpt("b@example.net", false)], false).await;
    let b = queue(&f, vec![rcpt("b@example.net", false)], false).await;
    let c = queue(&f, vec![rcpt("b@example.net", false)], false).await;
    // Retries due in the reverse order of arrival.
    let now = crate::now_micros();
    for (id, ago) in [(&a, 1), (&b, 2), (&c, 3)] {
        let deferred = RecipientStatus::TemporaryFailure {
            reply: "451 later".into(),
            next_attempt: now - ago * 1_000_000,
        };
        record(&f, id, "b@example.net", deferred).await;
    }
    let due: Vec<QueueId> = f.store.due(2).unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(due, vec![c, b]);
}

/// A message whose recipients are due at different times is still one message, with every
/// recipient that is due.
#[tokio::test]
async fn due_gathers_a_message_whose_recipients_are_due_apart() {
    let f = fixture();
    let id = queue(
        &f,
        vec![rcpt("b@example.net", false), rcpt("c@example.org", false)],
        false,
    )
    .await;
    let other = queue(&f, vec![rcpt("d@example.net", false)], false).await;
    // c is retried later than the other message is due: its rows are not adjacent to b's.
    let deferred = RecipientStatus::TemporaryFailure {
        reply: "451 later".into(),
        next_attempt: crate::now_micros() - 1,
    };
    record(&f, &id, "c@example.org", deferred).await;
    let due = f.store.due(10).unwrap();
    assert_eq!(due.len(), 2, "{due:?}");
    let m = due.iter().find(|m| m.id == id).unwrap();
    let mut rcpts: Vec<&str> = m.recipients.iter().map(|r| r.address.as_str()).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["b@example.net", "c@example.org"]);
    assert!(due.iter().any(|m| m.id == other));
}
