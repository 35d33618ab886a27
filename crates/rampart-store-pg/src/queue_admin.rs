//! The administrator's actions on one queued message on PostgreSQL: retry now, hold, release,
//! delete, bounce, with the same rules, answers and trace events (AL-3.1) as the embedded
//! store's ([`rampart_store::queue_admin`]), so `rampart queue ...` on any node acts on the one
//! queue.
//!
//! Each action locks the message's queue rows first (`FOR UPDATE`): it waits for an outcome
//! being recorded on another node at that moment, and that node's later outcome is recorded only
//! for rows still `queued`. A hold, release or bounce also ends any node's lease of the rows it
//! changes; a retry leaves a lease alone (an attempt in flight finishes).

use crate::lifecycle::release_if_unreferenced;
use crate::queue::{insert_enqueued, HELD, QUEUED};
use crate::{db, trace, PgStore};
use rampart_store::queue_admin::BouncePlan;
use rampart_store::{
    now_micros, Enqueue, Failure, QueueId, RecipientStatus, Result, StoreError, TraceEvent,
};
use tokio_postgres::Transaction;

/// Who the trace names for these actions.
const BY: &str = "the administrator";

/// The message's queue rows, locked: None when it has none (unknown or finished); else how many
/// are held and whether it is in quarantine.
async fn lock_rows(tx: &Transaction<'_>, id: &QueueId) -> Result<Option<(usize, bool)>> {
    let rows = tx
        .query(
            "SELECT status FROM queue WHERE message = $1 FOR UPDATE",
            &[&id.0],
        )
        .await
        .map_err(db)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let held = rows.iter().filter(|r| r.get::<_, &str>(0) == HELD).count();
    let quarantined = tx
        .query_opt("SELECT 1 FROM quarantine WHERE message = $1", &[&id.0])
        .await
        .map_err(db)?
        .is_some();
    Ok(Some((held, quarantined)))
}

/// Writes the action's trace event and commits.
async fn finish(
    tx: deadpool_postgres::Transaction<'_>,
    id: &QueueId,
    event: &str,
    detail: String,
) -> Result<bool> {
    let row = tx
        .query_opt(
            "SELECT sender, message_id FROM messages WHERE id = $1",
            &[&id.0],
        )
        .await
        .map_err(db)?;
    let mut e = TraceEvent::new(event, detail);
    e.queue_id = Some(id.0.clone());
    if let Some(r) = row {
        e.sender = r.get(0);
        e.message_id = r.get(1);
    }
    trace::insert_in(&tx, &e).await?;
    tx.commit().await.map_err(db)?;
    Ok(true)
}

/// A message in quarantine is the quarantine's to release or delete, not the queue's.
fn quarantined_error(id: &QueueId) -> StoreError {
    StoreError::Invalid(format!(
        "{id} is in quarantine; see `rampart quarantine show {id}` and release it \
         with `rampart quarantine release {id}`"
    ))
}

fn nothing_waiting(id: &QueueId, what: &str) -> StoreError {
    StoreError::Invalid(format!(
        "{id} has no recipient waiting for delivery; nothing to {what}"
    ))
}

impl PgStore {
    /// Makes every queued recipient of `id` due now (a deferred one is retried at once). An
    /// error when the message is held (release it first). False when no queue row has the id.
    pub async fn queue_retry_now(&self, id: &QueueId) -> Result<bool> {
        crate::trace::logged_on_commit(async {
            let mut c = self.conn(&self.sessions).await?;
            let tx = c.transaction().await.map_err(db)?;
            let Some((held, _)) = lock_rows(&tx, id).await? else {
                return Ok(false);
            };
            let n = tx
                .execute(
                    "UPDATE queue SET next_attempt = $2 WHERE message = $1 AND status = $3",
                    &[&id.0, &now_micros(), &QUEUED],
                )
                .await
                .map_err(db)?;
            if n == 0 && held > 0 {
                return Err(StoreError::Invalid(format!(
                    "{id} is held; release it first (`rampart queue release {id}`)"
                )));
            }
            let detail = format!("{n} recipient(s) due now, by {BY}");
            finish(tx, id, "retry", detail).await
        })
        .await
    }

    /// Holds `id`: its queued recipients are not attempted until [`PgStore::queue_release`].
    pub async fn queue_hold(&self, id: &QueueId) -> Result<bool> {
        crate::trace::logged_on_commit(async {
            let mut c = self.conn(&self.sessions).await?;
            let tx = c.transaction().await.map_err(db)?;
            if lock_rows(&tx, id).await?.is_none() {
                return Ok(false);
            }
            let n = tx
                .execute(
                    "UPDATE queue SET status = $2, lease_owner = NULL, lease_until = NULL
                     WHERE message = $1 AND status = $3",
                    &[&id.0, &HELD, &QUEUED],
                )
                .await
                .map_err(db)?;
            if n == 0 {
                return Err(nothing_waiting(id, "hold"));
            }
            let detail = format!("{n} recipient(s) held by {BY}; not attempted until released");
            finish(tx, id, "hold", detail).await
        })
        .await
    }

