//! Trace on PostgreSQL: the message trace (AL-3.1) of every node in one table, so `rampart
//! trace` on any node shows a message's whole timeline, whichever nodes received and delivered
//! it; retention (NC-2.4.3) by [`Trace::prune_trace`].
//!
//! An event is inserted with asynchronous commit: it costs no fsync of its own and becomes
//! durable with the next synchronous commit of any session (the trait's "with the next commit,
//! without waiting"), since PostgreSQL flushes the write-ahead log in order.

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::api::Trace;
use rampart_store::{now_micros, Result, TraceArg, TraceEvent, TraceFilter, TraceSummary};
use tokio_postgres::types::ToSql;

tokio::task_local! {
    /// Inside [`logged_on_commit`]: the events its transaction inserted, for their log lines.
    static HELD: std::cell::RefCell<Vec<TraceEvent>>;
}

/// Runs `f`, a transaction from its start to its commit, holding the log lines of the trace
/// events it inserts ([`insert_in`]): they are written when `f` succeeds and dropped with the
/// rows when it fails, so the log says "queued" or "delivered" only of a committed row (AL-3.1,
/// docs/LOGGING.md), as the SQLite store's writer does.
pub(crate) async fn logged_on_commit<T>(
    f: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let (r, held) = HELD
        .scope(std::cell::RefCell::new(Vec::new()), async {
            let r = f.await;
            (r, HELD.with(|h| h.take()))
        })
        .await;
    if r.is_ok() {
        for e in &held {
            e.log();
        }
    }
    r
}

/// The event's log line: held when inside [`logged_on_commit`], else written now.
fn log_or_hold(e: &TraceEvent) {
    if HELD.try_with(|h| h.borrow_mut().push(e.clone())).is_err() {
        e.log();
    }
}

#[async_trait]
impl Trace for PgStore {
    async fn record(&self, event: TraceEvent) {
        event.log();
        if let Err(e) = self.insert_trace(&event).await {
            // The log line above carries the event; the failure is logged beside it.
            tracing::error!(error = %e, event = event.event.as_str(), "trace event not stored");
        }
    }

    async fn trace(&self, filter: &TraceFilter) -> Result<Vec<TraceEvent>> {
        let q = filter.to_sql(|n| format!("${n}"));
        let args: Vec<Box<dyn ToSql + Sync + Send>> = q
            .args
            .into_iter()
            .map(|a| -> Box<dyn ToSql + Sync + Send> {
                match a {
                    TraceArg::Text(s) => Box::new(s),
                    TraceArg::Int(i) => Box::new(i),
                }
            })
            .collect();
        let sql = q.sql;
        let params: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let c = self.conn(&self.sessions).await?;
        let rows = c.query(&sql, &params).await.map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| TraceEvent {
                ts: r.get(0),
                session: r.get(1),
                queue_id: r.get(2),
                message_id: r.get(3),
                client: r.get(4),
                sender: r.get(5),
                recipient: r.get(6),
                event: r.get(7),
                detail: r.get(8),
            })
            .collect())
    }

    async fn prune_trace(&self, days: u32) -> Result<usize> {
        let cutoff = now_micros() - i64::from(days) * 86_400 * 1_000_000;
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute("DELETE FROM trace WHERE ts < $1", &[&cutoff])
            .await
            .map_err(db)?;
        Ok(n as usize)
    }

    async fn trace_summary(&self, since: i64) -> Result<TraceSummary> {
        let c = self.conn(&self.sessions).await?;
        // One statement, one snapshot: the counts agree with each other.
        let row = c
            .query_one(
                "SELECT (SELECT min(ts) FROM trace),
                        (SELECT count(*) FROM trace WHERE ts >= $1 AND event = 'queued'),
                        (SELECT count(*) FROM trace
                          WHERE ts >= $1 AND event = 'auth' AND detail LIKE 'failed%'),
                        (SELECT count(*) FROM mailbox_audit)",
                &[&since],
            )
            .await
            .map_err(db)?;
        let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        Ok(TraceSummary {
            oldest: row.get(0),
            messages: count(1),
            auth_failures: count(2),
            mailbox_events: count(3),
        })
    }
}

impl PgStore {
    /// Inserts one trace event, with asynchronous commit (see the module doc).
    pub(crate) async fn insert_trace(&self, e: &TraceEvent) -> Result<()> {
        let c = self.conn(&self.sessions).await?;
        // set_config(..., true) holds for this statement's own transaction only.
        c.execute(
            "WITH s AS (SELECT set_config('synchronous_commit', 'off', true))
             INSERT INTO trace(ts, session, queue_id, message_id, client, sender, recipient,
                               event, detail)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM s",
            &[
                &e.ts,
                &e.session,
                &e.queue_id,
                &e.message_id,
                &e.client,
                &e.sender,
                &e.recipient,
                &e.event,
                &e.detail,
            ],
        )
        .await
        .map_err(db)?;
        Ok(())
    }
}

