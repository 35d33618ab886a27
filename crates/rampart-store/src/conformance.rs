//! The conformance suite of the store traits ([`crate::api`]): what every backend must do, method
//! by method, including ordering, concurrency and what survives a restart. A backend's tests run
//! it with [`conformance_tests!`](crate::conformance_tests) and a [`Harness`] that makes empty
//! stores and reopens them; `crates/rampart-store/tests/conformance.rs` runs it against SQLite.
//!
//! Each check panics with a sentence saying which expectation failed.

use crate::api::{AnyStore, Directory, Mailboxes, Quarantine, Queue, SharedState};
use crate::directory::RecipientError;
use crate::queue::{Enqueue, QueueId, QueuedRecipient};
use crate::status::{Failure, RecipientStatus};
use crate::trace::TraceEvent;
use async_trait::async_trait;
use std::sync::Arc;

mod admins;
mod audit;
mod bans;
mod dmarc;
mod mail;
mod mail_log;
mod sending;
mod sessions;
mod spam;
mod trace;
mod trusted;
pub use admins::*;
pub use audit::*;
pub use bans::*;
pub use dmarc::*;
pub use mail_log::MailLog;
pub use spam::*;
pub use trace::*;
pub use trusted::*;
mod tls;
pub use mail::*;
pub use sending::*;
pub use sessions::*;
pub use tls::*;

/// Makes stores for the suite.
#[async_trait]
pub trait Harness: Send + Sync {
    /// Where one store's data lives (a directory, a database name).
    type Place: Send + Sync;
    /// A new, empty place.
    async fn create(&self) -> Self::Place;
    /// Opens the store at `place`. Called again after the previous handle was dropped, it must
    /// see exactly what was durable: this is the suite's restart.
    async fn open(&self, place: &Self::Place) -> AnyStore;
}

/// A small message: Return-Path line, then the message.
pub fn small_message(subject: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@remote.example>\r\nFrom: sender@remote.example\r\n\
         To: user@local.example\r\nSubject: {subject}\r\nMessage-ID: <{subject}@remote.example>\r\n\r\nBody\r\n"
    )
    .into_bytes()
}

pub(crate) const RETURN_PATH_LEN: usize = "Return-Path: <sender@remote.example>\r\n".len();

/// Spools `bytes` and enqueues it for `recipients` (local when the bool is true).
pub async fn enqueue(
    store: &AnyStore,
    bytes: &[u8],
    recipients: &[(&str, bool)],
    quarantine: Option<(String, String)>,
) -> QueueId {
    enqueue_on(&**store, bytes, recipients, quarantine).await
}

/// [`enqueue`] on a store that has a [`Queue`] only.
pub async fn enqueue_on<S: Queue + ?Sized>(
    store: &S,
    bytes: &[u8],
    recipients: &[(&str, bool)],
    quarantine: Option<(String, String)>,
) -> QueueId {
    let id = QueueId::generate();
    let mut spool = store.spool(&id, None);
    spool.push(bytes);
    let spooled = tokio::task::spawn_blocking(move || spool.finish())
        .await
        .expect("spool task")
        .expect("a spool finishes");
    let msg = Enqueue {
        id: id.clone(),
        sender: "sender@remote.example".into(),
        size: spooled.size,
        message_id: Some(format!("<{id}@remote.example>")),
        return_path_len: RETURN_PATH_LEN,
        client: Some("192.0.2.1".into()),
        recipients: recipients
            .iter()
            .map(|(a, local)| QueuedRecipient {
                address: a.to_string(),
                local: *local,
            })
            .collect(),
        events: vec![{
            let mut e = TraceEvent::new("queued", "conformance");
            e.queue_id = Some(id.0.clone());
            e
        }],
        quarantine,
        inline: spooled.inline,
        deliver_local_now: false,
        junk: false,
        authenticated_from: None,
    };
    store.enqueue(msg).await.expect("enqueue succeeds");
    id
}

/// A store with domain `local.example` and users `user@` and `other@` (password
/// `correct horse battery`).
pub async fn populated<H: Harness>(h: &H) -> (H::Place, AnyStore) {
    let place = h.create().await;
    let store = h.open(&place).await;
    populate(&*store).await;
    (place, store)
}