    /// Releases a message held by [`PgStore::queue_hold`]: its recipients are due now. A message
    /// in quarantine is refused here: `rampart quarantine release` is the way out of it.
    pub async fn queue_release(&self, id: &QueueId) -> Result<bool> {
        crate::trace::logged_on_commit(async {
            let mut c = self.conn(&self.sessions).await?;
            let tx = c.transaction().await.map_err(db)?;
            let Some((_, quarantined)) = lock_rows(&tx, id).await? else {
                return Ok(false);
            };
            if quarantined {
                return Err(quarantined_error(id));
            }
            let n = tx
                .execute(
                    "UPDATE queue SET status = $3, next_attempt = $2, lease_owner = NULL,
                         lease_until = NULL
                     WHERE message = $1 AND status = $4",
                    &[&id.0, &now_micros(), &QUEUED, &HELD],
                )
                .await
                .map_err(db)?;
            if n == 0 {
                return Err(StoreError::Invalid(format!(
                    "{id} is not held; see `rampart queue list`"
                )));
            }
            let detail = format!("{n} recipient(s) released by {BY}; due now");
            finish(tx, id, "release", detail).await
        })
        .await
    }

    /// Deletes `id` from the queue: every recipient row (no delivery, no bounce) and its
    /// quarantine row; the message itself goes unless a mailbox holds a copy.
    pub async fn queue_delete(&self, id: &QueueId) -> Result<bool> {
        crate::trace::logged_on_commit(async {
            let mut c = self.conn(&self.sessions).await?;
            let tx = c.transaction().await.map_err(db)?;
            if lock_rows(&tx, id).await?.is_none() {
                return Ok(false);
            }
            let n = tx
                .execute("DELETE FROM queue WHERE message = $1", &[&id.0])
                .await
                .map_err(db)?;
            tx.execute("DELETE FROM quarantine WHERE message = $1", &[&id.0])
                .await
                .map_err(db)?;
            release_if_unreferenced(&tx, &id.0).await?;
            let detail = format!("deleted from the queue by {BY}; {n} recipient(s) not delivered");
            finish(tx, id, "deleted", detail).await
        })
        .await
    }

    /// What a bounce of `id` would report; None when no queue row has the id. An error when it
    /// is in quarantine or has no recipient left waiting.
    pub async fn queue_bounce_plan(&self, id: &QueueId) -> Result<Option<BouncePlan>> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt(
                "SELECT m.sender, m.message_id, m.received,
                        ARRAY(SELECT recipient FROM queue
                              WHERE message = m.id AND status IN ($2, $3) ORDER BY recipient),
                        EXISTS (SELECT 1 FROM queue WHERE message = m.id),
                        EXISTS (SELECT 1 FROM quarantine WHERE message = m.id)
                 FROM messages m WHERE m.id = $1",
                &[&id.0, &QUEUED, &HELD],
            )
            .await
            .map_err(db)?;
        let Some(r) = row.filter(|r| r.get::<_, bool>(4)) else {
            return Ok(None);
        };
        if r.get::<_, bool>(5) {
            return Err(quarantined_error(id));
        }
        let recipients: Vec<String> = r.get(3);
        if recipients.is_empty() {
            return Err(nothing_waiting(id, "bounce"));
        }
        Ok(Some(BouncePlan {
            sender: r.get(0),
            message_id: r.get(1),
            received: r.get(2),
            recipients,
        }))
    }

    /// Bounces `id`: every recipient still waiting (queued, deferred or held) fails for good
    /// with `failure`, `dsn` (the notification to the sender, prepared with `generated`; None for
    /// a null sender) is queued in the same commit, and the message goes unless a mailbox holds
    /// a copy. The DSN is never lost between the two, nor queued for a message not bounced.
    pub async fn queue_bounce(
        &self,
        id: &QueueId,
        failure: &Failure,
        dsn: Option<Enqueue>,
    ) -> Result<bool> {
        crate::trace::logged_on_commit(async {
            let mut c = self.conn(&self.sessions).await?;
            let tx = c.transaction().await.map_err(db)?;
            let Some((_, quarantined)) = lock_rows(&tx, id).await? else {
                return Ok(false);
            };
            if quarantined {
                return Err(quarantined_error(id));
            }
            let failed: Vec<String> = tx
                .query(
                    "SELECT recipient FROM queue WHERE message = $1 AND status IN ($2, $3)
                     ORDER BY recipient",
                    &[&id.0, &QUEUED, &HELD],
                )
                .await
                .map_err(db)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if failed.is_empty() {
                return Err(nothing_waiting(id, "bounce"));
            }
            let (status, next, reply) =
                RecipientStatus::PermanentFailure(failure.clone()).row_values();
            tx.execute(
                "UPDATE queue SET status = $2, next_attempt = $3, last_reply = $4,
                     lease_owner = NULL, lease_until = NULL
                 WHERE message = $1 AND status IN ($5, $6)",
                &[&id.0, &status, &next, &reply, &QUEUED, &HELD],
            )
            .await
            .map_err(db)?;
            let notice = match &dsn {
                Some(d) => {
                    // A DSN prepared by this store is inline (`generated` keeps it in memory).
                    insert_enqueued(&tx, d, None).await?;
                    format!("a delivery status notification queued as {}", d.id)
                }
                None => "no notification (null sender)".to_string(),
            };
            release_if_unreferenced(&tx, &id.0).await?;
            let detail = format!(
                "bounced by {BY}: {} ({} {}); {notice}",
                failed.join(", "),
                failure.status,
                failure.reply
            );
            finish(tx, id, "bounced", detail).await
        })
        .await
    }
}
