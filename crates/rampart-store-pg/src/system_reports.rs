//! The system report (AL-3.2) on PostgreSQL: counted from the trace every node writes, with the
//! embedded store's [`Tally`], so `rampart report summary` on any node counts the whole
//! installation; the periods already mailed are one table, so of several nodes running the
//! same `[reports]` schedule only the first to claim a period sends it.

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::summary::{Period, Summary, SystemReports, Tally};
use rampart_store::{now_micros, Result, TraceEvent};

/// Trace rows read per statement: a month of a busy installation is read in pages, never held
/// whole.
const PAGE: i64 = 10_000;

#[async_trait]
impl SystemReports for PgStore {
    async fn summary(&self, period: Period, since: i64, until: i64) -> Result<Summary> {
        let mut tally = Tally::new(period, since, until);
        let c = self.conn(&self.sessions).await?;
        // Pages in the order of (ts, id), each after the last row of the one before.
        let mut after: (i64, i64) = (since, 0);
        loop {
            let rows = c
                .query(
                    "SELECT id, ts, session, queue_id, message_id, client, sender, recipient,
                            event, detail
                     FROM trace WHERE ts >= $1 AND ts < $2 AND (ts, id) > ($3, $4)
                     ORDER BY ts, id LIMIT $5",
                    &[&since, &until, &after.0, &after.1, &PAGE],
                )
                .await
                .map_err(db)?;
            for r in &rows {
                after = (r.get(1), r.get(0));
                tally.add(&TraceEvent {
                    ts: r.get(1),
                    session: r.get(2),
                    queue_id: r.get(3),
                    message_id: r.get(4),
                    client: r.get(5),
                    sender: r.get(6),
                    recipient: r.get(7),
                    event: r.get(8),
                    detail: r.get(9),
                });
            }
            if (rows.len() as i64) < PAGE {
                return Ok(tally.finish());
            }
        }
    }

    async fn claim_report(&self, period: Period, until: i64) -> Result<bool> {
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "INSERT INTO system_reports_sent(period, until, sent) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&period.as_str(), &until, &now_micros()],
            )
            .await
            .map_err(db)?;
        Ok(n == 1)
    }

    async fn unclaim_report(&self, period: Period, until: i64) -> Result<()> {
        let c = self.conn(&self.sessions).await?;
        c.execute(
            "DELETE FROM system_reports_sent WHERE period = $1 AND until = $2",
            &[&period.as_str(), &until],
        )
        .await
        .map_err(db)?;
        Ok(())
    }
}