/// Adds `populated`'s domain and users to a store that has only a [`Directory`].
pub async fn populate<S: Directory + ?Sized>(store: &S) {
    store.add_domain("local.example").await.expect("add domain");
    for u in ["user@local.example", "other@local.example"] {
        store
            .add_user(u, "correct horse battery")
            .await
            .expect("add user");
    }
}

// The checks of one trait have an `_on` form that takes a store with that trait only, so a
// backend that implements some traits so far runs their checks alone (rampart-store-pg).

pub async fn directory_domains<H: Harness>(h: &H) {
    let place = h.create().await;
    directory_domains_on(&*h.open(&place).await).await;
}

pub async fn directory_domains_on<S: Directory + ?Sized>(store: &S) {
    assert!(
        store.domains().await.unwrap().is_empty(),
        "a new store has no domain (NC-2.1.2)"
    );
    store.add_domain("B.example").await.unwrap();
    store.add_domain("a.example").await.unwrap();
    assert!(
        store.add_domain("b.example").await.is_err(),
        "a domain added twice is an error"
    );
    assert_eq!(
        store.domains().await.unwrap(),
        vec!["a.example", "b.example"],
        "domains are lower-cased and sorted"
    );
    assert!(store.is_local_domain("A.EXAMPLE").await.unwrap());
    assert!(!store.is_local_domain("c.example").await.unwrap());
}

pub async fn directory_users<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    directory_users_on(&*store).await;
}

/// On a store [`populate`]d.
pub async fn directory_users_on<S: Directory + ?Sized>(store: &S) {
    assert!(
        store
            .add_user("x@elsewhere.example", "correct horse battery")
            .await
            .is_err(),
        "a user of a domain that is not local is refused"
    );
    assert!(
        store
            .add_user("short@local.example", "short")
            .await
            .is_err(),
        "a short password is refused"
    );
    assert!(
        store
            .add_user("USER@local.example", "correct horse battery")
            .await
            .is_err(),
        "a user added twice (any case) is an error"
    );
    assert_eq!(
        store.users().await.unwrap(),
        vec!["other@local.example", "user@local.example"]
    );
    assert!(store
        .verify_password("user@local.example", "correct horse battery")
        .await
        .unwrap());
    assert!(!store
        .verify_password("user@local.example", "wrong horse battery")
        .await
        .unwrap());
    assert!(!store
        .verify_password("nobody@local.example", "correct horse battery")
        .await
        .unwrap());
}

pub async fn directory_aliases_and_send_as<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    directory_aliases_and_send_as_on(&*store).await;
}

/// On a store [`populate`]d.
pub async fn directory_aliases_and_send_as_on<S: Directory + ?Sized>(store: &S) {
    store
        .add_alias("team@local.example", "user@local.example")
        .await
        .unwrap();
    store
        .add_alias("team@local.example", "other@local.example")
        .await
        .unwrap();
    store
        .add_alias("boss@local.example", "team@local.example")
        .await
        .unwrap();
    let r = store
        .resolve_recipient("Boss@Local.Example")
        .await
        .unwrap()
        .expect("an alias of an alias resolves");
    assert_eq!(
        r.mailboxes,
        vec!["other@local.example", "user@local.example"]
    );
    assert_eq!(
        store.aliases().await.unwrap().len(),
        3,
        "every (alias, target) is listed"
    );
    assert_eq!(
        store.resolve_recipient("x@remote.example").await.unwrap(),
        Err(RecipientError::ForeignDomain),
        "NC-2.1.6: a foreign domain is not ours to receive for"
    );
    assert_eq!(
        store
            .resolve_recipient("nobody@local.example")
            .await
            .unwrap(),
        Err(RecipientError::NoSuchUser)
    );
    assert!(
        store
            .may_send_as("user@local.example", "team@local.example")
            .await
            .unwrap(),
        "NC-2.1.7: an alias that delivers to the user may be sent as"
    );
    assert!(!store
        .may_send_as("user@local.example", "press@local.example")
        .await
        .unwrap());
    store
        .add_send_as("user@local.example", "press@local.example")
        .await
        .unwrap();
    assert!(
        store
            .may_send_as("User@local.example", "press@local.example")
            .await
            .unwrap(),
        "NC-2.1.7: a granted address may be sent as"
    );
    assert!(!store
        .may_send_as("other@local.example", "press@local.example")
        .await
        .unwrap());
    assert!(
        store
            .add_send_as("user@local.example", "x@remote.example")
            .await
            .is_err(),
        "only addresses of local domains are granted"
    );
}

