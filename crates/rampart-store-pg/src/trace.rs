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
    e.log();
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
        e.log();
    }
    Ok(())
}
