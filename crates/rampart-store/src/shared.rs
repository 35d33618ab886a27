//! Shared state in the embedded store: rate-limit counters (NC-2.1.8), authentication failures and
//! bans, in tables of their own. One node keeps them here; several nodes keep them in their shared
//! database through the same [`crate::api::SharedState`] trait.

use crate::api::Ban;
use crate::{Result, Store, Writer};
use rusqlite::{params, OptionalExtension};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS rate_counters (
    key TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_failures (
    key TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_failures_key ON auth_failures(key, at);
CREATE TABLE IF NOT EXISTS bans (
    subject TEXT PRIMARY KEY,
    since INTEGER NOT NULL,
    until INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"#;

/// Runs `f` in the writer's next commit and hands back what it computed.
pub(crate) async fn write<T: Send + 'static>(
    writer: &Writer,
    f: impl FnOnce(&rusqlite::Transaction) -> Result<T> + Send + 'static,
) -> Result<T> {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    writer
        .run(false, move |tx| {
            let _ = done_tx.send(f(tx)?);
            Ok(())
        })
        .await?;
    done_rx.try_recv().map_err(|_| crate::StoreError::Closed)
}

impl Store {
    pub(crate) async fn count_in_window(
        &self,
        writer: &Writer,
        key: &str,
        now: i64,
        window: i64,
        n: u64,
    ) -> Result<u64> {
        if window <= 0 {
            return Err(crate::StoreError::Invalid(
                "a counting window must be longer than zero".into(),
            ));
        }
        let key = key.to_string();
        let start = now - now.rem_euclid(window);
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        write(writer, move |tx| {
            // A row from an earlier window starts again at n; the current one adds n.
            let count: i64 = tx.query_row(
                "INSERT INTO rate_counters(key, window_start, count) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET
                   count = CASE WHEN window_start = excluded.window_start
                                THEN min(count, 9223372036854775807 - excluded.count) + excluded.count
                                ELSE excluded.count END,
                   window_start = excluded.window_start
                 RETURNING count",
                params![key, start, n],
                |r| r.get(0),
            )?;
            Ok(count.max(0) as u64)
        })
        .await
    }

    pub(crate) async fn auth_failure(
        &self,
        writer: &Writer,
        key: &str,
        now: i64,
        window: i64,
    ) -> Result<u32> {
        let key = key.to_string();
        write(writer, move |tx| {
            tx.execute(
                "DELETE FROM auth_failures WHERE key = ?1 AND at < ?2",
                params![key, now - window],
            )?;
            tx.execute(
                "INSERT INTO auth_failures(key, at) VALUES (?1, ?2)",
                params![key, now],
            )?;
            let n: i64 = tx.query_row(
                "SELECT count(*) FROM auth_failures WHERE key = ?1",
                [&key],
                |r| r.get(0),
            )?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
        .await
    }

    pub(crate) async fn auth_success(&self, writer: &Writer, key: &str) -> Result<()> {
        let key = key.to_string();
        write(writer, move |tx| {
            tx.execute("DELETE FROM auth_failures WHERE key = ?1", [key])?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn ban(
        &self,
        writer: &Writer,
        subject: &str,
        now: i64,
        until: i64,
        reason: &str,
    ) -> Result<()> {
        if until <= now {
            return Err(crate::StoreError::Invalid(
                "a ban must end after it starts".into(),
            ));
        }
        let (subject, reason) = (subject.to_string(), reason.to_string());
        write(writer, move |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO bans(subject, since, until, reason) VALUES (?1, ?2, ?3, ?4)",
                params![subject, now, until, reason],
            )?;
            // Ended bans are of no further use: the trace keeps the history.
            tx.execute("DELETE FROM bans WHERE until <= ?1", [now])?;
            Ok(())
        })
        .await
    }

    pub(crate) fn banned(&self, subject: &str, now: i64) -> Result<Option<Ban>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT subject, since, until, reason FROM bans WHERE subject = ?1 AND until > ?2",
            )?
            .query_row(params![subject, now], ban_row)
            .optional()?)
        })
    }

    pub(crate) fn bans(&self, now: i64) -> Result<Vec<Ban>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT subject, since, until, reason FROM bans WHERE until > ?1
                 ORDER BY until, subject",
            )?;
            let rows = st.query_map([now], ban_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub(crate) async fn unban(&self, writer: &Writer, subject: &str, now: i64) -> Result<bool> {
        let subject = subject.to_string();
        write(writer, move |tx| {
            Ok(tx.execute(
                "DELETE FROM bans WHERE subject = ?1 AND until > ?2",
                params![subject, now],
            )? > 0)
        })
        .await
    }
}

fn ban_row(r: &rusqlite::Row) -> rusqlite::Result<Ban> {
    Ok(Ban {
        subject: r.get(0)?,
        since: r.get(1)?,
        until: r.get(2)?,
        reason: r.get(3)?,
    })
}