pub async fn queue_enqueue_and_read_back<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    queue_enqueue_and_read_back_on(&*store).await;
}

/// On a store [`populate`]d.
pub async fn queue_enqueue_and_read_back_on<S: Queue + ?Sized>(store: &S) {
    let small = small_message("small");
    let mut large = small_message("large");
    large.extend(std::iter::repeat_n(b'x', 300 * 1024));
    large.extend_from_slice(b"\r\n");
    let a = enqueue_on(store, &small, &[("r@remote.example", false)], None).await;
    let b = enqueue_on(store, &large, &[("r@remote.example", false)], None).await;
    for (id, bytes) in [(&a, &small), (&b, &large)] {
        assert_eq!(&store.message_bytes(id, true).await.unwrap(), bytes);
        assert_eq!(
            store.message_bytes(id, false).await.unwrap(),
            bytes[RETURN_PATH_LEN..],
            "without the Return-Path line for relaying"
        );
    }
    let due = store.due(10).await.unwrap();
    let ids: Vec<_> = due.iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids, vec![a.clone(), b.clone()], "due is oldest first");
    assert_eq!(due[0].recipients.len(), 1);
    assert!(!due[0].recipients[0].local);
    assert_eq!(due[0].recipients[0].attempts, 0);
    assert_eq!(
        store.due(1).await.unwrap().len(),
        1,
        "due honours its limit"
    );
    assert!(store.next_attempt_at().await.unwrap().is_some());
    let list = store.queue_list().await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|e| e.status == RecipientStatus::Scheduled));
}

pub async fn queue_attempts_and_removal<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    queue_attempts_and_removal_on(&*store).await;
}

/// On a store [`populate`]d.
pub async fn queue_attempts_and_removal_on<S: Queue + ?Sized>(store: &S) {
    let id = enqueue_on(
        store,
        &small_message("attempts"),
        &[("a@remote.example", false), ("b@remote.example", false)],
        None,
    )
    .await;
    let later = crate::now_micros() + 3_600_000_000;
    store
        .record_attempts(
            &id,
            vec![
                (
                    "a@remote.example".into(),
                    RecipientStatus::Delivered("250 ok".into()),
                ),
                (
                    "b@remote.example".into(),
                    RecipientStatus::TemporaryFailure {
                        reply: "451 later".into(),
                        next_attempt: later,
                    },
                ),
            ],
            vec![TraceEvent::new("delivered", "conformance")],
            None,
        )
        .await
        .unwrap();
    assert!(
        store.due(10).await.unwrap().is_empty(),
        "a deferred recipient is not due before its time"
    );
    assert_eq!(store.next_attempt_at().await.unwrap(), Some(later));
    assert!(
        store.message_bytes(&id, true).await.is_ok(),
        "a message with a recipient still queued is kept"
    );
    let dsn = store
        .generated(
            "sender@remote.example",
            b"Subject: failure\r\n\r\nreport\r\n".to_vec(),
            "dsn@local.example".into(),
            "a bounce",
        )
        .await
        .unwrap();
    let dsn_id = dsn.id.clone();
    assert!(
        store.due(10).await.unwrap().is_empty(),
        "a prepared bounce is not queued before its commit"
    );
    let bounced = store
        .record_attempts(
            &id,
            vec![(
                "b@remote.example".into(),
                RecipientStatus::PermanentFailure(Failure {
                    status: "5.1.1".into(),
                    reply: "550 no such user".into(),
                    remote_mta: None,
                }),
            )],
            vec![],
            Some(crate::queue::Bounce {
                message: dsn,
                event: TraceEvent::new("bounce", "conformance"),
            }),
        )
        .await
        .unwrap();
    assert!(bounced, "the bounce is queued with the failure it reports");
    let due = store.due(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, dsn_id, "the bounce is queued in the same commit");
    assert!(
        store.message_bytes(&id, true).await.is_err(),
        "a message every recipient is done with is removed"
    );
}

