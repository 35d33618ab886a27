//! Conformance of what `rampart audit` reads of the trace ([`Trace::trace_summary`](crate::api::Trace::trace_summary)): the same
//! counts from either store, so an audit of a PostgreSQL installation reports what an audit of
//! the embedded one would (NC-2.4.3, AL-3.1).

use super::{enqueue, populated, small_message, Harness};
use crate::mailbox_audit::{op, MailboxEvent};
use crate::trace::TraceEvent;

const USER: &str = "user@local.example";
const DAY: i64 = 86_400 * 1_000_000;

/// The oldest event kept, messages queued and failed logins since a time, mailbox events kept.
pub async fn trace_summary_for_the_audit<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    let now = crate::now_micros();
    let mut old = TraceEvent::new(
        "auth",
        "failed for someone@local.example; answered after 900 ms",
    );
    old.ts = now - 20 * DAY;
    store.record(old).await;
    let mut failed = TraceEvent::new(
        "auth",
        "failed for user@local.example; answered after 900 ms",
    );
    failed.client = Some("198.51.100.9".into());
    store.record(failed).await;
    store
        .record(TraceEvent::new(
            "auth",
            "authenticated as user@local.example",
        ))
        .await;
    enqueue(
        &store,
        &small_message("summary"),
        &[("r@remote.example", false)],
        None,
    )
    .await;
    store
        .mailbox_record(vec![
            MailboxEvent::new(USER, "jmap", op::LOGIN, ""),
            MailboxEvent::new(USER, "jmap", op::READ, "E1"),
        ])
        .await;
    // Trace events become durable with the next awaited write (see Trace::record).
    store
        .count_in_window("barrier", now, 1_000_000, 1)
        .await
        .unwrap();
    let week = store.trace_summary(now - 7 * DAY).await.unwrap();
    assert_eq!(week.oldest, Some(now - 20 * DAY), "the oldest event kept");
    assert_eq!(week.messages, 1, "one message queued this week");
    assert_eq!(
        week.auth_failures, 1,
        "the older failure is outside the week"
    );
    assert_eq!(week.mailbox_events, 2, "every mailbox event kept");
    let month = store.trace_summary(now - 30 * DAY).await.unwrap();
    assert_eq!(month.auth_failures, 2);
    let ahead = store.trace_summary(now + DAY).await.unwrap();
    assert_eq!((ahead.messages, ahead.auth_failures), (0, 0));
}
