//! Several nodes on one queue (issue 20): two PgStore handles on one database are two nodes,
//! each with its own node id, spool and leases, on a PostgreSQL cluster the test starts.
//!
//! - concurrent due() on two nodes never claims one recipient twice;
//! - a node's leases are renewed while it lives, and taken over by another node once it is gone
//!   and they have run out;
//! - an acknowledged enqueue survives a crash of the database server (immediate shutdown,
//!   recovery from the write-ahead log), and an enqueue while it is down fails, leaving nothing;
//! - a vacation reply and a quarantine release, asked of both nodes at once, happen once;
//! - local delivery files one stored copy per mailbox, once, with the queue rows gone;
//! - a node shutting down gracefully gives its leases up at once.

use rampart_store::api::{Quarantine, Queue};
use rampart_store::conformance as c;
use rampart_store::submission::SubmissionStore;
use rampart_store::{QueueId, RecipientStatus};
use rampart_store_pg::cluster::Cluster;
use rampart_store_pg::{PgOptions, PgStore};
use std::collections::HashSet;
use std::time::{Duration, Instant};

async fn open(opts: &PgOptions) -> PgStore {
    PgStore::open(opts).await.expect("the store opens")
}

/// `n` messages for one remote recipient each, enqueued on `store`.
async fn enqueue_many(store: &PgStore, n: usize) -> HashSet<String> {
    let mut ids = HashSet::new();
    for i in 0..n {
        let id = c::enqueue_on(
            store,
            &c::small_message(&format!("m{i}")),
            &[("r@remote.example", false)],
            None,
        )
        .await;
        ids.insert(id.0);
    }
    ids
}