pub async fn queue_local_delivery_and_single_copy<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    queue_local_delivery_and_single_copy_on(&*store).await;
}

/// On a store [`populate`]d.
pub async fn queue_local_delivery_and_single_copy_on<S: Queue + Mailboxes + ?Sized>(store: &S) {
    let bytes = small_message("local");
    let id = enqueue_on(
        store,
        &bytes,
        &[("user@local.example", true), ("other@local.example", true)],
        None,
    )
    .await;
    let due = store.due(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(store.deliver_local(due).await.unwrap(), 2);
    assert!(
        store.due(10).await.unwrap().is_empty(),
        "delivered is not due again"
    );
    let mine = store.mailbox_list("user@local.example").await.unwrap();
    let theirs = store.mailbox_list("other@local.example").await.unwrap();
    assert_eq!((mine.len(), theirs.len()), (1, 1));
    assert_eq!(
        mine[0].queue_id, id.0,
        "both mailboxes hold the one stored copy"
    );
    assert_eq!(theirs[0].queue_id, id.0);
    assert_eq!(
        store
            .mailbox_message("user@local.example", mine[0].id)
            .await
            .unwrap(),
        Some(bytes.clone())
    );
    assert_eq!(
        store
            .mailbox_message("user@local.example", theirs[0].id + 1_000_000)
            .await
            .unwrap(),
        None
    );
    assert!(store
        .mailbox_delete("user@local.example", mine[0].id)
        .await
        .unwrap());
    assert!(!store
        .mailbox_delete("user@local.example", mine[0].id)
        .await
        .unwrap());
    assert_eq!(
        store
            .mailbox_message("other@local.example", theirs[0].id)
            .await
            .unwrap(),
        Some(bytes),
        "deleted by one mailbox, still readable in the other"
    );
    assert!(store
        .mailbox_delete("other@local.example", theirs[0].id)
        .await
        .unwrap());
    assert!(
        store.message_bytes(&id, true).await.is_err(),
        "deleted from every mailbox, the stored copy is gone"
    );
}

pub async fn queue_generated<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    queue_generated_on(&*store).await;
}

/// On a store [`populate`]d.
pub async fn queue_generated_on<S: Queue + ?Sized>(store: &S) {
    let id = store
        .enqueue_generated(
            "user@local.example",
            b"From: postmaster@local.example\r\nSubject: notice\r\n\r\nhello\r\n".to_vec(),
            "notice@local.example".into(),
            "a notice",
        )
        .await
        .unwrap();
    let due = store.due(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, id);
    assert_eq!(
        due[0].sender, "",
        "generated mail comes from the null sender"
    );
    assert!(
        due[0].recipients[0].local,
        "an address of ours is delivered locally"
    );
    let bytes = store.message_bytes(&id, true).await.unwrap();
    assert!(bytes.starts_with(b"Return-Path: <>\r\n"));
}

pub async fn quarantine_hold_release_delete<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    quarantine_hold_release_delete_on(&*store).await;
}

/// On a store [`populate`]d.
pub async fn quarantine_hold_release_delete_on<S: Queue + Quarantine + ?Sized>(store: &S) {
    let held = enqueue_on(
        store,
        &small_message("held"),
        &[("r@remote.example", false)],
        Some(("antivirus: found".into(), "antivirus: found".into())),
    )
    .await;
    assert!(
        store.due(10).await.unwrap().is_empty(),
        "a held message is not due"
    );
    let list = store.quarantine_list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].queue_id, held.0);
    assert_eq!(list[0].recipients, vec!["r@remote.example"]);
    assert_eq!(
        store.quarantine_get(&held.0).await.unwrap().unwrap().reason,
        "antivirus: found"
    );
    assert!(store.quarantine_get("nonexistent").await.unwrap().is_none());
    assert!(store
        .quarantine_release("nonexistent", "admin")
        .await
        .is_err());
    store.quarantine_release(&held.0, "admin").await.unwrap();
    let due = store.due(10).await.unwrap();
    assert_eq!(due.len(), 1, "a released message is due");
    assert!(due[0].released, "and is not held again at delivery");
    assert!(store.quarantine_list().await.unwrap().is_empty());

    // Held at delivery time, then deleted: gone with its body.
    store
        .hold(&held, None, "urls: listed".into(), "urls: listed".into())
        .await
        .unwrap();
    assert!(store.due(10).await.unwrap().is_empty());
    assert_eq!(store.quarantine_list().await.unwrap().len(), 1);
    store.quarantine_delete(&held.0, "admin").await.unwrap();
    assert!(store.quarantine_list().await.unwrap().is_empty());
    assert!(store.message_bytes(&held, true).await.is_err());
    assert!(store.queue_list().await.unwrap().is_empty());
}

