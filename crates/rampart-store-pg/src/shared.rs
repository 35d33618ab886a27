//! SharedState on PostgreSQL: rate-limit counters (NC-2.1.8), authentication failures and bans
//! (NC-2.4.2), one set for every node. A brute force spread over several nodes is one count:
//! each failure is a row in the one table, and the failures of one key are counted under a lock
//! of that key, so two nodes recording at the same moment each see the other's.

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::api::{Ban, SharedState};
use rampart_store::{Result, StoreError};

#[async_trait]
impl SharedState for PgStore {
    async fn count_in_window(
        &self,
        key: &str,
        now: i64,
        window_micros: i64,
        n: u64,
    ) -> Result<u64> {
        if window_micros <= 0 {
            return Err(StoreError::Invalid(
                "a counting window must be longer than zero".into(),
            ));
        }
        let start = now - now.rem_euclid(window_micros);
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let c = self.conn(&self.sessions).await?;
        // One statement, atomic per row: a row from an earlier window starts again at n; the
        // current one adds n (saturating).
        let row = c
            .query_one(
                "INSERT INTO rate_counters(key, window_start, count) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET
                   count = CASE WHEN rate_counters.window_start = excluded.window_start
                                THEN LEAST(rate_counters.count,
                                           9223372036854775807 - excluded.count) + excluded.count
                                ELSE excluded.count END,
                   window_start = excluded.window_start
                 RETURNING count",
                &[&key, &start, &n],
            )
            .await
            .map_err(db)?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    async fn auth_failure(&self, key: &str, now: i64, window_micros: i64) -> Result<u32> {
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        // Failures of one key are recorded one after the other, whichever node records them.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&key],
        )
        .await
        .map_err(db)?;
        tx.execute(
            "DELETE FROM auth_failures WHERE key = $1 AND at < $2",
            &[&key, &(now - window_micros)],
        )
        .await
        .map_err(db)?;
        tx.execute(
            "INSERT INTO auth_failures(key, at) VALUES ($1, $2)",
            &[&key, &now],
        )
        .await
        .map_err(db)?;
        let n: i64 = tx
            .query_one("SELECT count(*) FROM auth_failures WHERE key = $1", &[&key])
            .await
            .map_err(db)?
            .get(0);
        tx.commit().await.map_err(db)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn auth_success(&self, key: &str) -> Result<()> {
        let c = self.conn(&self.sessions).await?;
        c.execute("DELETE FROM auth_failures WHERE key = $1", &[&key])
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn ban(&self, subject: &str, now: i64, until: i64, reason: &str) -> Result<()> {
        if until <= now {
            return Err(StoreError::Invalid("a ban must end after it starts".into()));
        }
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute(
            "INSERT INTO bans(subject, since, until, reason) VALUES ($1, $2, $3, $4)
             ON CONFLICT (subject) DO UPDATE SET
               since = excluded.since, until = excluded.until, reason = excluded.reason",
            &[&subject, &now, &until, &reason],
        )
        .await
        .map_err(db)?;
        // Ended bans are of no further use: the trace keeps the history.
        tx.execute("DELETE FROM bans WHERE until <= $1", &[&now])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn banned(&self, subject: &str, now: i64) -> Result<Option<Ban>> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt(
                "SELECT subject, since, until, reason FROM bans WHERE subject = $1 AND until > $2",
                &[&subject, &now],
            )
            .await
            .map_err(db)?;
        Ok(row.as_ref().map(ban_row))
    }

    async fn bans(&self, now: i64) -> Result<Vec<Ban>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT subject, since, until, reason FROM bans WHERE until > $1
                 ORDER BY until, subject",
                &[&now],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(ban_row).collect())
    }

    async fn unban(&self, subject: &str, now: i64) -> Result<bool> {
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "DELETE FROM bans WHERE subject = $1 AND until > $2",
                &[&subject, &now],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }
}

fn ban_row(r: &tokio_postgres::Row) -> Ban {
    Ban {
        subject: r.get(0),
        since: r.get(1),
        until: r.get(2),
        reason: r.get(3),
    }
}