/// Records every claimed message as delivered, as a delivery would.
async fn deliver_all(store: &PgStore, ids: &[QueueId]) {
    for id in ids {
        store
            .record_attempts(
                id,
                vec![(
                    "r@remote.example".into(),
                    RecipientStatus::Delivered("250 ok".into()),
                )],
                vec![],
                None,
            )
            .await
            .expect("the outcome is recorded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_claim_the_same_recipient() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let (a, b) = (
        open(&cluster.options(&db)).await,
        open(&cluster.options(&db)).await,
    );
    assert_ne!(a.node_id(), b.node_id(), "each handle is a node of its own");
    c::populate(&a).await;
    let all = enqueue_many(&a, 60).await;

    // Both nodes claim at the same moment, more than there is: disjoint, and nothing missed.
    let (da, db_) = tokio::join!(a.due(100), b.due(100));
    let (da, db_) = (da.unwrap(), db_.unwrap());
    let ida: HashSet<String> = da.iter().map(|m| m.id.0.clone()).collect();
    let idb: HashSet<String> = db_.iter().map(|m| m.id.0.clone()).collect();
    assert!(
        ida.is_disjoint(&idb),
        "a message claimed by both nodes: {:?}",
        ida.intersection(&idb).collect::<Vec<_>>()
    );
    assert_eq!(
        ida.union(&idb).cloned().collect::<HashSet<_>>(),
        all,
        "every due message is claimed by one node"
    );
    // Claimed by the other node: not due here until its lease ends.
    assert!(b
        .due(100)
        .await
        .unwrap()
        .iter()
        .all(|m| !ida.contains(&m.id.0)));
    assert!(a
        .due(100)
        .await
        .unwrap()
        .iter()
        .all(|m| !idb.contains(&m.id.0)));

    // Then in small batches, each node delivering what it claimed, in parallel: every message
    // delivered exactly once.
    let more = enqueue_many(&b, 80).await;
    let worker = |node: PgStore| async move {
        let mut mine = Vec::new();
        loop {
            let due = node.due(7).await.unwrap();
            if due.is_empty() {
                return mine;
            }
            let ids: Vec<QueueId> = due.iter().map(|m| m.id.clone()).collect();
            deliver_all(&node, &ids).await;
            mine.extend(ids.into_iter().map(|i| i.0));
        }
    };
    // The first claims are still leased: deliver them first, from the node that holds them.
    let first_a: Vec<QueueId> = da.iter().map(|m| m.id.clone()).collect();
    let first_b: Vec<QueueId> = db_.iter().map(|m| m.id.clone()).collect();
    tokio::join!(deliver_all(&a, &first_a), deliver_all(&b, &first_b));
    let (wa, wb) = tokio::join!(
        tokio::spawn(worker(a.clone())),
        tokio::spawn(worker(b.clone()))
    );
    let (wa, wb) = (wa.unwrap(), wb.unwrap());
    let mut seen = HashSet::new();
    for id in wa.iter().chain(wb.iter()) {
        assert!(seen.insert(id.clone()), "{id} was claimed twice");
    }
    assert_eq!(seen, more, "each of the later messages delivered once");
    assert!(a.queue_list().await.unwrap().is_empty(), "nothing is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_leases_are_taken_over() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let mut short = cluster.options(&db);
    short.lease = Duration::from_secs(3);
    let a = open(&short).await;
    let b = open(&cluster.options(&db)).await;
    c::populate(&a).await;
    let id = c::enqueue_on(
        &a,
        &c::small_message("lease"),
        &[("r@remote.example", false)],
        None,
    )
    .await;
    let claimed = a.due(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        a.due(10).await.unwrap().len(),
        1,
        "a node's own lease stays due to it"
    );
    // While node A lives its lease is renewed: for over two lease lengths node B gets nothing,
    // and is told to look again when A's lease would end, not now.
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_millis(7500) {
        assert!(
            b.due(10).await.unwrap().is_empty(),
            "node B took a message node A holds, after {:?}",
            watched.elapsed()
        );
        let next = b.next_attempt_at().await.unwrap().expect("one is queued");
        assert!(
            next > rampart_store::now_micros(),
            "node B waits for A's lease to end"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Node A dies (every handle dropped: no more renewals). Its lease runs out and node B
    // takes the message over.
    drop(claimed);
    drop(a);
    let died = Instant::now();
    let deadline = died + Duration::from_secs(30);
    let taken = loop {
        let due = b.due(10).await.unwrap();
        if !due.is_empty() {
            break due;
        }
        assert!(
            Instant::now() < deadline,
            "node B never took the dead node's message over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(taken[0].id, id);
    assert_eq!(taken[0].recipients[0].attempts, 0);
    deliver_all(&b, std::slice::from_ref(&id)).await;
    assert!(b.message_bytes(&id, true).await.is_err(), "delivered, gone");

    // A node that shuts down gracefully gives its leases up: no wait for them to run out.
    let id = c::enqueue_on(
        &b,
        &c::small_message("shutdown"),
        &[("r@remote.example", false)],
        None,
    )
    .await;
    assert_eq!(b.due(10).await.unwrap().len(), 1);
    let c_node = open(&cluster.options(&db)).await;
    assert!(c_node.due(10).await.unwrap().is_empty(), "node B holds it");
    assert_eq!(b.release_leases().await.unwrap(), 1);
    drop(b);
    let due = c_node.due(10).await.unwrap();
    assert_eq!(
        due.len(),
        1,
        "released at shutdown, due to the next node at once"
    );
    assert_eq!(due[0].id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_enqueue_survives_a_database_crash() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let mut opts = cluster.options(&db);
    opts.timeouts.acquire = Duration::from_secs(2);
    let store = open(&opts).await;
    c::populate(&store).await;
    let mut big = c::small_message("big");
    big.extend(std::iter::repeat_n(b'z', 400 * 1024));
    let small = c::enqueue_on(
        &store,
        &c::small_message("small"),
        &[("r@remote.example", false)],
        None,
    )
    .await;
    let large = c::enqueue_on(&store, &big, &[("r@remote.example", false)], None).await;
    cluster.crash();

    // Down: an enqueue fails within the timeout (the SMTP layer answers 451) and leaves
    // neither rows nor its spool file.
    let refused = QueueId::generate();
    let mut spool = store.spool(&refused, None);
    spool.push(&big);
    let spooled = tokio::task::spawn_blocking(move || spool.finish())
        .await
        .unwrap()
        .unwrap();
    assert!(
        spooled.inline.is_none(),
        "a large message goes through the spool file"
    );
    let started = Instant::now();
    let err = store
        .enqueue(rampart_store::Enqueue {
            id: refused.clone(),
            sender: "sender@remote.example".into(),
            size: spooled.size,
            message_id: None,
            return_path_len: 0,
            client: None,
            recipients: vec![rampart_store::QueuedRecipient {
                address: "r@remote.example".into(),
                local: false,
            }],
            events: vec![],
            quarantine: None,
            inline: None,
            deliver_local_now: false,
            junk: false,
            authenticated_from: None,
        })
        .await
        .expect_err("no database, no acknowledgement");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "an error within the timeout, not a hang: {err}"
    );
    assert_eq!(
        std::fs::read_dir(&opts.spool_dir).unwrap().count(),
        0,
        "the refused message's spool file is gone"
    );

    cluster.resume();
    drop(store);
    let store = open(&opts).await;
    assert_eq!(
        store.message_bytes(&small, true).await.unwrap(),
        c::small_message("small")
    );
    assert_eq!(store.message_bytes(&large, true).await.unwrap(), big);
    let due: Vec<QueueId> = store
        .due(10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        due,
        vec![small, large],
        "both still queued, the refused one not"
    );
    assert!(store.message_bytes(&refused, true).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_nodes_at_once_act_once() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let (a, b) = (
        open(&cluster.options(&db)).await,
        open(&cluster.options(&db)).await,
    );
    c::populate(&a).await;
    // RFC 3834 section 2: one automatic reply per sender and period, whichever node delivers.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            node.vacation_claim_reply(
                "user@local.example",
                "Sender@remote.example",
                10_000,
                86_400,
            )
            .await
            .unwrap()
        }));
    }
    let mut claimed = 0;
    for t in tasks {
        claimed += usize::from(t.await.unwrap());
    }
    assert_eq!(claimed, 1, "twenty deliveries on two nodes answer once");

    // The account's own identity, first read on both nodes at once: made once.
    let (ia, ib) = tokio::join!(
        a.identity_list("other@local.example"),
        b.identity_list("other@local.example")
    );
    assert_eq!(ia.unwrap().len(), 1);
    assert_eq!(ib.unwrap().len(), 1);
    assert_eq!(
        b.identity_list("other@local.example").await.unwrap().len(),
        1
    );

    // Two administrators release one held message from two nodes: one release.
    let held = c::enqueue_on(
        &a,
        &c::small_message("held"),
        &[("r@remote.example", false)],
        Some(("antivirus: found".into(), "antivirus: found".into())),
    )
    .await;
    let (ra, rb) = tokio::join!(
        a.quarantine_release(&held.0, "admin-a"),
        b.quarantine_release(&held.0, "admin-b")
    );
    assert!(
        ra.is_ok() != rb.is_ok(),
        "exactly one release succeeds: {ra:?} {rb:?}"
    );
    let err = ra.err().or(rb.err()).unwrap().to_string();
    assert!(err.contains("rampart quarantine list"), "{err}");
    let due = b.due(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(due[0].released);
}

/// Local delivery (the mail module's deliver_email, issue 20): one stored copy, an email per
/// mailbox, the queue rows gone in the same commit; with `deliver_local_now`, in the commit of
/// the enqueue itself. A second delivery of the same recipients is a no-op.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_delivery_files_one_copy_per_mailbox() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let store = open(&cluster.options(&db)).await;
    c::populate(&store).await;
    let sql = cluster.client(&db).await;
    let count = |q: &'static str, id: String| {
        let sql = &sql;
        async move {
            let n: i64 = sql.query_one(q, &[&id]).await.unwrap().get(0);
            n
        }
    };
    const EMAILS: &str = "SELECT count(*) FROM mail_emails WHERE message = $1";
    const QUEUED: &str = "SELECT count(*) FROM queue WHERE message = $1";
    let id = c::enqueue_on(
        &store,
        &c::small_message("local"),
        &[
            ("user@local.example", true),
            ("other@local.example", true),
            ("r@remote.example", false),
        ],
        None,
    )
    .await;
    let due = store.due(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(store.deliver_local(due.clone()).await.unwrap(), 2);
    assert_eq!(count(EMAILS, id.0.clone()).await, 2, "an email per mailbox");
    assert_eq!(
        store.deliver_local(due).await.unwrap(),
        0,
        "delivered once, however often asked"
    );
    assert_eq!(count(EMAILS, id.0.clone()).await, 2);
    let due = store.due(10).await.unwrap();
    assert_eq!(due.len(), 1, "the remote recipient is still due");
    assert!(due[0].recipients.iter().all(|r| !r.local));
    deliver_all(&store, std::slice::from_ref(&id)).await;
    assert_eq!(count(QUEUED, id.0.clone()).await, 0, "every recipient done");
    assert_eq!(
        store.message_bytes(&id, true).await.unwrap(),
        c::small_message("local"),
        "the mailboxes keep the one stored copy"
    );

    // Delivered in the commit of the enqueue: no queue row is left at any moment after it.
    let now = QueueId::generate();
    let bytes = c::small_message("now");
    store
        .enqueue(rampart_store::Enqueue {
            id: now.clone(),
            sender: "sender@remote.example".into(),
            size: bytes.len() as u64,
            message_id: None,
            return_path_len: 0,
            client: None,
            recipients: vec![rampart_store::QueuedRecipient {
                address: "user@local.example".into(),
                local: true,
            }],
            events: vec![],
            quarantine: None,
            inline: Some(bytes),
            deliver_local_now: true,
            junk: false,
            authenticated_from: None,
        })
        .await
        .unwrap();
    assert_eq!(count(EMAILS, now.0.clone()).await, 1);
    assert_eq!(count(QUEUED, now.0.clone()).await, 0);
    assert!(store.due(10).await.unwrap().is_empty());
}