pub async fn shared_counters<H: Harness>(h: &H) {
    let place = h.create().await;
    shared_counters_on(h.open(&place).await).await;
}

pub async fn shared_counters_on<S: SharedState + ?Sized + 'static>(store: Arc<S>) {
    let w = 60_000_000;
    let t0 = 1_800_000_000_000_000 - (1_800_000_000_000_000 % w);
    assert_eq!(store.count_in_window("ip:1", t0, w, 1).await.unwrap(), 1);
    assert_eq!(
        store.count_in_window("ip:1", t0 + 10, w, 2).await.unwrap(),
        3
    );
    assert_eq!(
        store.count_in_window("ip:2", t0, w, 1).await.unwrap(),
        1,
        "keys are apart"
    );
    assert_eq!(
        store.count_in_window("ip:1", t0 + w, w, 1).await.unwrap(),
        1,
        "a new window starts from zero"
    );
    assert!(store.count_in_window("ip:1", t0, 0, 1).await.is_err());
    // Concurrency: no increment is lost.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.count_in_window("burst", t0, w, 1).await.unwrap()
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort();
    assert_eq!(
        seen,
        (1..=50).collect::<Vec<u64>>(),
        "each increment sees its own count"
    );
}

pub async fn shared_auth_failures_and_bans<H: Harness>(h: &H) {
    let place = h.create().await;
    shared_auth_failures_and_bans_on(&*h.open(&place).await).await;
}

pub async fn shared_auth_failures_and_bans_on<S: SharedState + ?Sized>(store: &S) {
    let w = 600_000_000;
    let t = 1_800_000_000_000_000i64;
    assert_eq!(store.auth_failure("user:a", t, w).await.unwrap(), 1);
    assert_eq!(store.auth_failure("user:a", t + 1, w).await.unwrap(), 2);
    assert_eq!(store.auth_failure("user:b", t + 1, w).await.unwrap(), 1);
    assert_eq!(
        store.auth_failure("user:a", t + w + 1, w).await.unwrap(),
        2,
        "failures older than the window are not counted"
    );
    store.auth_success("user:a").await.unwrap();
    assert_eq!(store.auth_failure("user:a", t + w + 2, w).await.unwrap(), 1);

    assert!(store.banned("ip:192.0.2.9", t).await.unwrap().is_none());
    assert!(
        store.ban("ip:192.0.2.9", t, t, "x").await.is_err(),
        "a ban must end after it starts"
    );
    store
        .ban("ip:192.0.2.9", t, t + 100, "5 failed logins")
        .await
        .unwrap();
    store
        .ban("user:c@local.example", t, t + 50, "admin")
        .await
        .unwrap();
    let ban = store.banned("ip:192.0.2.9", t + 1).await.unwrap().unwrap();
    assert_eq!(
        (ban.since, ban.until, ban.reason.as_str()),
        (t, t + 100, "5 failed logins")
    );
    let all: Vec<_> = store
        .bans(t + 1)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.subject)
        .collect();
    assert_eq!(
        all,
        vec!["user:c@local.example", "ip:192.0.2.9"],
        "soonest to end first"
    );
    assert!(
        store
            .banned("user:c@local.example", t + 50)
            .await
            .unwrap()
            .is_none(),
        "an ended ban is not in force"
    );
    assert!(store.unban("ip:192.0.2.9", t + 2).await.unwrap());
    assert!(!store.unban("ip:192.0.2.9", t + 2).await.unwrap());
    assert!(store.banned("ip:192.0.2.9", t + 3).await.unwrap().is_none());
}

pub async fn concurrent_enqueues<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    concurrent_enqueues_on(store).await;
}

