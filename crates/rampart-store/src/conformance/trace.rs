//! Conformance of the message trace (AL-3.1, NC-2.4.3): events recorded with a queued message
//! or on their own, found by every key as whole timelines, by time range, by kind and newest
//! first, and pruned by age, the same from either store.

use super::{enqueue, populated, small_message, Harness};
use crate::api::{SharedState, Trace};
use crate::trace::{TraceEvent, TraceFilter};

pub async fn trace_record_find_prune<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    let id = enqueue(
        &store,
        &small_message("t"),
        &[("r@remote.example", false)],
        None,
    )
    .await;
    let mut old = TraceEvent::new("connect", "long ago");
    old.ts -= 40 * 86_400 * 1_000_000;
    old.client = Some("198.51.100.7".into());
    old.session = Some("s-old".into());
    store.record(old).await;
    let mut later = TraceEvent::new("note", "recorded after the enqueue");
    later.queue_id = Some(id.0.clone());
    store.record(later).await;
    // AL-3.1: an event recorded before an awaited write is durable once that write returns.
    store
        .count_in_window("barrier", crate::now_micros(), 1_000_000, 1)
        .await
        .unwrap();
    let found = store
        .trace(&TraceFilter {
            queue_id: Some(id.0.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let events: Vec<_> = found.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        vec!["queued", "note"],
        "a message's timeline, oldest first"
    );
    let by_client = store
        .trace(&TraceFilter {
            client: Some("198.51.100.7".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_client.len(), 1);
    assert_eq!(
        store.prune_trace(30).await.unwrap(),
        1,
        "NC-2.4.3: older than 30 days"
    );
    assert!(store
        .trace(&TraceFilter {
            client: Some("198.51.100.7".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());
}

/// The trace without a queue: events keyed by session and queue id, found by any key as whole
/// timelines, by time range alone, and pruned by age (AL-3.1, NC-2.4.3).
pub async fn trace_timelines<H: Harness>(h: &H) {
    let place = h.create().await;
    trace_timelines_on(&*h.open(&place).await).await;
}

pub async fn trace_timelines_on<S: Trace + SharedState + ?Sized>(store: &S) {
    let now = crate::now_micros();
    let event = |name: &str, session: Option<&str>, queue: Option<&str>, ts: i64| {
        let mut e = TraceEvent::new(name, format!("{name} detail"));
        e.ts = ts;
        e.session = session.map(str::to_string);
        e.queue_id = queue.map(str::to_string);
        e
    };
    let mut connect = event("connect", Some("s1"), None, now - 3);
    connect.client = Some("192.0.2.44".into());
    store.record(connect).await;
    let mut rcpt = event("rcpt", Some("s1"), None, now - 2);
    rcpt.recipient = Some("User@Local.Example".into());
    store.record(rcpt).await;
    store
        .record(event("queued", Some("s1"), Some("q1"), now - 1))
        .await;
    store
        .record(event("delivered", None, Some("q1"), now))
        .await;
    store.record(event("connect", Some("s2"), None, now)).await;
    let mut ancient = event("connect", Some("s0"), None, now - 40 * 86_400 * 1_000_000);
    ancient.client = Some("192.0.2.44".into());
    store.record(ancient).await;
    // AL-3.1: recorded events are durable once a later awaited write returns.
    store
        .count_in_window("barrier", now, 1_000_000, 1)
        .await
        .unwrap();
    let names = |v: Vec<TraceEvent>| v.into_iter().map(|e| e.event).collect::<Vec<_>>();
    let by_recipient = store
        .trace(&TraceFilter {
            recipient: Some("user@local.example".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        names(by_recipient),
        vec!["connect", "rcpt", "queued"],
        "found by recipient (any case): the whole timeline of the session that names it"
    );
    let by_queue = store
        .trace(&TraceFilter {
            queue_id: Some("q1".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        names(by_queue),
        vec!["connect", "rcpt", "queued", "delivered"],
        "found by queue id: its events and those of the session that queued it"
    );
    let by_client = store
        .trace(&TraceFilter {
            client: Some("192.0.2.44".into()),
            since: Some(now - 86_400 * 1_000_000),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        by_client.len(),
        3,
        "the time range leaves the old session out"
    );
    let range = store
        .trace(&TraceFilter {
            since: Some(now),
            until: Some(now),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(names(range), vec!["delivered", "connect"], "a range alone");
    let limited = store
        .trace(&TraceFilter {
            queue_id: Some("q1".into()),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 2, "the limit holds");
    // Only some kinds, newest first: the console's list of releases and deletions.
    for (i, name) in ["released", "deleted", "released"].iter().enumerate() {
        let mut e = event(name, None, Some(&format!("h{i}")), now - 10 + i as i64);
        e.detail = format!("{name} {i}");
        store.record(e).await;
    }
    store
        .count_in_window("barrier", now, 1_000_000, 1)
        .await
        .unwrap();
    let details = |v: Vec<TraceEvent>| v.into_iter().map(|e| e.detail).collect::<Vec<_>>();
    let admin = store
        .trace(&TraceFilter {
            since: Some(now - 86_400 * 1_000_000),
            events: crate::trace::ADMIN_EVENTS,
            newest_first: true,
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        details(admin),
        vec!["released 2", "deleted 1"],
        "the latest releases and deletions, newest first, and nothing else"
    );
    let in_timeline = store
        .trace(&TraceFilter {
            queue_id: Some("q1".into()),
            events: &["delivered", "connect"],
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        names(in_timeline),
        vec!["connect", "delivered"],
        "with a search, the matching timeline's events of those kinds"
    );
    assert_eq!(
        store.prune_trace(30).await.unwrap(),
        1,
        "NC-2.4.3: older than 30 days"
    );
    assert!(store
        .trace(&TraceFilter {
            client: Some("192.0.2.44".into()),
            until: Some(now - 86_400 * 1_000_000),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());
}
