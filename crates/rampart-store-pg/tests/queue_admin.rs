//! The administrator's queue actions on PostgreSQL (retry, hold, release, delete, bounce), as
//! the embedded store's tests check them, plus what is PostgreSQL's own: an action taken on one
//! node acts on a message another node has claimed.

use rampart_store::api::{Quarantine, Queue, Trace};
use rampart_store::conformance as c;
use rampart_store::{Failure, QueueId, TraceFilter};
use rampart_store_pg::cluster::Cluster;
use rampart_store_pg::PgStore;

async fn node(cluster: &Cluster, db: &str) -> PgStore {
    PgStore::open(&cluster.options(db))
        .await
        .expect("the store opens")
}

async fn queued(store: &PgStore, quarantine: bool) -> QueueId {
    c::enqueue_on(
        store,
        &c::small_message("admin"),
        &[("b@remote.example", false)],
        quarantine.then(|| ("spam".to_string(), "{}".to_string())),
    )
    .await
}

async fn due_ids(store: &PgStore) -> Vec<QueueId> {
    store
        .due(100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect()
}

async fn events(store: &PgStore, id: &QueueId) -> Vec<rampart_store::TraceEvent> {
    store
        .trace(&TraceFilter {
            queue_id: Some(id.0.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

fn failure() -> Failure {
    Failure {
        status: "5.0.0".into(),
        reply: "delivery cancelled by the administrator".into(),
        remote_mta: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_release_retry_delete_across_nodes() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let (a, b) = (node(&cluster, &db).await, node(&cluster, &db).await);
    let id = queued(&a, false).await;
    // Node A has claimed it; the administrator holds it on node B: A's lease ends with the hold.
    assert_eq!(due_ids(&a).await, vec![id.clone()]);
    assert!(b.queue_hold(&id).await.unwrap());
    assert!(due_ids(&a).await.is_empty(), "a held message is never due");
    assert!(due_ids(&b).await.is_empty());
    let e = b.queue_retry_now(&id).await.unwrap_err().to_string();
    assert!(e.contains("release it first"), "{e}");
    let e = b.queue_hold(&id).await.unwrap_err().to_string();
    assert!(e.contains("nothing to hold"), "{e}");
    assert!(b.queue_release(&id).await.unwrap());
    assert_eq!(
        due_ids(&b).await,
        vec![id.clone()],
        "released, it is due to any node: the old lease is gone"
    );
    assert!(a.queue_retry_now(&id).await.unwrap());
    assert!(a.queue_delete(&id).await.unwrap());
    assert!(due_ids(&b).await.is_empty());
    assert!(!a.queue_delete(&id).await.unwrap(), "gone: unknown now");
    assert!(
        a.message_bytes(&id, true).await.is_err(),
        "the message went too"
    );
    let seen: Vec<String> = events(&a, &id).await.into_iter().map(|e| e.event).collect();
    for e in ["hold", "release", "retry", "deleted"] {
        assert!(seen.iter().any(|x| x == e), "{e} in {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_is_neither_released_nor_bounced_by_the_queue() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let store = node(&cluster, &db).await;
    let id = queued(&store, true).await;
    let e = store.queue_release(&id).await.unwrap_err().to_string();
    assert!(e.contains("quarantine release"), "{e}");
    assert!(due_ids(&store).await.is_empty());
    let e = store.queue_bounce_plan(&id).await.unwrap_err().to_string();
    assert!(e.contains("quarantine release"), "{e}");
    assert!(store.queue_bounce(&id, &failure(), None).await.is_err());
    assert!(store.quarantine_get(&id.0).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounce_fails_the_waiting_recipients_and_queues_the_dsn_in_one_commit() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let store = node(&cluster, &db).await;
    c::populate(&store).await;
    let id = queued(&store, false).await;
    // A held message may be bounced too.
    assert!(store.queue_hold(&id).await.unwrap());
    let plan = store.queue_bounce_plan(&id).await.unwrap().unwrap();
    assert_eq!(plan.sender, "sender@remote.example");
    assert_eq!(plan.recipients, vec!["b@remote.example".to_string()]);
    let dsn = store
        .generated(
            &plan.sender,
            b"Subject: returned\r\n\r\nreturned\r\n".to_vec(),
            "dsn@test".into(),
            "test bounce",
        )
        .await
        .unwrap();
    let dsn_id = dsn.id.clone();
    assert!(store
        .queue_bounce(&id, &failure(), Some(dsn))
        .await
        .unwrap());
    assert!(
        store.message_bytes(&id, true).await.is_err(),
        "the original is gone"
    );
    assert_eq!(
        due_ids(&store).await,
        vec![dsn_id],
        "the DSN waits for delivery"
    );
    assert!(store.queue_bounce_plan(&id).await.unwrap().is_none());
    let trace = events(&store, &id).await;
    let bounced = trace.iter().find(|e| e.event == "bounced").unwrap();
    assert!(
        bounced.detail.contains("b@remote.example")
            && bounced
                .detail
                .contains("delivery cancelled by the administrator"),
        "{}",
        bounced.detail
    );
    // Unknown now: false.
    assert!(!store.queue_bounce(&id, &failure(), None).await.unwrap());
    let unknown = QueueId("0000000000000FFFF".into());
    assert!(!store.queue_retry_now(&unknown).await.unwrap());
    assert!(!store.queue_hold(&unknown).await.unwrap());
    assert!(!store.queue_release(&unknown).await.unwrap());
    assert!(!store.queue_delete(&unknown).await.unwrap());
    assert!(store.queue_bounce_plan(&unknown).await.unwrap().is_none());
}

/// The console's list of releases and deletions is read through the partial index of those
/// events (`trace_admin`, migration 17), which PostgreSQL can use for the statement the store
/// sends: the same kinds, written the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_events_are_read_through_their_partial_index() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let _store = node(&cluster, &db).await;
    let q = TraceFilter {
        since: Some(0),
        events: rampart_store::trace::ADMIN_EVENTS,
        newest_first: true,
        limit: 50,
        ..Default::default()
    }
    .to_sql(|n| format!("${n}"));
    let since = match &q.args[..] {
        [rampart_store::trace::TraceArg::Int(v)] => *v,
        other => panic!("{other:?}"),
    };
    let client = cluster.client(&db).await;
    // An empty table is read whole whatever the indexes; with sequential scans priced out,
    // the plan shows which index the statement can use.
    client
        .batch_execute("SET enable_seqscan = off")
        .await
        .unwrap();
    let plan: Vec<String> = client
        .query(&format!("EXPLAIN {}", q.sql), &[&since])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(plan.iter().any(|l| l.contains("trace_admin")), "{plan:#?}");
}