/// On a store [`populate`]d.
pub async fn concurrent_enqueues_on<S: Queue + ?Sized + 'static>(store: Arc<S>) {
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let bytes = small_message(&format!("c{i}"));
            let id = enqueue_on(&*s, &bytes, &[("r@remote.example", false)], None).await;
            (id, bytes)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let (id, bytes) = t.await.unwrap();
        assert_eq!(store.message_bytes(&id, true).await.unwrap(), bytes);
        ids.push(id);
    }
    assert_eq!(
        store.due(100).await.unwrap().len(),
        40,
        "no enqueue is lost"
    );
}

/// What survives a restart: every acknowledged enqueue and its state; a body spooled but never
/// acknowledged is an orphan that `remove_orphans` clears.
pub async fn restart_keeps_acknowledged<H: Harness>(h: &H) {
    let place = h.create().await;
    restart_keeps_acknowledged_on(|| h.open(&place)).await;
}

/// `open` opens the same store each time it is called (a restart between the calls); the first
/// store is [`populate`]d here.
pub async fn restart_keeps_acknowledged_on<S, P, F, Fut>(open: F)
where
    S: Queue + Directory + SharedState + ?Sized,
    P: std::ops::Deref<Target = S>,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = P>,
{
    let store = open().await;
    populate(&*store).await;
    let acked = enqueue_on(
        &*store,
        &small_message("acked"),
        &[("r@remote.example", false)],
        None,
    )
    .await;
    let mut big = small_message("big");
    big.extend(std::iter::repeat_n(b'y', 200 * 1024));
    let acked_big = enqueue_on(&*store, &big, &[("r@remote.example", false)], None).await;
    store
        .ban(
            "ip:203.0.113.5",
            crate::now_micros(),
            crate::now_micros() + 3_600_000_000,
            "test",
        )
        .await
        .unwrap();
    // A large body spooled and finished, then the "crash": never enqueued.
    let orphan = QueueId::generate();
    let mut spool = store.spool(&orphan, None);
    spool.push(&big);
    tokio::task::spawn_blocking(move || spool.finish())
        .await
        .unwrap()
        .unwrap();
    drop(store);
    let store = open().await;
    assert_eq!(
        store.message_bytes(&acked, true).await.unwrap(),
        small_message("acked")
    );
    assert_eq!(store.message_bytes(&acked_big, true).await.unwrap(), big);
    assert_eq!(store.due(10).await.unwrap().len(), 2);
    assert_eq!(store.users().await.unwrap().len(), 2);
    assert!(store
        .banned("ip:203.0.113.5", crate::now_micros())
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.remove_orphans().await.unwrap(),
        1,
        "the unacknowledged body is removed"
    );
    assert_eq!(store.remove_orphans().await.unwrap(), 0);
    assert!(store.message_bytes(&orphan, true).await.is_err());
}

/// Generates one `#[tokio::test]` per check of the suite for `$harness` (an expression building
/// the backend's [`Harness`]).
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@each $harness;
            directory_domains, directory_users, directory_aliases_and_send_as,
            queue_enqueue_and_read_back, queue_attempts_and_removal,
            queue_local_delivery_and_single_copy, queue_generated,
            quarantine_hold_release_delete, trace_record_find_prune, trace_timelines, trace_summary_for_the_audit,
            shared_counters,
            shared_auth_failures_and_bans, concurrent_enqueues, restart_keeps_acknowledged,
            mail_delivery_roles_and_changes, mail_keywords_moves_destroy, mail_push_feed,
            mailbox_audit_record_and_select, web_sessions_create_check_end,
            web_sessions_expire_and_prune, logins_without_tokens_or_grants,
            submission_identities_and_changes, submission_records,
            submission_vacation_and_replies, bans_escalate_expire_and_unban,
            bans_survive_restart_and_allow_lifts, ids_log_retention_and_oldest,
            tls_sts_policy_cache, tls_outcomes_by_day, tls_reports_received_kept,
            tls_reports_sent_once,
            spam_train_once_and_reverse, spam_lesson_weights, spam_scopes_apart_and_kept, trusted_senders_file_tagged_mail,
            dmarc_evaluations_kept_until_done, dmarc_reports_received_once,
            admins_logins_once_and_sessions, admins_queue_gauge);
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::conformance::$name(&$harness).await;
            }
        )*
    };
}