/// Inserts a trace event inside `tx`: durable with the rows it reports (a delivery, a hold, a
/// release), and logged as the embedded store logs it.
pub(crate) async fn insert_in(tx: &tokio_postgres::Transaction<'_>, e: &TraceEvent) -> Result<()> {
    tx.execute(
        "INSERT INTO trace(ts, session, queue_id, message_id, client, sender, recipient, event,
                           detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &e.ts,
            &e.session,
            &e.queue_id,
            &e.message_id,
            &e.client,
            &e.sender,
            &e.recipient,
            &e.event,
            &e.detail,
        ],
    )
    .await
    .map_err(db)?;
    log_or_hold(e);
    Ok(())
}

/// Inserts `events` inside `tx` in one statement (one round trip however many there are), as
/// [`insert_in`] inserts one.
pub(crate) async fn insert_all_in(
    tx: &tokio_postgres::Transaction<'_>,
    events: &[TraceEvent],
) -> Result<()> {
    match events {
        [] => return Ok(()),
        [one] => return insert_in(tx, one).await,
        _ => {}
    }
    let col = |f: fn(&TraceEvent) -> Option<&str>| -> Vec<Option<&str>> {
        events.iter().map(f).collect()
    };
    let ts: Vec<i64> = events.iter().map(|e| e.ts).collect();
    let session = col(|e| e.session.as_deref());
    let queue_id = col(|e| e.queue_id.as_deref());
    let message_id = col(|e| e.message_id.as_deref());
    let client = col(|e| e.client.as_deref());
    let sender = col(|e| e.sender.as_deref());
    let recipient = col(|e| e.recipient.as_deref());
    let event: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    let detail: Vec<&str> = events.iter().map(|e| e.detail.as_str()).collect();
    // WITH ORDINALITY keeps the events' order in their ids, as one insert after another would.
    tx.execute(
        "INSERT INTO trace(ts, session, queue_id, message_id, client, sender, recipient, event,
                           detail)
         SELECT ts, session, queue_id, message_id, client, sender, recipient, event, detail
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[])
              WITH ORDINALITY AS u(ts, session, queue_id, message_id, client, sender,
                                   recipient, event, detail, n)
         ORDER BY n",
        &[
            &ts,
            &session,
            &queue_id,
            &message_id,
            &client,
            &sender,
            &recipient,
            &event,
            &detail,
        ],
    )
    .await
    .map_err(db)?;
    for e in events {
        log_or_hold(e);
    }
    Ok(())
}

#[cfg(all(test, feature = "test-cluster"))]
mod tests {
    use super::*;
    use crate::cluster::Cluster;
    use rampart_store::conformance::MailLog;
    use rampart_store::StoreError;

    /// AL-3.1, docs/LOGGING.md: on PostgreSQL too, the log says "delivered" only of a row that
    /// was committed; an event inserted in a transaction that is rolled back is not logged.
    /// Outside [`logged_on_commit`] (a session's own events) a line is written at once.
    #[tokio::test]
    async fn a_trace_line_is_logged_only_when_its_transaction_commits() {
        let cluster = Cluster::start();
        let name = cluster.create_database().await;
        let store = PgStore::open(&cluster.options(&name))
            .await
            .unwrap_or_else(|e| panic!("the store opens: {e}\n{}", cluster.log()));
        let log = MailLog::start();
        let insert = |detail: &'static str, commit: bool| {
            let store = &store;
            async move {
                let mut c = store.conn(&store.queue).await?;
                let tx = c.transaction().await.map_err(db)?;
                insert_in(&tx, &TraceEvent::new("delivered", detail)).await?;
                if !commit {
                    return Err(StoreError::Invalid("rolled back on purpose".into()));
                }
                tx.commit().await.map_err(db)
            }
        };
        logged_on_commit(insert("committed", true)).await.unwrap();
        logged_on_commit(insert("rolled back", false))
            .await
            .unwrap_err();
        store
            .record(TraceEvent::new("connect", "a session's own"))
            .await;
        assert_eq!(log.details(), ["committed", "a session's own"]);
        let rows: Vec<String> = store
            .trace(&TraceFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.detail)
            .collect();
        assert_eq!(rows, ["committed", "a session's own"]);
    }
}
