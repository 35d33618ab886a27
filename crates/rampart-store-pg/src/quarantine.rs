//! Quarantine on PostgreSQL: messages held by a check (AL-1.2, AL-1.4, AL-1.5, AL-2.4) until an
//! administrator on any node releases or deletes them. As in the embedded store, a held message
//! is a queued message whose recipients have the status `held`; release turns them to `queued`
//! (due at once, and free of any lease), so delivery takes its usual path. Every action is a
//! trace event in the same commit.
//!
//! Release and delete lock the quarantine row first, so two administrators acting on one
//! message from two nodes act once: the second finds it no longer held.

use crate::lifecycle::release_if_unreferenced;
use crate::queue::{HELD, QUEUED};
use crate::{db, trace, PgStore};
use async_trait::async_trait;
use rampart_store::api::Quarantine;
use rampart_store::quarantine::Held;
use rampart_store::{now_micros, QueueId, Result, StoreError, TraceEvent};
use tokio_postgres::types::ToSql;
use tokio_postgres::GenericClient;

const HELD_COLS: &str = "q.message, q.held, m.sender, m.size, m.message_id, q.reason, q.verdicts,
     ARRAY(SELECT recipient FROM queue WHERE message = q.message ORDER BY recipient)";

fn held_row(r: &tokio_postgres::Row) -> Held {
    Held {
        queue_id: r.get(0),
        held: r.get(1),
        sender: r.get(2),
        size: r.get(3),
        message_id: r.get(4),
        reason: r.get(5),
        verdicts: r.get(6),
        recipients: r.get(7),
    }
}

/// The held message `id`; with `lock`, its quarantine row is locked until the transaction ends.
async fn held<C: GenericClient>(c: &C, id: &str, lock: bool) -> Result<Option<Held>> {
    let sql = format!(
        "SELECT {HELD_COLS} FROM quarantine q JOIN messages m ON m.id = q.message
         WHERE q.message = $1{}",
        if lock { " FOR UPDATE OF q" } else { "" }
    );
    let params: [&(dyn ToSql + Sync); 1] = [&id];
    let row = c.query_opt(&sql, &params).await.map_err(db)?;
    Ok(row.as_ref().map(held_row))
}

fn not_held(id: &str) -> StoreError {
    StoreError::Invalid(format!(
        "no message {id} in quarantine; see `rampart quarantine list`"
    ))
}

fn event(held: &Held, kind: &str, detail: String) -> TraceEvent {
    let mut e = TraceEvent::new(kind, detail);
    e.queue_id = Some(held.queue_id.clone());
    e.message_id = held.message_id.clone();
    e.sender = Some(held.sender.clone());
    e
}

#[async_trait]
impl Quarantine for PgStore {
    async fn quarantine_list(&self) -> Result<Vec<Held>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {HELD_COLS} FROM quarantine q JOIN messages m ON m.id = q.message
                     ORDER BY q.held, q.message"
                ),
                &[],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(held_row).collect())
    }

    async fn quarantine_get(&self, id: &str) -> Result<Option<Held>> {
        let c = self.conn(&self.sessions).await?;
        held(&**c, id, false).await
    }

    async fn quarantine_release(&self, id: &str, by: &str) -> Result<()> {
        crate::trace::logged_on_commit(async {
            let mut c = self.conn(&self.sessions).await?;
            let tx = c.transaction().await.map_err(db)?;
            let h = held(&*tx, id, true).await?.ok_or_else(|| not_held(id))?;
            tx.execute(
                "UPDATE queue SET status = $3, next_attempt = $2, lease_owner = NULL,
                     lease_until = NULL
                 WHERE message = $1 AND status = $4",
                &[&id, &now_micros(), &QUEUED, &HELD],
            )
            .await
            .map_err(db)?;
            tx.execute("DELETE FROM quarantine WHERE message = $1", &[&id])
                .await
                .map_err(db)?;
            tx.execute("UPDATE messages SET released = true WHERE id = $1", &[&id])
                .await
                .map_err(db)?;
            let e = event(
                &h,
                "released",
                format!("released from quarantine by {by} for delivery"),
            );
            trace::insert_in(&tx, &e).await?;
            tx.commit().await.map_err(db)
        })
        .await
    }

    async fn quarantine_delete(&self, id: &str, by: &str) -> Result<()> {
        crate::trace::logged_on_commit(async {
            let mut c = self.conn(&self.sessions).await?;
            let tx = c.transaction().await.map_err(db)?;
            let h = held(&*tx, id, true).await?.ok_or_else(|| not_held(id))?;
            tx.execute(
                "DELETE FROM queue WHERE message = $1 AND status = $2",
                &[&id, &HELD],
            )
            .await
            .map_err(db)?;
            tx.execute("DELETE FROM quarantine WHERE message = $1", &[&id])
                .await
                .map_err(db)?;
            // Delivered copies (mailboxes) keep it; otherwise it goes with its last reference.
            release_if_unreferenced(&tx, id).await?;
            let e = event(&h, "deleted", format!("deleted from quarantine by {by}"));
            trace::insert_in(&tx, &e).await?;
            tx.commit().await.map_err(db)
        })
        .await
    }

    async fn hold(
        &self,
        id: &QueueId,
        message_id: Option<String>,
        reason: String,
        verdicts: String,
    ) -> Result<()> {
        crate::trace::logged_on_commit(async {
            let mut c = self.conn(&self.queue).await?;
            let tx = c.transaction().await.map_err(db)?;
            let n = tx
                .execute(
                    "UPDATE queue SET status = $2, lease_owner = NULL, lease_until = NULL
                     WHERE message = $1 AND status = $3",
                    &[&id.0, &HELD, &QUEUED],
                )
                .await
                .map_err(db)?;
            if n > 0 {
                tx.execute(
                    "INSERT INTO quarantine(message, held, reason, verdicts) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (message) DO UPDATE
                     SET held = EXCLUDED.held, reason = EXCLUDED.reason, verdicts = EXCLUDED.verdicts",
                    &[&id.0, &now_micros(), &reason, &verdicts],
                )
                .await
                .map_err(db)?;
                let mut e = TraceEvent::new("quarantined", format!("held at delivery: {reason}"));
                e.queue_id = Some(id.0.clone());
                e.message_id = message_id;
                trace::insert_in(&tx, &e).await?;
            }
            tx.commit().await.map_err(db)
        })
        .await
    }
}
